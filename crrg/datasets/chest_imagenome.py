"""MIMIC-CXR-JPG images with Chest ImaGenome regions and MIMIC-CXR reports."""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmdet.datasets import BaseDetDataset
from mmengine.logging import print_log

from ..registry import DATASETS
from crrg.structures import (ANATOMICAL_REGIONS, NUM_REGIONS, REGION_INDEX,
                             normalize_whitespace)
from crrg.utils import DataFormatError
from .mimic_cxr import (image_path, load_image_records,
                        read_report_section, report_path)
from .skip_invalid import SkipInvalidImagesMixin

_OBJECT_FIELDS = ('bbox_name', 'original_x1', 'original_y1', 'original_x2',
                  'original_y2')


def parse_scene_graph(path: str) -> Dict:
    """Read the regions of one Chest ImaGenome scene graph.

    Boxes are in the original MIMIC-CXR-JPG image's pixels. Degenerate boxes
    (zero or negative width or height after clipping) are dropped and counted;
    others are clipped to the image. Names outside the 29 regions are ignored.

    Args:
        path (str): ``<dicom_id>_SceneGraph.json``.

    Returns:
        dict: ``instances`` (list of ``dict(bbox=[x1, y1, x2, y2],
        bbox_label=int, ignore_flag=0)``, at most one per region),
        ``region_sentences`` (29 str, '' when the region has no phrase),
        ``region_has_sentence`` (29 bool), ``region_abnormal`` (29 bool) and
        ``num_degenerate`` (int).

    Raises:
        FileNotFoundError: The file is missing.
        DataFormatError: The JSON is unreadable or lacks a required field; the
            message names the file, the record and the field.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: scene graph not found')
    try:
        with open(path, encoding='utf-8') as f:
            graph = json.load(f)
    except json.JSONDecodeError as e:
        raise DataFormatError(f'{path}: not valid JSON ({e})') from e
    for field in ('objects', 'attributes'):
        if not isinstance(graph.get(field), list):
            raise DataFormatError(f'{path}: missing or non-list field '
                                  f'"{field}"')
    instances = []
    num_degenerate = 0
    for i, obj in enumerate(graph['objects']):
        missing = [f for f in _OBJECT_FIELDS if f not in obj]
        if missing:
            raise DataFormatError(f'{path}: objects[{i}] lacks field(s) '
                                  f'{missing}')
        label = REGION_INDEX.get(obj['bbox_name'])
        if label is None:
            continue
        width = obj.get('original_width')
        height = obj.get('original_height')
        x1, y1, x2, y2 = (float(obj[f]) for f in _OBJECT_FIELDS[1:])
        x1, x2 = max(x1, 0.0), min(x2, width) if width else x2
        y1, y2 = max(y1, 0.0), min(y2, height) if height else y2
        if x2 - x1 < 1 or y2 - y1 < 1:
            num_degenerate += 1
            continue
        instances.append(dict(bbox=[x1, y1, x2, y2], bbox_label=label,
                              ignore_flag=0))
    sentences: List[List[str]] = [[] for _ in range(NUM_REGIONS)]
    abnormal = [False] * NUM_REGIONS
    for i, attribute in enumerate(graph['attributes']):
        if 'bbox_name' not in attribute:
            raise DataFormatError(f'{path}: attributes[{i}] lacks field '
                                  '"bbox_name"')
        label = REGION_INDEX.get(attribute['bbox_name'])
        if label is None:
            continue
        phrases = attribute.get('phrases', [])
        if not isinstance(phrases, list):
            raise DataFormatError(f'{path}: attributes[{i}].phrases is not a '
                                  'list')
        sentences[label] += [normalize_whitespace(p) for p in phrases
                             if p.strip()]
        labels = [item for group in attribute.get('attributes', [])
                  for item in group]
        abnormal[label] = abnormal[label] or 'nlp|yes|abnormal' in labels
    joined = [' '.join(s) for s in sentences]
    return dict(
        instances=instances,
        region_sentences=joined,
        region_has_sentence=[bool(s) for s in joined],
        region_abnormal=abnormal,
        num_degenerate=num_degenerate)


@DATASETS.register_module()
class ChestImaGenomeDataset(SkipInvalidImagesMixin, BaseDetDataset):
    """Frontal MIMIC-CXR-JPG images with the 29 Chest ImaGenome regions.

    Joins, on ``subject_id``/``study_id``/``dicom_id``: the MIMIC-CXR-JPG split
    and metadata files (frontal views via ``ViewPosition``), the study's report
    (its FINDINGS section is the reference report) and the image's scene graph
    (the regions' boxes, per-region sentences and abnormality flags). Paths are
    relative to ``data_root``; ``docs/data.md`` shows the layout.

    Args:
        split (str): ``'train'``, ``'validate'`` or ``'test'`` (the MIMIC-CXR
            split file's values).
        image_dir (str): Root of MIMIC-CXR-JPG's ``files/`` tree.
        split_file (str): ``mimic-cxr-2.0.0-split.csv[.gz]``.
        metadata_file (str): ``mimic-cxr-2.0.0-metadata.csv[.gz]``.
        report_dir (str): Root of MIMIC-CXR's report ``files/`` tree.
        scene_graph_dir (str): Folder of ``<dicom_id>_SceneGraph.json``.
        view_positions (Sequence[str], optional): Views to keep. Defaults to
            ``('PA', 'AP')``.
        require_findings (bool): A study without FINDINGS is invalid.
            Defaults to True.
        skip_invalid (bool): Skip invalid images (missing image, report or
            scene graph, missing field, no FINDINGS) and log how many were
            skipped and which; when False the first one raises an error
            naming the file and the field. Defaults to False.
        **kwargs: :class:`mmdet.datasets.BaseDetDataset`'s arguments
            (``data_root``, ``pipeline``, ``test_mode``, ``indices``, ...).
    """

    METAINFO = dict(
        classes=ANATOMICAL_REGIONS,
        palette=[(int(37 * i) % 256, int(91 * i + 60) % 256,
                  int(53 * i + 120) % 256) for i in range(NUM_REGIONS)])

    def __init__(self,
                 split: str = 'train',
                 image_dir: str = 'mimic-cxr-jpg',
                 split_file: str = 'mimic-cxr-jpg/mimic-cxr-2.0.0-split.csv.gz',
                 metadata_file: str = ('mimic-cxr-jpg/'
                                       'mimic-cxr-2.0.0-metadata.csv.gz'),
                 report_dir: str = 'mimic-cxr-reports',
                 scene_graph_dir: str = ('chest-imagenome/silver_dataset/'
                                         'scene_graph'),
                 view_positions: Optional[Sequence[str]] = ('PA', 'AP'),
                 require_findings: bool = True,
                 skip_invalid: bool = False,
                 **kwargs) -> None:
        self.split = split
        self.image_dir = image_dir
        self.split_file = split_file
        self.metadata_file = metadata_file
        self.report_dir = report_dir
        self.scene_graph_dir = scene_graph_dir
        self.view_positions = view_positions
        self.require_findings = require_findings
        self.skip_invalid = skip_invalid
        kwargs.setdefault('ann_file', '')
        super().__init__(**kwargs)

    def _path(self, relative: str) -> str:
        return osp.join(self.data_root or '', relative)

    def _load_one(self, record: Dict) -> Dict:
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
        findings = read_report_section(rpath, 'findings')
        if findings is None and self.require_findings:
            raise DataFormatError(f'{rpath}: no FINDINGS section (study_id '
                                  f'{study}); set require_findings=False to '
                                  'keep such studies')
        graph = parse_scene_graph(
            self._path(osp.join(self.scene_graph_dir,
                                f'{dicom}_SceneGraph.json')))
        graph.pop('num_degenerate')
        return dict(
            img_path=img_path,
            img_id=dicom,
            subject_id=subject,
            study_id=study,
            height=record['height'],
            width=record['width'],
            gt_report=findings or '',
            **graph)

    def load_data_list(self) -> List[Dict]:
        """Join the split, metadata, reports and scene graphs of ``split``."""
        records = load_image_records(
            self._path(self.split_file), self._path(self.metadata_file),
            self.split, self.view_positions)
        data_list, skipped = [], []
        for record in records:
            try:
                data_list.append(self._load_one(record))
            except (FileNotFoundError, DataFormatError) as e:
                if not self.skip_invalid:
                    raise
                skipped.append(str(e))
        if skipped:
            shown = '\n  '.join(skipped[:5])
            print_log(
                f'ChestImaGenomeDataset ({self.split}): skipped '
                f'{len(skipped)} of {len(records)} images:\n  {shown}' +
                ('\n  ...' if len(skipped) > 5 else ''),
                logger='current',
                level=30)
        self.num_skipped = len(skipped)
        return data_list

    def filter_data(self) -> List[Dict]:
        """Drop training images without any region box (never in test mode)."""
        if self.test_mode:
            return self.data_list
        return [info for info in self.data_list if info['instances']]
