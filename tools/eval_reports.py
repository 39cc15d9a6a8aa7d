"""Score generated reports against references with crrg's report metrics.

Each file is JSON Lines, one ``{"id": ..., "report": "..."}`` per line;
lines are matched by id in any order. Example::

    python tools/eval_reports.py pred.jsonl gt.jsonl --out metrics.json

Besides BLEU-1..4, METEOR, ROUGE-L, CIDEr and TF-IDF it prints the clinical
efficacy (CE) scores from the weight-free rule-based CheXpert labeler
(``ce_rules/...``), from CheXbert with ``--chexbert chexbert.pth
--chexbert-tokenizer DIR`` (``ce_chexbert/...``) and RadGraph F1 with
``--radgraph DIR`` (``radgraph/...``). ``--cider-df corpus.jsonl`` takes
CIDEr's document frequencies from that corpus (RGRG's mode).

Problems (malformed lines, missing keys, non-string reports, duplicate ids,
ids on one side only) are all listed with file and line number, and the exit
code is 2. ``--allow-missing`` scores the ids both files share and says how
many were dropped from each side.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Tuple

from crrg.evaluation.labelers import CheXbertLabeler
from crrg.evaluation.metrics.clinical_efficacy_metric import \
    score_clinical_efficacy
from crrg.evaluation.metrics.radgraph_metric import (build_radgraph_annotator,
                                                     score_radgraph)
from crrg.evaluation.metrics.report_metric import (load_report_corpus,
                                                   score_reports)
from crrg.evaluation.summary import format_metric_table


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
    parser.add_argument(
        '--cider-df',
        help='JSONL ({"report": ...}) or text corpus whose document '
        'frequencies CIDEr uses (RGRG mode); default: the references scored')
    parser.add_argument(
        '--no-rules', action='store_true',
        help='skip the rule-based CE scores')
    parser.add_argument('--chexbert', help="CheXbert's chexbert.pth")
    parser.add_argument(
        '--chexbert-tokenizer',
        help="folder with bert-base-uncased's vocab.txt (with --chexbert)")
    parser.add_argument(
        '--radgraph', help='local RadGraph model folder (holds '
        'radgraph-xl/config.json, weights.th, vocabulary/)')
    parser.add_argument('--radgraph-type', default='radgraph-xl')
    args = parser.parse_args()
    if args.chexbert and not args.chexbert_tokenizer:
        parser.error('--chexbert needs --chexbert-tokenizer DIR (a folder '
                     "with bert-base-uncased's vocab.txt)")

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
    corpus = load_report_corpus(args.cider_df) if args.cider_df else None
    pred_list = [preds[i] for i in shared]
    ref_list = [refs[i] for i in shared]
    scores = score_reports({i: preds[i] for i in shared},
                           {i: refs[i] for i in shared},
                           None if args.clean == 'none' else args.clean,
                           cider_df_corpus=corpus)
    metrics = {f'report/{k}': v for k, v in scores.items()}
    if not args.no_rules:
        metrics.update({
            f'ce_rules/{k}': v
            for k, v in score_clinical_efficacy(pred_list, ref_list).items()
        })
    if args.chexbert:
        labeler = CheXbertLabeler(args.chexbert, args.chexbert_tokenizer)
        metrics.update({
            f'ce_chexbert/{k}': v for k, v in score_clinical_efficacy(
                pred_list, ref_list, labeler).items()
        })
    if args.radgraph:
        annotator = build_radgraph_annotator(args.radgraph,
                                             args.radgraph_type)
        metrics.update({
            f'radgraph/{k}': v
            for k, v in score_radgraph(pred_list, ref_list, annotator).items()
        })
    print(f'{len(shared)} reports; CIDEr document frequencies from '
          f'{args.cider_df or "the references scored"}')
    print(format_metric_table(metrics, osp.basename(args.pred)))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(metrics, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
