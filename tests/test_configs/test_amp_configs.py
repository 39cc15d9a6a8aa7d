"""The mixed-precision configs of the real-size stages: each inherits its
fp32 config and changes only the optim wrapper (AmpOptimWrapper, fp16 or
bf16) and, where a RegionDetector / GPT2RegionHead is built, keeps their
CPU fast paths (bf16 backbone, int8 decoding) off."""
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper, build_optim_wrapper
from mmengine.optim.optimizer import amp_optimizer_wrapper
from torch import nn

# AMP config, the fp32 config it inherits, autocast dtype
AMP_CONFIGS = [
    ('region_detector/faster-rcnn_r50_fpn_amp-opt_imagenome.py',
     'region_detector/faster-rcnn_r50_fpn_opt_imagenome.py', torch.float16),
    ('rrg/rrg-selector_r50_fpn_amp-opt_imagenome.py',
     'rrg/rrg-selector_r50_fpn_opt_imagenome.py', torch.float16),
    ('rrg/rrg-generator_r50_fpn_gpt2-pubmed-medium_amp-opt_imagenome.py',
     'rrg/rrg-generator_r50_fpn_gpt2-pubmed-medium_opt_imagenome.py',
     torch.float16),
    ('rclip/rclip-base_r50_bioclinicalbert_amp-bf16_mimic.py',
     'rclip/rclip-base_r50_bioclinicalbert_mimic.py', torch.bfloat16),
]


def _fp32_switches_off(model: dict) -> dict:
    """The model config without the inference switches an AMP config sets."""
    model = model.copy()
    for part in ('detector', 'generator'):
        if isinstance(model.get(part), dict):
            model[part] = {
                k: v
                for k, v in model[part].items()
                if k not in ('inference_precision', 'channels_last')
            }
    model.pop('detector_checkpoint', None)
    return model


@pytest.mark.parametrize('amp,fp32,dtype', AMP_CONFIGS)
def test_amp_config_inherits_and_builds(amp, fp32, dtype, monkeypatch):
    cfg = Config.fromfile(f'configs/{amp}')
    base = Config.fromfile(f'configs/{fp32}')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert cfg.env_cfg.mp_cfg == base.env_cfg.mp_cfg
    # the same optimizer, schedule, data and loops as the fp32 stage
    assert cfg.optim_wrapper.optimizer == base.optim_wrapper.optimizer
    for key in ('param_scheduler', 'train_cfg', 'train_dataloader'):
        assert cfg.get(key) == base.get(key), key
    assert _fp32_switches_off(cfg.model.to_dict()) == _fp32_switches_off(
        base.model.to_dict())
    detector, generator = cfg.model.get('detector'), cfg.model.get(
        'generator')
    if isinstance(detector, dict) and detector.type == 'RegionDetector':
        assert detector.inference_precision == 'fp32'
        assert detector.channels_last is False
    if isinstance(generator, dict):
        assert generator.inference_precision == 'fp32'

    # AmpOptimWrapper refuses to build without CUDA; as on a GPU machine:
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available',
                        lambda: True)
    wrapper = build_optim_wrapper(nn.Linear(2, 2), cfg.optim_wrapper)
    assert isinstance(wrapper, AmpOptimWrapper)
    assert wrapper.cast_dtype == dtype
    assert type(wrapper.optimizer).__name__ == base.optim_wrapper.optimizer[
        'type']


def test_amp_stages_chain():
    """Each AMP stage starts from the previous AMP stage's work dir."""
    selector = Config.fromfile(f'configs/{AMP_CONFIGS[1][0]}')
    generator = Config.fromfile(f'configs/{AMP_CONFIGS[2][0]}')
    assert selector.model.detector_checkpoint.startswith(
        'work_dirs/faster-rcnn_r50_fpn_amp-opt_imagenome/')
    assert generator.load_from.startswith(
        'work_dirs/rrg-selector_r50_fpn_amp-opt_imagenome/')
