from .inference import build_model, test_pipeline_cfg

__all__ = ['build_model', 'test_pipeline_cfg']
