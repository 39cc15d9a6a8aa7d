"""The base of crrg's inferencers, in the manner of mmdet's ``DetInferencer``
and mmpretrain's inferencers (mmengine's ``BaseInferencer``).

config -> model -> strict weights -> inference profile -> the config's own
test pipeline, split into its loader and the rest -> inputs (files, folders,
globs, DICOM found by its magic bytes, arrays, or images already decoded by
:meth:`BaseXrayInferencer.load`) -> each image decoded once -> chest checks
-> batches -> the model -> dicts. The decoded image of an input is kept for
visualisation and can be handed to another inferencer, so no consumer
decodes the file again.
"""
import copy
import glob
import multiprocessing as mp
import os.path as osp
import pickle
import queue
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import (Any, Callable, Iterable, Iterator, List, Optional,
                    Sequence, Tuple, Union)

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config, ConfigDict
from mmengine.infer import BaseInferencer
from mmengine.logging import print_log
from mmengine.registry import FUNCTIONS, init_default_scope
from rich.progress import track
from torch.utils.data import DataLoader, Dataset

from crrg.datasets.transforms.load_resized_image import LoadResizedImage
from crrg.engine.hooks.model_card_hook import model_card_of
from crrg.datasets.transforms.loading import DICOM_SUFFIXES, is_dicom
from crrg.models.report_generators.base import INFERENCE_PROFILES
from crrg.registry import MODELS, TRANSFORMS
from crrg.utils.allocator import keep_freed_memory
from crrg.utils.checkpoint import load_model_checkpoint
from crrg.utils.setup_env import register_all_modules
from .chest_checks import DEFAULT_CHEST_CHECKS, ChestCheck

#: file suffixes a folder's images are listed by (files without a suffix
#: are listed when they carry the DICOM magic)
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif',
                  '.tiff') + DICOM_SUFFIXES

InputType = Union[str, Path, np.ndarray, dict]
InputsType = Union[InputType, Sequence[InputType]]

_URI = re.compile(r'^[A-Za-z][\w+.-]*:')


def test_pipeline_cfg(cfg: Config) -> List[dict]:
    """The config's test pipeline without annotation loading.

    Args:
        cfg (Config): The model's config; its ``test_dataloader.dataset``
            (or a wrapper's inner ``dataset``) holds the pipeline.

    Returns:
        list[dict]: Transform configs, minus every ``*Annotations*`` loader.
        ``PackDetInputs`` packs the meta keys that exist, so it stays.
    """
    dataset_cfg = (cfg.get('test_dataloader') or {}).get('dataset', {})
    while 'pipeline' not in dataset_cfg and 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg.dataset
    if 'pipeline' not in dataset_cfg:
        raise KeyError(f'{cfg.filename}: test_dataloader.dataset has no '
                       '"pipeline"; add the test pipeline to the config')
    return [
        copy.deepcopy(t) for t in dataset_cfg.pipeline
        if 'Annotations' not in str(t.get('type', ''))
    ]


def is_image_file(path: Path) -> bool:
    """A file with an image suffix (:data:`IMAGE_SUFFIXES`) or, whatever its
    name, the DICOM magic (the X-ray loader's own test)."""
    if not path.is_file():
        return False
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    with open(path, 'rb') as f:
        return is_dicom(str(path), f.read(132))


def expand_inputs(
        patterns: Iterable[str]) -> Tuple[List[str], List[Tuple[str, str]]]:
    """Turn image arguments into image paths.

    A folder gives its image files (:func:`is_image_file`; sorted, not
    recursive); a pattern with glob characters is expanded (``**``
    recurses; quoting it on a command line is safe); anything else is taken
    as a file path, checked when it is loaded.

    Args:
        patterns (Iterable[str]): Files, folders or glob patterns.

    Returns:
        tuple[list[str], list[tuple[str, str]]]: The image paths without
        duplicates, in order, and the ``(argument, reason)`` pairs of the
        arguments that gave no image.
    """
    paths, failures = [], []
    for pattern in map(str, patterns):
        if osp.isdir(pattern):
            found = sorted(
                str(p) for p in Path(pattern).iterdir() if is_image_file(p))
            reason = ('folder holds no image '
                      f'({", ".join(IMAGE_SUFFIXES)}, or DICOM)')
        elif glob.has_magic(pattern):
            found = sorted(p for p in glob.glob(pattern, recursive=True)
                           if osp.isfile(p))
            reason = 'no file matches this pattern'
        else:
            found, reason = [pattern], ''
        if not found:
            failures.append((pattern, reason))
        paths.extend(found)
    return list(dict.fromkeys(paths)), failures


@dataclass(eq=False)
class InferenceItem:
    """One input on its way through an inferencer.

    Attributes:
        input (str | np.ndarray | dict): The input as given (a path after
            folder / glob expansion).
        index (int): Its position among the expanded inputs.
        loaded (dict, optional): The loader's results (:meth:`load`);
            ``img`` is dropped after the pipeline unless a visualisation
            needs it.
        refusal (str, optional): Why a chest check refused it.
        sample (Any): The model's prediction (a data sample) or None.
        data (dict, optional): The packed model input, between
            :meth:`BaseXrayInferencer.prepare` and the forward pass.
        error (Exception, optional): Why the input could not be prepared.
    """
    input: Any
    index: int
    loaded: Optional[dict] = None
    refusal: Optional[str] = None
    sample: Any = None
    data: Optional[dict] = None
    error: Optional[Exception] = None

    @property
    def name(self) -> str:
        """The input in messages: its path, or ``array #<index>``."""
        if isinstance(self.input, (str, Path)):
            return str(self.input)
        if isinstance(self.input, dict) and self.input.get('img_path'):
            return str(self.input['img_path'])
        return f'array #{self.index}'


def _picklable(exc: Exception) -> Exception:
    """``exc``, or a RuntimeError naming its type and message when it cannot
    be pickled (to cross from a worker process to this one)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any unpicklable exception
        return RuntimeError(f'{type(exc).__name__}: {exc}')
    return exc


def _can_fork(option: str, work: str) -> bool:
    """Whether this platform forks processes; if not, warn that ``option``
    is not used and ``work`` happens in this process."""
    if 'fork' in mp.get_all_start_methods():
        return True
    print_log(f'{option} needs the fork start method, which this platform '
              f'lacks: {work} in this process', 'current', level=30)
    return False


class _PreparedItems(Dataset):
    """The inputs of one call as a dataset whose items are prepared
    (:meth:`BaseXrayInferencer.prepare`) by the DataLoader's workers."""

    def __init__(self, inferencer: 'BaseXrayInferencer',
                 items: List[InferenceItem], keep_images: bool) -> None:
        self.inferencer = inferencer
        self.items = items
        self.keep_images = keep_images

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> InferenceItem:
        item = self.inferencer.prepare(self.items[index], self.keep_images)
        if item.error is not None:
            item.error = _picklable(item.error)
        return item


class _Replicas:
    """Batches of items predicted by forked copies (replicas) of an
    inferencer, yielded in input order.

    Each replica runs torch on one thread, keeps the memory it frees for its
    next batch (:func:`keep_freed_memory`) and takes the next batch from a
    shared queue: it prepares its items
    (:meth:`BaseXrayInferencer.prepare`), predicts them
    (:meth:`BaseXrayInferencer._predict`) and sends back the result, or the
    exception that stopped it (raised here when its batch's turn comes,
    so the batches before it are yielded first, as in one process).

    Args:
        inferencer (BaseXrayInferencer): The inferencer to fork.
        batches (list[list[InferenceItem]]): The inputs, not yet prepared,
            in batches.
        skip_failed (bool): Report failures instead of raising.
        keep_images (bool): Keep the decoded images (for drawings).
        forward_kwargs (dict): Keyword arguments of ``forward``.
        num_replicas (int): Processes to fork.
    """

    def __init__(self, inferencer: 'BaseXrayInferencer',
                 batches: List[List[InferenceItem]], skip_failed: bool,
                 keep_images: bool, forward_kwargs: dict,
                 num_replicas: int) -> None:
        self.inferencer = inferencer
        self.batches = batches
        self.skip_failed = skip_failed
        self.keep_images = keep_images
        self.forward_kwargs = forward_kwargs
        self.num_replicas = min(num_replicas, len(self.batches))

    def _work(self, tasks: mp.Queue, results: mp.Queue) -> None:
        """A replica's loop: batch indices in, pickled results out, until
        None."""
        # One thread: torch's OpenMP (libgomp) cannot run a parallel region
        # in a forked child once the parent has run one; it hangs.
        torch.set_num_threads(1)
        keep_freed_memory()
        for index in iter(tasks.get, None):
            try:
                chunk = [
                    self.inferencer.prepare(item, self.keep_images)
                    for item in self.batches[index]
                ]
                payload = pickle.dumps(
                    self.inferencer._predict(chunk, self.skip_failed,
                                             self.forward_kwargs))
            except Exception as exc:  # noqa: BLE001 - raised in the parent
                payload = pickle.dumps(_picklable(exc))
            results.put((index, payload))

    def __iter__(self) -> Iterator[Tuple[List[InferenceItem], List[dict]]]:
        ctx = mp.get_context('fork')
        tasks, results = ctx.Queue(), ctx.Queue()
        tasks.cancel_join_thread()  # no wait at exit for unread tasks
        replicas = [
            ctx.Process(target=self._work, args=(tasks, results), daemon=True)
            for _ in range(self.num_replicas)
        ]
        for replica in replicas:
            replica.start()
        for index in range(len(self.batches)):
            tasks.put(index)
        for _ in replicas:
            tasks.put(None)
        arrived: dict = {}
        finished = False
        try:
            for index in range(len(self.batches)):
                while index not in arrived:
                    try:
                        done, payload = results.get(timeout=1.)
                    except queue.Empty:
                        self._check_alive(replicas)
                        continue
                    arrived[done] = payload
                out = pickle.loads(arrived.pop(index))
                if isinstance(out, Exception):
                    raise out
                yield out
            finished = True
        finally:
            for replica in replicas:
                if not finished:  # an error, or the caller stopped early
                    replica.terminate()
                replica.join()

    @staticmethod
    def _check_alive(replicas: List[mp.Process]) -> None:
        """Raise if a replica died without finishing its batch."""
        for replica in replicas:
            if replica.exitcode not in (None, 0):
                raise RuntimeError(
                    f'a replica process died (exit code {replica.exitcode}, '
                    'e.g. killed when out of memory); use fewer replicas')


class BaseXrayInferencer(BaseInferencer):
    """The base of crrg's inferencers.

    Builds the config's model, loads ``weights`` strictly, sets the
    inference profile, and runs the config's own test pipeline
    (annotation loading removed): its first transform (e.g.
    ``LoadXrayImageFromFile`` or ``LoadResizedImage``) decodes each input
    once (:meth:`load`), the chest checks look at the result, and the
    remaining transforms prepare the model's input. The decoded image stays
    with the input for visualisation and for other inferencers (pass the
    dict :meth:`load` returns as an input).

    Subclasses say how a batch is predicted (:meth:`forward`), drawn
    (:meth:`visualize`) and returned (:meth:`postprocess`).

    Args:
        model (str | Config | ConfigDict | dict): Config file or config.
        weights (str, optional): Checkpoint: a file, or any URI that
            :func:`crrg.utils.load_model_checkpoint` reads (``http://``,
            ``s3://``, a registered scheme ...). None keeps the random
            initialisation (a warning says so).
        device (str): Device, e.g. ``'cpu'`` or ``'cuda:0'``. Defaults to
            ``'cpu'``.
        scope (str): Registry scope. Defaults to ``'crrg'``.
        allow_partial (bool): Load a checkpoint whose keys do not match the
            model (missing keys keep their initialisation). Defaults to False.
        profile (str, optional): Inference profile, ``'exact'`` (fp32) or
            ``'fast'`` (the model's fast path), set through the model's
            ``set_inference_profile``. None keeps the config's switches.
            Defaults to None.
        allow_non_chest (bool): Analyse inputs that a chest check refuses.
            Defaults to False.
        chest_checks (Sequence[ChestCheck], optional): The checks run on each
            decoded input (:mod:`crrg.apis.chest_checks`). Defaults to
            :data:`DEFAULT_CHEST_CHECKS` (the DICOM header).
        show_progress (bool): Show a progress bar. Defaults to False.
    """

    preprocess_kwargs: set = set()
    forward_kwargs: set = set()
    visualize_kwargs: set = set()
    postprocess_kwargs: set = set()

    def __init__(self,
                 model: Union[str, Config, ConfigDict, dict],
                 weights: Optional[str] = None,
                 device: str = 'cpu',
                 scope: str = 'crrg',
                 allow_partial: bool = False,
                 profile: Optional[str] = None,
                 allow_non_chest: bool = False,
                 chest_checks: Optional[Sequence[ChestCheck]] = None,
                 show_progress: bool = False) -> None:
        register_all_modules(init_default_scope=False)
        init_default_scope(scope)
        if isinstance(model, (str, Path)):
            if not osp.isfile(model):
                raise FileNotFoundError(f'{model}: config file not found')
            model = Config.fromfile(str(model))
        if profile is not None and profile not in INFERENCE_PROFILES:
            raise ValueError(f'profile must be one of {INFERENCE_PROFILES} '
                             f'or None, got {profile!r}')
        self.allow_partial = allow_partial
        self.profile = profile
        self.weights = None if weights is None else str(weights)
        #: the checkpoint's model card (:func:`crrg.engine.model_card_of`)
        self.model_card: dict = model_card_of(None)
        self.allow_non_chest = allow_non_chest
        self.chest_checks = list(
            DEFAULT_CHEST_CHECKS if chest_checks is None else chest_checks)
        super().__init__(
            model=model,
            weights=weights,
            device=device,
            scope=scope,
            show_progress=show_progress)

    # ------------------------------------------------------------- set-up
    def _init_model(self, cfg: Config, weights: Optional[str],
                    device: str) -> torch.nn.Module:
        """Build ``cfg.model``, load ``weights`` strictly (unless
        ``allow_partial``) and set the inference profile.

        ``init_weights`` is not called, so no pre-trained part (e.g. a
        ``detector_checkpoint``) is read: every weight comes from
        ``weights``. The checkpoint's ``meta.dataset_meta`` (class names)
        becomes the model's ``dataset_meta``.
        """
        model = MODELS.build(cfg.model)
        model.cfg = cfg
        if weights is None:
            print_log(
                'no checkpoint given: predicting with randomly initialised '
                'weights', 'current', level=30)
        else:
            if not _URI.match(str(weights)) and not osp.isfile(weights):
                raise FileNotFoundError(
                    f'checkpoint {weights} does not exist; pass the .pth '
                    'file a training run wrote (work_dirs/<config name>/'
                    'epoch_*.pth) or a URI mmengine reads')
            checkpoint = load_model_checkpoint(
                model, str(weights), allow_partial=self.allow_partial,
                map_location='cpu')
            self.model_card = model_card_of(checkpoint)
            meta = checkpoint.get('meta') or {}
            if 'dataset_meta' in meta:
                model.dataset_meta = meta['dataset_meta']
        if self.profile is not None:
            set_profile = getattr(model, 'set_inference_profile', None)
            if set_profile is not None:
                set_profile(self.profile)
            elif self.profile != 'exact':
                raise ValueError(
                    f'{type(model).__name__} has no inference profiles (no '
                    "set_inference_profile); it runs exact only: use "
                    "profile='exact' or None")
        return model.to(device).eval()

    def _init_collate(self, cfg: Config) -> Callable:
        """The test dataloader's ``collate_fn`` as mmengine's ``Runner``
        builds it (``dict(type='default_collate', ...)`` or a name);
        ``pseudo_collate`` when the config names none."""
        collate_cfg = copy.deepcopy(
            (cfg.get('test_dataloader') or {}).get('collate_fn')
            or dict(type='pseudo_collate'))
        if isinstance(collate_cfg, str):
            collate_cfg = dict(type=collate_cfg)
        collate_type = collate_cfg.pop('type')
        if isinstance(collate_type, str):
            with FUNCTIONS.switch_scope_and_registry(self.scope) as registry:
                collate_type = registry.get(collate_type)
        return partial(collate_type, **collate_cfg)

    def _pipeline_cfg(self, cfg: Config) -> List[dict]:
        """The transform configs the inferencer runs, loader first."""
        return test_pipeline_cfg(cfg)

    def _init_pipeline(self, cfg: Config) -> Callable:
        """Split the test pipeline into its loader (``self.loader``) and the
        rest (``self.transforms``).

        Returns:
            Callable: ``pipeline(input)``, the packed data of one input
            (:meth:`load`, then :meth:`transform`).
        """
        transforms = self._pipeline_cfg(cfg)
        if not transforms or 'Load' not in str(transforms[0].get('type', '')):
            raise KeyError(
                f'{cfg.filename}: the test pipeline must start with an image '
                f'loading transform, got {transforms[:1]}')
        self.loader = TRANSFORMS.build(transforms[0])
        self.transforms = Compose(transforms[1:])
        return lambda inputs: self.transform(self.load(inputs))

    # ------------------------------------------------------- one input
    def load(self, inputs: InputType) -> dict:
        """Decode one input, once, as the config's loader does.

        Args:
            inputs (str | Path | np.ndarray | dict): An image file (JPEG,
                PNG, DICOM, ... as the loader reads them); a uint8 (H, W),
                (H, W, 1) or (H, W, 3) array (channels copied to three); or
                a dict this or another inferencer's :meth:`load` returned
                (returned as a shallow copy, not decoded again).

        Returns:
            dict: The loader's results: ``img`` (the decoded image),
            ``img_path`` (None for an array), ``ori_shape`` (h, w) of the
            original image, ``img_shape``, ``img_warnings`` (list of str) and
            ``not_chest_reasons`` (list of str), and whatever else the
            loader sets (e.g. ``scale_factor``).

        Raises:
            FileNotFoundError: The file does not exist.
            TypeError: Another kind of input, or an array that is not uint8
                (H, W[, 1 | 3]).
            ImageDecodeError: The loader cannot read the file.
        """
        if isinstance(inputs, dict):
            if 'img' not in inputs:
                raise TypeError('a dict input must be what load() returns '
                                f'(with "img"), got keys {sorted(inputs)}')
            results = dict(inputs)
        elif isinstance(inputs, np.ndarray):
            results = self._load_array(inputs)
        elif isinstance(inputs, (str, Path)):
            path = str(inputs)
            if not osp.isfile(path):
                raise FileNotFoundError(f'{path}: image file not found')
            stem = osp.splitext(osp.basename(path))[0]
            results = self.loader(dict(img_path=path, img_id=stem))
            if results is None:
                raise ValueError(f'{path}: the image loader returned nothing')
        else:
            raise TypeError('inputs must be image paths, uint8 arrays or '
                            f'load() results, got {type(inputs).__name__}')
        results.setdefault('img_warnings', [])
        results.setdefault('not_chest_reasons', [])
        return results

    def _load_array(self, img: np.ndarray) -> dict:
        """An array input as the loader would give it: three channels and,
        for a loader that decodes at the model's size
        (``LoadResizedImage``), resized as it would be."""
        if img.dtype != np.uint8 or not (img.ndim == 2 or (
                img.ndim == 3 and img.shape[2] in (1, 3))):
            raise TypeError('array inputs must be uint8 (H, W), (H, W, 1) or '
                            f'(H, W, 3); got {img.dtype} {img.shape}')
        if img.ndim == 2 or img.shape[2] == 1:
            img = np.repeat(img.reshape(*img.shape[:2], 1), 3, axis=2)
        results = dict(img=img, img_path=None, img_id='array',
                       img_shape=img.shape[:2], ori_shape=img.shape[:2])
        if isinstance(self.loader, LoadResizedImage):
            results = self.loader.resize_decoded(results)
        return results

    def check_chest(self, loaded: dict) -> Optional[str]:
        """The first chest check's reason to refuse ``loaded``, or None
        (always None with ``allow_non_chest``)."""
        if self.allow_non_chest:
            return None
        for check in self.chest_checks:
            reason = check(loaded)
            if reason:
                return reason
        return None

    def transform(self, loaded: dict) -> dict:
        """The rest of the pipeline on a decoded input.

        Works on a shallow copy, so ``loaded['img']`` stays the decoded
        image. The packed sample always carries ``img_path``, ``ori_shape``
        and ``img_warnings``, whatever the packer's meta keys.

        Returns:
            dict: ``inputs`` and ``data_samples`` of one image.
        """
        meta = dict(img_path=loaded.get('img_path'),
                    ori_shape=loaded['ori_shape'],
                    img_warnings=list(loaded['img_warnings']))
        data = self.transforms(dict(loaded))
        if data is None:
            raise ValueError(f'{loaded.get("img_path") or "array"}: a '
                             'pipeline transform dropped the image')
        sample = data['data_samples']
        sample.set_metainfo(
            {k: v for k, v in meta.items() if k not in sample.metainfo})
        return data

    def rgb_image(self, loaded: dict) -> np.ndarray:
        """The decoded image of ``loaded`` as (h, w, 3) RGB uint8 (h, w as
        decoded: the original size, or smaller for a loader that decodes at
        the model's size)."""
        image = np.asarray(loaded['img'])
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if loaded.get('img_path') is not None and self._loader_is_bgr():
            image = image[..., ::-1]
        return np.ascontiguousarray(image.clip(0, 255).astype(np.uint8))

    def _loader_is_bgr(self) -> bool:
        """Whether the loader gives colour images in BGR order (mmcv's
        ``LoadImageFromFile``, ``LoadResizedImage``)."""
        return isinstance(self.loader, LoadResizedImage) or getattr(
            self.loader, 'channel_order', 'rgb') == 'bgr'

    # ------------------------------------------------------------- a call
    def __call__(self,
                 inputs: InputsType,
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 skip_failed: bool = False,
                 num_workers: int = 0,
                 **kwargs) -> dict:
        """Predict ``inputs``.

        Args:
            inputs (str | np.ndarray | dict | Sequence): Image files, folders
                (their images), glob patterns, uint8 arrays or :meth:`load`
                results.
            return_datasamples (bool): Return the data samples instead of
                dicts. Defaults to False.
            batch_size (int): Images per forward pass. Defaults to 1.
            skip_failed (bool): Report unreadable inputs and failed batches
                in ``failures`` instead of raising. Defaults to False.
            num_workers (int): Processes that decode and transform the
                inputs while the model predicts (0: in this process).
                Defaults to 0.
            **kwargs: Keyword arguments of :meth:`forward`,
                :meth:`visualize` and :meth:`postprocess` (the subclass's
                ``forward_kwargs``, ``visualize_kwargs``,
                ``postprocess_kwargs``).

        Returns:
            dict: ``predictions`` (one per input that was read, in input
            order, refused ones included), ``visualization`` and, with
            ``skip_failed``, ``failures``: ``[{'input': str, 'reason':
            str}]``.
        """
        _, forward_kwargs, visualize_kwargs, postprocess_kwargs = \
            self._dispatch_kwargs(**kwargs)
        keep_images = self._keeps_images(visualize_kwargs)
        items, failures = self._run(inputs, batch_size, skip_failed,
                                    keep_images, forward_kwargs, num_workers)
        visualization = self.visualize(items, **visualize_kwargs)
        results = self.postprocess(items, visualization, return_datasamples,
                                   **postprocess_kwargs)
        if skip_failed:
            results['failures'] = failures
        return results

    def stream(self,
               inputs: InputsType,
               batch_size: int = 1,
               num_workers: int = 0,
               skip_failed: bool = True,
               num_replicas: int = 1,
               **kwargs) -> Iterator[dict]:
        """Predict ``inputs`` batch by batch, yielding each batch's results
        as soon as it is predicted: the engine for folders of studies.

        Inputs are decoded and transformed by ``num_workers`` processes
        ahead of the model (a :class:`torch.utils.data.DataLoader`, so
        decoding overlaps prediction); each batch of ``batch_size`` images
        goes through the model in one forward pass (a region-guided
        generator decodes the selected regions of all its images in one
        decoding batch).

        With ``num_replicas`` > 1 the batches are shared out among that
        many forked copies of the inferencer, each running torch on one
        thread (a forked process cannot run OpenMP in parallel once this
        one has) and decoding its own inputs: use about one replica per
        core; the results come back in input order and
        are the same as one process gives (up to the float rounding of
        another thread count). On a small CPU this uses the cores that
        single-threaded operators (e.g. RoIAlign, NMS) and Python leave
        idle. A replica shares the model's weights with this process until
        it writes them, but its activations are its own and it keeps its
        peak for the next batch (:func:`keep_freed_memory`): budget up to
        ``num_replicas`` times the model's memory.

        Args:
            inputs (str | np.ndarray | dict | Sequence): As for
                :meth:`__call__`.
            batch_size (int): Images per forward pass. Defaults to 1.
            num_workers (int): Decoding processes (0: in this process);
                not used with replicas, which decode their own inputs.
                Defaults to 0.
            skip_failed (bool): Report unreadable inputs and failed batches
                in ``failures`` instead of raising. Defaults to True.
            num_replicas (int): Processes that predict batches in parallel
                (1: this process alone; a model on a GPU always runs in this
                process). Defaults to 1.
            **kwargs: As for :meth:`__call__` (``return_datasamples``
                included).

        Yields:
            dict: Per batch, in input order, what :meth:`__call__` returns
            for its inputs: ``predictions``, ``visualization`` and
            ``failures`` (the batch's, and first those of folders or
            patterns that gave no image).
        """
        return_datasamples = kwargs.pop('return_datasamples', False)
        _, forward_kwargs, visualize_kwargs, postprocess_kwargs = \
            self._dispatch_kwargs(**kwargs)
        keep_images = self._keeps_images(visualize_kwargs)
        for items, failures in self._batches(inputs, batch_size, skip_failed,
                                             keep_images, forward_kwargs,
                                             num_workers, num_replicas):
            visualization = self.visualize(items, **visualize_kwargs)
            results = self.postprocess(items, visualization,
                                       return_datasamples,
                                       **postprocess_kwargs)
            results['failures'] = failures
            yield results

    def _keeps_images(self, visualize_kwargs: dict) -> bool:
        """Whether :meth:`visualize` needs the decoded images."""
        return False

    def _run(self,
             inputs: InputsType,
             batch_size: int,
             skip_failed: bool,
             keep_images: bool,
             forward_kwargs: dict,
             num_workers: int = 0) -> Tuple[List[InferenceItem], List[dict]]:
        """Load, check, transform and predict every input.

        Returns:
            tuple: the :class:`InferenceItem` s that were read, in input
            order, and the failures.
        """
        kept, failures = [], []
        for items, batch_failures in self._batches(inputs, batch_size,
                                                   skip_failed, keep_images,
                                                   forward_kwargs,
                                                   num_workers):
            kept.extend(items)
            failures.extend(batch_failures)
        return kept, failures

    def prepare(self, item: InferenceItem, keep_image: bool) -> InferenceItem:
        """Decode (:meth:`load`), check (:meth:`check_chest`) and transform
        one input; what a decoding worker does.

        Returns:
            InferenceItem: ``item`` with ``loaded`` (without ``img`` unless
            ``keep_image``), ``refusal``, and ``data`` (the packed model
            input; None when refused) or ``error`` (the exception that
            stopped it).
        """
        try:
            item.loaded = self.load(item.input)
            item.refusal = self.check_chest(item.loaded)
            item.data = None if item.refusal else self.transform(item.loaded)
        except Exception as exc:  # noqa: BLE001 - reported per input
            item.error = exc
        if item.loaded is not None and not keep_image:
            item.loaded.pop('img', None)
        return item

    def _prepared(self, items: List[InferenceItem], batch_size: int,
                  keep_images: bool,
                  num_workers: int) -> Iterable[List[InferenceItem]]:
        """``items`` prepared (:meth:`prepare`), in order, in chunks of
        ``batch_size``: in this process, or by ``num_workers`` forked
        processes that work ahead of the model."""
        if num_workers > 0 and not _can_fork('num_workers', 'decoding'):
            num_workers = 0
        if num_workers == 0:
            for chunk in self._get_chunk_data(items, batch_size):
                yield [self.prepare(item, keep_images) for item in chunk]
            return
        loader = DataLoader(
            _PreparedItems(self, items, keep_images),
            batch_size=batch_size,
            num_workers=num_workers,
            collate_fn=list,
            multiprocessing_context='fork')
        yield from loader

    def _batches(
        self,
        inputs: InputsType,
        batch_size: int,
        skip_failed: bool,
        keep_images: bool,
        forward_kwargs: dict,
        num_workers: int,
        num_replicas: int = 1
    ) -> Iterator[Tuple[List[InferenceItem], List[dict]]]:
        """Per batch, its items that were read (predicted or refused) and
        its failures; first the failures of the inputs' expansion."""
        if batch_size < 1 or num_workers < 0 or num_replicas < 1:
            raise ValueError(
                'batch_size must be >= 1, num_workers >= 0 and num_replicas '
                f'>= 1, got {batch_size}, {num_workers} and {num_replicas}')
        items, failures = self._expand(inputs, skip_failed)
        if failures:
            yield [], failures
        if num_replicas > 1 and not _can_fork('num_replicas', 'predicting'):
            num_replicas = 1
        if num_replicas > 1 and any(p.device.type != 'cpu'
                                    for p in self.model.parameters()):
            print_log('num_replicas is for a model on the CPU (a forked '
                      'process cannot use CUDA): predicting in this process',
                      'current', level=30)
            num_replicas = 1
        num_batches = -(-len(items) // batch_size)
        if num_replicas > 1 and num_batches > 1:
            batches: Iterable = _Replicas(
                self, list(self._get_chunk_data(items, batch_size)),
                skip_failed, keep_images, forward_kwargs, num_replicas)
        else:
            batches = (self._predict(chunk, skip_failed, forward_kwargs)
                       for chunk in self._prepared(items, batch_size,
                                                   keep_images, num_workers))
        if self.show_progress:
            batches = track(batches, description='Inference',
                            total=num_batches)
        yield from batches

    def _predict(self, chunk: List[InferenceItem], skip_failed: bool,
                 forward_kwargs: dict
                 ) -> Tuple[List[InferenceItem], List[dict]]:
        """One batch of prepared items (:meth:`prepare`) through the model.

        Returns:
            tuple: The items that were read (``sample`` set, or refused),
            and the failures (unreadable inputs; the whole batch when the
            model fails).
        """
        kept, failures = [], []
        for item in chunk:
            if item.error is not None:
                if not skip_failed:
                    raise item.error
                what = 'file not found' if isinstance(
                    item.error, FileNotFoundError) else 'unreadable image'
                failures.append(self._failure(item, what, item.error))
                continue
            kept.append(item)
        batch = [item for item in kept if item.data is not None]
        if batch:
            try:
                preds = self.forward(
                    self.collate_fn([item.data for item in batch]),
                    **forward_kwargs)
            except Exception as exc:  # noqa: BLE001 - per batch
                if not skip_failed:
                    raise
                for item in batch:
                    failures.append(self._failure(item, 'model failed', exc))
                    kept.remove(item)
            else:
                for item, pred in zip(batch, preds):
                    item.sample = pred
        for item in kept:
            item.data = None
        return kept, failures

    def _expand(self, inputs: InputsType,
                skip_failed: bool) -> Tuple[List[InferenceItem], List[dict]]:
        """Inputs as items: folders and globs expanded (:func:`expand_inputs`).

        Raises:
            FileNotFoundError: A folder without images or a pattern that
                matches nothing (unless ``skip_failed``).
        """
        if isinstance(inputs, (str, Path, np.ndarray, dict)):
            inputs = [inputs]
        expanded, failures = [], []
        for one in inputs:
            if not isinstance(one, (str, Path)):
                expanded.append(one)
                continue
            paths, missing = expand_inputs([str(one)])
            for pattern, reason in missing:
                if not skip_failed:
                    raise FileNotFoundError(f'{pattern}: {reason}')
                failures.append(dict(input=pattern, reason=reason))
            expanded.extend(paths)
        items = [InferenceItem(input=x, index=i) for i, x in enumerate(expanded)]
        return items, failures

    @staticmethod
    def _failure(item: InferenceItem, what: str, exc: Exception) -> dict:
        return dict(
            input=item.name, reason=f'{what}: {type(exc).__name__}: {exc}')

    def item_dict(self, item: InferenceItem) -> dict:
        """The keys every prediction dict starts with.

        Returns:
            dict: ``img_path`` (str | None), ``ori_shape`` [h, w],
            ``status`` (``'ok'`` or ``'refused'``), ``refusal`` (None or the
            reason, for the user), ``warnings`` (the loader's, e.g. a
            DICOM header naming another body part; may be empty) and
            ``model_card`` (the checkpoint's card with its ``summary`` and
            research-use ``notice``; ``'unknown model — no card'`` when the
            checkpoint has none).
        """
        loaded = item.loaded
        return {
            'img_path': loaded.get('img_path'),
            'ori_shape': [int(v) for v in loaded['ori_shape'][:2]],
            'status': 'refused' if item.refusal else 'ok',
            'refusal': item.refusal,
            'warnings': list(loaded['img_warnings']),
            'model_card': copy.deepcopy(self.model_card),
        }
