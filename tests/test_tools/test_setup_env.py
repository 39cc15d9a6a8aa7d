"""tools/setup_env.sh's mmcv plan (``--print-mmcv-plan``) in faked environments.

A fake ``torch`` package on PYTHONPATH says which torch the venv has (its
version, CUDA version and visible GPUs) and a fake toolkit under CUDA_HOME
provides (or not) an ``nvcc``; the plan mode prints the variant, the build
environment and the wheel path without building or installing anything.
"""
import os
import os.path as osp
import subprocess
import sys
import textwrap

SETUP = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'setup_env.sh')


def fake_torch(root, version, cuda=None, caps=()):
    """Write a ``torch`` package reporting ``version``, ``cuda`` and GPUs of
    compute capabilities ``caps``, and an nvidia pip package's include dir.

    Returns:
        str: The folder to put on PYTHONPATH.
    """
    path = root / 'site'
    (path / 'torch').mkdir(parents=True)
    (path / 'torch' / '__init__.py').write_text(
        textwrap.dedent(f"""\
        __version__ = {version!r}
        class version:
            cuda = {cuda!r}
        class cuda:
            device_count = staticmethod(lambda: {len(caps)})
            get_device_capability = staticmethod(lambda i: {list(caps)!r}[i])
        """))
    (path / 'nvidia' / 'cusparse' / 'include').mkdir(parents=True)
    return str(path)


def fake_toolkit(root, release):
    """A CUDA_HOME whose ``bin/nvcc --version`` says ``release``."""
    home = root / 'cuda'
    (home / 'bin').mkdir(parents=True)
    nvcc = home / 'bin' / 'nvcc'
    nvcc.write_text('#!/bin/sh\necho "Cuda compilation tools, release '
                    f'{release}, V{release}.0"\n')
    nvcc.chmod(0o755)
    return str(home)


def plan(tmp_path, site, cuda_home=None, **env):
    """Run the plan mode; returns (exit code, {key: value}, stderr)."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ('CUDA_HOME', 'CUDA_PATH', 'TORCH_CUDA_ARCH_LIST',
                     'CRRG_MMCV_VARIANT', 'CPATH')
    }
    environ.update(
        PYTHONPATH=site,
        CRRG_PYTHON=sys.executable,
        CRRG_WHEEL_CACHE=str(tmp_path / 'cache'),
        # an empty toolkit folder: no nvcc, whatever this machine has
        CUDA_HOME=cuda_home or str(tmp_path / 'no-cuda'),
        **env)
    proc = subprocess.run(['bash', SETUP, '--print-mmcv-plan'],
                          env=environ,
                          capture_output=True,
                          text=True,
                          timeout=120)
    fields = dict(
        line.split('=', 1) for line in proc.stdout.splitlines() if '=' in line)
    return proc.returncode, fields, proc.stderr


def test_cuda_torch_with_gpus_and_nvcc_builds_cuda_ops(tmp_path):
    site = fake_torch(tmp_path, '2.14.1+cu121', '12.1', [(8, 0), (8, 6)])
    home = fake_toolkit(tmp_path, '12.1')
    code, fields, err = plan(tmp_path, site, home)
    assert code == 0, err
    assert fields['variant'] == 'cuda'
    env = fields['build_env']
    assert 'MMCV_WITH_OPS=1' in env and 'FORCE_CUDA=1' in env
    assert f'CUDA_HOME={home}' in env
    assert 'TORCH_CUDA_ARCH_LIST=8.0;8.6' in env
    assert osp.join(site, 'nvidia', 'cusparse', 'include') in env
    assert fields['nvcc'] == osp.join(home, 'bin', 'nvcc')
    assert fields['wheel_dir'] == str(
        tmp_path / 'cache' / 'mmcv-2.1.0' / 'torch-2.14.1_cu121_arch-8.0_8.6')
    # the plan builds nothing and creates no cache folder
    assert not (tmp_path / 'cache').exists()


def test_cached_wheel_of_the_variant_is_chosen(tmp_path):
    site = fake_torch(tmp_path, '2.14.1+cu121', '12.1', [(9, 0)])
    home = fake_toolkit(tmp_path, '12.4')
    cache = tmp_path / 'cache' / 'mmcv-2.1.0'
    wheel = 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl'
    # a CPU wheel of the same torch must not be taken for CUDA
    (cache / 'torch-2.14.1_cpu').mkdir(parents=True)
    (cache / 'torch-2.14.1_cpu' / wheel).write_bytes(b'')
    code, fields, err = plan(tmp_path, site, home)
    assert code == 0, err
    assert fields['wheel'].startswith('(none cached')
    (cache / 'torch-2.14.1_cu121_arch-9.0').mkdir()
    (cache / 'torch-2.14.1_cu121_arch-9.0' / wheel).write_bytes(b'')
    code, fields, err = plan(tmp_path, site, home)
    assert fields['wheel'] == str(cache / 'torch-2.14.1_cu121_arch-9.0' /
                                  wheel)


def test_cuda_torch_with_gpu_without_nvcc_stops(tmp_path):
    site = fake_torch(tmp_path, '2.14.1+cu121', '12.1', [(8, 0)])
    code, fields, err = plan(tmp_path, site)
    assert code == 1
    assert 'variant' not in fields and 'build_env' not in fields
    assert 'nvcc' in err and 'CUDA_HOME' in err
    assert 'CRRG_MMCV_VARIANT=cpu' in err
    # forcing the CUDA variant does not change that
    code, fields, err = plan(tmp_path, site, CRRG_MMCV_VARIANT='cuda')
    assert code == 1 and 'nvcc' in err


def test_cuda_torch_without_gpu(tmp_path):
    """auto: CPU ops, said so; forced cuda: the documented default archs."""
    site = fake_torch(tmp_path, '2.14.1+cu130', '13.0')
    code, fields, err = plan(tmp_path, site)
    assert code == 0, err
    assert fields['variant'] == 'cpu'
    assert 'no GPU is visible' in fields['reason']
    assert 'FORCE_CUDA=0' in fields['build_env']
    assert fields['wheel_dir'].endswith('/mmcv-2.1.0/torch-2.14.1_cpu')

    home = fake_toolkit(tmp_path, '13.0')
    code, fields, err = plan(tmp_path, site, home, CRRG_MMCV_VARIANT='cuda')
    assert code == 0, err
    assert fields['variant'] == 'cuda'
    assert 'TORCH_CUDA_ARCH_LIST=7.5;8.0;8.6;8.9;9.0+PTX' in fields[
        'build_env']
    code, fields, err = plan(
        tmp_path,
        site,
        home,
        CRRG_MMCV_VARIANT='cuda',
        TORCH_CUDA_ARCH_LIST='8.9')
    assert 'TORCH_CUDA_ARCH_LIST=8.9' in fields['build_env'].split()
    assert fields['wheel_dir'].endswith('/torch-2.14.1_cu130_arch-8.9')


def test_cpu_torch(tmp_path):
    site = fake_torch(tmp_path, '2.14.1+cpu')
    home = fake_toolkit(tmp_path, '12.1')
    code, fields, err = plan(tmp_path, site, home)
    assert code == 0, err
    assert fields['variant'] == 'cpu' and fields['nvcc'] == ''
    assert fields['wheel_dir'].endswith('/torch-2.14.1_cpu')
    code, fields, err = plan(tmp_path, site, home, CRRG_MMCV_VARIANT='cuda')
    assert code == 1 and 'CPU build' in err


def test_unknown_variant_is_refused(tmp_path):
    site = fake_torch(tmp_path, '2.14.1+cu121', '12.1')
    code, _, err = plan(tmp_path, site, CRRG_MMCV_VARIANT='gpu')
    assert code == 1 and 'auto, cpu or cuda' in err


def test_nvcc_of_another_cuda_major_stops(tmp_path):
    site = fake_torch(tmp_path, '2.14.1+cu121', '12.1', [(8, 0)])
    home = fake_toolkit(tmp_path, '11.8')
    code, _, err = plan(tmp_path, site, home)
    assert code == 1
    assert 'CUDA 11.8' in err and 'CUDA 12.1' in err
