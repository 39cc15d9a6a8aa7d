import numpy as np
from mmcv.transforms import BaseTransform

from crrg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomGaussianNoise(BaseTransform):
    """Add zero-mean Gaussian noise to the image, with probability ``prob``.

    Required keys: ``img`` (H, W, C) uint8. Modified keys: ``img``.

    Args:
        std (float | tuple[float, float]): Noise standard deviation in grey
            levels (0-255 scale); a pair draws it uniformly per image.
            Defaults to (0., 10.).
        prob (float): Probability of adding noise. Defaults to 0.5.
    """

    def __init__(self, std=(0., 10.), prob: float = 0.5) -> None:
        self.std = std
        self.prob = prob

    def transform(self, results: dict) -> dict:
        if np.random.rand() >= self.prob:
            return results
        std = np.random.uniform(*self.std) if isinstance(
            self.std, (tuple, list)) else float(self.std)
        img = results['img'].astype(np.float32)
        img += np.random.normal(0., std, size=img.shape[:2])[..., None] \
            if img.ndim == 3 else np.random.normal(0., std, size=img.shape)
        results['img'] = np.clip(img, 0, 255).astype(np.uint8)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(std={self.std}, prob={self.prob})'
