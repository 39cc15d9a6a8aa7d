"""Test a crrg checkpoint with its config's test loop and evaluators.

A report generator's evaluators get the clinical-efficacy scores of the
weight-free rule-based CheXpert labeler added (``--no-ce`` skips them), and
CheXbert CE scores / RadGraph F1 with ``--chexbert``/``--radgraph`` (local
weights only): the flags only edit the config's ``test_evaluator``
(:func:`crrg.evaluation.add_clinical_metrics`, as ``--cfg-options`` would),
and the runner builds the metrics from it. The checkpoint is loaded
strictly (every parameter of the model must be in it and nothing else);
``--allow-partial`` loads the matching weights anyway. After the run, one
table of every metric is printed and written as ``metrics.json`` and
``metrics.md`` (report generators: beside the published figures of
``docs/results.md``) to the run's log folder or ``--table-dir``.
``--profile fast`` tests a model's fast inference path (its
``set_inference_profile``, as ``tools/infer.py --profile``); the default
keeps the config's switches.

Example::

    python tools/test.py configs/region_detector/faster-rcnn_tiny_synthetic.py \
        work_dirs/faster-rcnn_tiny_synthetic/epoch_24.pth --out preds.pkl
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from crrg.evaluation import add_clinical_metrics
from crrg.models.report_generators import INFERENCE_PROFILES
from crrg.evaluation.summary import format_metric_table, write_metric_table
from crrg.utils import (finish_distributed, load_model_checkpoint,
                        load_runner_config, register_all_modules)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a crrg model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--out',
        help='dump the raw predictions (data samples) to this .pkl file')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='load a checkpoint whose keys do not all match the model')
    parser.add_argument(
        '--no-ce',
        action='store_true',
        help='do not add the rule-based CE metric to report evaluators')
    parser.add_argument('--chexbert', help="CheXbert's chexbert.pth: add "
                        'CheXbert CE scores to report evaluators')
    parser.add_argument(
        '--chexbert-tokenizer',
        help="folder with bert-base-uncased's vocab.txt (with --chexbert)")
    parser.add_argument(
        '--radgraph', help='local RadGraph model folder: add RadGraph F1 '
        'to report evaluators')
    parser.add_argument('--radgraph-type', default='radgraph-xl')
    parser.add_argument(
        '--table-dir',
        help='where to write metrics.json / metrics.md (default: the run '
        'log folder)')
    parser.add_argument(
        '--name', help='row title of this run in metrics.md (default: the '
        'config name)')
    parser.add_argument(
        '--profile',
        choices=INFERENCE_PROFILES,
        help='inference profile: exact (fp32) or fast (the model\'s fast '
        'path, e.g. detector bf16 + generator int8); default: the config\'s '
        'switches')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if args.chexbert and not args.chexbert_tokenizer:
        parser.error('--chexbert needs --chexbert-tokenizer DIR (a folder '
                     "with bert-base-uncased's vocab.txt)")
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out {args.out}: the dump is a pickle, the file name '
                     'must end with .pkl or .pickle')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_runner_config(args.config, args.launcher, args.cfg_options,
                             args.work_dir)
    # the flags edit the config's test_evaluator; the runner builds it
    evaluator = add_clinical_metrics(
        cfg.get('test_evaluator'),
        rules=not args.no_ce,
        chexbert=dict(checkpoint=args.chexbert,
                      tokenizer=args.chexbert_tokenizer)
        if args.chexbert else None,
        radgraph=dict(model_dir=args.radgraph, model_type=args.radgraph_type)
        if args.radgraph else None)
    if args.out is not None:
        evaluator.append(dict(type='DumpResults', out_file_path=args.out))
    cfg.test_evaluator = evaluator
    config_name = osp.splitext(osp.basename(args.config))[0]
    # the runner's own loading is lenient; crrg loads strictly below
    cfg.load_from = None
    cfg.resume = False
    runner = Runner.from_cfg(cfg)
    # under a launcher the runner holds the model wrapped in DDP
    model = runner.model.module if is_model_wrapper(runner.model) \
        else runner.model
    load_model_checkpoint(
        model, args.checkpoint, allow_partial=args.allow_partial)
    if args.profile is not None:
        if not hasattr(model, 'set_inference_profile'):
            raise SystemExit(f'--profile: {type(model).__name__} has no '
                             'inference profiles')
        model.set_inference_profile(args.profile)
    metrics = runner.test()
    if runner.rank == 0:
        name = args.name or config_name
        table_dir = args.table_dir or runner.log_dir
        json_path, md_path = write_metric_table(metrics, table_dir, name)
        print(format_metric_table(metrics, name))
        print(f'metrics written to {json_path} and {md_path}')
    finish_distributed()


if __name__ == '__main__':
    main()
