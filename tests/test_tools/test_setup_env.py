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


# A stand-in for .venv/bin/python: pip is simulated (the mmcv "wheel" records
# the build environment it was built with, "installing" it records its ops
# variant), the torch probe runs the real interpreter on the fake torch, and
# the import checks answer from the installed variant.
FAKE_PYTHON = '''#!{python}
import json, os, subprocess, sys, tarfile
state = os.environ['FAKE_STATE']
installed = os.path.join(state, 'installed')
args = sys.argv[1:]


def log(*words):
    with open(os.path.join(state, 'calls'), 'a') as f:
        f.write(' '.join(words) + chr(10))


def variant():
    return open(installed).read() if os.path.exists(installed) else None


if args[:2] == ['-m', 'pip']:
    cmd, rest = args[2], args[3:]
    log('pip', cmd, *rest)
    if cmd == 'download':
        out = rest[rest.index('-d') + 1]
        src = os.path.join(out, 'setup.py')
        with open(src, 'w') as f:
            f.write("extra_compile_args = ['-std=c++17']")
        with tarfile.open(os.path.join(out, 'mmcv-2.1.0.tar.gz'), 'w:gz') as t:
            t.add(src, 'mmcv-2.1.0/setup.py')
    elif cmd == 'wheel':
        out = rest[rest.index('-w') + 1]
        os.makedirs(out, exist_ok=True)
        keys = ('MMCV_WITH_OPS', 'FORCE_CUDA', 'CUDA_HOME', 'CPATH',
                'TORCH_CUDA_ARCH_LIST', 'CUDA_VISIBLE_DEVICES')
        built = {{k: os.environ.get(k) for k in keys}}
        built['setup.py'] = open('setup.py').read()
        with open(os.path.join(out, 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl'),
                  'w') as f:
            json.dump(built, f)
    elif cmd == 'install' and rest[-1].endswith('.whl'):
        built = json.load(open(rest[-1]))
        with open(installed, 'w') as f:
            f.write('cuda' if built['FORCE_CUDA'] == '1' else 'cpu')
    elif cmd == 'show':
        sys.exit(0 if variant() else 1)
    elif cmd == 'uninstall':
        os.remove(installed)
    sys.exit(0)
if args[:1] == ['-']:
    sys.exit(subprocess.run([{python!r}, '-'], env=os.environ).returncode)
if args[:1] == ['-c'] and 'get_compiling_cuda_version' in args[1]:
    sys.exit(0 if variant() == 'cuda' else 1)
if args[:1] == ['-c'] and 'mmcv' in args[1]:
    sys.exit(0 if variant() else 1)
if args[:1] == ['-c'] and 'print' in args[1]:
    print('torch (fake), mmdet (fake)')
sys.exit(0)
'''


def fake_checkout(tmp_path, installed=None):
    """A checkout with setup_env.sh, its requirements and a fake venv."""
    root = tmp_path / 'checkout'
    (root / 'tools').mkdir(parents=True)
    (root / 'tools' / 'setup_env.sh').write_text(open(SETUP).read())
    requirements = osp.join(osp.dirname(SETUP), '..', 'requirements')
    (root / 'requirements').mkdir()
    for name in os.listdir(requirements):
        (root / 'requirements' / name).write_text(
            open(osp.join(requirements, name)).read())
    python = root / '.venv' / 'bin' / 'python'
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON.format(python=sys.executable))
    python.chmod(0o755)
    state = tmp_path / 'state'
    state.mkdir()
    if installed:
        (state / 'installed').write_text(installed)
    return root, state


def set_up(tmp_path, root, state, site, cuda_home=None, **env):
    """Run the whole set-up with the fake venv; returns the process."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ('CUDA_HOME', 'CUDA_PATH', 'TORCH_CUDA_ARCH_LIST',
                     'CRRG_MMCV_VARIANT', 'CPATH', 'PYTHONPATH')
    }
    environ.update(
        PYTHONPATH=site,
        FAKE_STATE=str(state),
        CRRG_WHEEL_CACHE=str(tmp_path / 'cache'),
        CUDA_HOME=cuda_home or str(tmp_path / 'no-cuda'),
        **env)
    return subprocess.run(['bash', str(root / 'tools' / 'setup_env.sh')],
                          env=environ,
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_set_up_builds_and_installs_cuda_ops_for_cuda_torch(tmp_path):
    """A CPU mmcv left from before is replaced by one built with CUDA ops,
    cached under the CUDA key; a second set-up reuses that wheel."""
    import json
    site = fake_torch(tmp_path, '2.14.1+cu121', '12.1', [(8, 6)])
    home = fake_toolkit(tmp_path, '12.1')
    root, state = fake_checkout(tmp_path, installed='cpu')
    proc = set_up(tmp_path, root, state, site, home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'mmcv ops: cuda' in proc.stdout
    assert 'removing the installed mmcv' in proc.stdout
    wheel = (tmp_path / 'cache' / 'mmcv-2.1.0' / 'torch-2.14.1_cu121_arch-8.6'
             / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl')
    built = json.loads(wheel.read_text())
    assert built['FORCE_CUDA'] == '1' and built['MMCV_WITH_OPS'] == '1'
    assert built['TORCH_CUDA_ARCH_LIST'] == '8.6'
    assert built['CUDA_HOME'] == home
    assert osp.join(site, 'nvidia', 'cusparse', 'include') in built['CPATH']
    assert '-std=c++20' in built['setup.py']
    assert (state / 'installed').read_text() == 'cuda'
    assert (root / '.venv' / '.crrg-setup-done').is_file()
    # the stamp makes a second run a no-op; without it the cached wheel
    # is installed, nothing is built
    (root / '.venv' / '.crrg-setup-done').unlink()
    (state / 'installed').unlink()
    (state / 'calls').unlink()
    proc = set_up(tmp_path, root, state, site, home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'using the cached mmcv wheel' in proc.stdout
    assert 'pip wheel' not in (state / 'calls').read_text()
    assert (state / 'installed').read_text() == 'cuda'


def test_set_up_without_nvcc_stops_before_building(tmp_path):
    site = fake_torch(tmp_path, '2.14.1+cu121', '12.1', [(8, 6)])
    root, state = fake_checkout(tmp_path)
    proc = set_up(tmp_path, root, state, site)
    assert proc.returncode == 1
    assert 'needs nvcc' in proc.stderr
    assert 'CRRG_MMCV_VARIANT=cpu' in proc.stderr
    calls = (state / 'calls').read_text()
    assert 'pip download' not in calls and 'pip wheel' not in calls
    assert not (state / 'installed').exists()
    assert not (root / '.venv' / '.crrg-setup-done').exists()


def test_set_up_on_a_cpu_machine_builds_cpu_ops(tmp_path):
    """CI's path: a CUDA torch without a GPU gets CPU ops, an installed
    mmcv with ops is kept."""
    import json
    site = fake_torch(tmp_path, '2.14.1+cu130', '13.0')
    root, state = fake_checkout(tmp_path)
    proc = set_up(tmp_path, root, state, site)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'mmcv ops: cpu (auto: torch 2.14.1+cu130' in proc.stdout
    wheel = (tmp_path / 'cache' / 'mmcv-2.1.0' / 'torch-2.14.1_cpu' /
             'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl')
    built = json.loads(wheel.read_text())
    assert built['FORCE_CUDA'] == '0' and built['CUDA_VISIBLE_DEVICES'] == ''
    (root / '.venv' / '.crrg-setup-done').unlink()
    (state / 'calls').unlink()
    proc = set_up(tmp_path, root, state, site)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = (state / 'calls').read_text()
    assert 'mmcv' not in calls.replace('--no-deps -e', '')
