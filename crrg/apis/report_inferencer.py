"""Report inference as an API, in the manner of mmdet's ``DetInferencer``.

Example::

    >>> from crrg.apis import ReportInferencer
    >>> inferencer = ReportInferencer(
    ...     model='configs/rrg/rrg-generator_tiny_synthetic.py',
    ...     weights='work_dirs/rrg-generator_tiny_synthetic/epoch_1.pth')
    >>> out = inferencer(inputs=['cxr.jpg'], return_vis=True)
    >>> out['predictions'][0]['report']
    >>> out['visualization'][0].shape  # (H, W + panel, 3) RGB uint8
"""
import copy
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from crrg.registry import VISUALIZERS
from crrg.structures import ANATOMICAL_REGIONS
from .base import BaseXrayInferencer, InferenceItem


class ReportInferencer(BaseXrayInferencer):
    """Explainable reports for chest X-ray images from a trained generator.

    See :class:`BaseXrayInferencer` for the arguments (config, weights,
    ``profile``, ``allow_non_chest``, ``chest_checks`` ...).

    Calling it (``inferencer(inputs, batch_size=1, return_vis=False,
    draw_unselected=False, return_datasamples=False, skip_failed=False)``)
    returns a dict:

    - ``predictions``: one dict per input that was read, in input order::

        {'img_path': str | None, 'ori_shape': [h, w],
         'status': 'ok' | 'refused', 'refusal': None | str,
         'report': str,
         'regions': [{'index', 'name', 'bbox' [x1, y1, x2, y2] in the
                      original image's pixels, 'score', 'detected',
                      'selection_score', 'selected', 'sentence'}, ...],
         'warnings': [str, ...]}

      ``regions`` has the 29 regions in region order (an empty list for a
      generator without regions). A refused input (a chest check says it is
      not a frontal chest radiograph, e.g. its DICOM header names another
      body part) never reaches the model: ``status`` is ``'refused'``,
      ``refusal`` the reason for the user, ``report`` '' and ``regions``
      []. ``warnings`` are the loader's (may be empty). With
      ``return_datasamples=True``, the ``DetDataSample`` s instead (a
      refused input's has only its metainfo, ``refusal`` included).
    - ``visualization``: with ``return_vis=True``, one (h, w', 3) RGB uint8
      drawing per prediction (the decoded image, the selected regions and
      the sentence panel; h, w as decoded), None for a refused input; else
      an empty list.
    - ``failures`` (only with ``skip_failed=True``): ``[{'input': str,
      'reason': str}]`` for the inputs that could not be read or predicted;
      without ``skip_failed`` the first failure is raised.
    """

    visualize_kwargs = {'return_vis', 'show', 'wait_time', 'draw_unselected'}

    def _init_visualizer(self, cfg: Config):
        """A :class:`RegionReportVisualizer` (the config's, if it is one)."""
        vis_cfg = dict(type='RegionReportVisualizer')
        if (cfg.get('visualizer') or {}).get('type') == \
                'RegionReportVisualizer':
            vis_cfg = copy.deepcopy(cfg.visualizer)
        vis_cfg['name'] = f'report-inferencer-{id(self)}'
        return VISUALIZERS.build(vis_cfg)

    def _keeps_images(self, visualize_kwargs: dict) -> bool:
        return bool(visualize_kwargs.get('return_vis')
                    or visualize_kwargs.get('show'))

    def visualize(self,
                  items: List[InferenceItem],
                  return_vis: bool = False,
                  show: bool = False,
                  wait_time: float = 0,
                  draw_unselected: bool = False) -> List[Optional[np.ndarray]]:
        """Draw each prediction on its decoded image.

        Args:
            items (list[InferenceItem]): The inputs that were read, with
                their decoded images and predictions.
            return_vis (bool): Return the drawings. Defaults to False.
            show (bool): Show each drawing in a window. Defaults to False.
            wait_time (float): Display time in seconds. Defaults to 0.
            draw_unselected (bool): Also draw detected, unselected regions
                (dashed). Defaults to False.

        Returns:
            list[np.ndarray | None]: (h, w', 3) RGB uint8 drawings (None for
            refused inputs), or an empty list when neither ``return_vis``
            nor ``show``.
        """
        if not (return_vis or show):
            return []
        self.visualizer.draw_unselected = draw_unselected
        drawings = []
        for item in items:
            if item.sample is None:
                drawings.append(None)
                continue
            image = self.rgb_image(item.loaded)
            # a copy: drawing may clip the boxes it is given to the image
            sample = self._in_decoded_pixels(
                copy.deepcopy(item.sample.cpu()), image.shape[:2])
            name = osp.basename(item.loaded['img_path']) if item.loaded.get(
                'img_path') else f'array_{item.index}'
            self.visualizer.add_datasample(
                name, image, sample, show=show, wait_time=wait_time)
            drawings.append(self.visualizer.get_image())
        return drawings

    @staticmethod
    def _in_decoded_pixels(sample: DetDataSample,
                           shape: Sequence[int]) -> DetDataSample:
        """``sample`` with its boxes moved from original-image pixels to
        those of the decoded image of ``shape`` (h, w)."""
        height, width = sample.metainfo['ori_shape'][:2]
        if tuple(shape[:2]) == (height, width):
            return sample
        sx, sy = shape[1] / width, shape[0] / height
        for field in ('pred_regions', 'pred_instances'):
            if field in sample:
                boxes = sample.get(field).bboxes
                sample.get(field).bboxes = boxes * boxes.new_tensor(
                    [sx, sy, sx, sy])
        return sample

    def postprocess(self,
                    items: List[InferenceItem],
                    visualization: List[Optional[np.ndarray]],
                    return_datasamples: bool = False) -> dict:
        """The predictions as JSON-ready dicts (see the class docstring).

        Returns:
            dict: ``predictions`` and ``visualization``.
        """
        if return_datasamples:
            predictions = [
                item.sample
                if item.sample is not None else self._refused_sample(item)
                for item in items
            ]
        else:
            predictions = [self.pred2dict(item) for item in items]
        return dict(predictions=predictions, visualization=visualization)

    def _refused_sample(self, item: InferenceItem) -> DetDataSample:
        """A refused input's data sample: its metainfo and an empty report."""
        head = self.item_dict(item)
        sample = DetDataSample(metainfo=dict(
            img_path=head['img_path'], ori_shape=tuple(head['ori_shape']),
            img_warnings=head['warnings'], refusal=head['refusal']))
        sample.pred_report = ''
        return sample

    def pred2dict(self, item: InferenceItem) -> dict:
        """One prediction as a dict (see the class docstring)."""
        head = self.item_dict(item)
        report, regions = '', []
        if item.sample is not None:
            sample = item.sample.cpu()
            report = sample.get('pred_report', '')
            if 'pred_regions' in sample:
                meta = getattr(self.model, 'dataset_meta', None) or {}
                regions = region_dicts(sample.pred_regions,
                                       meta.get('classes'))
        warnings = head.pop('warnings')
        return dict(head, report=report, regions=regions, warnings=warnings)


def region_dicts(regions: InstanceData,
                 names: Optional[Sequence[str]] = None) -> List[dict]:
    """The per-region rows of a prediction.

    Args:
        regions (InstanceData): ``pred_regions`` (R rows: ``bboxes`` (R, 4),
            ``scores``, ``detected``, ``selection_scores``, ``selected``,
            ``sentences``; with an abnormality classifier also
            ``abnormal_scores`` and ``abnormal``, given as
            ``abnormal_score`` / ``abnormal``).
        names (Sequence[str], optional): Region names; defaults to the 29
            Chest ImaGenome regions when there are 29 rows.

    Returns:
        list[dict]: One dict per region, in region order.
    """
    num_regions = len(regions)
    if names is None or len(names) != num_regions:
        names = ANATOMICAL_REGIONS if num_regions == len(
            ANATOMICAL_REGIONS) else [f'region {i}' for i in range(
                num_regions)]
    rows = []
    for i in range(num_regions):
        rows.append({
            'index': i,
            'name': names[i],
            'bbox': [float(v) for v in regions.bboxes[i]],
            'score': float(regions.scores[i]),
            'detected': bool(regions.detected[i]),
            'selection_score': float(regions.selection_scores[i]),
            'selected': bool(regions.selected[i]),
            'sentence': regions.sentences[i],
        })
        if 'abnormal' in regions:
            rows[-1].update(
                abnormal_score=float(regions.abnormal_scores[i]),
                abnormal=bool(regions.abnormal[i]))
    return rows
