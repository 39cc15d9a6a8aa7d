from typing import NamedTuple

import torch
from mmdet.models.detectors import FasterRCNN
from mmdet.models.roi_heads.bbox_heads import ConvFCBBoxHead
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi
from torch import Tensor

from crrg.registry import MODELS


class RegionPredictions(NamedTuple):
    """One box per anatomical region for each image of a batch.

    Attributes:
        bboxes (Tensor): (B, R, 4) xyxy boxes in the input image's pixels.
        scores (Tensor): (B, R) class probability of each region's box.
        detected (Tensor): (B, R) bool, whether any proposal voted for the
            region (see :meth:`RegionDetector.predict_regions`).
        features (Tensor): (B, R, C) the box head's shared-FC feature of each
            region's proposal (C = ``fc_out_channels``, 1024 in real configs).
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


@MODELS.register_module()
class RegionDetector(FasterRCNN):
    """Faster R-CNN for the 29 anatomical regions, one box per region.

    Trains and predicts exactly as mmdet's :class:`FasterRCNN`;
    :meth:`predict_regions` adds the region-level output the report heads use.
    The RoI box head must be a ``ConvFCBBoxHead`` (e.g. ``Shared2FCBBoxHead``)
    with shared FCs, whose output is the region feature.
    """

    def _box_head_forward(self, bbox_feats: Tensor):
        """Run the box head, also returning its shared-FC output.

        Returns:
            tuple[Tensor, Tensor, Tensor]: shared features (N, C), class
            scores (N, R+1) and box deltas (N, 4R or 4).
        """
        head = self.roi_head.bbox_head
        if not isinstance(head, ConvFCBBoxHead) or head.num_shared_fcs == 0:
            raise TypeError('RegionDetector.predict_regions needs a box head '
                            'with shared FCs (e.g. Shared2FCBBoxHead), got '
                            f'{type(head).__name__}')
        x = bbox_feats
        for conv in head.shared_convs:
            x = conv(x)
        if head.with_avg_pool:
            x = head.avg_pool(x)
        x = x.flatten(1)
        for fc in head.shared_fcs:
            x = head.relu(fc(x))
        shared = x
        x_cls, x_reg = shared, shared
        for fc in head.cls_fcs:
            x_cls = head.relu(fc(x_cls))
        for fc in head.reg_fcs:
            x_reg = head.relu(fc(x_reg))
        return shared, head.fc_cls(x_cls), head.fc_reg(x_reg)

    def predict_regions(self, batch_inputs: Tensor,
                        batch_data_samples: SampleList) -> RegionPredictions:
        """One box, score, detected flag and feature per region and image.

        RGRG's rule: class probabilities are the softmax of the box head's
        scores with the background dropped; each proposal votes for its
        argmax region, and each region keeps its top-scoring voter, with that
        proposal's region-specific regressed box and its shared-FC feature
        (see :func:`select_region_proposals`).

        Args:
            batch_inputs (Tensor): (B, 3, H, W) preprocessed images.
            batch_data_samples (list[DetDataSample]): Their data samples
                (``img_shape`` is used to clip boxes).

        Returns:
            RegionPredictions: boxes in the input image's pixels (not
            rescaled to the original image).
        """
        feats = self.extract_feat(batch_inputs)
        proposals = self.rpn_head.predict(
            feats, batch_data_samples, rescale=False)
        rois = bbox2roi([p.bboxes for p in proposals])
        roi_extractor = self.roi_head.bbox_roi_extractor
        bbox_feats = roi_extractor(feats[:roi_extractor.num_inputs], rois)
        shared, cls_score, bbox_pred = self._box_head_forward(bbox_feats)
        head = self.roi_head.bbox_head
        num_regions = head.num_classes
        probs = cls_score.softmax(dim=-1)[:, :num_regions]
        out = dict(bboxes=[], scores=[], detected=[], features=[])
        for i, sample in enumerate(batch_data_samples):
            mask = rois[:, 0] == i
            deltas = bbox_pred[mask]
            boxes = head.bbox_coder.decode(
                rois[mask, 1:],
                deltas,
                max_shape=sample.metainfo['img_shape'])
            boxes = boxes.view(boxes.size(0), -1, 4)
            if boxes.size(1) == 1:  # class-agnostic regression
                boxes = boxes.expand(-1, num_regions, -1)
            best, detected = select_region_proposals(probs[mask])
            classes = torch.arange(num_regions, device=best.device)
            out['bboxes'].append(boxes[best, classes])
            out['scores'].append(probs[mask][best, classes])
            out['detected'].append(detected)
            out['features'].append(shared[mask][best])
        return RegionPredictions(
            **{key: torch.stack(value)
               for key, value in out.items()})
