"""tools/demo_summary.py reads the stages' metric files into one table."""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_summary(*args) -> subprocess.CompletedProcess:
    """Run tools/demo_summary.py as the main job does."""
    return subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'demo_summary.py'),
         *map(str, args)], capture_output=True, text=True, timeout=60)


def write_test_json(work: Path, stage: str, timestamp: str, metrics: dict,
                    mtime: float) -> None:
    """A test run's metrics where mmengine's LoggerHook dumps them."""
    path = work / stage / timestamp / f'{timestamp}.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics))
    os.utime(path, (mtime, mtime))


def test_summary_reads_every_stage(tmp_path):
    work = tmp_path / 'demo'
    write_test_json(work, 'detector', '20261201_100000',
                    {'coco/bbox_mAP_50': 0.5, 'region/mean_iou': 0.4}, 1000)
    # the newer test run of the same stage wins
    write_test_json(work, 'detector', '20261201_110000', {
        'coco/bbox_mAP_50': 0.98, 'region/mean_iou': 0.857,
        'region/detection_rate': 0.981}, 2000)
    # a training run's scalars (vis_data/) are not a test run
    vis = work / 'selector' / '20261201_120000' / 'vis_data'
    vis.mkdir(parents=True)
    (vis / '20261201_120000.json').write_text('{"selection/f1_micro": 0.1}')
    write_test_json(work, 'selector', '20261201_120001', {
        'selection/f1_micro': 0.707, 'selection/precision': 0.578,
        'selection/recall': 0.911}, 3000)
    write_test_json(work, 'generator', '20261201_130000', {
        'report/bleu_4': 0.517, 'report/cider': 1.704,
        'ce_rules/f1_micro5_unc-pos': 0.6}, 4000)
    (work / 'constant_baseline.json').write_text(json.dumps({
        'report/bleu_4': 0.345, 'report/cider': 1.039,
        'ce_rules/f1_micro5_unc-pos': 0.2}))
    write_test_json(work, 'probe_rclip', 't1', {'binary/auc': 0.971}, 5000)
    write_test_json(work, 'probe_random', 't2', {'binary/auc': 0.658}, 5000)
    write_test_json(work, 'rclip_zero_shot', 't3', {'binary/auc': 0.61}, 6000)
    write_test_json(work, 'rclip', 't4', {'retrieval/mean_R@5': 0.4}, 6000)

    proc = run_summary(work, '--demo-command', 'python x.py')
    assert proc.returncode == 0, proc.stderr
    rows = {(r['stage'], r['figure']): r
            for r in json.loads((work / 'summary.json').read_text())}
    assert rows[('1 detector', 'mAP@0.5')]['value'] == 0.98
    assert rows[('1 detector', 'detection rate')]['value'] == 0.981
    assert rows[('2 selector', 'F1 (micro)')]['value'] == 0.707
    bleu = rows[('3 reports', 'BLEU-4')]
    assert (bleu['value'], bleu['baseline']) == (0.517, 0.345)
    assert rows[('3 reports', 'METEOR')]['value'] is None
    ce = rows[('3 reports', 'CE F1 micro-5 (rules, unc.=pos.)')]
    assert (ce['value'], ce['baseline']) == (0.6, 0.2)
    probe = rows[('6 R-CLIP probe (RSNA 1%)', 'AUC')]
    assert (probe['value'], probe['baseline']) == (0.971, 0.658)

    zero_shot = rows[('6 R-CLIP zero-shot (RSNA)', 'AUC')]
    assert (zero_shot['value'], zero_shot['baseline']) == (0.61, 0.5)
    assert rows[('6 R-CLIP retrieval (test split)', 'mean Recall@5')][
        'value'] == 0.4

    table = (work / 'summary.md').read_text()
    assert '| 1 detector | mAP@0.5 | 0.980 |  |' in table
    assert '| 3 reports | BLEU-4 | 0.517 | 0.345 (constant report) |' in table
    assert '| 3 reports | METEOR | - |  |' in table
    assert '`python x.py`' in table
    assert proc.stdout.startswith(table)


def test_summary_of_an_empty_work_dir_fails(tmp_path):
    assert run_summary(tmp_path).returncode == 1
    assert (tmp_path / 'summary.md').is_file()
