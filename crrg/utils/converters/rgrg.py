"""RGRG's published checkpoint -> crrg's RGRG model.

The authors' checkpoint (ttanida/rgrg,
``full_model_checkpoint_val_loss_19.793_overall_steps_155252.pt``) is a
``torch.save`` dict whose ``model`` is the state dict of their
``ReportGenerationModel``. Its keys map onto the model of
``configs/rgrg/rgrg_r50-c5_gpt2-pubmed-medium_imagenome.py``:

=============================================  ================================
RGRG                                           crrg (``model.``)
=============================================  ================================
``object_detector.backbone.{0,1,4,5,6,7}``     ``detector.detector.backbone.``
                                               ``{conv1,bn1,layer1..4}``
``object_detector.rpn.head.conv[.0.0]``        ``...rpn_head.rpn_conv``
``...rpn.head.cls_logits / bbox_pred``         ``...rpn_head.rpn_cls / rpn_reg``
``...roi_heads.box_head.fc6 / fc7``            ``...bbox_head.shared_fcs.0 / 1``
``...roi_heads.box_predictor.cls_score``       ``...bbox_head.fc_cls`` (rows
                                               1..29 then 0: mmdet's
                                               background is last)
``...roi_heads.box_predictor.bbox_pred``       ``...bbox_head.fc_reg`` (the
                                               background's 4 rows dropped:
                                               never decoded)
``object_detector.roi_heads.dim_reduction``    ``detector.region_proj``
``binary_classifier_region_selection``         ``selector.mlp``
``binary_classifier_region_abnormal``          ``abnormality.mlp``
``language_model.feature_space_``              ``generator.region_mlp``
``transformation_nn``
``...h.N.attn.uk / uv``                        ``generator.key_maps.N /
                                               value_maps.N``
GPT-2 (``wte``, ``wpe``, ``h.N.*``, ``ln_f``,  ``generator.lm.transformer.*``,
``lm_head``)                                   ``generator.lm.lm_head``
=============================================  ================================

RGRG's ``LanguageModel`` registers its GPT-2 modules under several names, so
each GPT-2 tensor appears under up to three aliases
(``gpt_with_lm_head.transformer.X`` = ``gpt.X``; block ``N`` also as
``gpt2_blocks.N.{0,1,2,3}`` for ``ln_1, attn, ln_2, mlp``; ``wte``, ``wpe``,
``final_layernorm`` (= ``ln_f``) and ``lm_head`` also at the top): any of
them is accepted, and aliases must hold equal tensors. Buffers that are no
weights (``attn.causal_mask``, ``attn.mask_out_value``, the classifiers'
``loss_fn.pos_weight``) are dropped. torchvision named the RPN conv
``conv`` (before 0.13) or ``conv.0.0``; both are accepted. A key that fits
no rule, or an RGRG key that is missing, is an error listing them.
"""
import os
import os.path as osp
import re
from typing import Dict, Iterable, List, Optional, Set

import torch
from torch import Tensor

#: The ttanida/rgrg commit the key layout was read from (and the manifest
#: of tests/data/rgrg_checkpoint_manifest.json recorded with).
RGRG_SOURCE_COMMIT = '9520b6d7f555d458898c6795e57cc00f7f90182b'

_BACKBONE = {'0': 'conv1', '1': 'bn1', '4': 'layer1', '5': 'layer2',
             '6': 'layer3', '7': 'layer4'}
_BLOCK_PARTS = {'0': 'ln_1', '1': 'attn', '2': 'ln_2', '3': 'mlp'}
_DROPPED = re.compile(r'(^language_model\..*\.(causal_mask|mask_out_value)'
                      r'|^binary_classifier_region_\w+\.loss_fn\.pos_weight)$')
_BOTTLENECK = ('conv1.weight', 'conv2.weight', 'conv3.weight') + tuple(
    f'bn{i}.{p}' for i in (1, 2, 3) for p in (
        'weight', 'bias', 'running_mean', 'running_var',
        'num_batches_tracked'))
_BN = ('weight', 'bias', 'running_mean', 'running_var',
       'num_batches_tracked')
_RESNET50_BLOCKS = (3, 4, 6, 3)
_GPT2_BLOCK = ('ln_1.weight', 'ln_1.bias', 'attn.c_attn.weight',
               'attn.c_attn.bias', 'attn.c_proj.weight', 'attn.c_proj.bias',
               'ln_2.weight', 'ln_2.bias', 'mlp.c_fc.weight', 'mlp.c_fc.bias',
               'mlp.c_proj.weight', 'mlp.c_proj.bias')
_DETECTOR = 'detector.detector.'


def _gpt2_key(key: str) -> Optional[str]:
    """The ``transformer.``-relative name of an alias of a GPT-2 tensor of
    RGRG's ``language_model`` (``lm_head.weight`` for the LM head), or
    None."""
    rest = key[len('language_model.'):]
    for prefix in ('gpt_with_lm_head.transformer.', 'gpt.'):
        if rest.startswith(prefix):
            return rest[len(prefix):]
    if rest in ('gpt_with_lm_head.lm_head.weight', 'lm_head.weight'):
        return 'lm_head.weight'
    match = re.fullmatch(r'gpt2_blocks\.(\d+)\.([0-3])\.(.+)', rest)
    if match:
        block, part, name = match.groups()
        return f'h.{block}.{_BLOCK_PARTS[part]}.{name}'
    match = re.fullmatch(r'(wte|wpe|final_layernorm)\.(weight|bias)', rest)
    if match:
        name = 'ln_f' if match.group(1) == 'final_layernorm' else match.group(
            1)
        return f'{name}.{match.group(2)}'
    return None


def _canonical(key: str) -> Optional[str]:
    """RGRG's key with the GPT-2 aliases and RPN conv forms unified (the
    names :func:`rgrg_expected_keys` lists), or None for an unknown key."""
    if key.startswith('language_model.'):
        if key.startswith('language_model.feature_space_transformation_nn.'):
            return key
        name = _gpt2_key(key)
        return None if name is None else f'language_model.gpt.{name}'
    match = re.fullmatch(r'(object_detector\.rpn\.head\.conv)(\.0\.0)?'
                         r'\.(weight|bias)', key)
    if match:
        return f'{match.group(1)}.{match.group(3)}'
    return key


def rgrg_expected_keys(num_layers: int = 24) -> Set[str]:
    """Every weight of RGRG's ``ReportGenerationModel`` under the names of
    :func:`_canonical` (GPT-2 as ``language_model.gpt.*``, the RPN conv as
    ``conv``; dropped buffers left out).

    Args:
        num_layers (int): GPT-2's blocks (24 for GPT-2 medium).
    """
    keys = {'object_detector.backbone.0.weight'}
    keys |= {f'object_detector.backbone.1.{p}' for p in _BN}
    for layer, blocks in enumerate(_RESNET50_BLOCKS):
        prefix = f'object_detector.backbone.{layer + 4}'
        for block in range(blocks):
            keys |= {f'{prefix}.{block}.{name}' for name in _BOTTLENECK}
        keys.add(f'{prefix}.0.downsample.0.weight')
        keys |= {f'{prefix}.0.downsample.1.{p}' for p in _BN}
    for name in ('rpn.head.conv', 'rpn.head.cls_logits',
                 'rpn.head.bbox_pred', 'roi_heads.box_head.fc6',
                 'roi_heads.box_head.fc7',
                 'roi_heads.box_predictor.cls_score',
                 'roi_heads.box_predictor.bbox_pred',
                 'roi_heads.dim_reduction'):
        keys |= {f'object_detector.{name}.weight',
                 f'object_detector.{name}.bias'}
    for head in ('selection', 'abnormal'):
        keys |= {f'binary_classifier_region_{head}.classifier.{i}.{p}'
                 for i in (0, 2, 4) for p in ('weight', 'bias')}
    keys |= {f'language_model.feature_space_transformation_nn.{i}.{p}'
             for i in (0, 2) for p in ('weight', 'bias')}
    gpt = 'language_model.gpt.'
    keys |= {gpt + name for name in ('wte.weight', 'wpe.weight',
                                     'ln_f.weight', 'ln_f.bias',
                                     'lm_head.weight')}
    for block in range(num_layers):
        keys |= {f'{gpt}h.{block}.{name}' for name in _GPT2_BLOCK}
        keys |= {f'{gpt}h.{block}.attn.{m}.{p}' for m in ('uk', 'uv')
                 for p in ('weight', 'bias')}
    return keys


def _target(key: str) -> str:
    """crrg's name of a canonical RGRG key."""
    match = re.fullmatch(r'object_detector\.backbone\.(\d)\.(.+)', key)
    if match:
        return (f'{_DETECTOR}backbone.{_BACKBONE[match.group(1)]}.'
                f'{match.group(2)}')
    simple = {
        'object_detector.rpn.head.conv': 'rpn_head.rpn_conv',
        'object_detector.rpn.head.cls_logits': 'rpn_head.rpn_cls',
        'object_detector.rpn.head.bbox_pred': 'rpn_head.rpn_reg',
        'object_detector.roi_heads.box_head.fc6':
        'roi_head.bbox_head.shared_fcs.0',
        'object_detector.roi_heads.box_head.fc7':
        'roi_head.bbox_head.shared_fcs.1',
        'object_detector.roi_heads.box_predictor.cls_score':
        'roi_head.bbox_head.fc_cls',
        'object_detector.roi_heads.box_predictor.bbox_pred':
        'roi_head.bbox_head.fc_reg',
    }
    module, param = key.rsplit('.', 1)
    if module in simple:
        return f'{_DETECTOR}{simple[module]}.{param}'
    if module == 'object_detector.roi_heads.dim_reduction':
        return f'detector.region_proj.{param}'
    match = re.fullmatch(r'binary_classifier_region_(\w+)\.classifier\.(.+)',
                         key)
    if match:
        head = dict(selection='selector', abnormal='abnormality')
        return f'{head[match.group(1)]}.mlp.{match.group(2)}'
    prefix = 'language_model.feature_space_transformation_nn.'
    if key.startswith(prefix):
        return 'generator.region_mlp.' + key[len(prefix):]
    name = key[len('language_model.gpt.'):]
    match = re.fullmatch(r'h\.(\d+)\.attn\.(uk|uv)\.(.+)', name)
    if match:
        maps = 'key_maps' if match.group(2) == 'uk' else 'value_maps'
        return f'generator.{maps}.{match.group(1)}.{match.group(3)}'
    if name == 'lm_head.weight':
        return 'generator.lm.lm_head.weight'
    return 'generator.lm.transformer.' + name


def _same(first: Tensor, second: Tensor) -> bool:
    if first.shape != second.shape:
        return False
    if (first.untyped_storage().data_ptr() == second.untyped_storage(
    ).data_ptr() and first.storage_offset() == second.storage_offset()
            and first.stride() == second.stride()):
        return True
    return torch.equal(first, second)


def _list(keys: Iterable[str], limit: int = 20) -> str:
    keys = sorted(keys)
    shown = ', '.join(keys[:limit])
    more = f' (and {len(keys) - limit} more)' if len(keys) > limit else ''
    return shown + more


def convert_rgrg_state_dict(state_dict: Dict[str, Tensor],
                            source: str = 'the checkpoint'
                            ) -> Dict[str, Tensor]:
    """RGRG's ``ReportGenerationModel`` state dict -> crrg's.

    Args:
        state_dict (dict[str, Tensor]): The authors' ``checkpoint['model']``.
        source (str): Named in errors (e.g. the file).

    Returns:
        dict[str, Tensor]: The state dict of the model of
        ``configs/rgrg/rgrg_r50-c5_gpt2-pubmed-medium_imagenome.py``
        (tensors shared with ``state_dict`` where no change is needed).

    Raises:
        KeyError: Keys that fit no rule, or RGRG keys that are missing; the
            message lists them.
        ValueError: Two aliases of one GPT-2 tensor differ.
    """
    canonical: Dict[str, Tensor] = {}
    unknown: List[str] = []
    for key, value in state_dict.items():
        if _DROPPED.search(key):
            continue
        name = _canonical(key)
        if name is None:
            unknown.append(key)
            continue
        if name in canonical:
            if not _same(canonical[name], value):
                raise ValueError(
                    f'{source}: {key} differs from another alias of the same '
                    f'GPT-2 tensor ({name}); the checkpoint is inconsistent')
            continue
        canonical[name] = value
    layers = {int(m.group(1)) for k in canonical
              for m in [re.match(r'language_model\.gpt\.h\.(\d+)\.', k)] if m}
    expected = rgrg_expected_keys(max(layers) + 1 if layers else 24)
    unknown += sorted(set(canonical) - expected)
    missing = expected - set(canonical)
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f'{len(missing)} missing: {_list(missing)}')
        if unknown:
            parts.append(f'{len(unknown)} unexpected: {_list(unknown)}')
        raise KeyError(
            f'{source}: not the state dict of RGRG\'s ReportGenerationModel '
            f'(ttanida/rgrg {RGRG_SOURCE_COMMIT[:7]}): ' + '; '.join(parts) +
            '. Pass the published full-model checkpoint (its "model" entry).')
    out: Dict[str, Tensor] = {}
    for name, value in canonical.items():
        if name.endswith('box_predictor.cls_score.weight') or name.endswith(
                'box_predictor.cls_score.bias'):
            # background first (torchvision) -> last (mmdet)
            value = torch.cat([value[1:], value[:1]])
        elif name.endswith('box_predictor.bbox_pred.weight') or name.endswith(
                'box_predictor.bbox_pred.bias'):
            value = value[4:].clone()
        out[_target(name)] = value
    return out


def convert_rgrg_checkpoint(checkpoint: dict,
                            source: str = 'the checkpoint') -> dict:
    """The authors' checkpoint dict -> an mmengine checkpoint
    (``meta``, ``state_dict``) for crrg's RGRG config.

    Raises:
        KeyError: No ``model`` entry, or the keys do not fit (see
            :func:`convert_rgrg_state_dict`).
    """
    if not isinstance(checkpoint, dict) or 'model' not in checkpoint:
        found = sorted(checkpoint) if isinstance(checkpoint, dict) else type(
            checkpoint).__name__
        raise KeyError(
            f'{source}: expected RGRG\'s full-model checkpoint, a dict with '
            f'"model" (the ReportGenerationModel state dict); found {found}')
    return dict(
        meta=dict(
            converted_from='ttanida/rgrg ReportGenerationModel',
            rgrg_commit=RGRG_SOURCE_COMMIT,
            config='configs/rgrg/rgrg_r50-c5_gpt2-pubmed-medium_imagenome.py'),
        state_dict=convert_rgrg_state_dict(checkpoint['model'], source))


def convert_rgrg_file(src: str, dst: str) -> int:
    """Read the authors' checkpoint file (memory-mapped, ``weights_only``:
    no code in it runs), convert it and save the mmengine checkpoint.

    Returns:
        int: The number of tensors written.
    """
    checkpoint = torch.load(src, map_location='cpu', mmap=True,
                            weights_only=True)
    converted = convert_rgrg_checkpoint(checkpoint, source=src)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(converted, dst)
    return len(converted['state_dict'])
