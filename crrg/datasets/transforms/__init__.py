from .center_pad import CenterPad
from .jpeg_draft import LoadResizedImage
from .loading import LoadDicomImage, LoadXrayImageFromFile
from .noise import RandomGaussianNoise
from .views import MultiImageViews, RandomSentenceShuffle, SampleTextViews

__all__ = [
    'CenterPad', 'LoadXrayImageFromFile', 'LoadDicomImage', 'LoadResizedImage',
    'RandomGaussianNoise', 'MultiImageViews', 'RandomSentenceShuffle',
    'SampleTextViews'
]
