# mmdet's Cascade R-CNN R50-FPN (three box-head stages, IoU 0.5/0.6/0.7) for
# the 29 Chest ImaGenome regions, with the X-ray normalisation. Its region
# features are the last stage's (RegionDetector).
_base_ = 'mmdet::_base_/models/cascade-rcnn_r50_fpn.py'
model = dict(
    data_preprocessor=dict(
        mean=[120.1, 120.1, 120.1], std=[77.0, 77.0, 77.0],
        bgr_to_rgb=False),
    roi_head=dict(bbox_head=[
        dict(head, num_classes=29) for head in _base_.model.roi_head.bbox_head
    ]))
