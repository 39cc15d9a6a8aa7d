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
import hashlib
import os
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from crrg.dicom.sr import ModelInfo, SRSourceError, write_sr
from crrg.registry import VISUALIZERS
from crrg.structures import ANATOMICAL_REGIONS
from .base import BaseXrayInferencer, InferenceItem


class ReportInferencer(BaseXrayInferencer):
    """Explainable reports for chest X-ray images from a trained generator.

    See :class:`BaseXrayInferencer` for the arguments (config, weights,
    ``profile``, ``allow_non_chest``, ``chest_checks`` ...).

    Calling it (``inferencer(inputs, batch_size=1, return_vis=False,
    draw_unselected=False, return_datasamples=False, skip_failed=False,
    sr_dir=None)``) returns a dict:

    - ``predictions``: one dict per input that was read, in input order::

        {'img_path': str | None, 'ori_shape': [h, w],
         'status': 'ok' | 'refused', 'refusal': None | str,
         'report': str,
         'regions': [{'index', 'name', 'bbox' [x1, y1, x2, y2] in the
                      original image's pixels, 'score', 'detected',
                      'selection_score', 'selected', 'sentence'}, ...],
         'warnings': [str, ...],
         'model_card': {'summary': str, 'notice': str, ...}}

      ``regions`` has the 29 regions in region order (an empty list for a
      generator without regions). A refused input (a chest check says it is
      not a frontal chest radiograph, e.g. its DICOM header names another
      body part) never reaches the model: ``status`` is ``'refused'``,
      ``refusal`` the reason for the user, ``report`` '' and ``regions``
      []. ``warnings`` are the loader's (may be empty). ``model_card`` is
      the checkpoint's card (:func:`crrg.engine.model_card_of`: training
      data, config, crrg version, research-use notice; its ``summary``
      says ``'unknown model — no card'`` for a checkpoint without one).
      With ``sr_dir``, each prediction also has ``sr``: the DICOM SR
      written as ``<sr_dir>/<image stem>.sr.dcm`` (:meth:`write_sr`), or
      None with the reason in ``sr_note`` (a refused image, or an input
      that is not a DICOM file). With
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
    postprocess_kwargs = {'return_datasamples', 'sr_dir'}
    _model_info: Optional[ModelInfo] = None

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
                    return_datasamples: bool = False,
                    sr_dir: Optional[str] = None) -> dict:
        """The predictions as JSON-ready dicts (see the class docstring).

        Args:
            sr_dir (str, optional): Write each DICOM input's SR there
                (``<stem>.sr.dcm``; a stem used twice gets ``_1``, ...).

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
            if sr_dir is not None:
                used: dict = {}
                for pred in predictions:
                    stem = osp.splitext(osp.basename(
                        pred['img_path'] or 'array'))[0]
                    count = used.get(stem, 0)
                    used[stem] = count + 1
                    name = stem if count == 0 else f'{stem}_{count}'
                    self.try_write_sr(pred,
                                      osp.join(sr_dir, f'{name}.sr.dcm'))
        return dict(predictions=predictions, visualization=visualization)

    # ------------------------------------------------------------ DICOM SR
    def model_info(self) -> ModelInfo:
        """The model's identification in an SR: the config's name, the
        checkpoint's SHA-256 (hashed once) and the model card's summary."""
        if self._model_info is None:
            filename = getattr(self.cfg, 'filename', None)
            name = (osp.splitext(osp.basename(filename))[0] if filename else
                    self.model_card.get('config')
                    or type(self.model).__name__)
            digest = '0' * 64
            if self.weights is not None and osp.isfile(self.weights):
                sha = hashlib.sha256()
                with open(self.weights, 'rb') as f:
                    for block in iter(lambda: f.read(1 << 20), b''):
                        sha.update(block)
                digest = sha.hexdigest()
            self._model_info = ModelInfo(
                config_name=name, checkpoint_sha256=digest,
                model_card=self.model_card['summary'])
        return self._model_info

    def write_sr(self, prediction: dict, out_path: str) -> str:
        """Write the DICOM SR of one prediction (:mod:`crrg.dicom.sr`: a
        TID 1500 report referencing the source DICOM, one finding per
        selected region with its box, the model card in the algorithm
        identification).

        Args:
            prediction (dict): One of this inferencer's predictions.
            out_path (str): The ``.dcm`` file to write.

        Returns:
            str: ``out_path``.

        Raises:
            SRSourceError: The input is not a DICOM file (JPEG, PNG, an
                array), or the prediction was refused.
        """
        source = prediction.get('img_path')
        if not source:
            raise SRSourceError(
                'an array input has no DICOM header to reference; pass the '
                'DICOM file to get an SR')
        return write_sr(prediction, source, out_path, self.model_info())

    def try_write_sr(self, prediction: dict, out_path: str) -> Optional[str]:
        """:meth:`write_sr`, recording the outcome in the prediction:
        ``sr`` (the path, or None) and ``sr_note`` (None, or why no SR was
        written, for the user: without the file's folder)."""
        prediction['sr'], prediction['sr_note'] = None, None
        if prediction.get('status') != 'ok':
            prediction['sr_note'] = 'no SR for a refused image'
            return None
        try:
            prediction['sr'] = self.write_sr(prediction, out_path)
        except Exception as exc:  # noqa: BLE001 - the report stands alone
            note = str(exc) if isinstance(exc, SRSourceError) else (
                f'the SR could not be built ({type(exc).__name__}: {exc})')
            source = prediction.get('img_path')
            if source:
                note = note.replace(source, osp.basename(source))
            prediction['sr_note'] = f'no SR: {note}'
            if osp.exists(out_path):
                os.remove(out_path)
        return prediction['sr']

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
        warnings, card = head.pop('warnings'), head.pop('model_card')
        return dict(head, report=report, regions=regions, warnings=warnings,
                    model_card=card)


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
