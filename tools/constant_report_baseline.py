"""Score the constant-report baseline of a report-generation config.

The baseline gives every test image the most common reference report of the
training split; a report generator worth its name must beat it. Prints the
report metrics and the rule-based clinical-efficacy scores (and writes them
with ``--out``). The report metrics use the scoring protocol of the config's
``ReportGenerationMetric`` unless ``--protocol`` says otherwise.

    python tools/constant_report_baseline.py configs/rrg/rrg-generator_tiny_synthetic.py
"""
import argparse
import json

from mmengine.config import Config, DictAction

from crrg.evaluation.metrics.report_metric import PROTOCOLS, R2GEN_DATASETS
from crrg.evaluation.report_files import constant_report_baseline
from crrg.evaluation.summary import format_metric_table
from crrg.utils import register_all_modules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    parser.add_argument(
        '--protocol', choices=PROTOCOLS,
        help="scoring protocol (default: the config's)")
    parser.add_argument(
        '--r2gen-dataset', choices=R2GEN_DATASETS,
        help="R2Gen's cleaner variant with --protocol r2gen (default: the "
        "config's)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    report, count, num_train, metrics = constant_report_baseline(
        cfg, args.protocol, args.r2gen_dataset)
    print(f'most common training report ({count} of {num_train}): '
          f'{report!r}')
    print(f'constant-report baseline, protocol {metrics["report/protocol"]}:')
    print(format_metric_table(metrics, 'constant report', published=False))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(metrics, f, indent=2)


if __name__ == '__main__':
    main()
