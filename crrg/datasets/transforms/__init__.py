from .noise import RandomGaussianNoise

__all__ = ["RandomGaussianNoise"]
