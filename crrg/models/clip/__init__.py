from .frozen import build_frozen_clip
from .open_clip_vision import OpenCLIPVisionTower
from .rclip import RCLIP, RCLIPZeroShot
from .text_encoder import HFTextEncoder

__all__ = [
    'RCLIP', 'RCLIPZeroShot', 'HFTextEncoder', 'OpenCLIPVisionTower',
    'build_frozen_clip'
]
