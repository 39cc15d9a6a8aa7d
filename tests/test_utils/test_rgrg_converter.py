"""RGRG's checkpoint -> crrg: a checkpoint synthesised (seeded random values)
from the key / shape manifest recorded from the authors' model
(benchmarks/rgrg_parity.py --manifest) converts and loads strictly into the
RGRG config; a missing or extra key fails with a clear error."""
import json
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from crrg.registry import MODELS
from crrg.testing import make_gpt2_shaped_tokenizer
from crrg.utils import register_all_modules
from crrg.utils.converters import (RGRG_SOURCE_COMMIT,
                                   convert_rgrg_checkpoint, convert_rgrg_file)

register_all_modules()
MANIFEST = 'tests/data/rgrg_checkpoint_manifest.json'
CONFIG = 'configs/rgrg/rgrg_r50-c5_gpt2-pubmed-medium_imagenome.py'


def _alias(key):
    """One name per GPT-2 tensor of RGRG's LanguageModel (its modules are
    registered under several names, which share their tensors)."""
    key = key.replace('gpt_with_lm_head.transformer.', 'gpt.')
    key = key.replace('gpt_with_lm_head.lm_head', 'lm_head')
    match = re.match(r'language_model\.gpt2_blocks\.(\d+)\.([0-3])\.(.+)', key)
    if match:
        part = ('ln_1', 'attn', 'ln_2', 'mlp')[int(match.group(2))]
        key = f'language_model.gpt.h.{match.group(1)}.{part}.{match.group(3)}'
    return re.sub(r'^language_model\.(wte|wpe)\.', r'language_model.gpt.\1.',
                  key).replace('language_model.final_layernorm.',
                               'language_model.gpt.ln_f.')


def synthesise(manifest, seed=0):
    """Seeded random tensors of the manifest's shapes; aliases share one
    tensor, as in the authors' file; tensors above 256 k values are a random
    row expanded (no memory)."""
    gen = torch.Generator().manual_seed(seed)
    shared, state = {}, {}
    for key, shape, dtype in manifest['keys']:
        name = _alias(key)
        if name not in shared:
            dtype = getattr(torch, dtype)
            if dtype == torch.uint8:
                value = torch.ones(shape, dtype=dtype).tril()
            elif not dtype.is_floating_point:
                value = torch.randint(0, 1000, shape, generator=gen,
                                      dtype=dtype)
            elif torch.Size(shape).numel() > 2**18:
                value = torch.randn(shape[-1], generator=gen).expand(shape)
            else:
                value = torch.randn(shape, generator=gen)
            shared[name] = value
        state[key] = shared[name]
    return state


@pytest.fixture(scope='module')
def manifest():
    with open(MANIFEST) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def rgrg_model(tmp_path_factory):
    tok = tmp_path_factory.mktemp('gpt2_tok')
    make_gpt2_shaped_tokenizer(str(tok))
    cfg = Config.fromfile(CONFIG)
    cfg.model.generator.tokenizer = str(tok)
    with torch.device('meta'):
        return MODELS.build(cfg.model)


def test_manifest_is_the_authors_model(manifest):
    assert manifest['commit'] == RGRG_SOURCE_COMMIT
    keys = [k for k, _, _ in manifest['keys']]
    assert len(keys) == len(set(keys)) == 1662
    assert 'object_detector.rpn.head.conv.0.0.weight' in keys
    assert 'language_model.gpt2_blocks.23.1.uk.weight' in keys


@pytest.mark.parametrize('rpn_conv', ['conv.0.0', 'conv'])
def test_synthesised_checkpoint_loads_strictly(manifest, rgrg_model,
                                               rpn_conv):
    state = synthesise(manifest)
    if rpn_conv == 'conv':  # torchvision < 0.13 named it plainly
        for p in ('weight', 'bias'):
            state[f'object_detector.rpn.head.conv.{p}'] = state.pop(
                f'object_detector.rpn.head.conv.0.0.{p}')
    out = convert_rgrg_checkpoint(dict(model=state, current_epoch=3))
    assert out['meta']['rgrg_commit'] == RGRG_SOURCE_COMMIT
    converted = out['state_dict']
    result = rgrg_model.load_state_dict(converted, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    # values go where they belong
    det = 'detector.detector.'
    cls = state['object_detector.roi_heads.box_predictor.cls_score.weight']
    fc_cls = converted[det + 'roi_head.bbox_head.fc_cls.weight']
    assert torch.equal(fc_cls[:29], cls[1:]) and torch.equal(fc_cls[29],
                                                             cls[0])
    reg = state['object_detector.roi_heads.box_predictor.bbox_pred.bias']
    assert torch.equal(converted[det + 'roi_head.bbox_head.fc_reg.bias'],
                       reg[4:])
    pairs = {
        'object_detector.backbone.7.2.bn3.running_var':
        det + 'backbone.layer4.2.bn3.running_var',
        f'object_detector.rpn.head.{rpn_conv}.bias':
        det + 'rpn_head.rpn_conv.bias',
        'object_detector.rpn.head.cls_logits.weight':
        det + 'rpn_head.rpn_cls.weight',
        'object_detector.roi_heads.dim_reduction.weight':
        'detector.region_proj.weight',
        'binary_classifier_region_selection.classifier.4.weight':
        'selector.mlp.4.weight',
        'binary_classifier_region_abnormal.classifier.2.bias':
        'abnormality.mlp.2.bias',
        'language_model.feature_space_transformation_nn.2.weight':
        'generator.region_mlp.2.weight',
        'language_model.gpt2_blocks.7.1.uk.weight':
        'generator.key_maps.7.weight',
        'language_model.gpt.h.11.attn.uv.bias':
        'generator.value_maps.11.bias',
        'language_model.final_layernorm.weight':
        'generator.lm.transformer.ln_f.weight',
        'language_model.gpt_with_lm_head.transformer.h.3.mlp.c_fc.weight':
        'generator.lm.transformer.h.3.mlp.c_fc.weight',
        'language_model.lm_head.weight': 'generator.lm.lm_head.weight',
    }
    for src, dst in pairs.items():
        assert torch.equal(converted[dst], state[src]), src


def test_missing_extra_and_inconsistent_keys_fail_clearly(manifest):
    state = synthesise(manifest)
    missing = dict(state)
    for key in [k for k in missing if '.h.5.attn.uk.' in k or
                'gpt2_blocks.5.1.uk.' in k]:
        del missing[key]
    del missing['binary_classifier_region_selection.classifier.0.bias']
    with pytest.raises(KeyError) as err:
        convert_rgrg_checkpoint(dict(model=missing), source='ckpt.pt')
    message = str(err.value)
    assert 'ckpt.pt' in message and '3 missing' in message
    assert 'language_model.gpt.h.5.attn.uk.weight' in message
    assert 'binary_classifier_region_selection.classifier.0.bias' in message
    extra = dict(state)
    extra['object_detector.roi_heads.mask_head.weight'] = torch.zeros(1)
    extra['language_model.gpt.h.0.attn.q_proj.weight'] = torch.zeros(1)
    with pytest.raises(KeyError, match='2 unexpected: .*mask_head'):
        convert_rgrg_checkpoint(dict(model=extra))
    with pytest.raises(KeyError, match='"model"'):
        convert_rgrg_checkpoint(state)
    bad = dict(state)
    bad['language_model.wte.weight'] = bad['language_model.wte.weight'] + 1
    with pytest.raises(ValueError, match='language_model.wte.weight'):
        convert_rgrg_checkpoint(dict(model=bad))


def test_tool_converts_a_file_and_refuses_a_wrong_one(manifest, tmp_path):
    src, dst = tmp_path / 'rgrg.pt', tmp_path / 'out' / 'crrg.pth'
    state = synthesise(manifest)
    torch.save(dict(model=state), src)
    assert convert_rgrg_file(str(src), str(dst)) == len(
        convert_rgrg_checkpoint(dict(model=state))['state_dict'])
    loaded = torch.load(dst, weights_only=True, mmap=True)
    assert torch.equal(loaded['state_dict']['selector.mlp.0.weight'],
                       state['binary_classifier_region_selection.'
                             'classifier.0.weight'])
    del state['object_detector.backbone.0.weight']
    torch.save(dict(model=state), src)
    proc = subprocess.run(
        [sys.executable, 'tools/model_converters/rgrg_to_crrg.py', str(src),
         str(tmp_path / 'bad.pth')], capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'object_detector.backbone.0.weight' in proc.stderr
    assert not (tmp_path / 'bad.pth').exists()
