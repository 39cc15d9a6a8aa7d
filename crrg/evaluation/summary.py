"""One table of every metric of a test run, beside the published figures.

:func:`write_metric_table` writes ``metrics.json`` (every metric the
evaluators returned) and ``metrics.md``. For a report generator the markdown
starts with the columns of ``docs/results.md``'s published table (BLEU-1..4,
METEOR, ROUGE-L, CIDEr, CE micro-5 F1) with the published rows above this
run's, each with the scoring protocol that produced it (``report/protocol``
of :class:`~crrg.evaluation.ReportGenerationMetric`; a note follows the table
when this run's differs from the published rows'), then lists every metric
with its full name (its name carries its settings: the labeler,
micro/macro/example, 5/14 conditions, the uncertain mapping).
"""
import json
import os
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

#: (column title, metric key suffix) of the headline report table
HEADLINE_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ('BLEU-1', 'report/bleu_1'), ('BLEU-2', 'report/bleu_2'),
    ('BLEU-3', 'report/bleu_3'), ('BLEU-4', 'report/bleu_4'),
    ('METEOR', 'report/meteor'), ('ROUGE-L', 'report/rouge_l'),
    ('CIDEr', 'report/cider'), ('TF-IDF', 'report/tfidf'),
    ('CE F1 micro-5 (CheXbert, unc.=pos.)', 'ce_chexbert/f1_micro5_unc-pos'),
    ('CE F1 micro-5 (rules, unc.=pos.)', 'ce_rules/f1_micro5_unc-pos'),
    ('CE F1 example-14 (rules, unc.=neg.)', 'ce_rules/f1_example14_unc-neg'),
    ('RadGraph F1 partial', 'radgraph/f1_partial'))

#: the scoring protocol of the published rows: RGRG's ``compute_NLG_scores``
#: (CRRG-CLIP's code is RGRG's)
PUBLISHED_PROTOCOL = 'rgrg'

#: published MIMIC-CXR test figures (docs/results.md), all scored with
#: :data:`PUBLISHED_PROTOCOL`; None = not published
PUBLISHED_REPORT_FIGURES: Tuple[Tuple[str, Dict[str, float]], ...] = (
    ('RGRG (Tanida et al., 2023)', {
        'report/bleu_1': 0.373, 'report/bleu_2': 0.249,
        'report/bleu_3': 0.175, 'report/bleu_4': 0.126,
        'report/meteor': 0.168, 'report/rouge_l': 0.264,
        'report/cider': 0.495, 'ce_chexbert/f1_micro5_unc-pos': 0.547
    }),
    ('CRRG-CLIP RRG-opt (Xu et al., 2024)', {
        'report/bleu_1': 0.241, 'report/bleu_2': 0.157,
        'report/bleu_3': 0.108, 'report/bleu_4': 0.078,
        'report/meteor': 0.109, 'report/rouge_l': 0.239,
        'report/cider': 0.513
    }),
    ('CRRG-CLIP RRG-base (Xu et al., 2024)', {
        'report/bleu_1': 0.224, 'report/bleu_2': 0.146,
        'report/bleu_3': 0.101, 'report/bleu_4': 0.072,
        'report/meteor': 0.104, 'report/rouge_l': 0.237,
        'report/cider': 0.429
    }),
)


def _cell(value: Optional[float]) -> str:
    return '–' if value is None else f'{value:.3f}'


def format_metric_table(metrics: Mapping[str, float],
                        name: str,
                        published: bool = True) -> str:
    """Markdown: headline report table (if any) and every metric.

    Args:
        metrics (Mapping[str, float]): Metric name to value (as the runner's
            test loop returns them).
        name (str): Row title of this run.
        published (bool): Add the published rows to the headline table.

    Returns:
        str: Markdown text.
    """
    lines: List[str] = []
    columns = [(title, key) for title, key in HEADLINE_COLUMNS
               if key in metrics or (published and key.startswith(
                   ('report/', 'ce_chexbert/f1_micro5')) and any(
                       k.startswith('report/') for k in metrics))]
    if any(k.startswith('report/') for k in metrics):
        protocol = str(metrics.get('report/protocol', '–'))
        lines.append('| model | protocol | ' +
                     ' | '.join(t for t, _ in columns) + ' |')
        lines.append('|---' * (len(columns) + 2) + '|')
        rows: Sequence = PUBLISHED_REPORT_FIGURES if published else ()
        for row_name, figures in rows:
            lines.append(f'| {row_name} | {PUBLISHED_PROTOCOL} | ' +
                         ' | '.join(_cell(figures.get(k))
                                    for _, k in columns) + ' |')
        lines.append(f'| {name} | {protocol} | ' + ' | '.join(
            _cell(metrics.get(k)) for _, k in columns) + ' |')
        lines.append('')
        if rows and protocol != PUBLISHED_PROTOCOL:
            lines.append(
                f'Note: the published rows were scored with the '
                f"'{PUBLISHED_PROTOCOL}' protocol, this run with "
                f"'{protocol}': the report metrics are not comparable "
                "(set ReportGenerationMetric(protocol='rgrg')).")
            lines.append('')
    lines.append('| metric | value |')
    lines.append('|---|---|')
    for key in sorted(metrics):
        value = metrics[key]
        shown = f'{value:.4f}' if isinstance(value, float) else str(value)
        lines.append(f'| {key} | {shown} |')
    return '\n'.join(lines) + '\n'


def write_metric_table(metrics: Mapping[str, float], out_dir: str,
                       name: str) -> Tuple[str, str]:
    """Write ``metrics.json`` and ``metrics.md`` into ``out_dir``.

    Returns:
        tuple[str, str]: The two paths.
    """
    os.makedirs(out_dir, exist_ok=True)
    json_path = osp.join(out_dir, 'metrics.json')
    md_path = osp.join(out_dir, 'metrics.md')
    serialisable = {
        k: (float(v) if hasattr(v, '__float__') else v)
        for k, v in metrics.items()
    }
    with open(json_path, 'w') as f:
        json.dump(dict(name=name, metrics=serialisable), f, indent=2)
    with open(md_path, 'w') as f:
        f.write(format_metric_table(serialisable, name))
    return json_path, md_path
