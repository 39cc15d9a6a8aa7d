"""One box, score, detected flag and feature per anatomical region, from any
mmdet two-stage detector with an RoI box head or a DETR-style detector."""
import copy
from contextlib import contextmanager, nullcontext
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.detectors import DeformableDETR, TwoStageDetector
from mmdet.models.roi_heads import CascadeRoIHead, StandardRoIHead
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi, bbox_cxcywh_to_xyxy
from mmengine.model import BaseModule
from torch import Tensor, nn

from crrg.registry import MODELS
from .head_precision import HEAD_PRECISIONS, heavy_layers, low_precision_layers

#: Precisions of :class:`RegionDetector`'s backbone + neck at inference.
INFERENCE_PRECISIONS = ('fp32', 'bf16')
#: What :class:`RegionDetector` gives as a region's feature.
REGION_FEATURES = ('classifier', 'roi')


class RegionPredictions(NamedTuple):
    """One box per anatomical region for each image of a batch.

    Attributes:
        bboxes (Tensor): (B, R, 4) xyxy boxes in the input image's pixels
            (the pipeline's image, before padding).
        scores (Tensor): (B, R) class probability of each region's box.
        detected (Tensor): (B, R) bool, whether the detector found the region
            (see :class:`RegionDetector`).
        features (Tensor): (B, R, C) the feature the detector's classifier
            saw for each region's box (C = the box head's ``fc_out_channels``
            or the transformer's ``embed_dims``).
    """
    bboxes: Tensor
    scores: Tensor
    detected: Tensor
    features: Tensor


def select_region_proposals(class_scores: Tensor):
    """Pick one proposal per class by RGRG's voting rule.

    Each proposal votes for its highest-scoring foreground class; each class
    keeps its top-scoring proposal among its voters and is "detected" when it
    has at least one. A class without voters still gets the proposal that
    scores it highest, flagged undetected.

    Args:
        class_scores (Tensor): (N, R) foreground class probabilities of N
            proposals (background already dropped).

    Returns:
        tuple[Tensor, Tensor]: indices (R,) of the chosen proposals and
        ``detected`` (R,) bool.
    """
    num_classes = class_scores.size(1)
    votes = class_scores.argmax(dim=1)
    is_voter = votes[:, None] == torch.arange(
        num_classes, device=class_scores.device)[None]
    voter_scores = class_scores.masked_fill(~is_voter, -1.0)
    detected = is_voter.any(dim=0)
    best = torch.where(detected, voter_scores.argmax(dim=0),
                       class_scores.argmax(dim=0))
    return best, detected


@contextmanager
def classifier_inputs(classifier: nn.Module) -> Iterator[List[Tensor]]:
    """Record what ``classifier`` is called with while the context is open.

    Yields:
        list[Tensor]: The first positional input of every call, in order.
    """
    seen: List[Tensor] = []
    handle = classifier.register_forward_pre_hook(
        lambda module, args: seen.append(args[0]))
    try:
        yield seen
    finally:
        handle.remove()


@MODELS.register_module()
class RegionDetector(BaseModule):
    """Region features from an mmdet detector, by composition.

    Wraps the detector built from ``detector`` (trained in stage 1 as a plain
    mmdet detector, with the 29 regions as its classes) and gives, per image,
    one box, score, detected flag and feature per region
    (:meth:`predict_regions`).

    Supported detectors:

    - two-stage (:class:`~mmdet.models.detectors.TwoStageDetector`: Faster
      R-CNN, Cascade R-CNN, Double-Head R-CNN, ...) whose RoI head is a
      ``StandardRoIHead`` or ``CascadeRoIHead`` subclass and whose box head
      classifies with an ``fc_cls`` layer. RGRG's rule: class probabilities
      are the softmax of the box head's scores (for a cascade, of the stage
      average, as mmdet's cascade predicts) with the background dropped; each
      proposal votes for its argmax region and each region keeps its
      top-scoring voter (:func:`select_region_proposals`), with that
      proposal's regressed box (a cascade's last stage) and the feature
      ``fc_cls`` saw for it (a cascade's last stage's).
    - query-based (:class:`~mmdet.models.detectors.DeformableDETR` and its
      subclasses, e.g. DINO): one decoder query per region, matched by
      class: region ``r`` takes the query with the highest sigmoid score for
      ``r`` in the last decoder layer, its box, and its last-layer hidden
      state (what the classifier sees); it is detected when that score
      reaches ``query_score_thr``.

    ``region_feature`` says what a region's feature is: ``'classifier'``
    (default) the input of the box head's classifier, as above;
    ``'roi'`` (RGRG's, a ``StandardRoIHead`` only) the chosen proposal's RoI
    feature map average-pooled over its cells, then a Linear
    ``roi channels -> region_channels`` (``region_proj``, trained with the
    selector / generator; RGRG's ``dim_reduction``, 2048 -> 1024).

    Fast inference (:meth:`predict_regions` in eval mode only): with
    ``inference_precision='bf16'`` the backbone and neck
    (``extract_feat``) run under bf16 autocast and their maps are cast
    back to fp32; with ``channels_last=True`` the image enters them in
    channels-last memory format (oneDNN's faster convolution layout) and
    the maps leave contiguous. With ``head_precision`` ``'bf16'`` or
    ``'int8'``, a two-stage detector's heavy head layers (the RPN's
    convolutions larger than 1 x 1 and the box head's hidden fully connected
    layers: :func:`~.head_precision.heavy_layers`) run from packed bf16 /
    int8 weights (:func:`~.head_precision.low_precision_layers`); RoIAlign,
    the prediction layers, box decoding and the region vote stay fp32. The
    rest always runs in fp32, outside any autocast: a DETR's transformer and
    head, whose query selection and box refinement would see bf16 rounding
    for little gain (under bf16 autocast they took 2.6 s instead of 3.1 s on
    a 512 px image, R50 DINO of random weights, one core).
    Training (:meth:`loss`, and :meth:`predict_regions` in train mode) is
    unchanged fp32. A frozen detector stays in eval mode while a selector
    or generator trains on its features, so the switches apply there too:
    set them in inference configs.

    Args:
        detector (dict): An mmdet detector config.
        query_score_thr (float): Detection threshold of query-based
            detectors, on the sigmoid score. Defaults to 0.05, the score
            threshold of mmdet's R-CNN test configs and of
            ``RegionDetectionMetric``.
        inference_precision (str): ``'fp32'`` or ``'bf16'``, the precision
            of the backbone and neck at inference. Defaults to ``'fp32'``.
        head_precision (str, optional): ``'fp32'``, ``'bf16'`` or
            ``'int8'``, the precision of a two-stage detector's heavy head
            layers at inference. None: ``inference_precision``'s. Defaults to
            None.
        channels_last (bool): Feed the backbone channels-last images at
            inference. Defaults to False.
        region_feature (str): ``'classifier'`` or ``'roi'``. Defaults to
            ``'classifier'``.
        region_channels (int): Output size of ``region_proj`` (``'roi'``
            only). Defaults to 1024.
        init_cfg (dict, optional): mmengine init config; a stage-1
            checkpoint goes into ``detector.init_cfg``.
    """

    def __init__(self,
                 detector: dict,
                 query_score_thr: float = 0.05,
                 inference_precision: str = 'fp32',
                 head_precision: Optional[str] = None,
                 channels_last: bool = False,
                 region_feature: str = 'classifier',
                 region_channels: int = 1024,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if region_feature not in REGION_FEATURES:
            raise ValueError(
                'RegionDetector: region_feature must be one of '
                f'{REGION_FEATURES}, got {region_feature!r}')
        if inference_precision not in INFERENCE_PRECISIONS:
            raise ValueError(
                'RegionDetector: inference_precision must be one of '
                f'{INFERENCE_PRECISIONS}, got {inference_precision!r}')
        if head_precision is not None and \
                head_precision not in HEAD_PRECISIONS:
            raise ValueError(
                'RegionDetector: head_precision must be None or one of '
                f'{HEAD_PRECISIONS}, got {head_precision!r}')
        if not isinstance(channels_last, bool):
            raise TypeError('RegionDetector: channels_last must be True or '
                            f'False, got {channels_last!r}')
        # a copy: mmdet's DETRs write into the config they are built from
        self.detector = MODELS.build(copy.deepcopy(detector))
        self.query_score_thr = query_score_thr
        self.inference_precision = inference_precision
        self.head_precision = head_precision
        self.channels_last = channels_last
        self.query_based = self._query_based(self.detector)
        self.region_feature = region_feature
        if region_feature == 'roi':
            roi_head = getattr(self.detector, 'roi_head', None)
            if type(roi_head) is not StandardRoIHead:
                raise TypeError(
                    "RegionDetector: region_feature='roi' needs a two-stage "
                    'detector with a StandardRoIHead, got '
                    f'{type(self.detector).__name__}')
            self.region_proj = nn.Linear(
                roi_head.bbox_roi_extractor.out_channels, region_channels)
        level_embed = getattr(self.detector, 'level_embed', None)
        if isinstance(level_embed, nn.Parameter):
            # mmdet's DeformableDETR / DINO allocate it uninitialised
            # (torch.Tensor) and fill it only in init_weights; a model used
            # without init_weights (e.g. ReportInferencer without weights)
            # must not read stale memory (NaN boxes). The same normal_ init.
            nn.init.normal_(level_embed)

    @staticmethod
    def _query_based(detector: nn.Module) -> bool:
        """Whether ``detector`` is query-based (else two-stage); a TypeError
        names an unsupported one and what is needed."""
        name = type(detector).__name__
        if isinstance(detector, TwoStageDetector):
            roi_head = detector.roi_head
            if isinstance(roi_head, (StandardRoIHead, CascadeRoIHead)):
                heads = roi_head.bbox_head
                head = heads[-1] if isinstance(heads, nn.ModuleList) else heads
                if isinstance(getattr(head, 'fc_cls', None), nn.Module):
                    return False
            raise TypeError(
                f'RegionDetector: {name} has RoI head '
                f'{type(roi_head).__name__}; region features need a '
                'StandardRoIHead or CascadeRoIHead whose box head has an '
                '"fc_cls" classifier (e.g. Shared2FCBBoxHead)')
        if isinstance(detector, DeformableDETR):
            return True
        raise TypeError(
            f'RegionDetector: unsupported detector {name}; region features '
            'need an mmdet TwoStageDetector with an RoI box head (Faster '
            'R-CNN, Cascade R-CNN, Double-Head, ...) or a DeformableDETR / '
            'DINO (one decoder query per region)')

    @property
    def num_regions(self) -> int:
        """Number of regions (the detector's classes)."""
        detector = self.detector
        if isinstance(detector, TwoStageDetector):
            heads = detector.roi_head.bbox_head
            head = heads[-1] if isinstance(heads, nn.ModuleList) else heads
            return head.num_classes
        return detector.bbox_head.num_classes

    def loss(self, inputs: Tensor,
             data_samples: SampleList) -> Dict[str, Tensor]:
        """The detector's own losses (when it trains with the generator)."""
        return self.detector.loss(inputs, data_samples)

    def predict_regions(self, inputs: Tensor,
                        data_samples: SampleList) -> RegionPredictions:
        """One box, score, detected flag and feature per region and image.

        Args:
            inputs (Tensor): (B, 3, H, W) preprocessed images.
            data_samples (list[DetDataSample]): Their data samples
                (``img_shape``, ``batch_input_shape``).

        Returns:
            RegionPredictions: boxes in the input image's pixels; all
            fp32 whatever ``inference_precision``.
        """
        fast = not self.training and (self.inference_precision != 'fp32'
                                      or self._head_precision != 'fp32'
                                      or self.channels_last)
        if fast:
            feats = self._fast_feats(inputs)
        else:
            feats = self.detector.extract_feat(inputs)
        # the heads in fp32 even inside a caller's autocast
        with torch.autocast(inputs.device.type, enabled=False) if fast \
                else nullcontext():
            if self.query_based:
                out = self._query_regions(feats, data_samples)
            else:
                out = self._two_stage_regions(feats, data_samples)
        return RegionPredictions(
            **{key: torch.stack(value)
               for key, value in out.items()})

    def _fast_feats(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Backbone + neck maps under the inference switches.

        Returns:
            tuple[Tensor]: The neck's (B, C, H_l, W_l) maps, fp32 and
            contiguous (the heads' layout).
        """
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.autocast(inputs.device.type, dtype=torch.bfloat16,
                            enabled=self.inference_precision == 'bf16'):
            feats = self.detector.extract_feat(inputs)
        return tuple(feat.float().contiguous() for feat in feats)

    @property
    def _head_precision(self) -> str:
        """The head precision in force: ``head_precision``, or
        ``inference_precision`` when that is None."""
        return self.head_precision or self.inference_precision

    def _heads_in_precision(self, head: nn.Module):
        """A context in which ``head``'s heavy layers run in the head
        precision (fp32 while training)."""
        if self.training or self._head_precision == 'fp32':
            return nullcontext()
        return low_precision_layers(heavy_layers(head), self._head_precision)

    def _two_stage_regions(self, feats: Tuple[Tensor, ...],
                           data_samples: SampleList) -> Dict[str, list]:
        detector = self.detector
        roi_head = detector.roi_head
        with self._heads_in_precision(detector.rpn_head):
            proposals = detector.rpn_head.predict(
                feats, data_samples, rescale=False)
        num_per_img = tuple(len(p) for p in proposals)
        rois = bbox2roi([p.bboxes for p in proposals])
        metas = [s.metainfo for s in data_samples]
        if isinstance(roi_head, CascadeRoIHead):
            head = roi_head.bbox_head[-1]
            with classifier_inputs(head.fc_cls) as seen, \
                    self._heads_in_precision(roi_head.bbox_head):
                rois, cls_scores, bbox_preds = roi_head._refine_roi(
                    feats, rois, metas, num_per_img)
            rois, cls_scores = torch.cat(rois), torch.cat(cls_scores)
            bbox_preds = torch.cat(bbox_preds)
        else:
            head = roi_head.bbox_head
            with classifier_inputs(head.fc_cls) as seen, \
                    self._heads_in_precision(head):
                results = roi_head._bbox_forward(feats, rois)
            cls_scores, bbox_preds = results['cls_score'], results[
                'bbox_pred']
        # 'roi': pooled below, for the chosen proposals only
        roi_feats = results['bbox_feats'] if self.region_feature == 'roi' \
            else None
        features = seen[-1].flatten(1)
        num_regions = head.num_classes
        if head.custom_activation:
            probs = head.loss_cls.get_activation(cls_scores)
        else:
            probs = cls_scores.softmax(dim=-1)
        probs = probs[:, :num_regions]
        out = dict(bboxes=[], scores=[], detected=[], features=[])
        for i, meta in enumerate(metas):
            mask = rois[:, 0] == i
            boxes = head.bbox_coder.decode(
                rois[mask, 1:], bbox_preds[mask], max_shape=meta['img_shape'])
            boxes = boxes.view(boxes.size(0), -1, 4)
            if boxes.size(1) == 1:  # class-agnostic regression
                boxes = boxes.expand(-1, num_regions, -1)
            best, detected = select_region_proposals(probs[mask])
            classes = torch.arange(num_regions, device=best.device)
            out['bboxes'].append(boxes[best, classes])
            out['scores'].append(probs[mask][best, classes])
            out['detected'].append(detected)
            if roi_feats is None:
                out['features'].append(features[mask][best])
            else:  # each RoI pooled alone: the same values as all pooled
                chosen = roi_feats[mask.nonzero().flatten()[best]]
                out['features'].append(self.region_proj(
                    F.avg_pool2d(chosen, chosen.shape[-2:]).flatten(1)))
        return out

    def _query_regions(self, feats: Tuple[Tensor, ...],
                       data_samples: SampleList) -> Dict[str, list]:
        detector = self.detector
        head_inputs = detector.forward_transformer(feats, data_samples)
        hidden_states = head_inputs['hidden_states']
        cls_scores, coords = detector.bbox_head(hidden_states,
                                                head_inputs['references'])
        probs = cls_scores[-1].sigmoid()  # (B, Q, R)
        out = dict(bboxes=[], scores=[], detected=[], features=[])
        for i, sample in enumerate(data_samples):
            scores, best = probs[i].max(dim=0)  # (R,)
            height, width = sample.metainfo['img_shape'][:2]
            boxes = bbox_cxcywh_to_xyxy(coords[-1][i, best])
            boxes = boxes * boxes.new_tensor([width, height, width, height])
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
            out['bboxes'].append(boxes)
            out['scores'].append(scores)
            out['detected'].append(scores >= self.query_score_thr)
            out['features'].append(hidden_states[-1][i, best])
        return out
