from .load_resized_image import LoadResizedImage
from .loading import LoadXrayImageFromFile
from .noise import RandomGaussianNoise
from .views import MultiImageViews, RandomSentenceShuffle, SampleTextViews

__all__ = [
    'LoadXrayImageFromFile', 'LoadResizedImage',
    'RandomGaussianNoise', 'MultiImageViews', 'RandomSentenceShuffle',
    'SampleTextViews'
]
