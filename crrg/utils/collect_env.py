"""The environment crrg runs in, for bug reports and benchmark records.

As mmdet's ``python mmdet/utils/collect_env.py``: mmengine's
:func:`~mmengine.utils.dl_utils.collect_env` (Python, GPUs, CUDA_HOME and
nvcc when CUDA is available, the compiler, torch and its build details,
torchvision, OpenCV, mmengine) plus what crrg depends on: whether torch is a
CUDA build, mmcv and whether its ops are compiled with CUDA, the CPU's vector
and matrix extensions (AVX2 / AVX-512 / VNNI / BF16 / AMX), which torch's CPU
kernels use, and whether crrg's int8 decoding kernel is built and loadable.

Example::

    python -m crrg.utils.collect_env
"""
import os
import subprocess
from collections import OrderedDict
from typing import Dict, Optional

import torch
from mmengine.utils.dl_utils import collect_env as collect_base_env

# name shown -> /proc/cpuinfo flag
CPU_FEATURES = OrderedDict([
    ('AVX2', 'avx2'),
    ('AVX-512', 'avx512f'),
    ('AVX512-VNNI', 'avx512_vnni'),
    ('AVX-VNNI', 'avx_vnni'),
    ('AVX512-BF16', 'avx512_bf16'),
    ('AMX-BF16', 'amx_bf16'),
    ('AMX-INT8', 'amx_int8'),
])


def cpu_features(cpuinfo: Optional[str] = None) -> Dict[str, bool]:
    """Which of :data:`CPU_FEATURES` the CPU has.

    Args:
        cpuinfo (str, optional): Text of ``/proc/cpuinfo``; read from the
            system when None.

    Returns:
        dict: Feature name -> present, in :data:`CPU_FEATURES` order; empty
        when there is no ``/proc/cpuinfo`` (not Linux).
    """
    if cpuinfo is None:
        try:
            with open('/proc/cpuinfo') as f:
                cpuinfo = f.read()
        except OSError:
            return {}
    flags = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(':')
        if key.strip() == 'flags':
            flags.update(value.split())
            break
    return OrderedDict(
        (name, flag in flags) for name, flag in CPU_FEATURES.items())


def _cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key.strip() == 'model name':
                    return value.strip()
    except OSError:
        pass
    return 'unknown'


def _describe_features(features: Dict[str, bool]) -> str:
    if not features:
        return 'unknown (no /proc/cpuinfo)'
    has = [name for name, present in features.items() if present]
    lacks = [name for name, present in features.items() if not present]
    return (', '.join(has) or 'none of ' + ', '.join(CPU_FEATURES)) + (
        f' (not: {", ".join(lacks)})' if has and lacks else '')


def _mmcv_info() -> Dict[str, str]:
    import mmcv
    info = OrderedDict(MMCV=mmcv.__version__)
    try:
        from mmcv.ops import get_compiler_version, get_compiling_cuda_version
    except ImportError as err:
        info['MMCV ops'] = (f'not available ({err}); crrg needs mmcv with '
                            'ops: bash tools/setup_env.sh')
        return info
    cuda = get_compiling_cuda_version()
    info['MMCV Compiler'] = get_compiler_version()
    info['MMCV CUDA Compiler'] = cuda
    info['MMCV ops with CUDA'] = cuda != 'not available'
    return info


def _int8_kernel() -> str:
    """Whether :func:`~crrg.models.decoding.native_int8_ops` loads."""
    from crrg.models.decoding import fast_gpt2
    ops = fast_gpt2.native_int8_ops()
    if ops is None:
        return ('not available (no C++ compiler or ninja: int8 decoding '
                'uses the Python step)')
    isa = ops.cpu_isa()
    gemm = ('crrg VNNI GEMM' if isa == 'AVX512_VNNI' else
            'fbgemm GEMM' if isa == 'GENERIC' else 'crrg AVX2 GEMM')
    return f'loaded, {gemm} ({getattr(ops, "__file__", ops.__name__)})'


def _git_hash() -> str:
    try:
        out = subprocess.run(['git', 'rev-parse', '--short=7', 'HEAD'],
                             cwd=os.path.dirname(os.path.abspath(__file__)),
                             capture_output=True,
                             text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ''
    return out.stdout.strip() if out.returncode == 0 else ''


def collect_env() -> Dict[str, object]:
    """mmengine's environment information plus crrg's.

    Returns:
        dict: Field name -> value, in print order. Besides mmengine's fields:
        ``PyTorch CUDA build``, ``CPU``, ``CPU features``,
        ``PyTorch CPU capability``, ``PyTorch threads``, ``MMCV``,
        ``MMCV Compiler``, ``MMCV CUDA Compiler``, ``MMCV ops with CUDA``
        (or ``MMCV ops`` when mmcv has none), ``MMDetection``,
        ``MMPretrain``, ``Transformers``, ``crrg`` and
        ``crrg int8 decoding kernel``.
    """
    import mmdet
    import transformers

    import crrg
    env_info = collect_base_env()
    env_info['PyTorch CUDA build'] = torch.version.cuda or 'no (CPU build)'
    env_info['CPU'] = f'{_cpu_model()}, {os.cpu_count()} logical cores'
    env_info['CPU features'] = _describe_features(cpu_features())
    env_info['PyTorch CPU capability'] = \
        torch.backends.cpu.get_cpu_capability()
    env_info['PyTorch threads'] = torch.get_num_threads()
    env_info.update(_mmcv_info())
    env_info['MMDetection'] = mmdet.__version__
    try:
        import mmpretrain
        env_info['MMPretrain'] = mmpretrain.__version__
    except ImportError:
        env_info['MMPretrain'] = 'not installed'
    env_info['Transformers'] = transformers.__version__
    git = _git_hash()
    env_info['crrg'] = crrg.__version__ + (f'+{git}' if git else '')
    env_info['crrg int8 decoding kernel'] = _int8_kernel()
    return env_info


if __name__ == '__main__':
    for name, val in collect_env().items():
        print(f'{name}: {val}')
