from .contrastive import (ImageContrastiveLoss,
                          MultiViewSupervisedContrastiveLoss,
                          TextContrastiveLoss)

__all__ = [
    'MultiViewSupervisedContrastiveLoss', 'ImageContrastiveLoss',
    'TextContrastiveLoss'
]
