"""A tiny model of RGRG's design, from the real RGRG config, for CPU tests,
and checkpoints for it in the layout of RGRG's published checkpoint."""
import re
from typing import Dict, List

import torch
from mmengine.config import Config
from torch import Tensor

TINY_RGRG_CONFIG = 'configs/rgrg/rgrg_tiny_synthetic.py'

_BLOCK = re.compile(r'^language_model\.(?:gpt\.h|gpt2_blocks|'
                    r'gpt_with_lm_head\.transformer\.h)\.(\d+)\.')
_BLOCK_PARTS = ('ln_1', 'attn', 'ln_2', 'mlp')
_GPT2_CONV1D = re.compile(r'\.(c_attn|c_proj|c_fc)\.weight$')


def tiny_rgrg_config(tokenizer: str, repo: str = '.') -> Config:
    """``configs/rgrg/rgrg_tiny_synthetic.py``: RGRG's full config with its
    parts shrunk, every RGRG switch and the key layout of its checkpoint
    kept.

    The detector is RGRG's on a ResNet-50 at 1/8 width (256-channel C5),
    region features are 64-d, GPT-2 has 2 layers of 32 and the tokenizer is
    ``tokenizer``; pre-processing, selection threshold, abnormality
    classifier, positions and beam rule are RGRG's.

    Args:
        tokenizer (str): A GPT-2 style tokenizer directory (e.g. from
            :func:`crrg.models.utils.tokenizer_training.train_report_tokenizer`).
        repo (str): The crrg checkout holding ``configs/``.

    Returns:
        Config: The whole config (model, pipelines, evaluators).
    """
    cfg = Config.fromfile(f'{repo}/{TINY_RGRG_CONFIG}')
    cfg.model.generator.tokenizer = tokenizer
    return cfg


def _shared_name(key: str) -> str:
    """One name per tensor of RGRG's state dict: its ``LanguageModel``
    registers GPT-2's modules under several names (which share their
    tensors), and GPT-2's LM head is tied to the word embeddings."""
    key = key.replace('language_model.gpt_with_lm_head.transformer.',
                      'language_model.gpt.')
    match = re.match(r'language_model\.gpt2_blocks\.(\d+)\.([0-3])\.(.+)',
                     key)
    if match:
        part = _BLOCK_PARTS[int(match.group(2))]
        key = f'language_model.gpt.h.{match.group(1)}.{part}.{match.group(3)}'
    key = re.sub(r'^language_model\.(wte|wpe)\.', r'language_model.gpt.\1.',
                 key)
    key = key.replace('language_model.final_layernorm.',
                      'language_model.gpt.ln_f.')
    if key in ('language_model.lm_head.weight',
               'language_model.gpt_with_lm_head.lm_head.weight'):
        key = 'language_model.gpt.wte.weight'
    return key


def _tiny_shape(key: str, shape: List[int], dims: Dict[str, int]) -> List[int]:
    """The shape of RGRG's ``key`` (full size ``shape``) in the model of
    ``dims`` (see :func:`rgrg_tiny_state_dict`)."""
    c5, fc, region = dims['c5'], dims['fc'], dims['region']
    embd, hidden = dims['n_embd'], dims['hidden']
    if key.startswith('object_detector.backbone.'):
        # channels (64 ... 2048) scale with the width; kernels and the
        # 1-channel stem stay
        return [d * c5 // 2048 if d >= 64 else d for d in shape]
    if key.startswith('object_detector.rpn.'):
        return [c5 if d == 2048 else d for d in shape]
    if '.dim_reduction.' in key:
        return [region, c5][:len(shape)]
    if key.startswith('object_detector.roi_heads.'):
        roi = {2048 * 8 * 8: c5 * 8 * 8, 1024: fc}
        return [roi.get(d, d) for d in shape]
    if key.startswith('binary_classifier_region_'):
        sizes = {1024: region, 512: hidden[0], 128: hidden[1]}
        return [sizes.get(d, d) for d in shape]
    if key.startswith('language_model.feature_space_transformation_nn.0.'):
        return [embd, region][:len(shape)]
    if key.endswith('wpe.weight'):
        return [dims['n_positions'], embd]
    if key.endswith('attn.causal_mask'):
        return [1, 1, dims['n_positions'], dims['n_positions']]
    sizes = {1024: embd, 3072: 3 * embd, 4096: 4 * embd,
             50257: dims['vocab_size']}
    return [sizes.get(d, d) for d in shape]


def _random_value(key: str, shape: List[int], dtype: torch.dtype,
                  gen: torch.Generator) -> Tensor:
    """A seeded random tensor a network can run on: weights scaled by
    their fan-in, positive BN variances, RGRG's constant buffers."""
    if key.endswith('num_batches_tracked'):
        return torch.zeros(shape, dtype=dtype)
    if key.endswith('causal_mask'):
        return torch.ones(shape, dtype=dtype).tril()
    if key.endswith('mask_out_value'):
        return torch.full(shape, -1e4, dtype=dtype)
    if key.endswith('running_var'):
        return torch.rand(shape, generator=gen) + 0.5
    if key.endswith('.weight') and len(shape) >= 2:
        fan_in = shape[0] if _GPT2_CONV1D.search(key) else int(
            torch.Size(shape[1:]).numel())
        return torch.randn(shape, generator=gen) / fan_in**0.5
    if key.endswith('.weight'):  # batch / layer norm scales
        return 1 + 0.1 * torch.randn(shape, generator=gen)
    return 0.1 * torch.randn(shape, generator=gen)


def rgrg_tiny_state_dict(manifest: dict, cfg: Config, vocab_size: int,
                         seed: int = 0) -> Dict[str, Tensor]:
    """A state dict in the layout of RGRG's published checkpoint with the
    shapes of a tiny RGRG config, seeded random values.

    Every key of ``manifest`` (recorded from the authors'
    ``ReportGenerationModel``: tests/data/rgrg_checkpoint_manifest.json)
    is there -- GPT-2's aliases sharing one tensor and the LM head tied to
    the word embeddings, as in the authors' file, and the buffers the
    converter drops -- except the GPT-2 blocks beyond ``cfg``'s layers; the
    shapes are those of ``cfg``'s model (RGRG's ResNet-50 at a smaller
    width, its heads and GPT-2 at smaller sizes).

    Args:
        manifest (dict): ``keys``: [key, full-size shape, dtype name].
        cfg (Config): A config of RGRG's model whose backbone is a
            ResNet-50 (e.g. ``configs/rgrg/rgrg_tiny_synthetic.py``).
        vocab_size (int): GPT-2's vocabulary (the length of the config's
            tokenizer).
        seed (int): Seed of the values.

    Returns:
        dict[str, Tensor]: What ``torch.load(ckpt)['model']`` gives for
        the authors' checkpoint.
    """
    model = cfg.model
    detector = model.detector.detector
    if detector.backbone.get('depth') != 50:
        raise ValueError('rgrg_tiny_state_dict: RGRG\'s layout needs a '
                         'ResNet-50 backbone (any base_channels)')
    gpt2 = model.generator.gpt2_config
    dims = dict(
        c5=detector.backbone.get('base_channels', 64) * 32,
        fc=detector.roi_head.bbox_head.fc_out_channels,
        region=model.detector.region_channels,
        hidden=tuple(model.selector.hidden_channels),
        n_embd=gpt2.n_embd,
        n_positions=gpt2.n_positions,
        vocab_size=vocab_size)
    gen = torch.Generator().manual_seed(seed)
    shared: Dict[str, Tensor] = {}
    state: Dict[str, Tensor] = {}
    for key, shape, dtype in manifest['keys']:
        block = _BLOCK.match(key)
        if block and int(block.group(1)) >= gpt2.n_layer:
            continue
        name = _shared_name(key)
        if name not in shared:
            shared[name] = _random_value(
                name, _tiny_shape(name, shape, dims), getattr(torch, dtype),
                gen).to(getattr(torch, dtype))
        state[key] = shared[name]
    return state


def spread_box_classifier(inferencer, image: str) -> None:
    """Redraw a random detector's box classifier so that most of the 29
    regions win a vote and are detected: weights 10 x N(0, 1) (torch's
    global generator) made orthogonal to ``image``'s mean RoI feature, bias 0 (a random
    classifier leaves a few regions detected).

    Args:
        inferencer (ReportInferencer): Its model's detector is an mmdet
            two-stage detector with ``roi_head.bbox_head.fc_cls``.
        image (str): The image whose RoI features set the direction.
    """
    from crrg.models.detectors.region_detector import classifier_inputs
    head = inferencer.model.detector.detector.roi_head.bbox_head
    with torch.no_grad(), classifier_inputs(head.fc_cls) as seen:
        inferencer([image])
        mean = seen[-1].flatten(1).mean(0)
        unit = mean / mean.norm()
        weight = 10 * torch.randn_like(head.fc_cls.weight)
        head.fc_cls.weight.copy_(weight - (weight @ unit)[:, None] * unit)
        head.fc_cls.bias.zero_()
