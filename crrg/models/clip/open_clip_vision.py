from typing import Optional, Tuple

from mmengine.model import BaseModule
from torch import Tensor

from crrg.registry import MODELS


@MODELS.register_module()
class OpenCLIPVisionTower(BaseModule):
    """An open_clip model's vision tower as an image backbone.

    Lets R-CLIP (or a linear probe) swap its ResNet-50 for any open_clip
    architecture by config, without a neck: the tower already pools.

    Args:
        model_name (str): open_clip model name, e.g. ``'RN50'``,
            ``'ViT-B-16'``.
        pretrained (str, optional): Path of an open_clip checkpoint file
            (crrg never downloads). None = random initialisation.
        frozen (bool): Freeze the tower. Defaults to False.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 model_name: str = 'RN50',
                 pretrained: Optional[str] = None,
                 frozen: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        import open_clip
        model = open_clip.create_model(model_name, pretrained=pretrained)
        self.visual = model.visual
        self.out_channels = self.visual.output_dim
        self.frozen = frozen
        if frozen:
            self.visual.requires_grad_(False)

    def train(self, mode: bool = True) -> 'OpenCLIPVisionTower':
        super().train(mode)
        if self.frozen:
            self.visual.eval()
        return self

    def forward(self, images: Tensor) -> Tuple[Tensor]:
        """``((B, out_channels),)`` pooled features of (B, 3, H, W) images."""
        return (self.visual(images), )
