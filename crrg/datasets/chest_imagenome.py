"""MIMIC-CXR-JPG images with Chest ImaGenome regions and MIMIC-CXR reports."""
import json
import math
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

from mmdet.datasets import BaseDetDataset

from ..registry import DATASETS
from crrg.structures import (ANATOMICAL_REGIONS, NUM_REGIONS, REGION_INDEX,
                             normalize_whitespace)
from crrg.utils import DataFormatError
from .mimic_cxr import (IMAGENOME_SPLIT_NAMES, image_path, load_image_records,
                        load_imagenome_split, read_csv_fields,
                        read_report_section, read_text, report_path,
                        resolve_csv)
from .base_dataset import XrayDatasetMixin

_COORDINATES = ('original_x1', 'original_y1', 'original_x2', 'original_y2')
_OBJECT_FIELDS = ('bbox_name', ) + _COORDINATES
SPLIT_PROTOCOLS = ('imagenome', 'mimic')
#: RGRG's split sizes (images) under ``split_protocol='imagenome'``
RGRG_SPLIT_SIZES = dict(train=166_504, valid=15_658, test=31_271)


def _coordinate(where: str, obj: Dict, field: str) -> float:
    """A finite coordinate of ``obj``, or a DataFormatError naming it."""
    value = obj[field]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataFormatError(
            f'{where}.{field} is {value!r}, not a number (pixels of the '
            'original image); fix or remove this object, or use '
            'skip_invalid=True to skip the image')
    if not math.isfinite(value):
        raise DataFormatError(
            f'{where}.{field} is {value!r}, not a finite number; fix or '
            'remove this object, or use skip_invalid=True to skip the image')
    return float(value)


def parse_region_boxes(where: str, objects: Sequence[Dict],
                       image_size: Tuple[int, int]) -> Dict:
    """Region boxes of Chest ImaGenome objects, clipped to the image.

    As RGRG: each box ``original_x1/y1/x2/y2`` (original-image pixels) is
    clipped to ``[0, width] x [0, height]`` of the image; a box with no area
    left after clipping (zero width or height, or outside the image) is
    dropped and counted. A box with ``x2 < x1`` or ``y2 < y1`` is dropped and
    counted apart. ``original_width`` / ``original_height`` are the box's own
    size, not the image's, and are not used. A region named twice keeps its
    last box (as RGRG); names outside the 29 regions are ignored.

    Args:
        where (str): Names the source in messages (file and list).
        objects (Sequence[dict]): Objects with ``bbox_name`` and
            ``original_x1/y1/x2/y2``.
        image_size (tuple[int, int]): ``(width, height)`` of the original
            image in pixels (MIMIC-CXR-JPG metadata ``Columns``, ``Rows``).

    Returns:
        dict: ``instances`` (list of ``dict(bbox=[x1, y1, x2, y2],
        bbox_label=int, ignore_flag=0)`` in region order, at most one per
        region), ``num_degenerate`` and ``num_reversed`` (int).

    Raises:
        DataFormatError: An object lacks a field or has a coordinate that is
            null, not a number or not finite; the message names the object
            and field.
    """
    width, height = image_size
    boxes: Dict[int, List[float]] = {}
    dropped: Dict[int, str] = {}
    for i, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise DataFormatError(f'{where}[{i}] is not a JSON object')
        missing = [f for f in _OBJECT_FIELDS if f not in obj]
        if missing:
            raise DataFormatError(f'{where}[{i}] lacks field(s) {missing}')
        label = REGION_INDEX.get(obj['bbox_name'])
        if label is None:
            continue
        x1, y1, x2, y2 = (
            _coordinate(f'{where}[{i}] ({obj["bbox_name"]})', obj, f)
            for f in _COORDINATES)
        boxes.pop(label, None)
        dropped.pop(label, None)
        if x2 < x1 or y2 < y1:
            dropped[label] = 'reversed'
            continue
        x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
        y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
        if x2 <= x1 or y2 <= y1:
            dropped[label] = 'degenerate'
            continue
        boxes[label] = [x1, y1, x2, y2]
    reasons = Counter(dropped.values())
    return dict(
        instances=[
            dict(bbox=boxes[label], bbox_label=label, ignore_flag=0)
            for label in sorted(boxes)
        ],
        num_degenerate=reasons['degenerate'],
        num_reversed=reasons['reversed'])


def parse_scene_graph(path: str, image_size: Tuple[int, int]) -> Dict:
    """Read the regions of one Chest ImaGenome scene graph.

    Args:
        path (str): ``<dicom_id>_SceneGraph.json`` (UTF-8 JSON).
        image_size (tuple[int, int]): ``(width, height)`` of the original
            image in pixels; boxes are clipped to it
            (:func:`parse_region_boxes`).

    Returns:
        dict: ``instances``, ``num_degenerate``, ``num_reversed`` (see
        :func:`parse_region_boxes`), ``region_sentences`` (29 str, '' when the
        region has no phrase), ``region_has_sentence`` (29 bool) and
        ``region_abnormal`` (29 bool: ``nlp|yes|abnormal`` among the region's
        attributes).

    Raises:
        FileNotFoundError: The file is missing.
        DataFormatError: The file is not UTF-8 JSON, lacks a required field
            or has an invalid coordinate; the message names the file, the
            record and the field.
    """
    try:
        graph = json.loads(read_text(path, 'scene graph'))
    except json.JSONDecodeError as e:
        raise DataFormatError(f'{path}: not valid JSON ({e})') from e
    for field in ('objects', 'attributes'):
        if not isinstance(graph.get(field), list):
            raise DataFormatError(f'{path}: missing or non-list field '
                                  f'"{field}"')
    parsed = parse_region_boxes(f'{path}: objects', graph['objects'],
                                image_size)
    sentences: List[List[str]] = [[] for _ in range(NUM_REGIONS)]
    abnormal = [False] * NUM_REGIONS
    for i, attribute in enumerate(graph['attributes']):
        if not isinstance(attribute, dict) or 'bbox_name' not in attribute:
            raise DataFormatError(f'{path}: attributes[{i}] lacks field '
                                  '"bbox_name"')
        label = REGION_INDEX.get(attribute['bbox_name'])
        if label is None:
            continue
        phrases = attribute.get('phrases', [])
        if not isinstance(phrases, list) or not all(
                isinstance(p, str) for p in phrases):
            raise DataFormatError(f'{path}: attributes[{i}].phrases is not a '
                                  'list of strings')
        sentences[label] += [normalize_whitespace(p) for p in phrases
                             if p.strip()]
        labels = [item for group in attribute.get('attributes', [])
                  for item in group]
        abnormal[label] = abnormal[label] or 'nlp|yes|abnormal' in labels
    joined = [' '.join(s) for s in sentences]
    return dict(
        parsed,
        region_sentences=joined,
        region_has_sentence=[bool(s) for s in joined],
        region_abnormal=abnormal)


def read_gold_boxes(path: str) -> Dict[str, List[Dict]]:
    """Chest ImaGenome's gold-standard boxes, grouped by image.

    Args:
        path (str): ``gold_dataset/gold_bbox_coordinate_annotations_
            1000images.csv`` (``image_id`` as ``<dicom_id>.dcm``,
            ``bbox_name``, ``original_x1/y1/x2/y2``, ...).

    Returns:
        dict[str, list[dict]]: dicom_id -> objects (``bbox_name``,
        ``original_x1/y1/x2/y2``) in the file's order, for
        :func:`parse_region_boxes`.
    """
    table = read_csv_fields(path, ('image_id', ) + _OBJECT_FIELDS)
    gold: Dict[str, List[Dict]] = {}
    for row in table[['image_id', *_OBJECT_FIELDS]].to_dict('records'):
        dicom = str(row.pop('image_id'))
        dicom = dicom[:-4] if dicom.endswith('.dcm') else dicom
        gold.setdefault(dicom, []).append(row)
    return gold


@DATASETS.register_module()
class ChestImaGenomeDataset(XrayDatasetMixin, BaseDetDataset):
    """Frontal MIMIC-CXR-JPG images with the 29 Chest ImaGenome regions.

    Joins, on ``subject_id``/``study_id``/``dicom_id``: a split (Chest
    ImaGenome's split files as RGRG uses them, or MIMIC-CXR's official split),
    MIMIC-CXR-JPG's metadata (image size, ``ViewPosition``), the study's
    report (its FINDINGS, taken as RGRG takes it, is the reference report) and
    the image's scene graph (the regions' boxes, per-region sentences and
    abnormality flags). Paths are relative to ``data_root``; ``docs/data.md``
    shows the layout and the published split sizes.

    Args:
        split (str): ``'train'``, ``'valid'`` (or ``'validate'``), ``'test'``;
            with ``split_protocol='imagenome'`` also ``'gold'`` (the
            gold-standard boxes of ``gold_bbox_file``).
        split_protocol (str): ``'imagenome'``: Chest ImaGenome's
            ``silver_dataset/splits/{train,valid,test}.csv`` minus
            ``images_to_avoid`` and RGRG's failed X-rays (RGRG's protocol);
            ``'mimic'``: ``split_file`` (MIMIC-CXR-JPG's official split),
            views filtered by ``view_positions``. Defaults to 'mimic'.
        image_dir (str): Root of MIMIC-CXR-JPG's ``files/`` tree.
        split_file (str): ``mimic-cxr-2.0.0-split.csv[.gz]`` (``'mimic'``).
        metadata_file (str): ``mimic-cxr-2.0.0-metadata.csv[.gz]``.
        report_dir (str): Root of MIMIC-CXR's report ``files/`` tree.
        scene_graph_dir (str): Folder of ``<dicom_id>_SceneGraph.json``.
        imagenome_split_dir (str): Folder of Chest ImaGenome's split files
            (``'imagenome'``); ``.csv`` or ``.csv.gz``.
        images_to_avoid (str, optional): Chest ImaGenome's
            ``images_to_avoid.csv`` (``'imagenome'``); None keeps them.
        gold_bbox_file (str): The gold-standard box table (``split='gold'``).
        view_positions (Sequence[str], optional): Views to keep with
            ``split_protocol='mimic'``. Defaults to ``('PA', 'AP')``. Chest
            ImaGenome's split files list exactly the images it annotated, and
            RGRG keeps all of them, so ``'imagenome'`` does not filter.
        require_findings (bool): Keep only studies whose report has a
            FINDINGS section (RGRG does on valid and test). Others are
            dropped and counted. Defaults to True.
        require_all_regions (bool): Keep only images with a box for each of
            the 29 regions (RGRG's valid set; its test set is split into the
            images with all 29 and the rest, reported together). Defaults to
            False.
        skip_invalid (bool): Skip bad input (missing image, report or scene
            graph, a file that is not UTF-8 or not valid JSON/CSV, a missing
            field, a null or non-finite coordinate) and log how many were
            skipped and why; when False the first one raises an error naming
            the file, the record and the field. Defaults to False.
        **kwargs: :class:`mmdet.datasets.BaseDetDataset`'s arguments
            (``data_root``, ``pipeline``, ``test_mode``, ``indices``, ...).
    """

    SPLIT_ALIASES = dict(validate='valid')

    RECORD_NAMES = ('image', 'images')
    METAINFO = dict(
        classes=ANATOMICAL_REGIONS,
        palette=[(int(37 * i) % 256, int(91 * i + 60) % 256,
                  int(53 * i + 120) % 256) for i in range(NUM_REGIONS)])

    def __init__(self,
                 split: str = 'train',
                 split_protocol: str = 'mimic',
                 image_dir: str = 'mimic-cxr-jpg',
                 split_file: str = 'mimic-cxr-jpg/mimic-cxr-2.0.0-split.csv.gz',
                 metadata_file: str = ('mimic-cxr-jpg/'
                                       'mimic-cxr-2.0.0-metadata.csv.gz'),
                 report_dir: str = 'mimic-cxr-reports',
                 scene_graph_dir: str = ('chest-imagenome/silver_dataset/'
                                         'scene_graph'),
                 imagenome_split_dir: str = ('chest-imagenome/silver_dataset/'
                                             'splits'),
                 images_to_avoid: Optional[str] = (
                     'chest-imagenome/silver_dataset/splits/'
                     'images_to_avoid.csv'),
                 gold_bbox_file: str = (
                     'chest-imagenome/gold_dataset/'
                     'gold_bbox_coordinate_annotations_1000images.csv'),
                 view_positions: Optional[Sequence[str]] = ('PA', 'AP'),
                 require_findings: bool = True,
                 require_all_regions: bool = False,
                 skip_invalid: bool = False,
                 **kwargs) -> None:
        if split_protocol not in SPLIT_PROTOCOLS:
            raise ValueError(f'ChestImaGenomeDataset: split_protocol must be '
                             f'one of {SPLIT_PROTOCOLS}, got '
                             f'{split_protocol!r}')
        self.split_protocol = split_protocol
        self.select_split(
            split, skip_invalid, IMAGENOME_SPLIT_NAMES +
            (('gold', ) if split_protocol == 'imagenome' else ()),
            f' with split_protocol={split_protocol!r}')
        self.image_dir = image_dir
        self.split_file = split_file
        self.metadata_file = metadata_file
        self.report_dir = report_dir
        self.scene_graph_dir = scene_graph_dir
        self.imagenome_split_dir = imagenome_split_dir
        self.images_to_avoid = images_to_avoid
        self.gold_bbox_file = gold_bbox_file
        self.view_positions = view_positions
        self.require_findings = require_findings
        self.require_all_regions = require_all_regions
        kwargs.setdefault('ann_file', '')
        super().__init__(**kwargs)

    def _path(self, relative: str) -> str:
        return osp.join(self.data_root or '', relative)

    def _records(self) -> Tuple[List[Dict], Dict[str, int], Optional[Dict]]:
        """The split's image records, listing counts and gold objects."""
        metadata = self._path(self.metadata_file)
        if self.split_protocol == 'mimic':
            records = load_image_records(
                self._path(self.split_file), metadata, self.split,
                self.view_positions)
            return records, dict(listed=len(records)), None
        if self.split == 'gold':
            gold = read_gold_boxes(self._path(self.gold_bbox_file))
            meta = read_csv_fields(
                metadata, ('dicom_id', 'subject_id', 'study_id',
                           'ViewPosition', 'Rows', 'Columns'))
            meta = meta[meta['dicom_id'].isin(set(gold))]
            missing = sorted(set(gold) - set(meta['dicom_id']))
            if missing:
                raise DataFormatError(
                    f'{metadata}: no row for dicom_id {missing[:5]} '
                    f'({len(missing)} in all) of {self.gold_bbox_file}')
            records = [
                dict(dicom_id=str(r.dicom_id), subject_id=int(r.subject_id),
                     study_id=int(r.study_id),
                     view_position=str(r.ViewPosition), height=int(r.Rows),
                     width=int(r.Columns))
                for r in meta.itertuples(index=False)
            ]
            return records, dict(listed=len(gold)), gold
        avoid = self.images_to_avoid
        if avoid is not None:
            avoid = self._path(avoid)
            if not osp.isfile(avoid) and not osp.isfile(avoid + '.gz'):
                raise FileNotFoundError(
                    f'{avoid}: Chest ImaGenome images_to_avoid.csv not found; '
                    'place it there, or set images_to_avoid=None to keep the '
                    'gold-standard images in the split')
        records, counts = load_imagenome_split(
            resolve_csv(self._path(
                osp.join(self.imagenome_split_dir, f'{self.split}.csv'))),
            metadata, avoid)
        return records, counts, None

    def _load_one(self, record: Dict, gold: Optional[Dict]) -> Dict:
        """The data info of one image; raises on invalid input."""
        subject, study, dicom = (record['subject_id'], record['study_id'],
                                 record['dicom_id'])
        img_path = self._path(
            osp.join(self.image_dir, image_path(subject, study, dicom)))
        if not osp.isfile(img_path):
            raise FileNotFoundError(f'{img_path}: image file not found '
                                    f'(dicom_id {dicom})')
        rpath = self._path(osp.join(self.report_dir,
                                    report_path(subject, study)))
        findings = read_report_section(rpath, 'findings', study)
        size = (record['width'], record['height'])
        graph_path = self._path(
            osp.join(self.scene_graph_dir, f'{dicom}_SceneGraph.json'))
        if gold is None:
            graph = parse_scene_graph(graph_path, size)
        else:
            graph = parse_region_boxes(
                f'{self.gold_bbox_file}: image_id {dicom}.dcm objects',
                gold[dicom], size)
            if osp.isfile(graph_path):
                silver = parse_scene_graph(graph_path, size)
                graph.update({k: silver[k] for k in (
                    'region_sentences', 'region_has_sentence',
                    'region_abnormal')})
            else:
                graph.update(region_sentences=[''] * NUM_REGIONS,
                             region_has_sentence=[False] * NUM_REGIONS,
                             region_abnormal=[False] * NUM_REGIONS)
        return dict(
            img_path=img_path,
            img_id=dicom,
            subject_id=subject,
            study_id=study,
            height=record['height'],
            width=record['width'],
            gt_report=findings or '',
            has_findings=findings is not None,
            **graph)

    @property
    def log_prefix(self) -> str:
        return (f'ChestImaGenomeDataset ({self.split_protocol}, '
                f'{self.split})')

    def published_sizes(self) -> Dict[str, int]:
        """RGRG's size of this split under ``'imagenome'``, else none."""
        if self.split_protocol != 'imagenome' or self.split == 'gold':
            return {}
        return {self.split: RGRG_SPLIT_SIZES[self.split]}

    def load_data_list(self) -> List[Dict]:
        """Join the split, metadata, reports and scene graphs of ``split``.

        Logs one line of counts: listed, avoided / ignored (``'imagenome'``),
        skipped as bad input, dropped by the filters, kept, how many of
        those have all 29 boxes, and the boxes dropped.

        Raises:
            DataFormatError: No usable image is left; the message names the
                split and says why.
        """
        records, counts, gold = self._records()
        infos = self.parse_or_skip(
            records, lambda record: self._load_one(record, gold))
        data_list = []
        filtered: Counter = Counter()
        boxes: Counter = Counter()
        for info in infos:
            boxes['degenerate'] += info.pop('num_degenerate')
            boxes['reversed'] += info.pop('num_reversed')
            if self.require_findings and not info['has_findings']:
                filtered['no FINDINGS'] += 1
                continue
            if (self.require_all_regions
                    and len(info['instances']) < NUM_REGIONS):
                filtered['fewer than 29 boxes'] += 1
                continue
            data_list.append(info)
        if filtered and not self.num_skipped:
            hint = ('every image was dropped by the filters (' +
                    ', '.join(f'{k} {v}' for k, v in filtered.items()) +
                    '): check require_findings / require_all_regions')
        else:
            hint = ('check data_root and the split, report, scene-graph '
                    'and image paths')
        self.log_counts(
            dict(counts, skipped=self.num_skipped, **dict(filtered),
                 kept=len(data_list),
                 all_29_regions=sum(
                     len(i['instances']) == NUM_REGIONS for i in data_list),
                 boxes_degenerate=boxes['degenerate'],
                 boxes_reversed=boxes['reversed']),
            empty_hint=hint)
        return data_list

    def filter_data(self) -> List[Dict]:
        """Drop training images without any region box (never in test mode)."""
        if self.test_mode:
            return self.data_list
        return [info for info in self.data_list if info['instances']]
