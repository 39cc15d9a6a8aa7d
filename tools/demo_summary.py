"""One table of the main job's headline figures, from the stages' metric files.

``tools/demo.sh`` ends with this tool. It reads what the stages wrote under
the work directory (mmengine's test JSON ``<stage>/<timestamp>/<timestamp>.json``
of every ``tools/test.py`` run, the newest one per stage, and the constant
baseline's ``constant_baseline.json``), prints one table, writes it to
``summary.md`` and the figures to ``summary.json``. A stage that has not run
(or whose metric is not computed by this version of crrg) shows ``-``.

Example::

    python tools/demo_summary.py work_dirs/demo
"""
import argparse
import glob
import json
import os.path as osp
import sys
from collections.abc import Sequence

#: (stage, figure, work sub-directory, metric keys tried in order)
STAGE_FIGURES = [
    ('1 detector', 'mAP@0.5', 'detector', ('coco/bbox_mAP_50', )),
    ('1 detector', 'mean IoU', 'detector', ('region/mean_iou', )),
    ('1 detector', 'detection rate', 'detector', ('region/detection_rate', )),
    ('2 selector', 'F1 (micro)', 'selector', ('selection/f1_micro', )),
    ('2 selector', 'precision', 'selector', ('selection/precision', )),
    ('2 selector', 'recall', 'selector', ('selection/recall', )),
]
#: report figures: (figure, metric keys tried in order); the constant
#: baseline's JSON has the same keys (older versions: without 'report/')
REPORT_FIGURES = [
    ('BLEU-1', ('report/bleu_1', 'bleu_1')),
    ('BLEU-4', ('report/bleu_4', 'bleu_4')),
    ('METEOR', ('report/meteor', 'meteor')),
    ('ROUGE-L', ('report/rouge_l', 'rouge_l')),
    ('CIDEr', ('report/cider', 'cider')),
    ('CE F1 micro-5 (rules, unc.=pos.)', ('ce_rules/f1_micro5_unc-pos', )),
]
#: linear probe and zero-shot figures: (figure, keys)
PROBE_FIGURES = [('AUC', ('binary/auc', 'auc')),
                 ('accuracy', ('binary/accuracy', 'accuracy'))]
ZERO_SHOT_KEYS = ('binary/auc', )


def latest_test_metrics(work_dir: str) -> dict | None:
    """The metrics of the newest ``tools/test.py`` run in ``work_dir``.

    mmengine's ``LoggerHook`` dumps a test run's metrics to
    ``<work_dir>/<timestamp>/<timestamp>.json`` (training runs write theirs
    under ``vis_data/``, so they do not match).

    Returns:
        dict | None: Metric name -> value; None when no test run is there.
    """
    found = [
        p for p in glob.glob(osp.join(work_dir, '*', '*.json'))
        if osp.splitext(osp.basename(p))[0] == osp.basename(osp.dirname(p))
    ]
    for path in sorted(found, key=osp.getmtime, reverse=True):
        with open(path, encoding='utf-8') as f:
            metrics = json.load(f)
        if isinstance(metrics, dict):
            return metrics
    return None


def read_json(path: str) -> dict | None:
    """A JSON file's dict, or None when the file is absent."""
    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def pick(metrics: dict | None, keys: Sequence[str]) -> float | None:
    """The first of ``keys`` present in ``metrics`` (None if none is)."""
    if not metrics:
        return None
    for key in keys:
        if isinstance(metrics.get(key), (int, float)):
            return float(metrics[key])
    return None


def collect(work_dir: str) -> list[dict]:
    """The summary rows: stage, figure, crrg value and baseline.

    Returns:
        list[dict]: Rows with ``stage``, ``figure``, ``value`` (float | None),
        ``baseline`` (float | None) and ``baseline_name`` (str).
    """
    rows = []
    tests = {}

    def test_of(sub: str) -> dict | None:
        if sub not in tests:
            tests[sub] = latest_test_metrics(osp.join(work_dir, sub))
        return tests[sub]

    for stage, figure, sub, keys in STAGE_FIGURES:
        rows.append(dict(stage=stage, figure=figure,
                         value=pick(test_of(sub), keys), baseline=None,
                         baseline_name=''))
    constant = read_json(osp.join(work_dir, 'constant_baseline.json'))
    for figure, keys in REPORT_FIGURES:
        rows.append(dict(stage='3 reports', figure=figure,
                         value=pick(test_of('generator'), keys),
                         baseline=pick(constant, keys),
                         baseline_name='constant report'))
    for figure, keys in PROBE_FIGURES:
        rows.append(dict(stage='6 R-CLIP probe (RSNA 1%)', figure=figure,
                         value=pick(test_of('probe_rclip'), keys),
                         baseline=pick(test_of('probe_random'), keys),
                         baseline_name='random encoder'))
    for k in (1, 5):
        rows.append(dict(stage='6 R-CLIP retrieval (test split)',
                         figure=f'mean Recall@{k}',
                         value=pick(test_of('rclip'), (f'retrieval/mean_R@{k}', )),
                         baseline=None, baseline_name=''))
    zero_shot = pick(test_of('rclip_zero_shot'), ZERO_SHOT_KEYS)
    rows.append(dict(stage='6 R-CLIP zero-shot (RSNA)', figure='AUC',
                     value=zero_shot, baseline=None if zero_shot is None else 0.5,
                     baseline_name='chance'))
    return rows


def fmt(value: float | None) -> str:
    """Three decimals, or '-' for a missing figure."""
    return '-' if value is None else f'{value:.3f}'


def markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = ['| stage | figure | crrg | baseline |', '|---|---|---|---|']
    for r in rows:
        baseline = '' if r['baseline'] is None else \
            f'{fmt(r["baseline"])} ({r["baseline_name"]})'
        lines.append(f'| {r["stage"]} | {r["figure"]} | {fmt(r["value"])} | '
                     f'{baseline} |')
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write ``summary.{md,json}`` in the work directory and print the table.

    Returns:
        int: 0, or 1 when no stage left a figure.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir', help='the main job work directory')
    parser.add_argument(
        '--demo-command',
        help='the command that opens the web demo, printed last')
    args = parser.parse_args(argv)
    rows = collect(args.work_dir)
    table = markdown(rows)
    text = (f'# crrg main job: headline figures ({args.work_dir})\n\n'
            f'{table}\n')
    if args.demo_command:
        text += f'\nWeb demo on the trained model: `{args.demo_command}`\n'
    with open(osp.join(args.work_dir, 'summary.md'), 'w',
              encoding='utf-8') as f:
        f.write(text)
    with open(osp.join(args.work_dir, 'summary.json'), 'w',
              encoding='utf-8') as f:
        json.dump(rows, f, indent=2)
    print(text, end='')
    print(f'(written to {osp.join(args.work_dir, "summary.md")} and '
          'summary.json)')
    return 0 if any(r['value'] is not None for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
