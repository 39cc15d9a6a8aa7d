from .iu_xray import make_synthetic_iu_xray
from .mimic import make_synthetic_mimic, region_template
from .rsna import make_synthetic_rsna

__all__ = ['make_synthetic_mimic', 'region_template', 'make_synthetic_iu_xray',
           'make_synthetic_rsna']
