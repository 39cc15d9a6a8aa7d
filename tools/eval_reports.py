"""Score generated reports against references with crrg's report metrics.

Each file is JSON Lines, one ``{"id": ..., "report": "..."}`` per line;
lines are matched by id in any order. Example::

    python tools/eval_reports.py pred.jsonl gt.jsonl --out metrics.json

Problems (malformed lines, missing keys, non-string reports, duplicate ids,
ids on one side only) are all listed with file and line number, and the exit
code is 2. ``--allow-missing`` scores the ids both files share and says how
many were dropped from each side.
"""
import argparse
import json
import sys
from typing import Dict, List, Tuple

from crrg.evaluation.metrics.report_metric import format_table, score_reports


def read_reports(path: str) -> Tuple[Dict[str, str], Dict[str, int],
                                     List[str]]:
    """Read a JSONL report file.

    Returns:
        tuple: id -> report, id -> line number, and the list of problems
        (each naming the file and the line).
    """
    reports: Dict[str, str] = {}
    lines: Dict[str, int] = {}
    problems: List[str] = []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f'{path}:{number}'
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f'{where}: not valid JSON ({e.msg})')
                continue
            if not isinstance(record, dict) or 'id' not in record \
                    or 'report' not in record:
                problems.append(f'{where}: expected an object with keys "id" '
                                'and "report"')
                continue
            if not isinstance(record['report'], str):
                problems.append(f'{where}: "report" is a '
                                f'{type(record["report"]).__name__}, not a '
                                'string')
                continue
            key = str(record['id'])
            if key in reports:
                problems.append(f'{where}: duplicate id {key!r} (first on '
                                f'line {lines[key]})')
                continue
            reports[key] = record['report']
            lines[key] = number
    return reports, lines, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('pred', help='generated reports (JSONL)')
    parser.add_argument('gt', help='reference reports (JSONL)')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    parser.add_argument(
        '--allow-missing',
        action='store_true',
        help='score only the ids present in both files')
    parser.add_argument(
        '--clean',
        choices=['mimic_cxr', 'iu_xray', 'none'],
        default='mimic_cxr',
        help='report cleaning applied to both sides (default: mimic_cxr)')
    args = parser.parse_args()

    preds, pred_lines, problems = read_reports(args.pred)
    refs, ref_lines, ref_problems = read_reports(args.gt)
    problems += ref_problems
    only_pred = sorted(set(preds) - set(refs))
    only_ref = sorted(set(refs) - set(preds))
    if not args.allow_missing:
        problems += [f'{args.pred}:{pred_lines[i]}: id {i!r} has no reference '
                     f'in {args.gt}' for i in only_pred]
        problems += [f'{args.gt}:{ref_lines[i]}: id {i!r} has no prediction '
                     f'in {args.pred}' for i in only_ref]
    if problems:
        print(f'eval_reports: {len(problems)} problem(s):', file=sys.stderr)
        for problem in problems:
            print(f'  {problem}', file=sys.stderr)
        return 2
    shared = sorted(set(preds) & set(refs))
    if only_pred or only_ref:
        print(f'--allow-missing: scoring {len(shared)} shared ids; dropped '
              f'{len(only_pred)} prediction(s) without reference and '
              f'{len(only_ref)} reference(s) without prediction')
    if not shared:
        print('eval_reports: no id is in both files', file=sys.stderr)
        return 2
    metrics = score_reports({i: preds[i] for i in shared},
                            {i: refs[i] for i in shared},
                            None if args.clean == 'none' else args.clean)
    print(f'{len(shared)} reports')
    print(format_table(metrics))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(metrics, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
