"""Write RRG-generated reports for the studies of an R-CLIP training set.

R-CLIP-opt trains on these instead of the reference reports. For each study
of the CLIP config's dataset (its frontal image), the region-guided report
generator writes a report; the output is JSON lines, one
``{"study_id", "subject_id", "img_path", "report"}`` object per study, which
``MimicCxrImageTextDataset(report_file=...)`` reads.

Example::

    python tools/generate_reports.py configs/rrg/rrg-generator_tiny_synthetic.py \
        work_dirs/demo/generator/epoch_1.pth configs/rclip/rclip_tiny_synthetic.py \
        --out work_dirs/rrg_reports/synthetic_train.jsonl
"""
import argparse
import json
import logging
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from crrg.apis import ReportInferencer, dicom_header_check
from crrg.registry import DATASETS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('rrg_config', help='report generator config')
    parser.add_argument('rrg_checkpoint', help='report generator checkpoint')
    parser.add_argument('clip_config', help='R-CLIP config whose '
                        'train_dataloader.dataset lists the studies')
    parser.add_argument('--out', required=True, help='output .jsonl file')
    parser.add_argument('--split', default=None,
                        help='dataset split (default: the config\'s)')
    parser.add_argument('--batch-size', type=int, default=8,
                        help='images per forward pass')
    parser.add_argument('--workers', type=int, default=1,
                        help='processes that decode the images ahead of '
                        'the model (0: none; not used with --replicas)')
    parser.add_argument('--replicas', type=int, default=1,
                        help='forked copies of the model that predict '
                        'batches in parallel, each on one torch thread '
                        '(about one per core); reports as one process '
                        'gives (up to float rounding), in '
                        "study order; up to N times the model's memory")
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--allow-partial', action='store_true',
                        help='load a checkpoint whose keys do not match '
                        'the model')
    parser.add_argument('--profile', choices=['exact', 'fast'],
                        help='inference profile: exact (fp32) or fast '
                        '(detector bf16 + channels-last, generator int8); '
                        "default: the config's switches")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides of the report generator config')
    return parser.parse_args(argv)


def build_studies(clip_config: str, split: str = None):
    """The CLIP config's training dataset, without pipeline or report file."""
    dataset_cfg = Config.fromfile(clip_config).train_dataloader.dataset
    dataset_cfg.pipeline = []
    dataset_cfg.report_file = None
    if split is not None:
        dataset_cfg.split = split
    return DATASETS.build(dataset_cfg)


def main(argv: list[str] | None = None) -> None:
    """Write the generated reports."""
    args = parse_args(argv)
    cfg = Config.fromfile(args.rrg_config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    # the split's images are frontal chest views by the dataset's metadata:
    # only their DICOM headers are checked, not the picture (whose check is
    # for unknown inputs and would bias the scores by its false refusals)
    inferencer = ReportInferencer(
        model=cfg, weights=args.rrg_checkpoint, device=args.device,
        allow_partial=args.allow_partial, profile=args.profile,
        chest_checks=[dicom_header_check])
    studies = build_studies(args.clip_config, args.split)
    infos = [studies.get_data_info(i) for i in range(len(studies))]
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    num_empty = num_refused = 0
    progress = ProgressBar(len(infos))
    parts = inferencer.stream(
        [info['img_paths'][0] for info in infos],
        batch_size=args.batch_size, num_workers=args.workers,
        num_replicas=args.replicas, skip_failed=False)
    predictions = (pred for part in parts for pred in part['predictions'])
    with open(args.out, 'w', encoding='utf-8') as f:
        for info, pred in zip(infos, predictions):
            num_empty += not pred['report']
            if pred['status'] == 'refused':
                num_refused += 1
                print_log(f'{pred["img_path"]}: {pred["refusal"]}',
                          'current', logging.WARNING)
            f.write(json.dumps(dict(
                study_id=info['study_id'],
                subject_id=info['subject_id'],
                img_path=info['img_paths'][0],
                report=pred['report'])) + '\n')
            progress.update()
    print_log(f'wrote {len(studies)} generated reports to {args.out} '
              f'({num_empty} empty: {num_refused} refused as not frontal '
              'chest radiographs, the others with no region selected)',
              'current')


if __name__ == '__main__':
    main()
