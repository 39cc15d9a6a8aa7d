from .anchor_generator import RoundedAnchorGenerator
from .bbox_coder import TorchvisionDeltaXYWHBBoxCoder

__all__ = ['RoundedAnchorGenerator', 'TorchvisionDeltaXYWHBBoxCoder']
