"""Agreement of the rule-based CheXpert labeler with IU X-ray's MeSH tags.

Reads the 3,955 original IU X-ray reports (``NLMCXR_reports.tgz``; by default
the copy cached from torchxrayvision's wheel by ``tools/fetch_real_data.py``)
and prints per condition the precision / recall / F1 of the rule labels of
FINDINGS + IMPRESSION against the human MeSH tags, with uncertain counted
positive and negative::

    python tools/ce_labeler_agreement.py [NLMCXR_reports.tgz] [--out table.md]
"""
import argparse
import sys

from crrg.datasets.iu_xray import read_openi_reports
from crrg.evaluation.labelers import RuleBasedCheXpertLabeler
from crrg.evaluation.labelers.agreement import mesh_agreement
from crrg.utils.real_data import real_data_file


def format_agreement(tables: dict, num_reports: int) -> str:
    """Markdown table, one row per condition, both uncertain mappings."""
    lines = [
        f'Rule-based labeler vs MeSH tags, {num_reports} IU X-ray reports',
        '', '| condition | tagged | P (unc.=pos.) | R | F1 | P (unc.=neg.) '
        '| R | F1 |', '|---|---|---|---|---|---|---|---|'
    ]
    for name, pos in tables['positive'].items():
        neg = tables['negative'][name]
        lines.append(
            f'| {name} | {pos["tagged"]} | {pos["precision"]:.3f} | '
            f'{pos["recall"]:.3f} | {pos["f1"]:.3f} | '
            f'{neg["precision"]:.3f} | {neg["recall"]:.3f} | '
            f'{neg["f1"]:.3f} |')
    return '\n'.join(lines) + '\n'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('reports', nargs='?',
                        help='NLMCXR_reports.tgz or its extracted folder')
    parser.add_argument('--out', help='also write the markdown table here')
    args = parser.parse_args()
    path = args.reports or real_data_file('iu_xray_reports')
    if path is None:
        print('ce_labeler_agreement: no report archive given and none '
              'cached; run python tools/fetch_real_data.py first',
              file=sys.stderr)
        return 2
    reports = read_openi_reports(path)
    labeler = RuleBasedCheXpertLabeler()
    tables = {
        mapping: mesh_agreement(reports, labeler, mapping)
        for mapping in ('positive', 'negative')
    }
    text = format_agreement(tables, len(reports))
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
