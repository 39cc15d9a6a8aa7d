from .retrieval_fusion import RetrievalFusionReportGenerator

__all__ = ['RetrievalFusionReportGenerator']
