"""Score the constant-report baseline of a report-generation config.

The baseline gives every test image the most common reference report of the
training split; a report generator worth its name must beat it. Prints the
report metrics and the rule-based clinical-efficacy scores (and writes them
with ``--out``).

    python tools/constant_report_baseline.py configs/rrg/rrg-generator_tiny_synthetic.py
"""
import argparse
import json
from collections import Counter

from mmengine.config import Config, DictAction

from crrg.evaluation.metrics.clinical_efficacy_metric import \
    score_clinical_efficacy
from crrg.evaluation.metrics.report_metric import score_reports
from crrg.evaluation.summary import format_metric_table
from crrg.registry import DATASETS
from crrg.utils import register_all_modules


def dataset_reports(dataset_cfg) -> dict:
    """img_id -> gt_report of a dataset config, without running its pipeline."""
    dataset_cfg = dict(dataset_cfg, pipeline=[])
    dataset = DATASETS.build(dataset_cfg)
    infos = (dataset.get_data_info(i) for i in range(len(dataset)))
    return {info['img_id']: info['gt_report'] for info in infos}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    train = dataset_reports(cfg.train_dataloader.dataset)
    test = dataset_reports(cfg.test_dataloader.dataset)
    report, count = Counter(train.values()).most_common(1)[0]
    print(f'most common training report ({count} of {len(train)}): '
          f'{report!r}')
    ids = sorted(test, key=str)
    metrics = {
        f'report/{k}': v
        for k, v in score_reports({i: report for i in ids}, test).items()
    }
    metrics.update({
        f'ce_rules/{k}': v for k, v in score_clinical_efficacy(
            [report] * len(ids), [test[i] for i in ids]).items()
    })
    print(f'constant-report baseline on {len(test)} test images:')
    print(format_metric_table(metrics, 'constant report', published=False))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(metrics, f, indent=2)


if __name__ == '__main__':
    main()
