from crrg.registry import MODELS
from .region_selector import RegionSelector


@MODELS.register_module()
class RegionAbnormalityClassifier(RegionSelector):
    """Says which regions look abnormal (RGRG's auxiliary classifier).

    The same MLP ``in_channels -> 512 -> 128 -> 1`` as
    :class:`RegionSelector`, trained with BCE-with-logits on detected regions
    against ``region_abnormal`` (RGRG: ``pos_weight`` 6.0; its loss shapes
    the region features the generator reads). At inference its logits and
    ``abnormal`` flags (logit above ``threshold``, RGRG: -1, and detected)
    are kept in the predictions for display; they do not change which
    regions get a sentence.

    Args: as :class:`RegionSelector`; the loss key is ``loss_abnormal``.
    """
    loss_name = 'loss_abnormal'
