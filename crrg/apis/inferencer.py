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
from typing import Callable, Iterable, List, Optional, Sequence, Union

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config, ConfigDict
from mmengine.infer import BaseInferencer
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from rich.progress import track

from crrg.registry import MODELS, TRANSFORMS, VISUALIZERS
from crrg.structures import ANATOMICAL_REGIONS
from crrg.utils.checkpoint import load_model_checkpoint
from crrg.utils.setup_env import register_all_modules

InputType = Union[str, np.ndarray]
InputsType = Union[InputType, Sequence[InputType]]


def test_pipeline_cfg(cfg: Config) -> List[dict]:
    """The config's test pipeline without annotation loading.

    Args:
        cfg (Config): The model's config; its ``test_dataloader.dataset``
            (or a wrapper's inner ``dataset``) holds the pipeline.

    Returns:
        list[dict]: Transform configs, minus every ``*Annotations*`` loader.
        ``PackDetInputs`` packs the meta keys that exist, so it stays.
    """
    dataset_cfg = cfg.get('test_dataloader', {}).get('dataset', {})
    while 'pipeline' not in dataset_cfg and 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg.dataset
    if 'pipeline' not in dataset_cfg:
        raise KeyError(f'{cfg.filename}: test_dataloader.dataset has no '
                       '"pipeline"; add the test pipeline to the config')
    return [
        copy.deepcopy(t) for t in dataset_cfg.pipeline
        if 'Annotations' not in str(t.get('type', ''))
    ]


def load_weights(model: torch.nn.Module,
                 filename: str,
                 allow_partial: bool = False) -> dict:
    """Load ``filename`` into ``model``, strictly unless ``allow_partial``.

    Args:
        model (nn.Module): The model.
        filename (str): Checkpoint file.
        allow_partial (bool): Load even when keys are missing or unexpected.

    Returns:
        dict: The checkpoint.
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(
            f'checkpoint {filename} does not exist; pass the .pth file a '
            'training run wrote (work_dirs/<config name>/epoch_*.pth)')
    return load_model_checkpoint(
        model, filename, allow_partial=allow_partial, map_location='cpu')


class ReportInferencer(BaseInferencer):
    """Explainable reports for chest X-ray images from a trained generator.

    Builds the config's model, loads ``weights`` strictly, and runs the
    config's test pipeline (annotation loading removed, the X-ray loader in
    front) on image files or arrays.

    Args:
        model (str | Config | ConfigDict | dict): Config file or config.
        weights (str, optional): Checkpoint file. None keeps the random
            initialisation (a warning says so).
        device (str): Device, e.g. ``'cpu'`` or ``'cuda:0'``. Defaults to
            ``'cpu'``.
        scope (str): Registry scope. Defaults to ``'crrg'``.
        allow_partial (bool): Load a checkpoint whose keys do not match the
            model (missing keys keep their initialisation). Defaults to False.
        show_progress (bool): Show a progress bar. Defaults to False.

    Calling it (``inferencer(inputs, batch_size=1, return_vis=False,
    return_datasamples=False, skip_failed=False)``) returns a dict:

    - ``predictions``: one dict per image that succeeded, in input order:
      ``{'img_path': str | None, 'ori_shape': [h, w], 'report': str,
      'regions': [{'index', 'name', 'bbox' [x1, y1, x2, y2] in the original
      image's pixels, 'score', 'detected', 'selection_score', 'selected',
      'sentence'}, ...]}`` (29 regions in region order; an empty list for a
      generator without regions), plus ``'warnings'``: the loader's
      warnings about the image (e.g. a DICOM header naming another body
      part; may be empty), or the ``DetDataSample`` s when
      ``return_datasamples=True``.
    - ``visualization``: with ``return_vis=True``, one (H, W', 3) RGB uint8
      drawing per image (the original image, the selected regions and the
      sentence panel); else an empty list.
    - ``failures`` (only with ``skip_failed=True``): ``[{'input': str,
      'reason': str}]`` for the inputs that could not be read or predicted;
      without ``skip_failed`` the first failure is raised.
    """

    visualize_kwargs = {'return_vis', 'show', 'wait_time', 'draw_unselected'}

    def __init__(self,
                 model: Union[str, Config, ConfigDict, dict],
                 weights: Optional[str] = None,
                 device: str = 'cpu',
                 scope: str = 'crrg',
                 allow_partial: bool = False,
                 show_progress: bool = False) -> None:
        register_all_modules(init_default_scope=False)
        init_default_scope(scope)
        self.allow_partial = allow_partial
        super().__init__(
            model=model,
            weights=weights,
            device=device,
            scope=scope,
            show_progress=show_progress)

    def _init_model(self, cfg: Config, weights: Optional[str],
                    device: str) -> torch.nn.Module:
        """Build ``cfg.model`` and load ``weights`` (see :func:`load_weights`).

        ``init_weights`` is not called, so no pre-trained part (e.g. a
        ``detector_checkpoint``) is read: every weight comes from ``weights``.
        """
        model = MODELS.build(cfg.model)
        model.cfg = cfg
        if weights is None:
            print_log(
                'no checkpoint given: predicting with randomly initialised '
                'weights', 'current', level=30)
        else:
            checkpoint = load_weights(model, weights, self.allow_partial)
            meta = checkpoint.get('meta', {}) if isinstance(
                checkpoint, dict) else {}
            if 'dataset_meta' in meta:
                model.dataset_meta = meta['dataset_meta']
        return model.to(device).eval()

    def _init_pipeline(self, cfg: Config) -> Callable:
        """The test pipeline, split into the image loader and the rest.

        Returns:
            Callable: Maps an input (path or array) to the packed data.
        """
        transforms = test_pipeline_cfg(cfg)
        if not transforms or not str(transforms[0].get('type',
                                                       '')).startswith('Load'):
            raise KeyError(
                f'{cfg.filename}: the test pipeline must start with an image '
                f'loading transform, got {transforms[:1]}')
        self.loader = TRANSFORMS.build(dict(type='LoadXrayImageFromFile'))
        self.transforms = Compose(transforms[1:])
        return self._prepare

    def _prepare(self, inputs: InputType) -> dict:
        """Load and transform one input; its sample always carries
        ``img_path``, ``ori_shape`` and ``img_warnings`` (the loader's, e.g.
        a DICOM header saying the image is not a chest radiograph), whatever
        the packer's meta keys."""
        results = self._load(inputs)
        meta = dict(img_path=results['img_path'],
                    ori_shape=results['ori_shape'],
                    img_warnings=list(results.get('img_warnings', [])))
        data = self.transforms(results)
        sample = data['data_samples']
        sample.set_metainfo(
            {k: v for k, v in meta.items() if k not in sample.metainfo})
        return data

    def _init_visualizer(self, cfg: Config):
        """A :class:`RegionReportVisualizer` (the config's, if it is one)."""
        vis_cfg = dict(type='RegionReportVisualizer')
        if cfg.get('visualizer', {}).get('type') == 'RegionReportVisualizer':
            vis_cfg = copy.deepcopy(cfg.visualizer)
        vis_cfg['name'] = f'report-inferencer-{id(self)}'
        return VISUALIZERS.build(vis_cfg)

    def _load(self, inputs: InputType) -> dict:
        """Load one input: a file through the X-ray loader, or an array.

        Arrays must be uint8 (H, W), (H, W, 1) or (H, W, 3).
        """
        if isinstance(inputs, np.ndarray):
            img = inputs
            if img.dtype != np.uint8 or not (img.ndim == 2 or (
                    img.ndim == 3 and img.shape[2] in (1, 3))):
                raise TypeError(
                    'array inputs must be uint8 (H, W), (H, W, 1) or '
                    f'(H, W, 3); got {img.dtype} {img.shape}')
            if img.ndim == 2 or img.shape[2] == 1:
                img = np.repeat(img.reshape(*img.shape[:2], 1), 3, axis=2)
            return dict(
                img=img,
                img_path=None,
                img_id='array',
                img_shape=img.shape[:2],
                ori_shape=img.shape[:2])
        if not isinstance(inputs, str):
            raise TypeError('inputs must be image paths or uint8 arrays, got '
                            f'{type(inputs).__name__}')
        if not osp.isfile(inputs):
            raise FileNotFoundError(f'{inputs}: image file not found')
        stem = osp.splitext(osp.basename(inputs))[0]
        results = self.loader(dict(img_path=inputs, img_id=stem))
        if results is None:
            raise ValueError(f'{inputs}: the image loader returned nothing')
        return results

    def __call__(self,
                 inputs: InputsType,
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 skip_failed: bool = False,
                 **kwargs) -> dict:
        """Predict reports for ``inputs`` (see the class docstring).

        Args:
            inputs (str | np.ndarray | Sequence): Image paths (a directory
                gives its files) or uint8 arrays.
            return_datasamples (bool): Return the data samples instead of
                dicts. Defaults to False.
            batch_size (int): Images per forward pass. Defaults to 1.
            skip_failed (bool): Report unreadable inputs and failed batches
                in ``failures`` instead of raising. Defaults to False.
            **kwargs: ``return_vis``, ``show``, ``wait_time``,
                ``draw_unselected`` for :meth:`visualize`.

        Returns:
            dict: ``predictions``, ``visualization`` and, with
            ``skip_failed``, ``failures``.
        """
        _, forward_kwargs, visualize_kwargs, postprocess_kwargs = \
            self._dispatch_kwargs(**kwargs)
        ori_inputs = self._inputs_to_list(inputs)
        kept, preds, failures = [], [], []
        chunks: Iterable = self._get_chunk_data(
            range(len(ori_inputs)), batch_size)
        if self.show_progress:
            chunks = track(
                list(chunks), description='Inference')
        for chunk in chunks:
            loaded = []
            for i in chunk:
                try:
                    loaded.append((i, self.pipeline(ori_inputs[i])))
                except Exception as exc:  # noqa: BLE001 - per input
                    if not skip_failed:
                        raise
                    what = 'file not found' if isinstance(
                        exc, FileNotFoundError) else 'unreadable image'
                    failures.append(
                        self._failure(ori_inputs[i], i, what, exc))
            if not loaded:
                continue
            try:
                batch_preds = self.forward(
                    self.collate_fn([data for _, data in loaded]),
                    **forward_kwargs)
            except Exception as exc:  # noqa: BLE001 - per batch
                if not skip_failed:
                    raise
                failures.extend(
                    self._failure(ori_inputs[i], i, 'model failed', exc)
                    for i, _ in loaded)
                continue
            kept.extend(ori_inputs[i] for i, _ in loaded)
            preds.extend(batch_preds)
        visualization = self.visualize(kept, preds, **visualize_kwargs)
        results = self.postprocess(preds, visualization, return_datasamples,
                                   **postprocess_kwargs)
        if skip_failed:
            results['failures'] = failures
        return results

    @staticmethod
    def _failure(inputs: InputType, index: int, what: str,
                 exc: Exception) -> dict:
        name = inputs if isinstance(inputs, str) else f'array #{index}'
        return dict(input=name, reason=f'{what}: {type(exc).__name__}: {exc}')

    def visualize(self,
                  inputs: list,
                  preds: list,
                  return_vis: bool = False,
                  show: bool = False,
                  wait_time: float = 0,
                  draw_unselected: bool = False) -> List[np.ndarray]:
        """Draw each prediction on its original image.

        Args:
            inputs (list): The inputs that succeeded.
            preds (list[DetDataSample]): Their predictions.
            return_vis (bool): Return the drawings. Defaults to False.
            show (bool): Show each drawing in a window. Defaults to False.
            wait_time (float): Display time in seconds. Defaults to 0.
            draw_unselected (bool): Also draw detected, unselected regions
                (dashed). Defaults to False.

        Returns:
            list[np.ndarray]: (H, W', 3) RGB uint8 drawings, or an empty list
            when neither ``return_vis`` nor ``show``.
        """
        if not (return_vis or show):
            return []
        self.visualizer.draw_unselected = draw_unselected
        drawings = []
        for i, (inputs_i, pred) in enumerate(zip(inputs, preds)):
            image = self._load(inputs_i)['img']
            name = osp.basename(inputs_i) if isinstance(
                inputs_i, str) else f'array_{i}'
            if isinstance(inputs_i, str) and getattr(
                    self.loader, 'channel_order', 'rgb') == 'bgr':
                image = image[..., ::-1]  # mmcv's LoadImageFromFile
            # a copy: drawing may clip the boxes it is given to the image
            self.visualizer.add_datasample(
                name, image, copy.deepcopy(pred), show=show,
                wait_time=wait_time)
            drawings.append(self.visualizer.get_image())
        return drawings

    def postprocess(self,
                    preds: list,
                    visualization: List[np.ndarray],
                    return_datasamples: bool = False) -> dict:
        """Turn the data samples into JSON-ready dicts.

        Returns:
            dict: ``predictions`` and ``visualization``.
        """
        if return_datasamples:
            predictions = preds
        else:
            predictions = [self.pred2dict(pred) for pred in preds]
        return dict(predictions=predictions, visualization=visualization)

    def pred2dict(self, sample) -> dict:
        """One prediction as a dict (see the class docstring)."""
        sample = sample.cpu()
        regions = []
        if 'pred_regions' in sample:
            regions = region_dicts(
                sample.pred_regions,
                self.model.dataset_meta.get('classes')
                if getattr(self.model, 'dataset_meta', None) else None)
        return {
            'img_path': sample.metainfo.get('img_path'),
            'ori_shape': [int(v) for v in sample.metainfo['ori_shape'][:2]],
            'report': sample.get('pred_report', ''),
            'regions': regions,
            'warnings': list(sample.metainfo.get('img_warnings', [])),
        }


def region_dicts(regions: InstanceData,
                 names: Optional[Sequence[str]] = None) -> List[dict]:
    """The per-region rows of a prediction.

    Args:
        regions (InstanceData): ``pred_regions`` (R rows: ``bboxes`` (R, 4),
            ``scores``, ``detected``, ``selection_scores``, ``selected``,
            ``sentences``).
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
    return rows
