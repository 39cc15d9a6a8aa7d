"""Score generated reports against references with crrg's report metrics.

Each file is JSON Lines, one ``{"id": ..., "report": "..."}`` per line;
lines are matched by id in any order. Example::

    python tools/eval_reports.py pred.jsonl gt.jsonl --protocol rgrg --out metrics.json

``--protocol`` says how both sides are prepared before pycocoevalcap:
``r2gen`` (R2Gen's cleaning, the default; ``--r2gen-dataset iu_xray`` for its
IU X-ray variant), ``rgrg`` (RGRG's tokenisation and CIDEr, for comparison with
RGRG and CRRG-CLIP) or ``none``; the output names it as ``report/protocol``.
Besides BLEU-1..4, METEOR, ROUGE-L, CIDEr and TF-IDF it prints the clinical
efficacy (CE) scores from the weight-free rule-based CheXpert labeler
(``ce_rules/...``), from CheXbert with ``--chexbert chexbert.pth
--chexbert-tokenizer DIR`` (``ce_chexbert/...``) and RadGraph F1 with
``--radgraph DIR`` (``radgraph/...``). ``--cider-df corpus.jsonl`` takes
CIDEr's document frequencies from that corpus (fixed-df mode; not with
``rgrg``).

Problems (malformed lines, missing keys, non-string reports, duplicate ids,
ids on one side only) are all listed with file and line number, and the exit
code is 2. ``--allow-missing`` scores the ids both files share and says how
many were dropped from each side.
"""
import argparse
import json
import os.path as osp
import sys

from crrg.evaluation.labelers import CheXbertLabeler
from crrg.evaluation.metrics.radgraph_metric import build_radgraph_annotator
from crrg.evaluation.metrics.report_metric import (PROTOCOLS, R2GEN_DATASETS,
                                                   load_report_corpus)
from crrg.evaluation.report_files import match_report_files, \
    score_report_pairs
from crrg.evaluation.summary import format_metric_table


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
        '--protocol',
        choices=PROTOCOLS,
        default='r2gen',
        help='scoring protocol applied to both sides (default: r2gen)')
    parser.add_argument(
        '--r2gen-dataset',
        choices=R2GEN_DATASETS,
        default='mimic_cxr',
        help="R2Gen's cleaner variant with --protocol r2gen "
        '(default: mimic_cxr)')
    parser.add_argument(
        '--cider-df',
        help='JSONL ({"report": ...}) or text corpus whose document '
        'frequencies CIDEr uses (fixed-df mode); default: the references '
        'scored')
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
    if args.cider_df and args.protocol == 'rgrg':
        parser.error("--cider-df: the rgrg protocol computes CIDEr as RGRG's "
                     'code does, without a corpus')

    preds, refs, problems, (only_pred, only_ref) = match_report_files(
        args.pred, args.gt, args.allow_missing)
    if problems:
        print(f'eval_reports: {len(problems)} problem(s):', file=sys.stderr)
        for problem in problems:
            print(f'  {problem}', file=sys.stderr)
        return 2
    if only_pred or only_ref:
        print(f'--allow-missing: scoring {len(preds)} shared ids; dropped '
              f'{only_pred} prediction(s) without reference and '
              f'{only_ref} reference(s) without prediction')
    if not preds:
        print('eval_reports: no id is in both files', file=sys.stderr)
        return 2
    metrics = score_report_pairs(
        preds, refs, args.protocol, args.r2gen_dataset,
        cider_df_corpus=load_report_corpus(args.cider_df)
        if args.cider_df else None,
        rules=not args.no_rules,
        chexbert_labeler=CheXbertLabeler(args.chexbert,
                                         args.chexbert_tokenizer)
        if args.chexbert else None,
        radgraph_annotator=build_radgraph_annotator(
            args.radgraph, args.radgraph_type) if args.radgraph else None)
    cider = ('RGRG\'s (equal weights)' if args.protocol == 'rgrg' else
             args.cider_df or 'the references scored')
    print(f'{len(preds)} reports; protocol {metrics["report/protocol"]}; '
          f'CIDEr document frequencies from {cider}')
    print(format_metric_table(metrics, osp.basename(args.pred)))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(metrics, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
