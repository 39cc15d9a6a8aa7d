"""RegionDetector: one box, score, flag and feature per region from mmdet
two-stage (Faster, Cascade, Double-Head) and query-based (DINO) detectors."""
import copy

import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox2roi
from mmengine.config import Config

from crrg.models.detectors import RegionDetector, select_region_proposals
from crrg.registry import MODELS

CONFIGS = 'configs/_base_/models/'


def test_voting_rule_on_hand_built_scores():
    # 4 proposals, 3 regions
    scores = torch.tensor([
        [0.7, 0.2, 0.1],  # votes region 0
        [0.6, 0.3, 0.1],  # votes region 0 (lower)
        [0.1, 0.5, 0.4],  # votes region 1
        [0.2, 0.35, 0.45],  # votes region 2
    ])
    best, detected = select_region_proposals(scores)
    assert best.tolist() == [0, 2, 3]
    assert detected.tolist() == [True, True, True]
    # region 2 has no voter: it keeps its best proposal, flagged undetected
    scores[3] = torch.tensor([0.5, 0.3, 0.2])
    best, detected = select_region_proposals(scores)
    assert detected.tolist() == [True, True, False]
    assert best[2].item() == 2  # highest region-2 score among all
    # region 0's best voter is proposal 0 even though proposal 3 voted too
    assert best[0].item() == 0


def _detector_cfg(name):
    cfg = Config.fromfile(CONFIGS + name).model
    if 'rpn' in cfg.get('test_cfg', {}):
        cfg.test_cfg.rpn.max_per_img = 60
    return cfg


def _region_detector(detector_cfg, seed=0):
    torch.manual_seed(seed)
    model = RegionDetector(detector=detector_cfg)
    return model.eval()


def _data(model, num=2, size=128, scale=1.0):
    gen = torch.Generator().manual_seed(1)
    inputs = list(torch.rand(num, 3, size, size, generator=gen) * 255)
    samples = [
        DetDataSample(metainfo=dict(
            img_shape=(size, size),
            ori_shape=(round(size / scale), round(size / scale)),
            scale_factor=(scale, scale))) for _ in range(num)
    ]
    return model.detector.data_preprocessor(
        dict(inputs=inputs, data_samples=samples))


def _check_shapes(out, num, channels, size=128):
    assert out.bboxes.shape == (num, 29, 4)
    assert out.scores.shape == (num, 29)
    assert out.detected.shape == (num, 29) and out.detected.dtype == torch.bool
    assert out.features.shape == (num, 29, channels)
    assert (out.bboxes[..., 2] >= out.bboxes[..., 0]).all()
    assert (out.bboxes >= 0).all() and (out.bboxes <= size).all()
    assert ((out.scores >= 0) & (out.scores <= 1)).all()


def _shared_fc(head, roi_feats):
    """A ConvFCBBoxHead's shared-FC output, computed by hand."""
    x = roi_feats.flatten(1)
    for fc in head.shared_fcs:
        x = head.relu(fc(x))
    return x


def test_faster_rcnn_features_are_the_chosen_proposals_shared_fc():
    model = _region_detector(_detector_cfg('faster-rcnn_tiny_regions.py'))
    data = _data(model)
    with torch.no_grad():
        out = model.predict_regions(data['inputs'], data['data_samples'])
        det = model.detector
        feats = det.extract_feat(data['inputs'])
        proposals = det.rpn_head.predict(feats, data['data_samples'],
                                         rescale=False)
        rois = bbox2roi([p.bboxes for p in proposals])
        extractor = det.roi_head.bbox_roi_extractor
        roi_feats = extractor(feats[:extractor.num_inputs], rois)
        shared = _shared_fc(det.roi_head.bbox_head, roi_feats)
        cls_score, _ = det.roi_head.bbox_head(roi_feats)
    _check_shapes(out, 2, 256)
    for i in range(2):
        mask = rois[:, 0] == i
        probs = cls_score[mask].softmax(-1)[:, :29]
        best, detected = select_region_proposals(probs)
        torch.testing.assert_close(out.features[i], shared[mask][best])
        torch.testing.assert_close(out.scores[i], probs[best, range(29)])
        assert torch.equal(out.detected[i], detected)


def test_cascade_rcnn_uses_the_last_stage():
    model = _region_detector(_detector_cfg('cascade-rcnn_tiny_regions.py'))
    data = _data(model, num=1)
    with torch.no_grad():
        out = model.predict_regions(data['inputs'], data['data_samples'])
        det = model.detector
        feats = det.extract_feat(data['inputs'])
        proposals = det.rpn_head.predict(feats, data['data_samples'],
                                         rescale=False)
        rois = bbox2roi([p.bboxes for p in proposals])
        metas = [s.metainfo for s in data['data_samples']]
        last_rois, scores, _ = det.roi_head._refine_roi(
            feats, rois, metas, (len(rois), ))
        extractor = det.roi_head.bbox_roi_extractor[-1]
        last_feats = extractor(feats[:extractor.num_inputs], last_rois[0])
        shared = _shared_fc(det.roi_head.bbox_head[-1], last_feats)
        first = _shared_fc(
            det.roi_head.bbox_head[0],
            det.roi_head.bbox_roi_extractor[0](
                feats[:extractor.num_inputs], rois))
    _check_shapes(out, 1, 256)
    probs = scores[0].softmax(-1)[:, :29]  # stage-averaged scores
    best, detected = select_region_proposals(probs)
    torch.testing.assert_close(out.features[0], shared[best])
    assert not torch.allclose(out.features[0], first[best])
    assert torch.equal(out.detected[0], detected)


def test_double_head_rcnn():
    cfg = _detector_cfg('faster-rcnn_tiny_regions.py')
    cfg.roi_head = dict(
        type='DoubleHeadRoIHead',
        reg_roi_scale_factor=1.3,
        bbox_roi_extractor=cfg.roi_head.bbox_roi_extractor,
        bbox_head=dict(
            type='DoubleConvFCBBoxHead',
            num_convs=1,
            num_fcs=1,
            in_channels=64,
            conv_out_channels=64,
            fc_out_channels=128,
            roi_feat_size=7,
            num_classes=29,
            bbox_coder=cfg.roi_head.bbox_head.bbox_coder,
            reg_class_agnostic=False,
            loss_cls=cfg.roi_head.bbox_head.loss_cls,
            loss_bbox=cfg.roi_head.bbox_head.loss_bbox))
    model = _region_detector(cfg)
    data = _data(model)
    with torch.no_grad():
        out = model.predict_regions(data['inputs'], data['data_samples'])
    # the classification branch's fc output (what fc_cls sees)
    _check_shapes(out, 2, 128)


def test_dino_matches_one_query_per_region_by_class():
    model = _region_detector(_detector_cfg('dino-4scale_tiny_regions.py'))
    model.query_score_thr = 0.2
    data = _data(model)
    with torch.no_grad():
        out = model.predict_regions(data['inputs'], data['data_samples'])
        # mmdet's own prediction: top (query, class) pairs, original pixels
        preds = model.detector.predict(
            data['inputs'], copy.deepcopy(data['data_samples']), rescale=True)
    _check_shapes(out, 2, 256)
    assert torch.equal(out.detected, out.scores >= 0.2)
    for i, pred in enumerate(preds):
        inst = pred.pred_instances
        for region in inst.labels.unique().tolist():
            top = inst.scores[inst.labels == region].argmax()
            torch.testing.assert_close(
                out.scores[i, region],
                inst.scores[inst.labels == region][top])
            torch.testing.assert_close(
                out.bboxes[i, region],
                inst.bboxes[inst.labels == region][top],
                atol=1e-3,
                rtol=1e-4)


def test_unsupported_detector_is_named():
    cfg = Config.fromfile('configs/_base_/models/faster-rcnn_tiny_regions.py')
    retina = dict(
        type='RetinaNet',
        data_preprocessor=cfg.model.data_preprocessor,
        backbone=cfg.model.backbone,
        neck=dict(cfg.model.neck, start_level=1, add_extra_convs='on_input'),
        bbox_head=dict(
            type='RetinaHead',
            num_classes=29,
            in_channels=64,
            feat_channels=64,
            anchor_generator=dict(
                type='AnchorGenerator',
                octave_base_scale=4,
                scales_per_octave=3,
                ratios=[0.5, 1.0, 2.0],
                strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder'),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True),
            loss_bbox=dict(type='L1Loss')))
    with pytest.raises(TypeError, match='RetinaNet.*TwoStageDetector'):
        RegionDetector(detector=retina)


def test_built_by_name_from_a_config():
    model = MODELS.build(
        dict(type='RegionDetector',
             detector=_detector_cfg('faster-rcnn_tiny_regions.py')))
    assert model.num_regions == 29
    assert type(model.detector).__name__ == 'FasterRCNN'
