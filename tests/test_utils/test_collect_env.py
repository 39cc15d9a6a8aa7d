import os
import subprocess
import sys

import pytest
import torch

from crrg.utils import collect_env as collect_env_module
from crrg.utils.collect_env import collect_env, cpu_features

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')

SAPPHIRE_RAPIDS = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""
HASWELL = """processor\t: 0
flags\t\t: fpu sse2 avx avx2 fma
processor\t: 1
flags\t\t: fpu sse2 avx avx2 fma
"""


def test_cpu_features_from_cpuinfo():
    features = cpu_features(SAPPHIRE_RAPIDS)
    assert list(features) == list(collect_env_module.CPU_FEATURES)
    assert features['AVX-512'] and features['AVX512-VNNI']
    assert features['AMX-INT8'] and features['AMX-BF16']
    assert not features['AVX-VNNI']
    features = cpu_features(HASWELL)
    assert features['AVX2']
    assert not any(v for k, v in features.items() if k != 'AVX2')
    assert cpu_features('') == dict.fromkeys(collect_env_module.CPU_FEATURES,
                                             False)


def test_collect_env_reports_mmcv_ops_and_int8_kernel(monkeypatch):
    from crrg.models.decoding import fast_gpt2
    monkeypatch.setattr(fast_gpt2, 'native_int8_ops', lambda: None)
    info = collect_env()
    from mmcv.ops import get_compiling_cuda_version
    assert info['MMCV ops with CUDA'] == (get_compiling_cuda_version() !=
                                          'not available')
    assert info['PyTorch CUDA build'] == (torch.version.cuda
                                          or 'no (CPU build)')
    assert info['PyTorch CPU capability'] == \
        torch.backends.cpu.get_cpu_capability()
    assert info['crrg int8 decoding kernel'].startswith('not available')
    # mmengine's fields come first
    assert list(info).index('MMEngine') < list(info).index('MMCV')


@pytest.mark.slow
def test_collect_env_module_runs():
    """``python -m crrg.utils.collect_env`` as a user (and CI) runs it."""
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get(
                   'PYTHONPATH', '')]))
    proc = subprocess.run([sys.executable, '-m', 'crrg.utils.collect_env'],
                          cwd=ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = dict(
        line.split(': ', 1) for line in proc.stdout.splitlines()
        if ': ' in line and not line.startswith(' '))
    assert lines['PyTorch'] == torch.__version__
    assert lines['MMCV'] == '2.1.0'
    assert lines['MMCV ops with CUDA'] in ('True', 'False')
    assert lines['CPU features']
    kernel = lines['crrg int8 decoding kernel']
    assert kernel.startswith(('loaded', 'not available'))
    from crrg.models.decoding import native_int8_ops
    assert kernel.startswith('loaded') == (native_int8_ops() is not None)
