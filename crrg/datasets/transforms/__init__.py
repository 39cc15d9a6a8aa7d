from .noise import RandomGaussianNoise
from .views import MultiImageViews, RandomSentenceShuffle, SampleTextViews

__all__ = ['RandomGaussianNoise', 'MultiImageViews', 'RandomSentenceShuffle',
           'SampleTextViews']
