"""mmdet's detection data preprocessor with albumentations' normalisation
(RGRG's ``Normalize``) as an option."""
from numbers import Number
from typing import Optional, Sequence

import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor

from crrg.registry import MODELS

NORMALIZE_RULES = ('divide', 'albumentations')


@MODELS.register_module()
class XrayDetDataPreprocessor(DetDataPreprocessor):
    """``DetDataPreprocessor`` whose normalisation can be albumentations'.

    With ``normalize_rule='divide'`` (the default) it is mmdet's
    ``DetDataPreprocessor``: ``(x - mean) / std`` with ``mean`` and ``std``
    on the pixel scale. With ``normalize_rule='albumentations'`` it computes
    what albumentations' ``Normalize(mean, std, max_pixel_value)`` computes
    (RGRG's pre-processing), all in float32: ``mean`` and ``std`` are given
    on the 0-1 scale and multiplied by ``max_pixel_value`` in float32, and
    ``x - mean`` is multiplied by the float32 reciprocal of that ``std``
    instead of divided by it. The two rules differ in the last bits of the
    result (at most ~4e-7 for RGRG's 0.471 / 0.302), which a detector can
    amplify to a few hundredths of a pixel. Either way images are
    normalised before they are padded (``pad_value`` fills the normalised
    batch), as mmengine does.

    Args:
        mean (Sequence[Number], optional): Per-channel mean; pixel scale for
            ``'divide'``, 0-1 scale for ``'albumentations'``.
        std (Sequence[Number], optional): Per-channel std, same scale as
            ``mean``.
        normalize_rule (str): ``'divide'`` or ``'albumentations'``.
            Defaults to ``'divide'``.
        max_pixel_value (float): The factor of ``mean`` and ``std`` under
            ``'albumentations'``. Defaults to 255.
        **kwargs: ``DetDataPreprocessor``'s other arguments. Channel
            conversion (``bgr_to_rgb`` / ``rgb_to_bgr``) cannot be combined
            with ``'albumentations'``.
    """

    def __init__(self,
                 mean: Optional[Sequence[Number]] = None,
                 std: Optional[Sequence[Number]] = None,
                 normalize_rule: str = 'divide',
                 max_pixel_value: float = 255.,
                 **kwargs) -> None:
        if normalize_rule not in NORMALIZE_RULES:
            raise ValueError(f'normalize_rule must be one of '
                             f'{NORMALIZE_RULES}, got {normalize_rule!r}')
        self.normalize_rule = normalize_rule
        if normalize_rule == 'divide':
            super().__init__(mean=mean, std=std, **kwargs)
            return
        if mean is None or std is None:
            raise ValueError("normalize_rule='albumentations' needs mean and "
                             'std')
        if kwargs.get('bgr_to_rgb') or kwargs.get('rgb_to_bgr'):
            raise ValueError("normalize_rule='albumentations' does not "
                             'combine with bgr_to_rgb / rgb_to_bgr')
        super().__init__(mean=None, std=None, **kwargs)
        scale = torch.tensor(max_pixel_value, dtype=torch.float32)
        albu_mean = torch.tensor(mean, dtype=torch.float32) * scale
        albu_std = torch.tensor(std, dtype=torch.float32) * scale
        self.register_buffer('albu_mean', albu_mean.view(-1, 1, 1), False)
        self.register_buffer('albu_inv_std',
                             torch.reciprocal(albu_std).view(-1, 1, 1), False)

    def _normalize(self, inputs: torch.Tensor) -> torch.Tensor:
        """(C, H, W) or (N, C, H, W) pixels -> float32
        ``(x - mean) * (1 / std)``."""
        return (inputs.float() - self.albu_mean) * self.albu_inv_std

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalise (albumentations' rule), then mmdet's padding and
        meta-information; or mmdet's whole ``forward`` for ``'divide'``.

        Args:
            data (dict): ``inputs`` (a list of (C, H, W) tensors or an
                (N, C, H, W) tensor) and ``data_samples``.
            training (bool): Whether batch augments run.

        Returns:
            dict: ``inputs`` (N, C, H, W) float32 and ``data_samples``.
        """
        if self.normalize_rule == 'albumentations':
            data = self.cast_data(data)
            inputs = data['inputs']
            data['inputs'] = (self._normalize(inputs) if isinstance(
                inputs, torch.Tensor) else [self._normalize(x)
                                            for x in inputs])
        return super().forward(data, training)
