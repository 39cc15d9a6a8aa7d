import json
import os.path as osp

import numpy as np
import pytest

from crrg.datasets import ChestImaGenomeDataset
from crrg.datasets.chest_imagenome import parse_scene_graph
from crrg.structures import ANATOMICAL_REGIONS
from crrg.utils import DataFormatError
from crrg.datasets.mimic_cxr import load_image_records
from crrg.datasets.synthetic import make_synthetic_mimic
from real_layout import REAL_BOXES, REAL_SIZE, real_scene_graph

GRAPH_DIR = 'chest-imagenome/silver_dataset/scene_graph'


def _graph(objects, attributes):
    return dict(image_id='d1', objects=objects, attributes=attributes)


def _obj(name, x1, y1, x2, y2):
    # original_width/height: the box's own size, as in the real graphs
    return dict(bbox_name=name, original_x1=x1, original_y1=y1,
                original_x2=x2, original_y2=y2, original_width=x2 - x1,
                original_height=y2 - y1)


def _write(tmp_path, graph, name='g_SceneGraph.json'):
    path = tmp_path / name
    path.write_text(json.dumps(graph))
    return str(path)


def test_parse_scene_graph_boxes_sentences_flags(tmp_path):
    graph = _graph(
        [_obj('right lung', 10, 10, 50, 90), _obj('trachea', -5, 0, 60, 130),
         _obj('aortic arch', 30, 30, 30, 40), _obj('not a region', 0, 0, 5, 5)],
        [dict(bbox_name='right lung', phrases=['Opacity  in the\nright lung.'],
              attributes=[['anatomicalfinding|yes|lung opacity',
                           'nlp|yes|abnormal']]),
         dict(bbox_name='trachea', phrases=['Trachea midline.'],
              attributes=[['nlp|yes|normal']])])
    parsed = parse_scene_graph(_write(tmp_path, graph), (100, 100))
    labels = [inst['bbox_label'] for inst in parsed['instances']]
    assert labels == [0, ANATOMICAL_REGIONS.index('trachea')]
    # clipped to the image
    assert parsed['instances'][1]['bbox'] == [0.0, 0.0, 60.0, 100.0]
    assert parsed['num_degenerate'] == 1
    assert parsed['region_sentences'][0] == 'Opacity in the right lung.'
    assert parsed['region_has_sentence'][0]
    assert parsed['region_abnormal'][0]
    trachea = ANATOMICAL_REGIONS.index('trachea')
    assert parsed['region_has_sentence'][trachea]
    assert not parsed['region_abnormal'][trachea]
    assert sum(parsed['region_has_sentence']) == 2


def test_parse_scene_graph_missing_field_names_file_and_field(tmp_path):
    graph = _graph([dict(bbox_name='right lung', original_x1=1)], [])
    path = _write(tmp_path, graph)
    with pytest.raises(DataFormatError) as err:
        parse_scene_graph(path, (100, 100))
    assert path in str(err.value) and 'objects[0]' in str(err.value)
    assert 'original_y1' in str(err.value)
    path = _write(tmp_path, dict(objects=[]), 'no_attributes.json')
    with pytest.raises(DataFormatError, match='attributes'):
        parse_scene_graph(path, (100, 100))


def test_dataset_joins_real_layout(synthetic_twin):
    root, counts = synthetic_twin
    dataset = ChestImaGenomeDataset(
        data_root=str(root), split='train', skip_invalid=True, pipeline=[])
    records = load_image_records(
        osp.join(root, 'mimic-cxr-jpg/mimic-cxr-2.0.0-split.csv.gz'),
        osp.join(root, 'mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz'),
        'train')
    # frontal views only: one per study
    assert len(records) == 12
    assert len(dataset) + dataset.num_skipped == 12
    info = dataset.get_data_info(0)
    assert osp.isfile(info['img_path'])
    assert info['img_path'].endswith(f"s{info['study_id']}/{info['img_id']}"
                                     '.jpg')
    assert len(info['region_sentences']) == 29
    assert info['gt_report']
    # every sentence of a region is in the report's FINDINGS
    for sentence in filter(None, info['region_sentences']):
        assert sentence in info['gt_report']
    assert dataset.metainfo['classes'] == ANATOMICAL_REGIONS


def test_missing_image_raises_or_is_skipped(tmp_path):
    make_synthetic_mimic(str(tmp_path), 4, 1, 1, seed=3)
    dataset = ChestImaGenomeDataset(
        data_root=str(tmp_path), split='train', pipeline=[],
        lazy_init=True)
    dataset.full_init()
    victim = dataset.get_data_info(1)['img_path']
    import os
    os.remove(victim)
    with pytest.raises(FileNotFoundError, match=osp.basename(victim)):
        ChestImaGenomeDataset(data_root=str(tmp_path), split='train',
                              pipeline=[])
    kept = ChestImaGenomeDataset(
        data_root=str(tmp_path), split='train', pipeline=[],
        skip_invalid=True)
    assert kept.num_skipped >= 1
    assert victim not in [kept.get_data_info(i)['img_path']
                          for i in range(len(kept))]


def test_study_without_findings_is_a_counted_filter(tmp_path):
    make_synthetic_mimic(str(tmp_path), 3, 1, 1, seed=5)
    dataset = ChestImaGenomeDataset(data_root=str(tmp_path), split='train',
                                    pipeline=[])
    info = dataset.get_data_info(0)
    report = osp.join(
        tmp_path, 'mimic-cxr-reports', 'files', f"p{info['subject_id']}"[:3],
        f"p{info['subject_id']}", f"s{info['study_id']}.txt")
    text = open(report).read()
    open(report, 'w').write(text.split(' FINDINGS:')[0] +
                            ' IMPRESSION: ok.\n')
    strict = ChestImaGenomeDataset(data_root=str(tmp_path), split='train',
                                   pipeline=[])
    assert len(strict) == 2
    assert strict.split_counts['no FINDINGS'] == 1
    assert info['img_id'] not in [strict.get_data_info(i)['img_id']
                                  for i in range(len(strict))]
    lenient = ChestImaGenomeDataset(
        data_root=str(tmp_path), split='train', pipeline=[],
        require_findings=False)
    assert len(lenient) == 3
    assert lenient.get_data_info(0)['gt_report'] == ''


def test_twin_is_deterministic(tmp_path):
    a = make_synthetic_mimic(str(tmp_path / 'a'), 3, 1, 1, seed=7)
    b = make_synthetic_mimic(str(tmp_path / 'b'), 3, 1, 1, seed=7)
    assert a == b
    graphs_a = sorted((tmp_path / 'a' / GRAPH_DIR).iterdir())
    graphs_b = sorted((tmp_path / 'b' / GRAPH_DIR).iterdir())
    assert [g.name for g in graphs_a] == [g.name for g in graphs_b]
    assert graphs_a[0].read_text() == graphs_b[0].read_text()


def test_twin_regions_are_visible(synthetic_twin):
    """Lungs are darker than the heart, which is darker than the spine."""
    import cv2
    root, _ = synthetic_twin
    dataset = ChestImaGenomeDataset(
        data_root=str(root), split='train', skip_invalid=True, pipeline=[])
    info = dataset.get_data_info(0)
    img = cv2.imread(info['img_path'], cv2.IMREAD_GRAYSCALE).astype(float)
    boxes = {ANATOMICAL_REGIONS[i['bbox_label']]: i['bbox']
             for i in info['instances']}

    def centre_mean(name):
        x1, y1, x2, y2 = boxes[name]
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        w, h = (x2 - x1) / 6, (y2 - y1) / 6
        return img[int(cy - h):int(cy + h), int(cx - w):int(cx + w)].mean()

    assert centre_mean('right upper lung zone') + 50 < centre_mean(
        'cardiac silhouette')
    assert centre_mean('trachea') + 50 < centre_mean('spine')
    assert np.isfinite(img).all()


def test_real_layout_scene_graph_keeps_all_29_boxes(tmp_path):
    path = _write(tmp_path, real_scene_graph('d1'))
    parsed = parse_scene_graph(path, REAL_SIZE)
    assert parsed['num_degenerate'] == parsed['num_reversed'] == 0
    assert [i['bbox_label'] for i in parsed['instances']] == list(range(29))
    width, height = REAL_SIZE
    for inst in parsed['instances']:
        x1, y1, x2, y2 = REAL_BOXES[ANATOMICAL_REGIONS[inst['bbox_label']]]
        assert inst['bbox'] == [max(x1, 0), max(y1, 0), min(x2, width),
                                min(y2, height)]
    spine = parsed['instances'][ANATOMICAL_REGIONS.index('spine')]['bbox']
    assert spine == [1110, 0, 1480, 3056]
    assert parsed['region_sentences'][0] == (
        'Patchy opacity in the right lung base may reflect atelectasis.')
    assert parsed['region_abnormal'][0] and sum(parsed['region_abnormal']) == 1


def test_boxes_outside_the_image_and_reversed_are_counted(tmp_path):
    boxes = dict(REAL_BOXES)
    boxes['carina'] = (2600, 960, 2700, 1110)    # right of the image
    boxes['svc'] = (1030, 1000, 1030, 1440)      # zero width
    boxes['abdomen'] = (300, 3056, 2400, 3100)   # below the image
    boxes['trachea'] = (1420, 90, 1180, 1020)    # x2 < x1
    parsed = parse_scene_graph(_write(tmp_path, real_scene_graph('d', boxes)),
                               REAL_SIZE)
    assert parsed['num_degenerate'] == 3 and parsed['num_reversed'] == 1
    kept = {ANATOMICAL_REGIONS[i['bbox_label']] for i in parsed['instances']}
    assert kept == set(REAL_BOXES) - {'carina', 'svc', 'abdomen', 'trachea'}


@pytest.mark.parametrize('value,message', [
    (None, 'None, not a number'), (float('nan'), 'not a finite number'),
    (float('inf'), 'not a finite number'), ('12', "'12', not a number")])
def test_bad_coordinate_is_a_named_error(tmp_path, value, message):
    graph = real_scene_graph('d1')
    graph['objects'][3]['original_y2'] = value
    path = tmp_path / 'g_SceneGraph.json'
    path.write_text(json.dumps(graph))   # NaN / Infinity as Python writes them
    with pytest.raises(DataFormatError) as err:
        parse_scene_graph(str(path), REAL_SIZE)
    text = str(err.value)
    assert str(path) in text and 'objects[3]' in text
    assert 'right lower lung zone' in text and 'original_y2' in text
    assert message in text


def test_non_utf8_scene_graph_is_a_named_error(tmp_path):
    path = tmp_path / 'g_SceneGraph.json'
    path.write_bytes(json.dumps(real_scene_graph('d1')).encode('utf-8')
                     .replace(b'No mass.', b'No m\xe4ss.'))
    with pytest.raises(DataFormatError, match='not UTF-8') as err:
        parse_scene_graph(str(path), REAL_SIZE)
    assert str(path) in str(err.value)


def test_twin_writes_box_sizes_and_keeps_boxes(synthetic_twin):
    root, counts = synthetic_twin
    graph_path = next((root / GRAPH_DIR).iterdir())
    for obj in json.loads(graph_path.read_text())['objects']:
        assert obj['original_width'] == obj['original_x2'] - obj['original_x1']
        assert obj['original_height'] == (obj['original_y2'] -
                                          obj['original_y1'])
    dataset = ChestImaGenomeDataset(
        data_root=str(root), split='train', skip_invalid=True, pipeline=[])
    full = sum(len(dataset.get_data_info(i)['instances']) == 29
               for i in range(len(dataset)))
    defects = counts['missing_region'] + counts['degenerate_box']
    # only the deliberate defects lose a box (the old clip to the box's own
    # size kept 11 of 29)
    assert full >= len(dataset) - defects
    assert dataset.split_counts['boxes_degenerate'] <= counts['degenerate_box']
    assert dataset.split_counts['all_29_regions'] == full
