from .jpeg_draft import LoadResizedImage
from .loading import LoadDicomImage
from .noise import RandomGaussianNoise
from .views import MultiImageViews, RandomSentenceShuffle, SampleTextViews

__all__ = [
    'LoadDicomImage', 'LoadResizedImage', 'RandomGaussianNoise', 'MultiImageViews',
    'RandomSentenceShuffle', 'SampleTextViews'
]
