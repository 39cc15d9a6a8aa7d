"""RegionDetectionMetric: per-region IoU / detection rate, logged as a table."""
import torch
from mmengine.logging import MMLogger

from crrg.evaluation.metrics import RegionDetectionMetric
from crrg.evaluation.metrics.region_detection_metric import classwise_table
from crrg.structures import ANATOMICAL_REGIONS


def sample(pred_boxes, scores, gt):
    labels = torch.arange(len(pred_boxes))
    return dict(
        pred_instances=dict(bboxes=torch.tensor(pred_boxes, dtype=torch.float),
                            scores=torch.tensor(scores), labels=labels),
        instances=[dict(bbox_label=label, bbox=box) for label, box in gt])


def test_means_only_by_default_and_table_logged(capsys):
    MMLogger.get_instance('test-region-detection', log_level='INFO')
    metric = RegionDetectionMetric()
    # region 0: IoU 1 then 0.5 (half the box), region 1: never detected
    metric.process({}, [
        sample([[0, 0, 10, 10], [0, 0, 4, 4]], [0.9, 0.01],
               [(0, [0, 0, 10, 10]), (1, [0, 0, 4, 4])]),
        sample([[0, 0, 10, 5], [0, 0, 4, 4]], [0.9, 0.01],
               [(0, [0, 0, 10, 10])]),
    ])
    out = metric.evaluate(2)
    assert set(out) == {'region/mean_iou', 'region/detection_rate'}
    assert abs(out['region/mean_iou'] - (0.75 + 1.0) / 2) < 1e-6
    assert abs(out['region/detection_rate'] - (1.0 + 0.0) / 2) < 1e-6
    logged = capsys.readouterr().out
    assert 'Per-region detection' in logged
    name0, name1 = ANATOMICAL_REGIONS[0], ANATOMICAL_REGIONS[1]
    # both regions in one line: the two column groups side by side
    line = next(t for t in logged.splitlines() if name0 in t)
    assert name1 in line and '0.750' in line and '1.000' in line
    assert 'mean over regions' in logged

    metric = RegionDetectionMetric(classwise=True)
    metric.process({}, [sample([[0, 0, 10, 10]], [0.9],
                               [(0, [0, 0, 10, 10])])])
    out = metric.evaluate(1)
    assert out[f'region/iou/{name0}'] == 1.0


def test_classwise_table_groups_and_footer():
    rows = [[f'r{i}', f'{i}'] for i in range(5)]
    table = classwise_table(['region', 'v'], rows, num_groups=2,
                            footer=['mean', '2'])
    lines = [t for t in table.splitlines() if not t.startswith('+')]
    assert lines[0].split('|')[1:-1] == [' region ', ' v ', ' region ',
                                        ' v ']
    # 5 rows in 2 groups: r0..r2 on the left, r3, r4 and a blank on the right
    assert [c.strip() for c in lines[1].split('|')[1:-1]] == [
        'r0', '0', 'r3', '3']
    assert [c.strip() for c in lines[3].split('|')[1:-1]] == [
        'r2', '2', '', '']
    assert [c.strip() for c in lines[-1].split('|')[1:-1]] == [
        'mean', '2', '', '']
