"""What the web demo (``tools/demo_app.py``) shows, computed from the
inferencers: the page logic without the page.

One analysis decodes the image once (:meth:`ReportInferencer.load`) and
hands the decoded image to the report inferencer, to the R-CLIP zero-shot
classifier and to the display. :meth:`DemoSession.handle` analyses an upload
for the page: it deletes the upload afterwards, writes the DICOM SR offered
for download, and turns any failure into a message for the user (no server
path, no Python repr; the details go to the server log).

Concurrent users share the models through :meth:`DemoSession.submit`, the
page's queue: the requests waiting when the models become free are analysed
together (:meth:`DemoSession.handle_many`), in one batched call of the
report inferencer as ``tools/infer.py`` uses it for a folder, and each user
gets what an analysis of their image alone gives.
"""
import atexit
import glob
import os
import os.path as osp
import queue
import re
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import Future
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmengine.logging import MMLogger

from crrg.utils.errors import ImageDecodeError

from crrg.datasets.mimic_cxr import image_path, load_image_records
from crrg.utils.real_data import real_data_dir, real_data_file
from crrg.visualization import RegionReportVisualizer, regions_from_records
from .clip_inferencer import CLIPInferencer
from .report_inferencer import ReportInferencer

SHOW_SELECTED = 'selected regions'
SHOW_DETECTED = 'all detected regions'
TABLE_HEADERS = [
    'index', 'region', 'detected', 'detection score', 'selected',
    'selection score', 'sentence'
]
#: what "detected" and the two scores mean, shown under the table
SCORES_NOTE = (
    '**detected**: at least one of the detector\'s box proposals voted for '
    'this region (its most probable class), so the region has a box; '
    '**detection score**: the class probability of the region\'s best box '
    '(a region can be detected with a low score, when few proposals voted '
    'for it); **selected**: the selection score (a logit) is above the '
    'threshold, so the region gets a sentence in the report.')
#: longer side of the image sent to the page, in pixels
DISPLAY_SIZE = 768
#: the real radiograph of the pydicom-data wheel (crrg.utils.real_data)
REAL_SAMPLE = 'RG1_UNCR'


def twin_test_images(root: str, count: int = 3) -> List[str]:
    """The first ``count`` frontal test images of a MIMIC-CXR-JPG tree
    (the synthetic twin's or a real one) at ``root``; [] when there is
    none."""
    jpg_root = osp.join(root, 'mimic-cxr-jpg')
    split = osp.join(jpg_root, 'mimic-cxr-2.0.0-split.csv.gz')
    metadata = osp.join(jpg_root, 'mimic-cxr-2.0.0-metadata.csv.gz')
    try:
        records = load_image_records(split, metadata, 'test')
    except FileNotFoundError:
        return []
    paths = []
    for record in records:
        path = osp.join(
            jpg_root,
            image_path(record['subject_id'], record['study_id'],
                       record['dicom_id']))
        if osp.isfile(path):
            paths.append(path)
        if len(paths) == count:
            break
    return paths


def collect_samples(patterns: Optional[Sequence[str]], logger: MMLogger,
                    twin_root: str = 'data/synthetic') -> Dict[str, str]:
    """Name -> path of the sample images offered on the page.

    Args:
        patterns (Sequence[str], optional): Files or glob patterns; None for
            the defaults: three twin test images under ``twin_root`` and the
            real DICOM radiograph when the set-up cached it
            (``python tools/fetch_real_data.py``; never downloaded here).
        logger (MMLogger): Says which samples are missing and why.
        twin_root (str): The synthetic twin. Defaults to 'data/synthetic'.
    """
    if patterns is None:
        names = {f'synthetic twin: {Path(p).name}': p
                 for p in twin_test_images(twin_root)}
        dicom = real_data_file(REAL_SAMPLE)
        if dicom is None:
            logger.warning(
                f'the real DICOM sample ({REAL_SAMPLE}.dcm of pydicom-data) '
                f'is not offered: it is not cached in {real_data_dir()}; '
                'cache it with `python tools/fetch_real_data.py`')
        else:
            names[f'real radiograph (pydicom-data {REAL_SAMPLE}.dcm, '
                  'DICOM)'] = dicom
        return names
    samples = {}
    for pattern in patterns:
        found = sorted(glob.glob(pattern, recursive=True)) \
            if glob.has_magic(pattern) else [pattern]
        found = [p for p in found if osp.isfile(p)]
        if not found:
            logger.warning(f'sample {pattern!r}: no such file')
        for path in found:
            samples[Path(path).name] = path
    return samples


_REPR = re.compile(r'<[^<>]*\bat 0x[0-9a-fA-F]+>')
_EXCEPTION_NAME = re.compile(
    r'\b(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception)\b:?\s*')
_ABS_PATH = re.compile(r'(?:[A-Za-z]:)?(?:/[^\s/:;,()\'"]+){2,}/?')


def user_message(exc: BaseException, name: str,
                 paths: Sequence[str] = ()) -> str:
    """A failure as the page tells it: what happened to ``name``, without
    server paths, exception class names or Python reprs.

    Args:
        exc (BaseException): The failure.
        name (str): The file's name as the user knows it.
        paths (Sequence[str]): Server paths of the file, replaced by
            ``name``.

    Returns:
        str: One or two sentences.
    """
    if isinstance(exc, ImageDecodeError):
        detail = str(exc)
        for path in sorted(paths, key=len, reverse=True):
            detail = detail.replace(path, name)
        detail = _REPR.sub('the file', detail)
        detail = _EXCEPTION_NAME.sub('', detail)
        detail = _ABS_PATH.sub('a file', detail)
        if detail.startswith(f'{name}: '):
            detail = detail[len(name) + 2:]
        detail = re.sub(r'\(\s*\)', '', detail).strip()
        return (f'{name} could not be read as a chest X-ray image (JPEG, PNG '
                f'or DICOM): {detail}')
    if isinstance(exc, FileNotFoundError) and not any(
            map(osp.exists, paths)):
        return f'{name} is no longer on the server: upload it again.'
    return (f'The analysis of {name} failed on the server (the details are '
            'in the server log).')


class DemoSession:
    """What the page shows, from the inferencers' predictions.

    :meth:`analyse` / :meth:`analyse_many` run the models, :meth:`handle` /
    :meth:`handle_many` wrap them for the page and :meth:`submit` queues a
    user's request for them; the other methods are pure functions of the
    page state and the display options, so the Gradio callbacks only route
    values.

    Args:
        inferencer (ReportInferencer): The report generator.
        clip (CLIPInferencer, optional): A zero-shot R-CLIP whose prompts
            are [no pneumonia, pneumonia]: the page shows the probability of
            the second. Defaults to None.
        display_size (int): Longer side of the image sent to the page
            (larger images are shrunk, smaller ones scaled up).
        clip_missing (str, optional): Why there is no R-CLIP (shown in its
            panel). Defaults to 'no R-CLIP model configured'.
        sr_dir (str, optional): Folder of the DICOM SRs offered for
            download (one sub-folder per analysis, deleted after
            ``sr_max_age`` seconds). Defaults to a temporary folder removed
            at exit.
        sr_max_age (float): Seconds an SR is kept. Defaults to 600.
        max_batch_size (int): Most requests of :meth:`submit` analysed in
            one batch (1: one at a time). Defaults to 1.
        logger (MMLogger, optional): The server log.
    """

    def __init__(self,
                 inferencer: ReportInferencer,
                 clip: Optional[CLIPInferencer] = None,
                 display_size: int = DISPLAY_SIZE,
                 clip_missing: Optional[str] = None,
                 sr_dir: Optional[str] = None,
                 sr_max_age: float = 600,
                 max_batch_size: int = 1,
                 logger: Optional[MMLogger] = None) -> None:
        if max_batch_size < 1:
            raise ValueError(
                f'max_batch_size must be >= 1, got {max_batch_size}')
        self.inferencer = inferencer
        self.clip = clip
        self.display_size = display_size
        self.clip_missing = clip_missing or 'no R-CLIP model configured'
        if sr_dir is None:
            sr_dir = tempfile.mkdtemp(prefix='crrg-demo-sr-')
            # a folder of its own: removed when the server stops
            atexit.register(shutil.rmtree, sr_dir, True)
        self.sr_dir = sr_dir
        os.makedirs(self.sr_dir, exist_ok=True)
        self.sr_max_age = sr_max_age
        self.logger = logger or MMLogger.get_current_instance()
        self.visualizers = {
            show: RegionReportVisualizer(
                name=f'demo-app-{id(self)}-{i}',
                draw_unselected=show == SHOW_DETECTED,
                with_panel=False)
            for i, show in enumerate((SHOW_SELECTED, SHOW_DETECTED))
        }
        # a visualiser draws on its own canvas: one drawing at a time, or
        # concurrent users get each other's pictures
        self._draw_lock = threading.Lock()
        self.max_batch_size = max_batch_size
        # submit()'s requests, answered by one worker thread started with
        # the first of them
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._worker: Optional[threading.Thread] = None
        self._worker_lock = threading.Lock()

    def analyse(self, path: str) -> dict:
        """Run the models on the image file at ``path``, decoding it once.

        Returns:
            dict: The page state (:meth:`state`).

        Raises:
            Exception: What stopped the analysis (e.g.
            :class:`ImageDecodeError` for a file that is not an image).
        """
        result = self.analyse_many([path])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def analyse_many(self,
                     paths: Sequence[str]) -> List[Union[dict, Exception]]:
        """Run the models on several image files together, decoding each
        once.

        The images that were read go through the report inferencer in one
        batched call (one forward pass of the detector; a region-guided
        generator decodes the selected regions of all of them in one
        decoding batch), and those it did not refuse through the R-CLIP in
        one call. A file that cannot be read fails alone; when a batched
        call fails, its images are predicted one by one, so that the failure
        is only that of the image that caused it.

        Args:
            paths (Sequence[str]): Image files.

        Returns:
            list: Per path, in order, its page state (:meth:`state`, what
            :meth:`analyse` gives for it alone) or the exception that
            stopped its analysis.
        """
        results: List[Union[dict, Exception, None]] = [None] * len(paths)
        loaded: Dict[int, dict] = {}
        for i, path in enumerate(paths):
            try:
                loaded[i] = self.inferencer.load(path)
            except Exception as exc:  # noqa: BLE001 - this file's failure
                results[i] = exc
        predictions = dict(
            zip(loaded, self._predict_together(self.inferencer,
                                               list(loaded.values()))))
        scores: Dict[int, Union[dict, Exception]] = {}
        if self.clip is not None:
            ok = [i for i, p in predictions.items()
                  if isinstance(p, dict) and p['status'] == 'ok']
            scores = dict(zip(ok, self._predict_together(
                self.clip, [loaded[i] for i in ok])))
        for i, prediction in predictions.items():
            score = scores.get(i)
            if isinstance(score, Exception):  # R-CLIP failed on this image
                prediction = score
            if isinstance(prediction, Exception):
                results[i] = prediction
                continue
            zero_shot = None if score is None else dict(
                prompts=list(self.clip.prompts), scores=score['scores'])
            try:
                results[i] = self.state(
                    self.inferencer.rgb_image(loaded[i]), prediction,
                    zero_shot, paths[i])
            except Exception as exc:  # noqa: BLE001 - this file's failure
                results[i] = exc
        return results

    def _predict_together(
            self, inferencer: Union[ReportInferencer, CLIPInferencer],
            loaded: List[dict]) -> List[Union[dict, Exception]]:
        """The predictions of ``loaded`` (:meth:`ReportInferencer.load`
        results, not decoded again) from one call of ``inferencer`` with
        all of them in one batch; when that call fails, from one call per
        image, so that each failure is its own image's.

        Returns:
            list: Per image, in order, its prediction dict or the exception
            that stopped it.
        """
        if not loaded:
            return []
        try:
            return inferencer(loaded, batch_size=len(loaded))['predictions']
        except Exception as exc:  # noqa: BLE001 - retried image by image
            if len(loaded) == 1:
                return [exc]
            self.logger.warning(
                f'a batch of {len(loaded)} images failed ({type(exc).__name__}'
                f': {exc}): predicting them one by one')
            return [
                self._predict_together(inferencer, [one])[0] for one in loaded
            ]

    def handle(self,
               path: str,
               name: Optional[str] = None,
               delete: bool = False) -> Tuple[Optional[dict], str]:
        """Analyse one file for the page.

        Args:
            path (str): The file on the server.
            name (str, optional): Its name for the user. Defaults to the
                file's name.
            delete (bool): Delete the file (an upload) afterwards, and its
                folder when that is left empty. Defaults to False.

        Returns:
            tuple: ``(state, '')`` with the page state (``state['sr']``: the
            DICOM SR written for a DICOM input, or None), or ``(None,
            message)`` for the user when the analysis failed (the details
            are logged).
        """
        return self.handle_many([path], [name], [delete])[0]

    def handle_many(
        self,
        paths: Sequence[str],
        names: Optional[Sequence[Optional[str]]] = None,
        delete: Union[bool, Sequence[bool]] = False
    ) -> List[Tuple[Optional[dict], str]]:
        """Analyse several files for the page together
        (:meth:`analyse_many`): each gets what :meth:`handle` gives for it
        alone, a failure being only that file's.

        Args:
            paths (Sequence[str]): The files on the server.
            names (Sequence[str | None], optional): Their names for the
                users (None: the file's name). Defaults to the files' names.
            delete (bool | Sequence[bool]): Delete the files (uploads)
                afterwards, all or per file. Defaults to False.

        Returns:
            list: Per path, in order, :meth:`handle`'s ``(state, message)``.
        """
        names = [
            name or Path(path).name
            for path, name in zip(paths, names or [None] * len(paths))
        ]
        deletes = [delete] * len(paths) if isinstance(delete, bool) else \
            list(delete)
        answers = []
        try:
            for path, name, result in zip(paths, names,
                                          self.analyse_many(paths)):
                if not isinstance(result, Exception):
                    try:
                        result['sr'] = self._write_sr(result['prediction'],
                                                      name)
                        answers.append((result, ''))
                        continue
                    except Exception as exc:  # noqa: BLE001 - reported
                        result = exc
                self.logger.error(f'analysing {path} failed: '
                                  f'{type(result).__name__}: {result}')
                answers.append((None, user_message(result, name, [path])))
        finally:
            for path, one in zip(paths, deletes):
                if one:
                    self._delete_upload(path)
        return answers

    def submit(self,
               path: str,
               name: Optional[str] = None,
               delete: bool = False) -> Tuple[Optional[dict], str]:
        """:meth:`handle` through the page's queue, for concurrent users.

        One worker thread answers the queue: when the models become free it
        takes every request waiting, up to ``max_batch_size``, and analyses
        them together (:meth:`handle_many`: one batched call of the report
        inferencer). A request that finds the models free is analysed at
        once, alone. Blocks until this request is answered.

        Args:
            path (str): As for :meth:`handle`.
            name (str, optional): As for :meth:`handle`.
            delete (bool): As for :meth:`handle`.

        Returns:
            tuple: What :meth:`handle` returns for this file alone.
        """
        answer: Future = Future()
        with self._worker_lock:
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._serve, name='crrg-demo-queue', daemon=True)
                self._worker.start()
        self._requests.put((path, name, delete, answer))
        return answer.result()

    @property
    def waiting(self) -> int:
        """How many :meth:`submit` requests wait for the models (not those
        being analysed)."""
        return self._requests.qsize()

    def _serve(self) -> None:
        """The queue's worker: waits for a request, adds those waiting
        behind it (up to ``max_batch_size``) and answers them all from one
        :meth:`handle_many`."""
        while True:
            batch = [self._requests.get()]
            while len(batch) < self.max_batch_size:
                try:
                    batch.append(self._requests.get_nowait())
                except queue.Empty:
                    break
            paths, names, deletes, answers = zip(*batch)
            try:
                results = self.handle_many(paths, names, deletes)
            except Exception as exc:  # noqa: BLE001 - to the waiting users
                for answer in answers:
                    answer.set_exception(exc)
            else:
                for answer, result in zip(answers, results):
                    answer.set_result(result)

    def _write_sr(self, prediction: dict, name: str) -> Optional[str]:
        """The DICOM SR of a DICOM prediction, in a folder of its own (so the
        download is named ``<stem>.sr.dcm``); None for other inputs."""
        self._prune_sr()
        if prediction['status'] != 'ok':
            return None
        folder = osp.join(self.sr_dir, uuid.uuid4().hex)
        os.makedirs(folder)
        out = osp.join(folder, f'{Path(name).stem}.sr.dcm')
        if self.inferencer.try_write_sr(prediction, out) is None:
            os.rmdir(folder)
            return None
        return out

    def _prune_sr(self) -> None:
        """Delete the SR folders older than ``sr_max_age``."""
        now = time.time()
        for entry in os.scandir(self.sr_dir):
            if entry.is_dir() and now - entry.stat().st_mtime > \
                    self.sr_max_age:
                for child in os.scandir(entry.path):
                    os.remove(child.path)
                os.rmdir(entry.path)

    def _delete_upload(self, path: str) -> None:
        try:
            os.remove(path)
            os.rmdir(osp.dirname(path))  # the upload's own folder, if empty
        except OSError:
            pass

    def state(self,
              image: np.ndarray,
              prediction: dict,
              zero_shot: Optional[dict] = None,
              path: Optional[str] = None) -> dict:
        """The page state of one analysed image.

        Args:
            image (np.ndarray): The decoded (h, w, 3) RGB uint8 image.
            prediction (dict): ``ReportInferencer``'s prediction (boxes in
                original pixels).
            zero_shot (dict, optional): ``prompts`` and ``scores`` of the
                R-CLIP zero-shot classification.
            path (str, optional): The image file.

        Returns:
            dict: ``path``, ``image`` (h', w', 3) RGB uint8 with its longer
            side ``display_size`` (shrunk, or scaled up so that a small
            image and its labels are legible), ``scale`` (display pixels per
            original pixel), ``prediction`` and ``zero_shot``.
        """
        height, width = prediction['ori_shape']
        factor = self.display_size / max(image.shape[:2])
        if factor != 1.0:
            image = mmcv.imrescale(
                image, factor,
                interpolation='area' if factor < 1 else 'bicubic')
        return dict(path=path, image=np.ascontiguousarray(image),
                    scale=image.shape[1] / width, prediction=prediction,
                    zero_shot=zero_shot)

    @staticmethod
    def shown(state: dict, show: str) -> List[int]:
        """Indices of the regions shown: selected, or all detected."""
        regions = state['prediction']['regions']
        key = 'selected' if show == SHOW_SELECTED else 'detected'
        return [i for i, r in enumerate(regions) if r[key]]

    def render(self, state: dict, show: str,
               highlight: Optional[int] = None) -> np.ndarray:
        """The display image with the shown regions (and ``highlight``);
        safe to call from concurrent threads (the drawings take turns)."""
        records = state['prediction']['regions']
        if not records:
            return state['image']
        regions = regions_from_records(records)
        regions.bboxes = regions.bboxes * state['scale']
        if show == SHOW_DETECTED:
            # all detected regions solid, so every shown box is clickable
            regions.selected = regions.selected | regions.detected
        with self._draw_lock:
            return self.visualizers[show].draw_prediction(
                state['image'], regions, highlight=highlight)

    def table(self, state: dict, show: str) -> List[list]:
        """Rows of the region table (``TABLE_HEADERS``) for ``show``."""
        rows = []
        for i in self.shown(state, show):
            r = state['prediction']['regions'][i]
            rows.append([
                i, r['name'], 'yes' if r['detected'] else 'no',
                round(float(r['score']), 3), 'yes' if r['selected'] else 'no',
                round(float(r['selection_score']), 3), r['sentence']
            ])
        return rows

    def region_at(self, state: dict, show: str, x: float,
                  y: float) -> Optional[int]:
        """The shown region whose box holds display pixel (x, y): the
        smallest such box; None if no shown box holds it."""
        px, py = x / state['scale'], y / state['scale']
        best, best_area = None, None
        for i in self.shown(state, show):
            x1, y1, x2, y2 = state['prediction']['regions'][i]['bbox']
            if x1 <= px <= x2 and y1 <= py <= y2:
                area = (x2 - x1) * (y2 - y1)
                if best_area is None or area < best_area:
                    best, best_area = i, area
        return best

    @staticmethod
    def detail(state: dict, index: int) -> str:
        """Markdown of one region: box, scores, sentence."""
        r = state['prediction']['regions'][index]
        box = ', '.join(f'{v:.1f}' for v in r['bbox'])
        selected = 'selected' if r['selected'] else 'not selected'
        detected = ('detected: a box proposal voted for this region'
                    if r['detected'] else
                    'not detected: no box proposal voted for this region')
        sentence = r['sentence'] or '(no sentence: the region is not selected)'
        return (f'### {r["name"]} (region {r["index"]})\n\n'
                f'- box (original pixels): [{box}]\n'
                f'- detection score (probability of its best box): '
                f'{float(r["score"]):.3f} ({detected})\n'
                f'- selection score: {float(r["selection_score"]):+.3f} '
                f'({selected})\n\n'
                f'**sentence:** {sentence}')

    @staticmethod
    def refusal_text(state: dict) -> str:
        """Markdown of why the image was not analysed ('' when it was)."""
        refusal = state['prediction'].get('refusal')
        return f'**{refusal}**' if refusal else ''

    def pneumonia_text(self, state: Optional[dict] = None) -> str:
        """Markdown of the zero-shot pneumonia probability: the value, why
        it is missing (no R-CLIP), or '' (a refused image)."""
        if self.clip is None:
            return ('**R-CLIP zero-shot pneumonia probability:** not shown: '
                    f'{self.clip_missing}.')
        zero_shot = (state or {}).get('zero_shot')
        if not zero_shot or len(zero_shot['scores']) < 2:
            return ''
        prompts = zero_shot['prompts']
        return ('**R-CLIP zero-shot pneumonia probability:** '
                f'{zero_shot["scores"][1]:.3f} (prompt "{prompts[1]}" '
                f'against "{prompts[0]}")')

    def model_card_text(self) -> str:
        """Markdown of the models' cards and the research-use notice."""
        card = self.inferencer.model_card
        lines = [f'**Model:** {card["summary"]}']
        if self.clip is not None:
            lines.append(f'**R-CLIP:** {self.clip.model_card["summary"]}')
        lines.append(f'**{card["notice"]}**')
        return '  \n'.join(lines)

    @staticmethod
    def sr_text(state: dict) -> str:
        """Markdown under the SR download: what the file is, or why there
        is none."""
        if state.get('sr'):
            return ('DICOM Structured Report (TID 1500) of this image: the '
                    'report, each selected region\'s box and sentence; open '
                    'it in an SR-capable viewer (e.g. OHIF).')
        note = state['prediction'].get('sr_note') or ''
        if state['prediction']['status'] != 'ok':
            return ''
        if 'not a DICOM file' in note:
            return ('No DICOM SR: only a DICOM input has the patient and '
                    'study an SR must reference.')
        return 'No DICOM SR for this image.'
