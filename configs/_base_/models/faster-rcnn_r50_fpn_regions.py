# mmdet's Faster R-CNN R50-FPN for the 29 Chest ImaGenome regions: 29 classes
# and the X-ray normalisation (mean 0.471, std 0.302 of the 0-255 scale per
# channel, grey images so no channel flip). The RRG stages wrap it in a
# RegionDetector for one box and feature per region.
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'
model = dict(
    data_preprocessor=dict(
        mean=[120.1, 120.1, 120.1], std=[77.0, 77.0, 77.0],
        bgr_to_rgb=False),
    roi_head=dict(bbox_head=dict(num_classes=29)))
