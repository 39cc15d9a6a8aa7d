"""Fake report generators and a decode-counting loader for the inference
tests, importable by the tests (tests/ is on their path) and, as a plugin
(``custom_imports=['fake_report_models']``), by tools run as subprocesses.
"""
import os
from collections import Counter

import cv2
import numpy as np
import torch
from mmengine.structures import InstanceData

from crrg.datasets.transforms import LoadXrayImageFromFile
from crrg.models.report_generators import BaseReportGenerator
from crrg.registry import MODELS, TRANSFORMS
from crrg.structures import ANATOMICAL_REGIONS, NUM_REGIONS

SELECTED = (0, 8, 24)


def chest_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A uint8 (height, width) picture laid out as a frontal chest (two
    dark lung fields beside a bright mediastinum, plus noise), which the
    default chest checks let through."""
    img = np.full((256, 256), 40, np.float32)
    for cx in (72, 184):
        cv2.ellipse(img, (cx, 118), (48, 80), 0, 0, 360, 70, -1)
    cv2.rectangle(img, (112, 0), (144, 255), 190, -1)
    cv2.ellipse(img, (140, 170), (40, 32), 0, 0, 360, 200, -1)
    img += np.random.default_rng(seed).normal(0, 12, img.shape)
    img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    return np.clip(img, 0, 255).astype(np.uint8)
#: image path -> decodes by :class:`CountingXrayLoader` in this process
DECODES: Counter = Counter()


@MODELS.register_module(force=True)
class FakeRegionReportModel(BaseReportGenerator):
    """Predicts fixed boxes, given in the pipeline image's pixels and
    returned in the original's, as every report generator does.

    Region i's box is ``[2i, 2i, 2i + 8, 2i + 8]`` in the pipeline image;
    regions in ``SELECTED`` are selected and get a sentence; the report joins
    those sentences.
    """

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.layer = torch.nn.Linear(1, 1)

    def extract_feat(self, inputs, data_samples=None):
        return inputs

    def loss(self, inputs, data_samples):
        raise NotImplementedError

    def box_offset(self, image):
        """Shift of every box (pipeline pixels) for one (3, H, W) input."""
        return 0.0

    def predict(self, inputs, data_samples):
        assert inputs.dim() == 4 and inputs.shape[1] == 3
        for image, sample in zip(inputs, data_samples):
            assert 'gt_instances' not in sample or len(
                sample.gt_instances) == 0
            start = torch.arange(NUM_REGIONS, dtype=torch.float32) * 2
            start = start + self.box_offset(image)
            bboxes = self.boxes_to_original(
                torch.stack([start, start, start + 8, start + 8], dim=1),
                sample.metainfo)
            selected = torch.zeros(NUM_REGIONS, dtype=torch.bool)
            selected[list(SELECTED)] = True
            regions = InstanceData(
                bboxes=bboxes,
                scores=torch.linspace(0.1, 0.9, NUM_REGIONS),
                detected=torch.ones(NUM_REGIONS, dtype=torch.bool),
                selected=selected,
                selection_scores=torch.where(selected, 2.0, -3.0))
            regions.sentences = [
                f'finding in the {name}.' if selected[i] else ''
                for i, name in enumerate(ANATOMICAL_REGIONS)
            ]
            sample.pred_regions = regions
            sample.pred_report = ' '.join(s for s in regions.sentences if s)
        return data_samples


@MODELS.register_module(force=True)
class ContentBoxReportModel(FakeRegionReportModel):
    """:class:`FakeRegionReportModel` whose boxes move with the picture:
    shifted by 16 times the mean normalised intensity of the (resized,
    padded) input, so a differently decoded or windowed image gets other
    boxes."""

    def box_offset(self, image):
        return 16.0 * float(image.float().mean())


@TRANSFORMS.register_module(force=True)
class CountingXrayLoader(LoadXrayImageFromFile):
    """The X-ray loader, counting its decodes per path in :data:`DECODES`
    and, when ``$CRRG_TEST_DECODE_LOG`` names a file, one line per decode
    there (for tools run as subprocesses)."""

    def transform(self, results: dict) -> dict:
        DECODES[results['img_path']] += 1
        log = os.environ.get('CRRG_TEST_DECODE_LOG')
        if log:
            with open(log, 'a', encoding='utf-8') as f:
                f.write(results['img_path'] + '\n')
        return super().transform(results)


#: a config of the fake model: the X-ray loader (counting), 64 px input
CONFIG = """
default_scope = 'crrg'
custom_imports = dict(imports=['fake_report_models'],
                      allow_failed_imports=False)
model = dict(
    type='FakeRegionReportModel',
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[0, 0, 0], std=[255, 255, 255],
        pad_size_divisor=32))
test_pipeline = [
    dict(type='CountingXrayLoader'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='Pad', size=(64, 64)),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor', 'region_sentences', 'gt_report')),
]
test_dataloader = dict(
    batch_size=1,
    dataset=dict(type='CocoDataset', ann_file='absent.json',
                 pipeline=test_pipeline))
"""
