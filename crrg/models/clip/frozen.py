import os.path as osp
from typing import Union

from mmengine.config import Config

from crrg.registry import MODELS
from crrg.utils.checkpoint import load_model_checkpoint
from .rclip import RCLIP


def build_frozen_clip(model: Union[str, dict], checkpoint: str) -> RCLIP:
    """A trained CLIP, frozen and in eval mode, for models that only read it.

    Args:
        model (str | dict): The CLIP's model config, or the path of a config
            file whose ``model`` it is (e.g.
            ``configs/rclip/rclip_tiny_iu-xray_synthetic.py``).
        checkpoint (str): The CLIP's checkpoint (``tools/train.py`` output).

    Raises:
        FileNotFoundError: The checkpoint is missing; the message says how to
            train it.
    """
    cfg_file = model if isinstance(model, str) else None
    if cfg_file is not None:
        model = Config.fromfile(cfg_file).model
    if not osp.isfile(checkpoint):
        how = (f'python tools/train.py {cfg_file}' if cfg_file else
               'tools/train.py on an R-CLIP config')
        raise FileNotFoundError(
            f'CLIP checkpoint {checkpoint} not found; train it first ({how}) '
            'and point the config\'s clip checkpoint at the .pth it writes.')
    clip = MODELS.build(model)
    load_model_checkpoint(clip, checkpoint)
    clip.requires_grad_(False)
    # the owner's init_weights() (called by the Runner) must not re-initialise
    # the loaded weights
    clip.is_init = True
    return clip.eval()
