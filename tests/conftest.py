import os

import pytest

# Tests are small; one thread each keeps them predictable on 2-core machines.
os.environ.setdefault('OMP_NUM_THREADS', '1')


def pytest_collection_modifyitems(config, items):
    """Skip the ``gpu`` tests, with the reason, where CUDA is absent."""
    gpu_items = [item for item in items if item.get_closest_marker('gpu')]
    if not gpu_items:
        return
    import torch
    if torch.cuda.is_available():
        return
    why = ('a CPU-only build of torch' if torch.version.cuda is None else
           f'torch {torch.__version__} (CUDA {torch.version.cuda}) sees no '
           'GPU')
    skip = pytest.mark.skip(
        reason=f'needs a CUDA GPU: {why}; run on a GPU machine with '
        '`pytest -m gpu tests/test_gpu` (docs/gpu.md)')
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture(scope='session')
def synthetic_twin(tmp_path_factory):
    """A small synthetic MIMIC-CXR / Chest ImaGenome twin (12/4/4 studies)."""
    from crrg.testing import make_synthetic_mimic
    root = tmp_path_factory.mktemp('synthetic')
    counts = make_synthetic_mimic(
        str(root), num_train=12, num_validate=4, num_test=4, seed=1)
    return root, counts


@pytest.fixture(scope='session', autouse=True)
def _registered():
    from crrg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
