"""What the web demo (``tools/demo_app.py``) shows, computed from the
inferencers: the page logic without the page.

One analysis decodes the image once (:meth:`ReportInferencer.load`) and
hands the decoded image to the report inferencer, to the R-CLIP zero-shot
classifier and to the display. :meth:`DemoSession.handle` is what the page
calls for an upload: it deletes the upload afterwards, writes the DICOM SR
offered for download, and turns any failure into a message for the user
(no server path, no Python repr; the details go to the server log).
"""
import atexit
import glob
import os
import os.path as osp
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

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

    :meth:`analyse` runs the models and :meth:`handle` wraps it for the page;
    the other methods are pure functions of the page state and the display
    options, so the Gradio callbacks only route values.

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
        logger (MMLogger, optional): The server log.
    """

    def __init__(self,
                 inferencer: ReportInferencer,
                 clip: Optional[CLIPInferencer] = None,
                 display_size: int = DISPLAY_SIZE,
                 clip_missing: Optional[str] = None,
                 sr_dir: Optional[str] = None,
                 sr_max_age: float = 600,
                 logger: Optional[MMLogger] = None) -> None:
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

    def analyse(self, path: str) -> dict:
        """Run the models on the image file at ``path``, decoding it once.

        Returns:
            dict: The page state (:meth:`state`).
        """
        loaded = self.inferencer.load(path)
        prediction = self.inferencer([loaded])['predictions'][0]
        zero_shot = None
        if self.clip is not None and prediction['status'] == 'ok':
            out = self.clip([loaded])
            zero_shot = dict(prompts=out['prompts'],
                             scores=out['predictions'][0]['scores'])
        return self.state(self.inferencer.rgb_image(loaded), prediction,
                          zero_shot, path)

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
        name = name or Path(path).name
        try:
            state = self.analyse(path)
            state['sr'] = self._write_sr(state['prediction'], name)
            return state, ''
        except Exception as exc:  # noqa: BLE001 - any failure is reported
            self.logger.error(f'analysing {path} failed: '
                              f'{type(exc).__name__}: {exc}')
            return None, user_message(exc, name, [path])
        finally:
            if delete:
                self._delete_upload(path)

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
        """The display image with the shown regions (and ``highlight``)."""
        records = state['prediction']['regions']
        if not records:
            return state['image']
        regions = regions_from_records(records)
        regions.bboxes = regions.bboxes * state['scale']
        if show == SHOW_DETECTED:
            # all detected regions solid, so every shown box is clickable
            regions.selected = regions.selected | regions.detected
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
