"""What the web demo (``tools/demo_app.py``) shows, computed from the
inferencers: the page logic without the page.

One analysis decodes the image once (:meth:`ReportInferencer.load`) and
hands the decoded image to the report inferencer, to the R-CLIP zero-shot
classifier and to the display.
"""
import glob
import os.path as osp
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import mmcv
import numpy as np
from mmengine.logging import MMLogger

from crrg.datasets.mimic_cxr import image_path, load_image_records
from crrg.utils.real_data import real_data_dir, real_data_file
from crrg.visualization import RegionReportVisualizer, regions_from_records
from .clip_inferencer import CLIPInferencer
from .report_inferencer import ReportInferencer

SHOW_SELECTED = 'selected regions'
SHOW_DETECTED = 'all detected regions'
TABLE_HEADERS = [
    'index', 'region', 'detected', 'score', 'selected', 'selection score',
    'sentence'
]
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


class DemoSession:
    """What the page shows, from the inferencers' predictions.

    :meth:`analyse` runs the models; the other methods are pure functions of
    the page state it returns and the display options, so the Gradio
    callbacks only route values.

    Args:
        inferencer (ReportInferencer): The report generator.
        clip (CLIPInferencer, optional): A zero-shot R-CLIP whose prompts
            are [no pneumonia, pneumonia]: the page shows the probability of
            the second. Defaults to None.
        display_size (int): Longer side of the image sent to the page.
    """

    def __init__(self,
                 inferencer: ReportInferencer,
                 clip: Optional[CLIPInferencer] = None,
                 display_size: int = DISPLAY_SIZE) -> None:
        self.inferencer = inferencer
        self.clip = clip
        self.display_size = display_size
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
            dict: ``path``, ``image`` (h', w', 3) RGB uint8 downscaled to
            ``display_size``, ``scale`` (display pixels per original pixel),
            ``prediction`` and ``zero_shot``.
        """
        height, width = prediction['ori_shape']
        shrink = min(1.0, self.display_size / max(image.shape[:2]))
        if shrink < 1.0:
            image = mmcv.imrescale(image, shrink, interpolation='area')
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
        detected = 'detected' if r['detected'] else 'not detected'
        sentence = r['sentence'] or '(no sentence: the region is not selected)'
        return (f'### {r["name"]} (region {r["index"]})\n\n'
                f'- box (original pixels): [{box}]\n'
                f'- detection score: {float(r["score"]):.3f} ({detected})\n'
                f'- selection score: {float(r["selection_score"]):+.3f} '
                f'({selected})\n\n'
                f'**sentence:** {sentence}')

    @staticmethod
    def refusal_text(state: dict) -> str:
        """Markdown of why the image was not analysed ('' when it was)."""
        refusal = state['prediction'].get('refusal')
        return f'**{refusal}**' if refusal else ''

    @staticmethod
    def pneumonia_text(state: dict) -> str:
        """Markdown of the zero-shot pneumonia probability ('' without)."""
        zero_shot = state['zero_shot']
        if not zero_shot or len(zero_shot['scores']) < 2:
            return ''
        prompts = zero_shot['prompts']
        return ('**R-CLIP zero-shot pneumonia probability:** '
                f'{zero_shot["scores"][1]:.3f} (prompt "{prompts[1]}" '
                f'against "{prompts[0]}")')
