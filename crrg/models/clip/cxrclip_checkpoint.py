"""CXR-CLIP's published checkpoints, read safely and converted to RCLIP.

CXR-CLIP (You et al., MICCAI 2023; kakaobrain/cxr-clip) publishes ResNet-50
checkpoints ``r50_m``, ``r50_mc``, ``r50_mcc`` (and Swin-Tiny ones). Each is
a ``torch.save`` dict with ``model`` (the state dict of its ``CXRClip``),
``optimizer``, ``scheduler``, ``config`` (the training config: plain dicts
holding OmegaConf ``ListConfig`` objects, whose parents are ``DictConfig``
objects), ``epoch`` and ``train_loss``.

:func:`load_cxrclip_checkpoint` unpickles it with torch's ``weights_only``
loader, to which only inert stand-ins for OmegaConf's container, node and
metadata classes (and the builtin types their metadata names) are added:
nothing in the file can run code, and OmegaConf need not be installed. Any
other global in the file is refused.

:func:`convert_cxrclip_state_dict` maps the weights onto crrg's
:class:`~crrg.models.clip.RCLIP` with an mmpretrain ResNet-50 and a
:class:`~crrg.models.clip.HFTextEncoder`:

===========================================  =================================
CXR-CLIP                                     RCLIP
===========================================  =================================
``image_encoder.resnet.{conv1,bn1,layer*}``  ``backbone.{conv1,bn1,layer*}``
``text_encoder.text_encoder.*``              ``text_encoder.model.*``
``text_encoder.text_encoder.pooler.*``       dropped (unused by eos pooling)
``...embeddings.position_ids``               dropped (a constant buffer)
``{image,text}_projection.projection.*``     ``{image,text}_projection.*``
``logit_scale``                              ``logit_scale``
===========================================  =================================

The checkpoint's keys must be exactly those of the manifest recorded from
the authors' model (``manifests/cxrclip_r50.json``, written by
``benchmarks/cxrclip_parity.py``), plus, optionally, its ``optional_keys``
(``embeddings.position_ids``, which the authors' pinned transformers 4.26
saves and newer versions do not); a missing or an extra key is an error that
lists them.
"""
import json
import os.path as osp
import pickle
from collections import OrderedDict, defaultdict
from typing import Any, Dict, List, Optional

import torch
from torch import Tensor

#: the manifests recorded from the authors' models
MANIFEST_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'manifests')
R50_MANIFEST = osp.join(MANIFEST_DIR, 'cxrclip_r50.json')

_DROPPED_TEXT_KEYS = ('text_encoder.text_encoder.pooler.',
                      'text_encoder.text_encoder.embeddings.position_ids')
_PREFIXES = (('image_encoder.resnet.', 'backbone.'),
             ('text_encoder.text_encoder.', 'text_encoder.model.'),
             ('image_projection.projection.', 'image_projection.'),
             ('text_projection.projection.', 'text_projection.'),
             ('logit_scale', 'logit_scale'))


class CXRCLIPCheckpointError(ValueError):
    """A file that is not a convertible CXR-CLIP checkpoint."""


class _OmegaConfStandIn:
    """An inert stand-in for an OmegaConf object: keeps its pickled state."""

    def __setstate__(self, state: dict) -> None:
        self.state = state


class _DictConfig(_OmegaConfStandIn):
    pass


class _ListConfig(_OmegaConfStandIn):
    pass


class _ValueNode(_OmegaConfStandIn):
    pass


class _Metadata(_OmegaConfStandIn):
    pass


class _TypingAny:
    """Stands for ``typing.Any`` in OmegaConf's metadata."""


#: pickled global name -> what the safe loader makes of it
OMEGACONF_STAND_INS: Dict[str, type] = {
    'omegaconf.dictconfig.DictConfig': _DictConfig,
    'omegaconf.listconfig.ListConfig': _ListConfig,
    **{
        f'omegaconf.nodes.{node}': _ValueNode
        for node in ('AnyNode', 'StringNode', 'IntegerNode', 'FloatNode',
                     'BooleanNode')
    },
    'omegaconf.base.Metadata': _Metadata,
    'omegaconf.base.ContainerMetadata': _Metadata,
    'typing.Any': _TypingAny,
}
# OmegaConf's metadata names these types (object_type, key_type, the
# resolver cache's default factory); constructing them runs no user code
_BUILTIN_TYPES = [list, dict, int, float, str, bool, defaultdict]


def to_container(obj: Any) -> Any:
    """Plain dicts, lists and values of a config read by
    :func:`load_cxrclip_checkpoint` (OmegaConf stand-ins unwrapped)."""
    if isinstance(obj, _ValueNode):
        return obj.state.get('_val')
    if isinstance(obj, (_DictConfig, _ListConfig)):
        content = obj.state.get('_content')
        if not isinstance(content, (dict, list)):
            return content  # None, or an unresolved '${...}' / '???'
        return to_container(content)
    if isinstance(obj, dict):
        return {key: to_container(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_container(value) for value in obj]
    return obj


def load_cxrclip_checkpoint(path: str) -> Dict[str, Any]:
    """Read a CXR-CLIP checkpoint without executing anything in it.

    Args:
        path (str): ``r50_m.tar`` or another file of CXR-CLIP's layout.

    Returns:
        dict: The checkpoint, its ``config`` turned into plain dicts and
        lists (:func:`to_container`).

    Raises:
        FileNotFoundError: No such file.
        CXRCLIPCheckpointError: The file holds a global outside the allowed
            set (a pickle that would run code, or not CXR-CLIP's layout), or
            lacks ``model`` / ``config``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such CXR-CLIP checkpoint')
    allowed = [(stand_in, name)
               for name, stand_in in OMEGACONF_STAND_INS.items()]
    with torch.serialization.safe_globals(allowed + _BUILTIN_TYPES):
        try:
            checkpoint = torch.load(path, map_location='cpu',
                                    weights_only=True)
        except pickle.UnpicklingError as err:
            first = str(err).strip().splitlines()
            detail = next((line for line in first
                           if 'Unsupported' in line or 'global' in line),
                          first[-1] if first else '')
            raise CXRCLIPCheckpointError(
                f'{path}: refused to unpickle: it holds an object outside '
                "CXR-CLIP's checkpoint layout (tensors, plain containers "
                f'and OmegaConf configs); nothing was executed. {detail}'
            ) from None
    if not isinstance(checkpoint, dict) or not {'model', 'config'} <= set(
            checkpoint):
        keys = sorted(checkpoint) if isinstance(checkpoint, dict) else \
            type(checkpoint).__name__
        raise CXRCLIPCheckpointError(
            f'{path}: not a CXR-CLIP checkpoint: expected a dict with "model" '
            f'and "config", got {keys}')
    return dict(checkpoint, config=to_container(checkpoint['config']))


def check_cxrclip_config(config: dict, path: str = 'checkpoint') -> None:
    """Refuse what crrg's RCLIP cannot hold.

    Raises:
        CXRCLIPCheckpointError: Not a CLIP model, a Swin (or other
            non-ResNet) image encoder, a pooling other than ``eos`` or a
            projection other than ``linear``.
    """
    model = config.get('model') if isinstance(config, dict) else None
    if not isinstance(model, dict) or str(model.get('name')).lower() != \
            'clip_custom':
        raise CXRCLIPCheckpointError(
            f"{path}: config['model']['name'] is not 'clip_custom': not a "
            'CXR-CLIP contrastive checkpoint (fine-tuned classifiers are not '
            'converted)')
    image = model.get('image_encoder', {})
    if image.get('name') != 'resnet':
        raise CXRCLIPCheckpointError(
            f'{path}: image encoder {image.get("name")!r} '
            f'({image.get("model_type", "")}) is not supported: crrg '
            'converts the ResNet-50 checkpoints (r50_m, r50_mc, r50_mcc), '
            'not the Swin-Tiny ones (swint_*)')
    pooling = model.get('text_encoder', {}).get('pooling')
    if pooling != 'eos':
        raise CXRCLIPCheckpointError(
            f"{path}: text pooling {pooling!r} is not supported (crrg's "
            "HFTextEncoder pools 'eos')")
    head = model.get('projection_head', {}).get('name')
    if head != 'linear':
        raise CXRCLIPCheckpointError(
            f'{path}: projection head {head!r} is not supported (RCLIP has '
            'linear projections)')


def load_manifest(path: str = R50_MANIFEST) -> dict:
    """A recorded manifest: ``keys`` and ``optional_keys`` (key -> shape),
    and ``source`` (the authors' repository, commit and versions)."""
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def _target_key(key: str) -> Optional[str]:
    if key.startswith(_DROPPED_TEXT_KEYS):
        return None
    for old, new in _PREFIXES:
        if key.startswith(old):
            return new + key[len(old):]
    raise CXRCLIPCheckpointError(f'{key}: no RCLIP counterpart')


def _listed(keys: List[str], shown: int = 10) -> str:
    more = f' ... and {len(keys) - shown} more' if len(keys) > shown else ''
    return ', '.join(keys[:shown]) + more


def convert_cxrclip_state_dict(state_dict: Dict[str, Tensor],
                               manifest: Optional[dict] = None,
                               path: str = 'checkpoint'
                               ) -> 'OrderedDict[str, Tensor]':
    """CXR-CLIP ``model`` weights -> an RCLIP state dict.

    Args:
        state_dict (dict[str, Tensor]): The checkpoint's ``model``.
        manifest (dict, optional): Expected keys and shapes
            (:func:`load_manifest`); the recorded r50 manifest by default.
        path (str): Named in errors.

    Returns:
        OrderedDict[str, Tensor]: RCLIP's keys (see the module docstring).

    Raises:
        CXRCLIPCheckpointError: Keys missing from or not in the manifest (all
            listed), or a shape that differs from it.
    """
    manifest = load_manifest() if manifest is None else manifest
    expected = dict(manifest['keys'])
    missing = sorted(set(expected) - set(state_dict))
    expected.update(manifest.get('optional_keys', {}))
    extra = sorted(set(state_dict) - set(expected))
    if missing or extra:
        problems = []
        if missing:
            problems.append(f'{len(missing)} missing key(s): '
                            f'{_listed(missing)}')
        if extra:
            problems.append(f'{len(extra)} unexpected key(s): '
                            f'{_listed(extra)}')
        raise CXRCLIPCheckpointError(
            f"{path}: the weights are not CXR-CLIP r50's (manifest "
            f"{manifest.get('source', {}).get('commit', '?')[:12]}): " +
            '; '.join(problems))
    wrong = [
        f'{key} {list(value.shape)} (expected {expected[key]})'
        for key, value in state_dict.items()
        if list(value.shape) != list(expected[key])
    ]
    if wrong:
        raise CXRCLIPCheckpointError(
            f'{path}: {len(wrong)} weight(s) of an unexpected shape: '
            f'{_listed(wrong)}')
    converted = OrderedDict()
    for key, value in state_dict.items():
        target = _target_key(key)
        if target is not None:
            converted[target] = value.clone()
    return converted


def convert_cxrclip_checkpoint(src: str,
                               manifest: Optional[dict] = None) -> dict:
    """Read, check and convert a CXR-CLIP checkpoint.

    Args:
        src (str): The CXR-CLIP ``.tar`` file.
        manifest (dict, optional): See :func:`convert_cxrclip_state_dict`.

    Returns:
        dict: An mmengine checkpoint: ``state_dict`` (RCLIP's keys) and
        ``meta`` (the source file's name, its epoch and model config).
    """
    checkpoint = load_cxrclip_checkpoint(src)
    check_cxrclip_config(checkpoint['config'], src)
    state_dict = convert_cxrclip_state_dict(checkpoint['model'], manifest,
                                            src)
    config = checkpoint['config']
    meta = dict(
        converted_from='CXR-CLIP (kakaobrain/cxr-clip)',
        source_file=osp.basename(src),
        epoch=checkpoint.get('epoch'),
        cxrclip_model=config.get('model'),
        text_max_length=config.get('base', {}).get('text_max_length'))
    return dict(meta=meta, state_dict=state_dict)
