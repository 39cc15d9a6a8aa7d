import os

import pytest

# Tests are small; one thread each keeps them predictable on 2-core machines.
os.environ.setdefault('OMP_NUM_THREADS', '1')


@pytest.fixture(scope='session')
def synthetic_twin(tmp_path_factory):
    """A small synthetic MIMIC-CXR / Chest ImaGenome twin (12/4/4 studies)."""
    from crrg.datasets.synthetic import make_synthetic_mimic
    root = tmp_path_factory.mktemp('synthetic')
    counts = make_synthetic_mimic(
        str(root), num_train=12, num_validate=4, num_test=4, seed=1)
    return root, counts


@pytest.fixture(scope='session', autouse=True)
def _registered():
    from crrg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
