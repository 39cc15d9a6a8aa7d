"""CXR-CLIP checkpoints: safe reading, conversion to RCLIP, strict loading.

The checkpoints are synthesised from the key / shape manifest recorded from
the authors' model (benchmarks/cxrclip_parity.py), with seeded random values
and the published layout: ``model``, ``optimizer``, ``scheduler``,
``config`` (plain dicts holding OmegaConf-like objects, pickled under
OmegaConf's class names), ``epoch``, ``train_loss``. The text tower is a
tiny BERT of the same keys (Bio_ClinicalBERT's 768 / 3072 / 512 sizes scaled
down); the image tower has the manifest's ResNet-50 shapes.
"""
import copy
import os
import os.path as osp
import runpy
import sys
import types
import typing

import pytest
import torch

from crrg.models.clip.cxrclip_checkpoint import (
    CXRCLIPCheckpointError, convert_cxrclip_checkpoint,
    convert_cxrclip_state_dict, load_cxrclip_checkpoint, load_manifest)
from crrg.registry import MODELS
from crrg.utils import load_model_checkpoint

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
VOCAB_SIZE = 28996  # Bio_ClinicalBERT's
TEXT = 'text_encoder.text_encoder.'
TINY = {768: 32, 3072: 64, 512: 64}  # hidden, intermediate, positions
TINY_BERT = dict(hidden_size=32, num_hidden_layers=12, num_attention_heads=2,
                 intermediate_size=64, max_position_embeddings=64)


# --- OmegaConf-like objects pickled under OmegaConf's names -----------------
class _Container:

    def __init__(self, **state):
        self.__dict__.update(state)


def _fake_omegaconf(monkeypatch):
    """Modules and classes named as OmegaConf's, so that pickle writes
    ``omegaconf.listconfig.ListConfig`` etc. without OmegaConf installed."""
    monkeypatch.setitem(sys.modules, 'omegaconf', types.ModuleType('omegaconf'))
    classes = {}
    for module, name in (('omegaconf.dictconfig', 'DictConfig'),
                         ('omegaconf.listconfig', 'ListConfig'),
                         ('omegaconf.nodes', 'AnyNode'),
                         ('omegaconf.base', 'ContainerMetadata'),
                         ('omegaconf.base', 'Metadata')):
        if not getattr(sys.modules.get(module), '_fake', False):
            fake = types.ModuleType(module)
            fake._fake = True
            monkeypatch.setitem(sys.modules, module, fake)
        cls = type(name, (_Container, ), {'__module__': module})
        setattr(sys.modules[module], name, cls)
        classes[name] = cls
    return classes


def _omegaconf_list(classes, values, parent_dict, key):
    """A ListConfig as convert_dictconfig_to_dict leaves it in the config,
    with its DictConfig parent."""
    meta = classes['ContainerMetadata'](
        ref_type=typing.Any, object_type=list, optional=True, key=key,
        flags={}, flags_root=False, resolver_cache={}, key_type=int,
        element_type=typing.Any)
    parent = classes['DictConfig'](_metadata=classes['ContainerMetadata'](
        ref_type=typing.Any, object_type=dict, optional=True, key=None,
        flags={}, flags_root=False, resolver_cache={}, key_type=typing.Any,
        element_type=typing.Any), _parent=None, _content={})
    lst = classes['ListConfig'](_metadata=meta, _parent=parent, _content=[])
    lst._content = [
        classes['AnyNode'](_metadata=classes['Metadata'](
            ref_type=typing.Any, object_type=None, optional=True, key=i,
            flags={}, flags_root=False, resolver_cache={}), _parent=lst,
            _val=v) for i, v in enumerate(values)
    ]
    parent._content = dict(parent_dict, **{key: lst})
    return lst


def cxrclip_config(classes, image_encoder=None):
    """CXR-CLIP's training config as its train.py holds it."""
    crop = {'size': 224}
    crop['scale'] = _omegaconf_list(classes, [0.8, 1.1], crop, 'scale')
    return {
        'base': {'seed': 1234, 'image_size': 224, 'text_max_length': 256},
        'model': {
            'name': 'clip_custom', 'temperature': 0.07,
            'image_encoder': image_encoder or {
                'source': 'torchvision', 'name': 'resnet',
                'pretrained': True},
            'text_encoder': {
                'source': 'huggingface',
                'name': 'emilyalsentzer/Bio_ClinicalBERT',
                'pretrained': True, 'pooling': 'eos'},
            'projection_head': {'name': 'linear', 'dropout': 0.1,
                                'proj_dim': 512},
        },
        'transform': {'train': {'RandomResizedCrop': crop}},
    }


def tiny_manifest():
    """The recorded manifest with the text tower's sizes scaled down."""
    manifest = load_manifest()
    tiny = copy.deepcopy(manifest)
    for table in ('keys', 'optional_keys'):
        for key, shape in tiny[table].items():
            if key.startswith(TEXT):
                tiny[table][key] = [TINY.get(d, d) for d in shape]
            elif key == 'text_projection.projection.weight':
                tiny[table][key] = [shape[0], TINY[shape[1]]]
    return manifest, tiny


def synthesise(manifest, seed=0, position_ids=True):
    """Seeded random weights of the manifest's keys and shapes."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in manifest['keys'].items():
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(1000)
        elif key.endswith('running_var'):
            state[key] = 0.5 + torch.rand(shape, generator=gen)
        else:
            state[key] = 0.05 * torch.randn(shape, generator=gen)
    state['logit_scale'] = torch.tensor(5.0)  # above CLIP's ln 100 clamp
    if position_ids:  # what transformers 4.26 (the authors' pin) saves
        key = TEXT + 'embeddings.position_ids'
        length = manifest['optional_keys'][key][1]
        state[key] = torch.arange(length)[None]
    return state


def save_published(path, state, config):
    torch.save({'model': state,
                'optimizer': {'state': {}, 'param_groups': [
                    {'lr': 5e-5, 'betas': (0.9, 0.999), 'params': [0, 1]}]},
                'scheduler': {'last_epoch': 99, 'total_steps': 100,
                              'warmup_steps': 10, 'lr_lambdas': [None]},
                'config': config, 'epoch': 15, 'train_loss': 1.25}, path)
    return path


@pytest.fixture(scope='module')
def vocab_dir(tmp_path_factory):
    """A BERT tokenizer with Bio_ClinicalBERT's vocabulary size."""
    from transformers import BertTokenizerFast
    path = str(tmp_path_factory.mktemp('vocab'))
    vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'no', 'evidence',
             'of', 'pneumonia', 'findings', 'suggesting', '.']
    vocab += [f'filler{i}' for i in range(VOCAB_SIZE - len(vocab))]
    with open(osp.join(path, 'vocab.txt'), 'w') as f:
        f.write('\n'.join(vocab) + '\n')
    BertTokenizerFast(vocab_file=osp.join(path, 'vocab.txt')).save_pretrained(
        path)
    return path


@pytest.fixture
def fake_omegaconf(monkeypatch):
    return _fake_omegaconf(monkeypatch)


def test_manifest_matches_the_full_size_crrg_config(vocab_dir):
    # every converted key of the recorded manifest is a weight of the
    # CXR-CLIP config's RCLIP (ResNet-50, Bio_ClinicalBERT shape) with the
    # same shape, and the model has no other weight
    from mmengine.config import Config
    manifest = load_manifest()
    assert manifest['source']['repository'] == 'kakaobrain/cxr-clip'
    assert len(manifest['source']['commit']) == 40
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs/rclip/cxr-clip_r50_bioclinicalbert_mimic.py'))
    cfg.model.text_encoder.tokenizer = vocab_dir
    model = MODELS.build(cfg.model)
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    meta = {k: torch.empty(v, device='meta')
            for k, v in manifest['keys'].items()}
    converted = convert_cxrclip_state_dict(meta, manifest)
    assert {k: list(v.shape) for k, v in converted.items()} == shapes
    assert model.max_logit_scale is None


def test_convert_and_load_strictly(tmp_path, vocab_dir, fake_omegaconf):
    manifest, tiny = tiny_manifest()
    state = synthesise(tiny)
    src = save_published(str(tmp_path / 'r50_m.tar'), state,
                         cxrclip_config(fake_omegaconf))
    # the file names OmegaConf's classes, as the published ones do
    with open(src, 'rb') as f:
        assert b'omegaconf.listconfig' in f.read()
    loaded = load_cxrclip_checkpoint(src)
    assert loaded['config']['transform']['train']['RandomResizedCrop'][
        'scale'] == [0.8, 1.1]
    assert loaded['epoch'] == 15
    checkpoint = convert_cxrclip_checkpoint(src, tiny)
    assert checkpoint['meta']['text_max_length'] == 256
    dst = str(tmp_path / 'converted.pth')
    torch.save(checkpoint, dst)

    model = MODELS.build(dict(
        type='RCLIP',
        backbone=dict(type='mmpretrain.ResNet', depth=50),
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        text_encoder=dict(type='HFTextEncoder', tokenizer=vocab_dir,
                          bert_config=TINY_BERT),
        max_logit_scale=None))
    load_model_checkpoint(model, dst)  # strict
    model.eval()
    weights = model.state_dict()
    pairs = {
        'backbone.layer4.2.conv3.weight':
        'image_encoder.resnet.layer4.2.conv3.weight',
        'backbone.bn1.running_var': 'image_encoder.resnet.bn1.running_var',
        'text_encoder.model.encoder.layer.11.output.dense.weight':
        TEXT + 'encoder.layer.11.output.dense.weight',
        'text_projection.bias': 'text_projection.projection.bias',
        'image_projection.weight': 'image_projection.projection.weight',
        'logit_scale': 'logit_scale',
    }
    for ours, theirs in pairs.items():
        assert torch.equal(weights[ours], state[theirs]), ours
    # CXR-CLIP's logits: exp(logit_scale) unclamped times the cosine
    with torch.no_grad():
        image = model.encode_image(torch.randn(2, 3, 64, 64))
        text = model.encode_text(['No evidence of pneumonia',
                                  'Findings suggesting pneumonia.'])
        logits = model.similarity_logits(image, text)
    assert model.scale().item() == pytest.approx(148.413, abs=1e-3)
    assert torch.allclose(logits, 148.4132 * image @ text.T, atol=1e-4)
    # the linear-probe config's frozen ResNet-50 takes the converted
    # `backbone.` weights
    from mmengine.config import Config
    probe_cfg = Config.fromfile(osp.join(
        ROOT, 'configs/linear_probe/probe_r50_cxr-clip_rsna-1pct.py'))
    probe_cfg.model.backbone.init_cfg.checkpoint = dst
    probe = MODELS.build(probe_cfg.model)
    probe.init_weights()
    assert torch.equal(probe.backbone.layer4[2].conv3.weight,
                       state['image_encoder.resnet.layer4.2.conv3.weight'])
    assert torch.equal(probe.backbone.bn1.running_var,
                       state['image_encoder.resnet.bn1.running_var'])
    # without position_ids (transformers >= 4.31 does not save it)
    convert_cxrclip_state_dict(synthesise(tiny, position_ids=False), tiny)


def test_missing_extra_and_reshaped_keys_are_listed(fake_omegaconf):
    _, tiny = tiny_manifest()
    state = synthesise(tiny)
    missing = dict(state)
    del missing['image_encoder.resnet.layer3.1.bn2.weight']
    with pytest.raises(CXRCLIPCheckpointError,
                       match=r'1 missing key\(s\): image_encoder.resnet.'
                       r'layer3.1.bn2.weight'):
        convert_cxrclip_state_dict(missing, tiny)
    extra = dict(state, **{'image_classifier.weight': torch.zeros(1)})
    with pytest.raises(CXRCLIPCheckpointError,
                       match=r'1 unexpected key\(s\): image_classifier'):
        convert_cxrclip_state_dict(extra, tiny)
    reshaped = dict(state, logit_scale=torch.zeros(2))
    with pytest.raises(CXRCLIPCheckpointError,
                       match=r'logit_scale \[2\] \(expected \[\]\)'):
        convert_cxrclip_state_dict(reshaped, tiny)
    # the full-size manifest refuses the tiny text tower by shape
    with pytest.raises(CXRCLIPCheckpointError, match='unexpected shape'):
        convert_cxrclip_state_dict(state)


def test_swin_and_other_models_are_refused(tmp_path, fake_omegaconf):
    _, tiny = tiny_manifest()
    swin = cxrclip_config(fake_omegaconf, image_encoder={
        'source': 'huggingface', 'model_type': 'swin',
        'name': 'microsoft/swin-tiny-patch4-window7-224'})
    src = save_published(str(tmp_path / 'swint_m.tar'), {}, swin)
    with pytest.raises(CXRCLIPCheckpointError, match='not supported.*Swin'):
        convert_cxrclip_checkpoint(src, tiny)
    # the converter tool says the same
    argv = sys.argv
    sys.argv = ['cxrclip_to_crrg.py', src, str(tmp_path / 'out.pth')]
    try:
        with pytest.raises(CXRCLIPCheckpointError, match='swint_'):
            runpy.run_path(osp.join(ROOT, 'tools/model_converters/'
                                    'cxrclip_to_crrg.py'), run_name='__main__')
    finally:
        sys.argv = argv
    assert not (tmp_path / 'out.pth').exists()
    torch.save({'state_dict': {}}, str(tmp_path / 'other.pth'))
    with pytest.raises(CXRCLIPCheckpointError,
                       match='expected a dict with "model"'):
        load_cxrclip_checkpoint(str(tmp_path / 'other.pth'))


class _Exploit:
    """Unpickling this would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_malicious_pickle_is_refused_without_running(tmp_path,
                                                     fake_omegaconf):
    marker = tmp_path / 'pwned'
    config = cxrclip_config(fake_omegaconf)
    config['model']['extra'] = _Exploit(marker)
    src = save_published(str(tmp_path / 'evil.tar'), {}, config)
    with pytest.raises(CXRCLIPCheckpointError,
                       match='refused to unpickle.*nothing was executed'):
        load_cxrclip_checkpoint(src)
    assert not marker.exists()


def test_real_omegaconf_objects(tmp_path):
    omegaconf = pytest.importorskip('omegaconf')
    cfg = omegaconf.OmegaConf.create(
        {'base': {'image_size': 224},
         'model': {'name': 'clip_custom', 'scale': [0.8, 1.1]}})
    src = str(tmp_path / 'real.tar')
    torch.save({'model': {}, 'config': cfg}, src)
    assert load_cxrclip_checkpoint(src)['config'] == {
        'base': {'image_size': 224},
        'model': {'name': 'clip_custom', 'scale': [0.8, 1.1]}}
