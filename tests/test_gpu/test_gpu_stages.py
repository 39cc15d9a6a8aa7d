"""On a CUDA GPU: one mixed-precision iteration of each stage (tiny configs,
synthetic twin), inference with both inferencers, and a 2-process NCCL
training and testing step. Run with ``pytest -m gpu tests/test_gpu``; where
CUDA is absent tests/conftest.py skips them with the reason (docs/gpu.md).
"""
import math
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper, build_optim_wrapper
from mmengine.runner import Runner

from crrg.registry import MODELS
from crrg.testing import train_report_tokenizer, train_wordpiece_tokenizer

pytestmark = pytest.mark.gpu

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEVICE = 'cuda'
SENTENCES = [
    'the heart is normal in size.', 'no pleural effusion.',
    'right lower lobe opacity.', 'small left pleural effusion.'
]


@pytest.fixture(scope='module')
def tokenizers(tmp_path_factory):
    work = tmp_path_factory.mktemp('tokenizers')
    train_report_tokenizer(SENTENCES * 5, str(work / 'bpe'), vocab_size=300)
    train_wordpiece_tokenizer(
        SENTENCES * 10, str(work / 'wordpiece'), vocab_size=200)
    return dict(bpe=str(work / 'bpe'), wordpiece=str(work / 'wordpiece'))


def stage_config(name, tokenizers):
    """A tiny stage config whose model builds without earlier stages."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', name))
    model = cfg.model
    if model.get('type') == 'RegionGuidedReportGenerator':
        model.detector_checkpoint = None
        if model.get('generator') is not None:
            model.generator.tokenizer = tokenizers['bpe']
    if model.get('type') == 'RCLIP':
        model.text_encoder.tokenizer = tokenizers['wordpiece']
    return cfg


def one_amp_iteration(cfg, data_root, dtype):
    """Train ``cfg``'s model on one batch of the twin under AmpOptimWrapper.

    Returns:
        dict: The logged losses of the last iteration.
    """
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(DEVICE)
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.dtype = dtype
    # fp16: a moderate initial scale, so that a step is rarely skipped
    cfg.optim_wrapper.loss_scale = dict(init_scale=512.0)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert isinstance(optim_wrapper, AmpOptimWrapper)
    assert optim_wrapper.cast_dtype == getattr(torch, dtype)
    loader_cfg = cfg.train_dataloader.copy()
    loader_cfg.update(batch_size=2, num_workers=0, persistent_workers=False)
    loader_cfg.dataset = dict(loader_cfg.dataset, data_root=f'{data_root}/')
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    trained = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trained]
    model.train()
    # a step skipped for an fp16 overflow lowers the scale; retry twice
    for batch in list(loader)[:3]:
        log_vars = model.train_step(batch, optim_wrapper)
        if any(not torch.equal(a, p) for a, p in zip(before, trained)):
            break
    assert all(p.is_cuda for p in trained)
    assert any(not torch.equal(a, p) for a, p in zip(before, trained)), \
        'no parameter was updated in 3 AMP iterations'
    for name, value in log_vars.items():
        assert torch.isfinite(torch.as_tensor(value)).all(), name
    return log_vars


@pytest.mark.parametrize('config,dtype', [
    ('region_detector/faster-rcnn_tiny_synthetic.py', 'float16'),
    ('rrg/rrg-selector_tiny_synthetic.py', 'float16'),
    ('rrg/rrg-generator_tiny_synthetic.py', 'float16'),
    ('rclip/rclip_tiny_synthetic.py', 'bfloat16'),
])
def test_one_amp_iteration_per_stage(config, dtype, synthetic_twin,
                                     tokenizers):
    if dtype == 'bfloat16' and not torch.cuda.is_bf16_supported():
        dtype = 'float16'
    root, _ = synthetic_twin
    log_vars = one_amp_iteration(
        stage_config(config, tokenizers), root, dtype)
    assert 'loss' in log_vars


def test_report_inference_on_cuda(synthetic_twin, tokenizers, tmp_path):
    """ReportInferencer on CUDA with fp32 decoding (the int8 step is
    CPU-only): boxes and sentences for a twin image."""
    from crrg.apis import ReportInferencer
    root, _ = synthetic_twin
    cfg = stage_config('rrg/rrg-generator_tiny_synthetic.py', tokenizers)
    cfg.model.generator.max_new_tokens = 4
    cfg.model.selector.threshold = -100.0  # every region gets a sentence
    torch.manual_seed(0)
    weights = tmp_path / 'rrg.pth'
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict(),
                'meta': {}}, weights)
    inferencer = ReportInferencer(
        model=cfg, weights=str(weights), device=DEVICE)
    assert next(inferencer.model.parameters()).is_cuda
    image = sorted(p for p in root.rglob('*.jpg'))[0]
    (pred, ) = inferencer(inputs=[str(image)])['predictions']
    assert pred['status'] == 'ok', pred['refusal']
    assert len(pred['regions']) == 29
    for region in pred['regions']:
        assert all(map(math.isfinite, region['bbox']))
        assert isinstance(region['sentence'], str) or not region['detected']
    # the CPU int8 fast path is refused on the GPU, with the reason
    from crrg.models.decoding import GPT2Decoder
    with pytest.raises(ValueError, match='CPU only'):
        GPT2Decoder(inferencer.model.generator.lm, 'int8')


def test_clip_inference_on_cuda(synthetic_twin, tokenizers, tmp_path):
    from crrg.apis import CLIPInferencer
    root, _ = synthetic_twin
    cfg = stage_config('rclip/rclip_tiny_synthetic.py', tokenizers)
    torch.manual_seed(0)
    weights = tmp_path / 'rclip.pth'
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict(),
                'meta': {}}, weights)
    clip = CLIPInferencer(cfg, str(weights), device=DEVICE)
    assert next(clip.model.parameters()).is_cuda
    images = [str(p) for p in sorted(root.rglob('*.jpg'))[:2]]
    out = clip(images, prompts=SENTENCES[:2])
    for pred in out['predictions']:
        assert pred['status'] == 'ok'
        assert sum(pred['scores']) == pytest.approx(1, abs=1e-4)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_process_nccl_train_and_test(synthetic_twin, tmp_path):
    """tools/dist_train.sh (--amp) and tools/dist_test.sh on 2 GPUs, NCCL."""
    if torch.cuda.device_count() < 2:
        pytest.skip('needs 2 GPUs for a 2-process NCCL step, found '
                    f'{torch.cuda.device_count()}')
    root, _ = synthetic_twin
    config = 'configs/region_detector/faster-rcnn_tiny_synthetic.py'
    work = str(tmp_path / 'dist')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable)
    options = [
        'env_cfg.dist_cfg.backend=nccl',
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=5',
        'train_dataloader.batch_size=2', 'default_hooks.checkpoint.interval=1'
    ]

    def run(*args):
        proc = subprocess.run(['bash', *args],
                              cwd=ROOT,
                              env=dict(env, PORT=str(_free_port())),
                              capture_output=True,
                              text=True,
                              timeout=900)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-4000:]
        return out

    out = run('tools/dist_train.sh', config, '2', '--amp', '--work-dir', work,
              '--cfg-options', *options)
    assert "dist_cfg: {'backend': 'nccl'}" in out
    assert 'Distributed training: True' in out
    # 12 training images, 2 ranks x batch 2: 3 iterations
    assert 'Epoch(train) [1][3/3]' in out
    checkpoint = osp.join(work, 'epoch_1.pth')
    out = run('tools/dist_test.sh', config, checkpoint, '2', '--work-dir',
              work, '--cfg-options', *options)
    assert 'region/mean_iou' in out
