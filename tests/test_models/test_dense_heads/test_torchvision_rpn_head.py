"""RGRG's RPN (mmdet layers, torchvision's proposals) against torchvision's
RPNHead + RegionProposalNetwork, and RoIAlign / TwoMLPHead against theirs."""
from collections import OrderedDict

import torch
from mmengine.config import ConfigDict
from torchvision.models.detection.faster_rcnn import (FastRCNNPredictor,
                                                      TwoMLPHead)
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import (AnchorGenerator, RPNHead,
                                              RegionProposalNetwork)
from torchvision.ops import MultiScaleRoIAlign

from crrg.registry import MODELS
from crrg.utils import register_all_modules

register_all_modules()

SIZES = (20, 40, 60, 80, 100, 120, 140, 160, 180, 300)
RATIOS = (0.2, 0.25, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.3, 1.5, 2.1, 2.6,
          3.0, 5.0, 8.0)


def build_rpn(channels, pre, post):
    return MODELS.build(
        dict(
            type='TorchvisionRPNHead',
            in_channels=channels,
            feat_channels=channels,
            anchor_generator=dict(
                type='RoundedAnchorGenerator', strides=[32], sizes=[SIZES],
                ratios=RATIOS),
            bbox_coder=dict(type='TorchvisionDeltaXYWHBBoxCoder'),
            test_cfg=dict(
                nms_pre=pre, max_per_img=post, min_bbox_size=1e-3,
                score_thr=0., nms=dict(type='nms', iou_threshold=0.7))))


def test_rpn_proposals_equal_torchvision():
    torch.manual_seed(0)
    channels, pre, post = 32, 1000, 300
    ours = build_rpn(channels, pre, post).eval()
    head = RPNHead(channels, len(SIZES) * len(RATIOS))
    # torchvision's RPNHead names: conv (a Conv2dNormActivation in recent
    # versions), cls_logits, bbox_pred; the same layout as mmdet's
    conv = head.conv[0][0]
    for dst, src in ((ours.rpn_conv, conv), (ours.rpn_cls, head.cls_logits),
                     (ours.rpn_reg, head.bbox_pred)):
        torch.nn.init.normal_(src.weight, std=0.05)
        torch.nn.init.normal_(src.bias, std=0.5)
        dst.load_state_dict(src.state_dict())
    theirs = RegionProposalNetwork(
        AnchorGenerator((SIZES, ), (RATIOS, )), head, 0.7, 0.3, 256, 0.5,
        dict(training=2000, testing=pre), dict(training=2000, testing=post),
        0.7, score_thresh=0.0).eval()
    feats = torch.randn(2, channels, 16, 16)
    with torch.no_grad():
        expected, _ = theirs(
            ImageList(torch.zeros(2, 1, 512, 512), [(512, 512)] * 2),
            OrderedDict([('0', feats)]))
        metas = [dict(img_shape=(512, 512))] * 2
        got = ours.predict_by_feat(*ours((feats, )), batch_img_metas=metas,
                                   cfg=ConfigDict(ours.test_cfg))
    for result, boxes in zip(got, expected):
        assert len(result) == len(boxes) == post
        assert torch.equal(result.bboxes, boxes)
        assert (result.scores[:-1] >= result.scores[1:]).all()


def test_roi_align_and_box_head_equal_torchvision():
    torch.manual_seed(0)
    channels, classes = 16, 29
    roi_head = MODELS.build(
        dict(
            type='StandardRoIHead',
            bbox_roi_extractor=dict(
                type='SingleRoIExtractor',
                roi_layer=dict(type='RoIAlign', output_size=8,
                               sampling_ratio=2, aligned=False,
                               use_torchvision=True),
                out_channels=channels,
                featmap_strides=[32]),
            bbox_head=dict(
                type='Shared2FCBBoxHead', in_channels=channels,
                roi_feat_size=8, fc_out_channels=64, num_classes=classes,
                bbox_coder=dict(type='TorchvisionDeltaXYWHBBoxCoder',
                                weights=[10., 10., 5., 5.]))))
    pool = MultiScaleRoIAlign(['0'], 8, sampling_ratio=2)
    box_head = TwoMLPHead(channels * 64, 64)
    predictor = FastRCNNPredictor(64, classes + 1)
    ours = roi_head.bbox_head
    ours.shared_fcs[0].load_state_dict(box_head.fc6.state_dict())
    ours.shared_fcs[1].load_state_dict(box_head.fc7.state_dict())
    # torchvision: background first; mmdet: background last
    order = list(range(1, classes + 1)) + [0]
    ours.fc_cls.weight.data = predictor.cls_score.weight.data[order]
    ours.fc_cls.bias.data = predictor.cls_score.bias.data[order]
    ours.fc_reg.weight.data = predictor.bbox_pred.weight.data[4:]
    ours.fc_reg.bias.data = predictor.bbox_pred.bias.data[4:]
    feats = torch.randn(1, channels, 16, 16)
    xy = torch.rand(40, 2) * 400
    boxes = torch.cat([xy, xy + 3 + torch.rand(40, 2) * 100], dim=1)
    with torch.no_grad():
        pooled = pool(OrderedDict([('0', feats)]), [boxes], [(512, 512)])
        logits, deltas = predictor(box_head(pooled))
        rois = torch.cat([boxes.new_zeros(40, 1), boxes], dim=1)
        out = roi_head._bbox_forward((feats, ), rois)
    torch.testing.assert_close(out['bbox_feats'], pooled, rtol=0, atol=0)
    torch.testing.assert_close(out['cls_score'][:, order.index(0)],
                               logits[:, 0])
    torch.testing.assert_close(out['cls_score'].softmax(-1)[:, :classes],
                               logits.softmax(-1)[:, 1:])
    torch.testing.assert_close(out['bbox_pred'], deltas[:, 4:])
