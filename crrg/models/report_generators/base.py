"""The base of every report generator, in the manner of mmdet's
``BaseDetector``."""
from abc import ABCMeta, abstractmethod
from typing import Dict, List, Optional, Union

from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import Tensor

#: The inference profiles of :meth:`BaseReportGenerator.set_inference_profile`
INFERENCE_PROFILES = ('exact', 'fast')


class BaseReportGenerator(BaseModel, metaclass=ABCMeta):
    """Base of report generators.

    Owns ``forward``'s mode switch: ``'loss'`` -> :meth:`loss`,
    ``'predict'`` -> :meth:`predict`, ``'tensor'`` -> :meth:`extract_feat`.
    A subclass says how images become features (:meth:`extract_feat`) and
    hands them to its heads' ``loss`` / ``generate`` (or ``predict``).

    Every prediction is in the original image's terms: ``pred_report``
    (str) and, for generators that locate regions, ``pred_regions`` with
    boxes in original-image pixels (:meth:`boxes_to_original`), so no caller
    rescales anything.
    """

    def forward(self,
                inputs: Union[Tensor, List[Tensor]],
                data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """``loss``, ``predict`` or ``tensor`` (:meth:`extract_feat`).

        Args:
            inputs (Tensor | list[Tensor]): (B, 3, H, W) images, or a list
                of V views, each (B, 3, H, W).
            data_samples (list, optional): The batch's data samples.
            mode (str): ``'loss'``, ``'predict'`` or ``'tensor'``.

        Returns:
            dict | list | Tensor: Losses, data samples with predictions, or
            the features.
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs, data_samples)
        raise RuntimeError(f'{type(self).__name__}: invalid mode "{mode}"; '
                           'use loss, predict or tensor')

    @abstractmethod
    def extract_feat(self, inputs, data_samples: Optional[list] = None):
        """The features the heads read, e.g. region features or visual
        tokens (B, N, C)."""

    @abstractmethod
    def loss(self, inputs, data_samples: list) -> Dict[str, Tensor]:
        """Losses of a training batch."""

    @abstractmethod
    def predict(self, inputs, data_samples: list) -> list:
        """The data samples with ``pred_report`` (and any other ``pred_*``
        fields) set, in original-image terms."""

    def set_inference_profile(self, profile: str) -> None:
        """Set every speed switch of the model at once.

        ``'exact'``: every part in fp32 (the reference path). ``'fast'``:
        each part's fast inference path (for the region-guided generator:
        the detector's backbone and neck in bf16 with channels-last input,
        the generator decoding with int8 weights). Training is unaffected.
        This base has no fast path and runs ``'fast'`` as ``'exact'`` (with
        a log line); generators with switches override it.

        Args:
            profile (str): ``'exact'`` or ``'fast'``.

        Raises:
            ValueError: Another profile name.
        """
        if profile not in INFERENCE_PROFILES:
            raise ValueError(f'{type(self).__name__}: inference profile must '
                             f'be one of {INFERENCE_PROFILES}, got '
                             f'{profile!r}')
        if profile == 'fast':
            print_log(f'{type(self).__name__} has no fast inference path; '
                      'it runs the exact one', 'current')

    @staticmethod
    def boxes_to_original(bboxes: Tensor, metainfo: dict) -> Tensor:
        """Map xyxy boxes from the pipeline image to the original image.

        Undoes a centred padding (``pad_offset`` (left, top), set by
        :class:`~crrg.datasets.transforms.CenterPad`; mmdet's ``Pad`` pads at
        the bottom/right, so no shift), then the resize with
        ``scale_factor`` (w, h), as mmdet's ``rescale=True`` does, and clips
        to ``ori_shape``.

        Args:
            bboxes (Tensor): (N, 4) boxes in the pipeline image's pixels.
            metainfo (dict): The sample's metainfo.

        Returns:
            Tensor: (N, 4) boxes in original-image pixels.
        """
        bboxes = bboxes.clone()
        if 'pad_offset' in metainfo:
            left, top = metainfo['pad_offset']
            bboxes -= bboxes.new_tensor([left, top, left, top])
        if 'scale_factor' in metainfo:
            scale_w, scale_h = metainfo['scale_factor']
            bboxes /= bboxes.new_tensor([scale_w, scale_h, scale_w, scale_h])
        if 'ori_shape' in metainfo:
            height, width = metainfo['ori_shape'][:2]
            bboxes[:, 0::2] = bboxes[:, 0::2].clamp(0, width)
            bboxes[:, 1::2] = bboxes[:, 1::2].clamp(0, height)
        return bboxes

    @staticmethod
    def zero_loss(*tensors: Tensor, parameters=()) -> Tensor:
        """A zero loss connected to ``tensors`` and ``parameters``, for a
        batch with nothing to learn from (keeps DDP's graph complete)."""
        zero = sum(t.sum() * 0 for t in tensors)
        return zero + sum(p.sum() * 0 for p in parameters if p.requires_grad)

