from .loading import LoadDicomImage, LoadXrayImageFromFile
from .noise import RandomGaussianNoise
from .views import MultiImageViews, RandomSentenceShuffle, SampleTextViews

__all__ = [
    'LoadXrayImageFromFile', 'LoadDicomImage', 'RandomGaussianNoise',
    'MultiImageViews', 'RandomSentenceShuffle', 'SampleTextViews'
]
