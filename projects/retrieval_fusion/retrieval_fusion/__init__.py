from .retrieval_fusion import RetrievalFusionReportGenerator, sine_positions

__all__ = ['RetrievalFusionReportGenerator', 'sine_positions']
