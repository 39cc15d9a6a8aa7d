"""R-CLIP pre-training vs random initialisation, by the RSNA linear probe.

For each seed: trains R-CLIP (``--clip-config``) and, when
``--opt-clip-config`` is given, R-CLIP-opt (trained on RRG-generated reports),
and, when ``--back-translation-file`` is given, R-CLIP with CXR-CLIP's
back-translated text views (``tools/back_translate.py --image-text``), then
trains and tests the linear probe (``--probe-config``) on the same training
subset on each frozen image tower and on a randomly-initialised one. Prints AUC and
accuracy per seed and their mean ± sample std over the seeds, and writes them
to ``<work-dir>/results.json``.

The default is the embedded CPU setting (synthetic twins, tiny models)::

    python tools/rclip_probe_experiment.py --seeds 0 1 2
"""
import argparse
import json
import os.path as osp
import statistics
from typing import Dict, List

from mmengine.config import Config
from mmengine.runner import Runner

from crrg.utils import register_all_modules

METRICS = ('binary/auc', 'binary/accuracy')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--clip-config',
                        default='configs/rclip/rclip_tiny_synthetic.py')
    parser.add_argument(
        '--probe-config',
        default='configs/linear_probe/probe_tiny_rclip_rsna-1pct_synthetic.py')
    parser.add_argument(
        '--opt-clip-config', default=None,
        help='e.g. configs/rclip/rclip_tiny_gen-reports_synthetic.py (needs the '
        'generated reports of tools/generate_reports.py)')
    parser.add_argument(
        '--back-translation-file', default=None,
        help='also train R-CLIP with back-translated text views (p = 0.5) '
        'from this file (tools/back_translate.py --image-text)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-dir', default='work_dirs/rclip_probe_experiment')
    return parser.parse_args()


def run(cfg: Config, work_dir: str, name: str, train_only: bool = False
        ) -> Dict[str, float]:
    """Train (and test) one config in this process; the test metrics."""
    cfg.work_dir = work_dir
    cfg.experiment_name = name
    runner = Runner.from_cfg(cfg)
    runner.train()
    return {} if train_only else runner.test()


def summary(values: List[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f'{statistics.mean(values):.3f} ± {std:.3f}'


def main() -> None:
    args = parse_args()
    register_all_modules()
    # name -> (config, overrides)
    clip_configs = dict(rclip=(args.clip_config, {}))
    if args.back_translation_file:
        clip_configs['rclip+back-translation'] = (args.clip_config, {
            'train_dataloader.dataset.back_translation_file':
            args.back_translation_file
        })
    if args.opt_clip_config:
        clip_configs['rclip-opt'] = (args.opt_clip_config, {})
    results: Dict[str, Dict[int, Dict[str, float]]] = {
        init: {} for init in (*clip_configs, 'random')}
    for seed in args.seeds:
        root = osp.join(args.work_dir, f'seed{seed}')
        checkpoints = {}
        for init, (config, overrides) in clip_configs.items():
            clip_cfg = Config.fromfile(config)
            clip_cfg.merge_from_dict(overrides)
            clip_cfg.randomness = dict(seed=seed)
            run(clip_cfg, osp.join(root, init), f'{init}_seed{seed}',
                train_only=True)
            with open(osp.join(root, init, 'last_checkpoint')) as f:
                checkpoints[init] = f.read().strip()
        for init in results:
            cfg = Config.fromfile(args.probe_config)
            cfg.randomness = dict(seed=seed)
            cfg.train_dataloader.dataset.fraction_seed = seed
            if init in checkpoints:
                cfg.model.backbone.init_cfg.checkpoint = checkpoints[init]
            else:
                cfg.model.backbone.init_cfg = None
            metrics = run(cfg, osp.join(root, f'probe_{init}'),
                          f'probe_{init}_seed{seed}')
            results[init][seed] = {k: float(metrics[k]) for k in METRICS}
    lines = ['| encoder | ' + ' | '.join(
        f'{m} seed {s}' for s in args.seeds for m in ('AUC', 'Acc')) +
        ' | AUC mean ± std | Acc mean ± std |']
    for init, per_seed in results.items():
        cells = [f'{per_seed[s][k]:.3f}' for s in args.seeds for k in METRICS]
        cells += [summary([per_seed[s][k] for s in args.seeds])
                  for k in METRICS]
        lines.append(f'| {init} | ' + ' | '.join(cells) + ' |')
    print('\n'.join(lines))
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(dict(seeds=args.seeds, results=results,
                       table='\n'.join(lines)), f, indent=2)


if __name__ == '__main__':
    main()
