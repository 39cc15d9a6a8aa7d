from .loading import LoadDicomImage
from .noise import RandomGaussianNoise
from .views import MultiImageViews, RandomSentenceShuffle, SampleTextViews

__all__ = [
    'LoadDicomImage', 'RandomGaussianNoise', 'MultiImageViews',
    'RandomSentenceShuffle', 'SampleTextViews'
]
