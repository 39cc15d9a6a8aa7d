import torch

from crrg.evaluation.metrics import RegionSelectionMetric


def test_region_selection_metric():
    metric = RegionSelectionMetric()
    gt_a = [False] * 29
    gt_a[0] = gt_a[1] = True
    sel_a = torch.zeros(29, dtype=torch.bool)
    sel_a[0] = sel_a[2] = True
    gt_b = [False] * 29
    gt_b[0] = True
    sel_b = torch.zeros(29, dtype=torch.bool)
    sel_b[0] = True
    metric.process({}, [
        dict(pred_regions=dict(selected=sel_a), region_has_sentence=gt_a),
        dict(pred_regions=dict(selected=sel_b), region_has_sentence=gt_b),
    ])
    out = metric.evaluate(2)
    # tp=2 (region 0 twice), fp=1 (region 2), fn=1 (region 1)
    assert abs(out['selection/precision'] - 2 / 3) < 1e-6
    assert abs(out['selection/recall'] - 2 / 3) < 1e-6
    assert abs(out['selection/f1_micro'] - 2 / 3) < 1e-6
    # per-region F1: region 0 = 1, regions 1 and 2 = 0, 26 others = 0
    assert abs(out['selection/f1_macro'] - 1 / 29) < 1e-6
