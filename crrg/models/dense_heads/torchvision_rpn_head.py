"""mmdet's RPN head with torchvision's proposal filtering (RGRG's RPN)."""
from typing import List

import torch
from mmdet.models.dense_heads import RPNHead
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor
from torchvision.ops import batched_nms

from crrg.registry import MODELS


@MODELS.register_module()
class TorchvisionRPNHead(RPNHead):
    """An RPN whose proposals are torchvision's ``RegionProposalNetwork``'s.

    The layers are mmdet's ``RPNHead`` with one conv (3x3
    ``in_channels -> feat_channels`` + ReLU, then 1x1 objectness and box
    deltas; the same output layout as torchvision's ``RPNHead``, so its
    weights load unchanged: ``conv -> rpn_conv``, ``cls_logits ->
    rpn_cls``, ``bbox_pred -> rpn_reg``). Training uses mmdet's losses.
    Proposals follow torchvision's ``filter_proposals``, per image:

    1. per level, the ``nms_pre`` anchors of highest objectness logit
       (``topk``, as torchvision; mmdet sorts sigmoid scores);
    2. deltas decoded by ``bbox_coder`` and clipped to ``img_shape``;
    3. boxes narrower or lower than ``min_bbox_size`` dropped (torchvision
       keeps ``>= 1e-3``; mmdet drops ``<= min_bbox_size``), then scores
       (sigmoid) below ``score_thr``;
    4. NMS per level at ``nms.iou_threshold`` (torchvision's
       ``batched_nms``), the ``max_per_img`` best kept, by decreasing score.

    RGRG: ``feat_channels=2048``, test ``nms_pre=1000``, ``max_per_img=1000``
    (train 2000 / 2000), NMS 0.7, ``min_bbox_size=1e-3``, ``score_thr=0``.
    """

    def _predict_by_feat_single(self,
                                cls_score_list: List[Tensor],
                                bbox_pred_list: List[Tensor],
                                score_factor_list: List[Tensor],
                                mlvl_priors: List[Tensor],
                                img_meta: dict,
                                cfg: ConfigDict,
                                rescale: bool = False,
                                with_nms: bool = True) -> InstanceData:
        """Proposals of one image.

        Args:
            cls_score_list (list[Tensor]): (A, H_l, W_l) logits per level.
            bbox_pred_list (list[Tensor]): (A * 4, H_l, W_l) deltas.
            score_factor_list (list): Unused.
            mlvl_priors (list[Tensor]): (H_l * W_l * A, 4) anchors.
            img_meta (dict): With ``img_shape`` (and ``scale_factor`` when
                ``rescale``).
            cfg (ConfigDict): ``nms_pre``, ``max_per_img``, ``nms``,
                ``min_bbox_size``, ``score_thr``.
            rescale (bool): Boxes in the original image's pixels.
            with_nms (bool): Unused (always NMS, as torchvision).

        Returns:
            InstanceData: ``bboxes`` (N, 4), ``scores`` (N,) sigmoid
            objectness, ``labels`` (N,) zeros, ``level_ids`` (N,).
        """
        cfg = self.test_cfg if cfg is None else cfg
        nms_pre = cfg.get('nms_pre', -1)
        logits, boxes, levels = [], [], []
        for level, (cls_score, bbox_pred, priors) in enumerate(
                zip(cls_score_list, bbox_pred_list, mlvl_priors)):
            cls_score = cls_score.permute(1, 2, 0).reshape(-1)
            bbox_pred = bbox_pred.permute(1, 2, 0).reshape(-1, 4)
            if 0 < nms_pre < cls_score.numel():
                cls_score, keep = cls_score.topk(nms_pre)
                bbox_pred, priors = bbox_pred[keep], priors[keep]
            logits.append(cls_score)
            boxes.append(self.bbox_coder.decode(priors, bbox_pred))
            levels.append(torch.full_like(cls_score, level, dtype=torch.long))
        scores = torch.cat(logits).sigmoid()
        bboxes, levels = torch.cat(boxes), torch.cat(levels)
        height, width = img_meta['img_shape'][:2]
        bboxes[:, 0::2] = bboxes[:, 0::2].clamp(0, width)
        bboxes[:, 1::2] = bboxes[:, 1::2].clamp(0, height)
        min_size = cfg.get('min_bbox_size', 1e-3)
        keep = ((bboxes[:, 2] - bboxes[:, 0]) >= min_size) & (
            (bboxes[:, 3] - bboxes[:, 1]) >= min_size) & (
                scores >= cfg.get('score_thr', 0.))
        bboxes, scores, levels = bboxes[keep], scores[keep], levels[keep]
        keep = batched_nms(bboxes, scores, levels,
                           cfg.nms.iou_threshold)[:cfg.max_per_img]
        results = InstanceData(
            bboxes=bboxes[keep],
            scores=scores[keep],
            level_ids=levels[keep],
            labels=scores.new_zeros(keep.numel(), dtype=torch.long))
        if rescale:
            scale_w, scale_h = img_meta['scale_factor']
            results.bboxes = results.bboxes / results.bboxes.new_tensor(
                [scale_w, scale_h, scale_w, scale_h])
        return results
