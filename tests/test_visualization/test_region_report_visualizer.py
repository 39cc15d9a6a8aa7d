import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from crrg.structures import NUM_REGIONS, REGION_INDEX
from crrg.registry import VISUALIZERS
from crrg.visualization import RegionReportVisualizer
from crrg.visualization.region_report_visualizer import region_palette

GREY = 100


def make_sample(selected=(), abnormal=None) -> DetDataSample:
    """29 regions; region i's box is far away unless placed by the test."""
    regions = InstanceData()
    bboxes = torch.zeros(NUM_REGIONS, 4)
    bboxes[:, :2] = 150
    bboxes[:, 2:] = 160
    bboxes[REGION_INDEX['left lung']] = torch.tensor([20., 30., 80., 90.])
    bboxes[REGION_INDEX['spine']] = torch.tensor([100., 10., 110., 20.])
    regions.bboxes = bboxes
    regions.scores = torch.ones(NUM_REGIONS)
    regions.detected = torch.ones(NUM_REGIONS, dtype=torch.bool)
    mask = torch.zeros(NUM_REGIONS, dtype=torch.bool)
    mask[[REGION_INDEX[name] for name in selected]] = True
    regions.selected = mask
    regions.selection_scores = torch.where(mask, 1.0, -2.0)
    regions.sentences = [
        'the left lung is clear.' if m else '' for m in mask.tolist()
    ]
    if abnormal is not None:
        regions.abnormal = torch.tensor(abnormal)
    sample = DetDataSample()
    sample.pred_regions = regions
    sample.pred_report = 'the left lung is clear.'
    return sample


def draw(sample, tmp_path, **kwargs) -> np.ndarray:
    vis = RegionReportVisualizer(
        name=f'vis-{tmp_path.name}-{len(kwargs)}', **kwargs)
    image = np.full((200, 200, 3), GREY, dtype=np.uint8)
    vis.add_datasample('x', image, sample, out_file=str(tmp_path / 'x.png'))
    assert (tmp_path / 'x.png').is_file()
    return vis.get_image()


def test_selected_box_drawn_in_region_colour(tmp_path):
    drawn = draw(make_sample(['left lung']), tmp_path, with_panel=False)
    assert drawn.shape == (200, 200, 3)
    edge = drawn[60, 20].astype(int)  # middle of the left edge (x=20)
    colour = np.array(region_palette(NUM_REGIONS)[REGION_INDEX['left lung']])
    assert np.abs(edge - GREY).max() > 60
    assert np.abs(edge - colour).max() < 60
    assert (drawn[70, 50] == GREY).all()  # inside the box, below the label
    assert (drawn[15, 100] == GREY).all()  # unselected spine not drawn
    # The label (region name on the region's colour) sits at the box corner.
    label = drawn[32:40, 22:40].reshape(-1, 3).astype(int)
    assert (np.abs(label - colour).max(axis=1) < 40).any()


def test_unselected_and_abnormal_emphasis(tmp_path):
    abnormal = [False] * NUM_REGIONS
    abnormal[REGION_INDEX['left lung']] = True
    emphasised = draw(
        make_sample(['left lung'], abnormal),
        tmp_path,
        with_panel=False,
        draw_unselected=True)
    # Abnormal: the inside of the box is tinted with the region's colour.
    inside = emphasised[70, 50].astype(int)
    colour = np.array(region_palette(NUM_REGIONS)[REGION_INDEX['left lung']])
    assert np.abs(inside - GREY).max() > 20
    assert np.abs(inside - colour).sum() < np.abs(GREY - colour).sum()
    # Unselected but detected (spine) is drawn when asked.
    assert np.abs(emphasised[8:13, 98:113].astype(int) - GREY).max() > 30


def test_panel_lists_sentences(tmp_path):
    drawn = draw(make_sample(['left lung']), tmp_path)
    assert drawn.shape[0] == 200 and drawn.shape[1] == 200 + 180
    panel = drawn[:, 200:]
    assert panel[:20].max() > 100  # the region name and sentence text
    assert panel[-20:].max() == 0  # short list: bottom stays black


def test_built_from_registry_and_falls_back(tmp_path):
    vis = VISUALIZERS.build(
        {'type': 'RegionReportVisualizer', 'name': 'vis-registry'})
    assert isinstance(vis, RegionReportVisualizer)
    sample = DetDataSample()
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[20., 30., 80., 90.]]),
        labels=torch.tensor([0]),
        scores=torch.tensor([0.9]))
    image = np.full((120, 120, 3), GREY, dtype=np.uint8)
    vis.add_datasample('y', image, sample, draw_gt=False,
                       out_file=str(tmp_path / 'y.png'))
    assert np.abs(vis.get_image()[60, 20].astype(int) - GREY).max() > 30


@pytest.mark.parametrize('shape', [(64, 48), (64, 48, 3)])
def test_grey_and_colour_inputs(shape, tmp_path):
    vis = RegionReportVisualizer(name=f'vis-shape-{len(shape)}')
    vis.add_datasample('z', np.zeros(shape, dtype=np.uint8),
                       make_sample(['left lung']),
                       out_file=str(tmp_path / 'z.jpg'))
    assert vis.get_image().shape[:2] == (64, 48 + 64)


def test_draw_prediction_from_records_with_highlight():
    from crrg.structures import ANATOMICAL_REGIONS
    from crrg.visualization import regions_from_records
    records = [
        dict(index=i, name=name, bbox=[150.0, 150.0, 160.0, 160.0],
             score=0.5, detected=True, selection_score=-1.0, selected=False,
             sentence='') for i, name in enumerate(ANATOMICAL_REGIONS)
    ]
    left = REGION_INDEX['left lung']
    records[left].update(bbox=[20.0, 30.0, 80.0, 90.0], selected=True,
                         sentence='the left lung is clear.')
    regions = regions_from_records(records)
    assert regions.bboxes.shape == (NUM_REGIONS, 4)
    assert regions.selected.sum() == 1 and regions.detected.all()
    assert regions.sentences[left] == 'the left lung is clear.'
    vis = RegionReportVisualizer(name='vis-draw-prediction', with_panel=True)
    image = np.full((200, 200), GREY, dtype=np.uint8)
    plain = vis.draw_prediction(image, regions)
    assert plain.shape == (200, 200, 3)  # never a panel
    # the selected box is drawn in its colour on the left edge (x = 20)
    assert (plain[60, 19:22] != GREY).any()
    spine = REGION_INDEX['spine']
    picked = vis.draw_prediction(image, regions, highlight=spine)
    # the unselected spine box (150..160) appears only when highlighted
    assert (plain[155, 148:152] == GREY).all()
    assert (picked[155, 148:152] != GREY).any()
    assert (picked[60, 19:22] == plain[60, 19:22]).all()


def test_29_distinct_colours_none_near_the_highlight():
    from crrg.visualization.region_report_visualizer import (HIGHLIGHT_COLOUR,
                                                             colour_distances)
    palette = region_palette(NUM_REGIONS)
    assert len(set(palette)) == NUM_REGIONS
    distances = colour_distances(palette)
    np.fill_diagonal(distances, np.inf)
    assert distances.min() > 20  # CIE76; ~2.3 is a just noticeable step
    to_highlight = colour_distances([HIGHLIGHT_COLOUR] + palette)[0, 1:]
    assert to_highlight.min() > 30


def test_highlight_band_and_labels_inside_the_picture():
    """The picked region gets a band of the highlight colour inside its
    box; a label of a box at the right edge stays inside the picture."""
    from crrg.visualization import regions_from_records
    from crrg.visualization.region_report_visualizer import HIGHLIGHT_COLOUR
    vis = RegionReportVisualizer(name='vis-highlight', with_panel=False)
    records = [dict(bbox=[150.0, 150.0, 160.0, 160.0], score=0.9,
                    detected=True, selection_score=-2.0, selected=False,
                    sentence='') for _ in range(NUM_REGIONS)]
    records[3].update(bbox=[20.0, 30.0, 80.0, 90.0], selected=True)
    records[5].update(bbox=[170.0, 100.0, 199.0, 130.0], selected=True)
    image = np.full((200, 200, 3), GREY, np.uint8)
    plain = vis.draw_prediction(image, regions_from_records(records))
    picked = vis.draw_prediction(image, regions_from_records(records),
                                 highlight=3)
    is_highlight = (picked == HIGHLIGHT_COLOUR).all(axis=2)
    assert not (plain == HIGHLIGHT_COLOUR).all(axis=2).any()
    inside = is_highlight[30:91, 20:81]
    assert inside.sum() >= 4 * 50 * 3 and inside.sum() == is_highlight.sum()
    assert not is_highlight[40:80, 30:70].any()  # a band, not a fill
    # the right-edge label (region 5's name) is moved left of its box, so
    # it is drawn whole inside the picture
    changed = (plain[100:131] != GREY).any(axis=2).any(axis=0)
    assert changed[:165].any()
