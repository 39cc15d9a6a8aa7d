from .mimic import make_synthetic_mimic, region_template

__all__ = ["make_synthetic_mimic", "region_template"]
