import os.path as osp
from typing import Optional

from mmpretrain.models import ImageClassifier

from crrg.registry import MODELS


@MODELS.register_module()
class LinearProbeClassifier(ImageClassifier):
    """mmpretrain's ``ImageClassifier`` with a frozen image encoder.

    The backbone and neck never train (no gradients, eval mode so batch
    norm statistics stay as loaded), whatever backbone the config names; only
    the head learns. Load a CLIP image tower into the backbone with an init
    config, e.g. ``init_cfg=dict(type='Pretrained', checkpoint=<R-CLIP
    checkpoint>, prefix='backbone.')`` (R-CLIP's image tower is its
    ``backbone``); leave it out for a randomly-initialised encoder.

    Args:
        backbone, neck, head (dict): As ``ImageClassifier``.
        data_preprocessor (dict, optional): Defaults to mmpretrain's
            ``ClsDataPreprocessor``.
        **kwargs: Other ``ImageClassifier`` arguments.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 **kwargs) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='mmpretrain.ClsDataPreprocessor')
        super().__init__(backbone=backbone, neck=neck, head=head,
                         data_preprocessor=data_preprocessor, **kwargs)
        self.backbone.requires_grad_(False)
        if self.with_neck:
            self.neck.requires_grad_(False)

    def train(self, mode: bool = True) -> 'LinearProbeClassifier':
        super().train(mode)
        self.backbone.eval()
        if self.with_neck:
            self.neck.eval()
        return self

    def init_weights(self) -> None:
        """Initialise as ``ImageClassifier``; a local encoder checkpoint named
        in the backbone's ``Pretrained`` init config must exist.

        Raises:
            FileNotFoundError: The checkpoint file is missing; the message
                names it and how to provide it.
        """
        init_cfg = getattr(self.backbone, 'init_cfg', None) or {}
        checkpoint = init_cfg.get('checkpoint') if isinstance(
            init_cfg, dict) and init_cfg.get('type') == 'Pretrained' else None
        if checkpoint and '://' not in checkpoint and not osp.isfile(
                checkpoint):
            raise FileNotFoundError(
                f'{checkpoint}: the image encoder checkpoint of this probe '
                'is missing; crrg downloads nothing. Place the file there or '
                'pass --cfg-options model.backbone.init_cfg.checkpoint=PATH '
                '(an R-CLIP checkpoint from tools/train.py on a configs/rclip '
                "config, or torchvision's ImageNet ResNet-50 weights "
                'resnet50-11ad3fa6.pth for the ImageNet baseline; see the '
                'config\'s header)')
        super().init_weights()
