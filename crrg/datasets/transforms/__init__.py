from .center_pad import CenterPad
from .load_resized_image import LoadResizedImage
from .loading import LoadXrayImageFromFile
from .noise import RandomGaussianNoise
from .views import MultiImageViews, RandomSentenceShuffle, SampleTextViews

__all__ = [
    'CenterPad', 'LoadXrayImageFromFile', 'LoadResizedImage',
    'RandomGaussianNoise', 'MultiImageViews', 'RandomSentenceShuffle',
    'SampleTextViews'
]
