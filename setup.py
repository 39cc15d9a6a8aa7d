"""Install crrg: ``pip install -e .`` (tools/setup_env.sh pins the stack)."""
import os.path as osp

from setuptools import find_packages, setup


def read_version() -> str:
    """Read ``__version__`` from crrg/version.py without importing crrg."""
    namespace: dict = {}
    with open(osp.join(osp.dirname(__file__), 'crrg', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(name: str) -> list:
    """Requirement lines of requirements/<name>.txt, without comments."""
    path = osp.join(osp.dirname(__file__), 'requirements', f'{name}.txt')
    with open(path) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


setup(
    name='crrg',
    version=read_version(),
    description='OpenMMLab toolkit for chest X-ray radiology report generation '
    'and medical CLIP (CRRG-CLIP and relatives)',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs',
                                    'projects', 'benchmarks')),
    # C++ source of the int8 decoding step, compiled on first use
    package_data={
        'crrg.models.decoding': ['csrc/*.cpp'],
        # key / shape manifests of published checkpoints (converters)
        'crrg.models.clip': ['manifests/*.json'],
    },
    python_requires='>=3.10',
    install_requires=read_requirements('runtime'),
    extras_require=dict(tests=read_requirements('tests')),
    license='Apache License 2.0',
    zip_safe=False)
