"""A synthetic twin of MIMIC-CXR-JPG + MIMIC-CXR reports + Chest ImaGenome.

Written in exactly the real layout and field names (see ``docs/data.md``), so
every loader runs on it unchanged. The images are drawn from a parametric
chest template: the 29 regions' boxes come from the same geometry that draws
the lungs, heart, spine, clavicles, diaphragm and so on, with per-image jitter,
so a small detector can learn them. Findings are visible (an opacity is a bright
blob in a lung zone, an effusion fills a costophrenic angle, a nodule is a small
disc, cardiomegaly enlarges the heart) and each has a sentence naming finding
and region; normal regions get a normal sentence with a region-specific
probability. FINDINGS lists the sentences in region order.

Deliberate real-world defects, few and deterministic: about 2% of images lack
one region, about 2% have one degenerate box, and about 1% of studies have no
FINDINGS section.
"""
import gzip
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from crrg.datasets.mimic_cxr import image_path, report_path
from crrg.structures import ANATOMICAL_REGIONS

# Region boxes (x1, y1, x2, y2) as fractions of the image, patient's right on
# the image's left (PA view). Left-side regions mirror their right twins.
_RIGHT_TEMPLATE = {
    'lung': (0.12, 0.16, 0.46, 0.78),
    'upper lung zone': (0.12, 0.16, 0.46, 0.37),
    'mid lung zone': (0.12, 0.37, 0.46, 0.57),
    'lower lung zone': (0.12, 0.57, 0.46, 0.78),
    'hilar structures': (0.31, 0.38, 0.45, 0.52),
    'apical zone': (0.15, 0.13, 0.40, 0.23),
    'costophrenic angle': (0.09, 0.69, 0.21, 0.81),
    'hemidiaphragm': (0.12, 0.74, 0.46, 0.84),
    'clavicle': (0.13, 0.09, 0.47, 0.19),
}
_CENTRAL_TEMPLATE = {
    'trachea': (0.465, 0.04, 0.535, 0.33),
    'spine': (0.445, 0.04, 0.555, 0.97),
    'aortic arch': (0.50, 0.27, 0.62, 0.36),
    'mediastinum': (0.36, 0.22, 0.66, 0.78),
    'upper mediastinum': (0.40, 0.22, 0.60, 0.40),
    'svc': (0.40, 0.28, 0.47, 0.45),
    'cardiac silhouette': (0.36, 0.48, 0.70, 0.78),
    'cavoatrial junction': (0.40, 0.44, 0.47, 0.51),
    'right atrium': (0.36, 0.50, 0.47, 0.72),
    'carina': (0.47, 0.32, 0.53, 0.38),
    'abdomen': (0.08, 0.84, 0.92, 1.0),
}

# Findings: (type, regions it can appear in, sentence variants, impression).
LUNG_ZONES = [
    f'{side} {zone} lung zone' for side in ('right', 'left')
    for zone in ('upper', 'mid', 'lower')
]
_FINDINGS = {
    'opacity': (LUNG_ZONES, [
        'There is an opacity in the {region}.',
        'Patchy opacity is seen in the {region}.',
        'An area of opacification projects over the {region}.',
    ], 'Opacity in the {region}.'),
    'nodule': (LUNG_ZONES, [
        'A small nodule is present in the {region}.',
        'There is a nodular density in the {region}.',
    ], 'Nodule in the {region}.'),
    'effusion': (['right costophrenic angle', 'left costophrenic angle'], [
        'There is a pleural effusion blunting the {region}.',
        'A small effusion fills the {region}.',
    ], 'Pleural effusion at the {region}.'),
    'cardiomegaly': (['cardiac silhouette'], [
        'The cardiac silhouette is enlarged.',
        'There is cardiomegaly.',
    ], 'Cardiomegaly.'),
}
_FINDING_LABEL = {
    'opacity': 'lung opacity',
    'nodule': 'lung lesion',
    'effusion': 'pleural effusion',
    'cardiomegaly': 'enlarged cardiac silhouette',
}
# Normal statements: region -> (probability of being mentioned, sentence).
_NORMAL_SENTENCES = {
    'right lung': (0.6, 'The right lung is clear.'),
    'left lung': (0.6, 'The left lung is clear.'),
    'cardiac silhouette': (0.7, 'The cardiac silhouette is normal in size.'),
    'mediastinum': (0.4, 'The mediastinal contours are normal.'),
    'trachea': (0.2, 'The trachea is midline.'),
    'right costophrenic angle': (0.25, 'The right costophrenic angle is sharp.'),
    'left costophrenic angle': (0.25, 'The left costophrenic angle is sharp.'),
}


def region_template() -> Dict[str, Tuple[float, float, float, float]]:
    """The 29 regions' boxes as fractions of the image (x1, y1, x2, y2)."""
    boxes = {}
    for part, (x1, y1, x2, y2) in _RIGHT_TEMPLATE.items():
        boxes[f'right {part}'] = (x1, y1, x2, y2)
        boxes[f'left {part}'] = (1 - x2, y1, 1 - x1, y2)
    boxes.update(_CENTRAL_TEMPLATE)
    return {name: boxes[name] for name in ANATOMICAL_REGIONS}


def jittered_boxes(rng: np.random.Generator, width: int, height: int,
                    cardiomegaly: bool) -> Dict[str, np.ndarray]:
    """Per-image region boxes in pixels: global scale/shift, small local jitter."""
    scale = rng.uniform(0.9, 1.04)
    shift = rng.uniform(-0.035, 0.035, size=2)
    boxes = {}
    for name, box in region_template().items():
        box = np.asarray(box, dtype=np.float64)
        box = (box - 0.5) * scale + 0.5
        box[[0, 2]] += shift[0]
        box[[1, 3]] += shift[1]
        box += rng.uniform(-0.008, 0.008, size=4)
        boxes[name] = box
    if cardiomegaly:
        for name in ('cardiac silhouette', 'right atrium'):
            box = boxes[name]
            box[0] -= 0.05
            box[2] += 0.05 if name == 'cardiac silhouette' else 0.0
    size = np.array([width, height, width, height], dtype=np.float64)
    return {
        name: np.clip(box, 0, 1) * size
        for name, box in boxes.items()
    }


def _ellipse(canvas: np.ndarray, box: np.ndarray, value: float,
             thickness: int = -1) -> None:
    x1, y1, x2, y2 = box
    center = (int((x1 + x2) / 2), int((y1 + y2) / 2))
    axes = (max(int((x2 - x1) / 2), 1), max(int((y2 - y1) / 2), 1))
    cv2.ellipse(canvas, center, axes, 0, 0, 360, float(value), thickness)


def _rect(canvas: np.ndarray, box: np.ndarray, value: float) -> None:
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    cv2.rectangle(canvas, (x1, y1), (x2, y2), float(value), -1)


def draw_frontal(rng: np.random.Generator, width: int, height: int,
                  boxes: Dict[str, np.ndarray],
                  findings: List[Tuple[str, str]]) -> np.ndarray:
    """Draw a chest-like frontal radiograph (uint8, H x W) from region boxes."""
    img = np.full((height, width), 18.0, dtype=np.float32)
    body = np.array([0.03 * width, 0.02 * height, 0.97 * width, 1.2 * height])
    _ellipse(img, body, 105)
    _rect(img, boxes['abdomen'], 150)
    for side in ('right', 'left'):
        _ellipse(img, boxes[f'{side} hemidiaphragm'], 150)
        _ellipse(img, boxes[f'{side} lung'], 42)
        # zone borders: faint horizontal ribs keep zones findable
        for zone in ('upper', 'mid'):
            y = int(boxes[f'{side} {zone} lung zone'][3])
            x1, x2 = boxes[f'{side} lung'][[0, 2]].astype(int)
            cv2.line(img, (x1 + 6, y), (x2 - 6, y), 75, 2)
        _ellipse(img, boxes[f'{side} apical zone'], 60)
        _ellipse(img, boxes[f'{side} hilar structures'], 115)
        _ellipse(img, boxes[f'{side} costophrenic angle'], 30)
    _rect(img, boxes['mediastinum'], 165)
    _rect(img, boxes['upper mediastinum'], 175)
    _ellipse(img, boxes['cardiac silhouette'], 195)
    _ellipse(img, boxes['right atrium'], 210)
    _ellipse(img, boxes['aortic arch'], 205)
    _rect(img, boxes['svc'], 150)
    _ellipse(img, boxes['cavoatrial junction'], 225)
    spine = boxes['spine']
    _rect(img, spine, 215)
    for y in np.arange(spine[1], spine[3], 16):
        cv2.line(img, (int(spine[0]), int(y)), (int(spine[2]), int(y)), 160, 2)
    _rect(img, boxes['trachea'], 55)
    _ellipse(img, boxes['carina'], 30)
    for side in ('right', 'left'):
        x1, y1, x2, y2 = boxes[f'{side} clavicle']
        start, end = ((x1, y1), (x2, y2)) if side == 'right' else ((x1, y2),
                                                                  (x2, y1))
        cv2.line(img, (int(start[0]), int(start[1])),
                 (int(end[0]), int(end[1])), 235,
                 max(int((y2 - y1) / 3), 3))
    for finding, region in findings:
        box = boxes[region]
        if finding == 'opacity':
            w, h = box[2] - box[0], box[3] - box[1]
            inner = box + np.array([0.2 * w, 0.2 * h, -0.2 * w, -0.2 * h])
            _ellipse(img, inner, 150)
        elif finding == 'nodule':
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            r = max(int(0.12 * (box[2] - box[0])), 3)
            cv2.circle(img, (int(cx), int(cy)), r, 235, -1)
        elif finding == 'effusion':
            _rect(img, box, 170)
    img = cv2.GaussianBlur(img, (0, 0), 1.5)
    img += rng.normal(0, 6, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _draw_lateral(rng: np.random.Generator, width: int,
                  height: int) -> np.ndarray:
    """A lateral-looking view: one lung field, heart in front, spine behind."""
    img = np.full((height, width), 18.0, dtype=np.float32)
    _ellipse(img, np.array([0.05, 0.02, 0.95, 1.2]) *
             [width, height, width, height], 105)
    _ellipse(img, np.array([0.2 * width, 0.15 * height, 0.75 * width,
                            0.8 * height]), 45)
    _ellipse(img, np.array([0.15 * width, 0.45 * height, 0.5 * width,
                            0.8 * height]), 185)
    _rect(img, np.array([0.75 * width, 0.05 * height, 0.88 * width,
                         0.95 * height]), 210)
    img = cv2.GaussianBlur(img, (0, 0), 1.5)
    img += rng.normal(0, 6, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _sample_findings(rng: np.random.Generator) -> List[Tuple[str, str]]:
    """0-3 (finding, region) pairs, at most one finding per region."""
    count = rng.choice(4, p=[0.35, 0.35, 0.2, 0.1])
    findings: List[Tuple[str, str]] = []
    used = set()
    for _ in range(count):
        finding = rng.choice(list(_FINDINGS))
        region = str(rng.choice(_FINDINGS[finding][0]))
        if region not in used:
            used.add(region)
            findings.append((str(finding), region))
    return findings


def _region_sentences(
        rng: np.random.Generator,
        findings: List[Tuple[str, str]]) -> Dict[str, Tuple[str, bool, str]]:
    """Region -> (sentence, abnormal, finding label) for described regions."""
    described = {}
    for finding, region in findings:
        variants = _FINDINGS[finding][1]
        sentence = variants[rng.integers(len(variants))].format(region=region)
        described[region] = (sentence, True, _FINDING_LABEL[finding])
    for region, (prob, sentence) in _NORMAL_SENTENCES.items():
        if region not in described and rng.random() < prob:
            described[region] = (sentence, False, '')
    return described


def _wrap(text: str, width: int = 68) -> str:
    """Wrap text over several lines, as MIMIC-CXR reports are."""
    lines, line = [], ''
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f'{line} {word}'.strip()
    lines.append(line)
    return '\n '.join(lines)


def _report_text(findings_text: Optional[str], impression: str) -> str:
    parts = [
        '                                 FINAL REPORT',
        ' EXAMINATION:  CHEST (PA AND LAT)',
        ' INDICATION:  ___ year old with cough, evaluate for pneumonia.',
        ' COMPARISON:  None.',
    ]
    if findings_text is not None:
        parts.append(' FINDINGS:\n \n ' + _wrap(findings_text))
    parts.append(' IMPRESSION:\n \n ' + _wrap(impression))
    return '\n \n'.join(parts) + '\n'


def _scene_graph(dicom_id: str, subject_id: int, study_id: int, width: int,
                 height: int, boxes: Dict[str, np.ndarray],
                 described: Dict[str, Tuple[str, bool, str]]) -> dict:
    """A Chest ImaGenome scene graph with the real field names."""
    objects = []
    for name, box in boxes.items():
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        sx, sy = 224 / width, 224 / height
        # as in the real graphs, a box touching the border may run past it
        y2_file = y2 + 7 if y2 >= height - 1 else y2
        objects.append(
            dict(
                object_id=f'{dicom_id}_{name}',
                x1=int(x1 * sx),
                y1=int(y1 * sy),
                x2=int(x2 * sx),
                y2=int(y2 * sy),
                width=int((x2 - x1) * sx),
                height=int((y2 - y1) * sy),
                bbox_name=name,
                synsets=[],
                name=name.capitalize(),
                original_x1=x1,
                original_y1=y1,
                original_x2=x2,
                original_y2=y2_file,
                # the box's own size, as in the real scene graphs
                original_width=x2 - x1,
                original_height=y2_file - y1))
    attributes = []
    for i, (region, (sentence, abnormal, label)) in enumerate(
            described.items()):
        labels = [f'anatomicalfinding|yes|{label}'] if abnormal else []
        labels.append('nlp|yes|abnormal' if abnormal else 'nlp|yes|normal')
        attributes.append(
            dict(
                name=region.capitalize(),
                bbox_name=region,
                synsets=[],
                attributes=[labels],
                attributes_ids=[[]],
                phrases=[sentence],
                phrase_IDs=[f'{study_id}|{i}'],
                sections=['finalreport'],
                comparison_cues=[[]],
                temporal_cues=[[]],
                severity_cues=[[]],
                texture_cues=[[]],
                object_id=f'{dicom_id}_{region}'))
    return dict(
        image_id=dicom_id,
        viewpoint='PA',
        patient_id=subject_id,
        study_id=study_id,
        gender='F' if subject_id % 2 else 'M',
        age_decile='50-60',
        reason_for_exam='___ year old with cough, evaluate for pneumonia.',
        StudyOrder=1,
        StudyDateTime='2150-01-01 10:00:00 UTC',
        objects=objects,
        attributes=attributes,
        relationships=[])


def _dicom_id(rng: np.random.Generator) -> str:
    return '-'.join(f'{v:08x}' for v in rng.integers(0, 2**32, size=5))


def _write_csv_gz(path: str, header: List[str], rows: List[list]) -> None:
    with gzip.open(path, 'wt', encoding='utf-8') as f:
        f.write(','.join(header) + '\n')
        for row in rows:
            f.write(','.join(str(v) for v in row) + '\n')


def make_synthetic_mimic(out_dir: str,
                         num_train: int = 200,
                         num_validate: int = 40,
                         num_test: int = 40,
                         seed: int = 0,
                         lateral_fraction: float = 0.3) -> Dict[str, int]:
    """Write the synthetic twin under ``out_dir`` in the real layout.

    Args:
        out_dir (str): Output root; receives ``mimic-cxr-jpg/``,
            ``mimic-cxr-reports/`` and ``chest-imagenome/``.
        num_train, num_validate, num_test (int): Studies per split (one
            frontal image each, plus a lateral for ``lateral_fraction`` of
            them).
        seed (int): Random seed; the output is a function of the arguments.
        lateral_fraction (float): Fraction of studies with a LATERAL image.

    Besides MIMIC-CXR-JPG's tables, the reports and the scene graphs, it
    writes Chest ImaGenome's ``silver_dataset/splits/{train,valid,test}.csv``
    and ``images_to_avoid.csv`` (the last training image, as a gold-standard
    patient's image that is also listed in a split, when ``num_train >= 4``),
    and R2Gen's MIMIC-CXR ``mimic-cxr-r2gen/annotation.json`` (one entry per
    frontal image of a study with FINDINGS; ``image_path`` relative to
    ``mimic-cxr-jpg/files``).

    Returns:
        dict[str, int]: Counts of what was written (``studies``, ``images``,
        ``missing_region``, ``degenerate_box``, ``no_findings``,
        ``avoided``).
    """
    rng = np.random.default_rng(seed)
    jpg_root = osp.join(out_dir, 'mimic-cxr-jpg')
    report_root = osp.join(out_dir, 'mimic-cxr-reports')
    graph_dir = osp.join(out_dir, 'chest-imagenome', 'silver_dataset',
                         'scene_graph')
    splits_dir = osp.join(out_dir, 'chest-imagenome', 'silver_dataset',
                          'splits')
    for d in (jpg_root, report_root, graph_dir, splits_dir):
        os.makedirs(d, exist_ok=True)
    split_rows, meta_rows = [], []
    imagenome_rows: Dict[str, list] = dict(train=[], valid=[], test=[])
    r2gen: Dict[str, list] = dict(train=[], val=[], test=[])
    counts = dict(
        studies=0, images=0, missing_region=0, degenerate_box=0, no_findings=0,
        avoided=0)
    plan = ['train'] * num_train + ['validate'] * num_validate + \
        ['test'] * num_test
    for index, split in enumerate(plan):
        subject_id = 10000000 + index * 7
        study_id = 50000000 + index * 13
        width, height = int(rng.integers(380, 461)), int(rng.integers(420, 521))
        findings = _sample_findings(rng)
        cardiomegaly = any(f == 'cardiomegaly' for f, _ in findings)
        boxes = jittered_boxes(rng, width, height, cardiomegaly)
        described = _region_sentences(rng, findings)
        image = draw_frontal(rng, width, height, boxes, findings)
        dicom_id = _dicom_id(rng)
        graph_boxes = dict(boxes)
        defect = rng.random()
        if defect < 0.02:
            victim = str(rng.choice(['abdomen', 'svc', 'carina']))
            graph_boxes.pop(victim)
            counts['missing_region'] += 1
        elif defect < 0.04:
            box = graph_boxes['aortic arch'].copy()
            box[2] = box[0]
            graph_boxes['aortic arch'] = box
            counts['degenerate_box'] += 1
        ordered = [(r, described[r][0]) for r in ANATOMICAL_REGIONS
                   if r in described]
        findings_text = ' '.join(s for _, s in ordered) or \
            'No acute abnormality is seen.'
        impression = ' '.join(
            _FINDINGS[f][2].format(region=r) for f, r in findings) or \
            'No acute cardiopulmonary process.'
        if index % 97 == 42:
            findings_text = None
            counts['no_findings'] += 1
        images = [(dicom_id, 'PA', image)]
        if rng.random() < lateral_fraction:
            images.append((_dicom_id(rng), 'LATERAL',
                           _draw_lateral(rng, width, height)))
        for dcm, view, pixels in images:
            path = osp.join(jpg_root, image_path(subject_id, study_id, dcm))
            os.makedirs(osp.dirname(path), exist_ok=True)
            cv2.imwrite(path, pixels, [cv2.IMWRITE_JPEG_QUALITY, 92])
            split_rows.append([dcm, study_id, subject_id, split])
            meta_rows.append([
                dcm, subject_id, study_id, 'CHEST (PA AND LAT)', view,
                pixels.shape[0], pixels.shape[1], 21500101, 100000.0,
                'CHEST (PA AND LAT)',
                'postero-anterior' if view == 'PA' else 'lateral', 'Erect'
            ])
            counts['images'] += 1
        graph = _scene_graph(dicom_id, subject_id, study_id, width, height,
                             graph_boxes, described)
        with open(osp.join(graph_dir, f'{dicom_id}_SceneGraph.json'), 'w',
                  encoding='utf-8') as f:
            json.dump(graph, f)
        rpath = osp.join(report_root, report_path(subject_id, study_id))
        os.makedirs(osp.dirname(rpath), exist_ok=True)
        with open(rpath, 'w', encoding='utf-8') as f:
            f.write(_report_text(findings_text, impression))
        imagenome_split = dict(train='train', validate='valid', test='test')
        imagenome_rows[imagenome_split[split]].append([
            len(imagenome_rows[imagenome_split[split]]), subject_id, study_id,
            dicom_id,
            image_path(subject_id, study_id, dicom_id)[:-4] + '.dcm', 'PA'
        ])
        if findings_text is not None:
            r2gen_split = dict(validate='val').get(split, split)
            r2gen[r2gen_split].append(
                dict(
                    id=dicom_id,
                    study_id=study_id,
                    subject_id=subject_id,
                    report=findings_text,
                    image_path=[image_path(subject_id, study_id,
                                           dicom_id)[len('files/'):]],
                    split=r2gen_split))
        counts['studies'] += 1
    _write_csv_gz(
        osp.join(jpg_root, 'mimic-cxr-2.0.0-split.csv.gz'),
        ['dicom_id', 'study_id', 'subject_id', 'split'], split_rows)
    _write_csv_gz(
        osp.join(jpg_root, 'mimic-cxr-2.0.0-metadata.csv.gz'), [
            'dicom_id', 'subject_id', 'study_id',
            'PerformedProcedureStepDescription', 'ViewPosition', 'Rows',
            'Columns', 'StudyDate', 'StudyTime',
            'ProcedureCodeSequence_CodeMeaning',
            'ViewCodeSequence_CodeMeaning',
            'PatientOrientationCodeSequence_CodeMeaning'
        ], meta_rows)
    for name, rows in imagenome_rows.items():
        with open(osp.join(splits_dir, f'{name}.csv'), 'w',
                  encoding='utf-8') as f:
            f.write(',subject_id,study_id,dicom_id,path,ViewPosition\n')
            for row in rows:
                f.write(','.join(str(v) for v in row) + '\n')
    # a gold-standard patient's image, listed in a split as well: the
    # ImaGenome protocol drops it
    avoided = imagenome_rows['train'][-1:] if num_train >= 4 else []
    with open(osp.join(splits_dir, 'images_to_avoid.csv'), 'w',
              encoding='utf-8') as f:
        f.write('subject_id,study_id,dicom_id,path,ViewPosition\n')
        for row in avoided:
            f.write(','.join(str(v) for v in row[1:]) + '\n')
    counts['avoided'] = len(avoided)
    r2gen_dir = osp.join(out_dir, 'mimic-cxr-r2gen')
    os.makedirs(r2gen_dir, exist_ok=True)
    with open(osp.join(r2gen_dir, 'annotation.json'), 'w',
              encoding='utf-8') as f:
        json.dump(r2gen, f)
    return counts
