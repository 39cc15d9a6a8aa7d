"""Synthetic twins of MIMIC-CXR / Chest ImaGenome, IU X-ray and RSNA, in the
real layouts and field names: the CPU default data of the tiny configs
(``tools/make_synthetic_*.py``) and of the tests."""
from .iu_xray import make_synthetic_iu_xray
from .mimic import make_synthetic_mimic
from .rsna import make_synthetic_rsna

__all__ = [
    'make_synthetic_iu_xray', 'make_synthetic_mimic', 'make_synthetic_rsna'
]
