"""RGRG's published model on a folder of studies: images/s of RGRG's report
script against crrg's folder engine, exact and fast profiles.

The model is the one ``benchmarks/rgrg_end_to_end.py`` builds (imported, not
copied): RGRG's ``ReportGenerationModel`` from a local checkout of
ttanida/rgrg, seeded random weights in the published layout calibrated on
the folder's images (or ``--checkpoint``'s published weights), converted
by crrg's converter into
``configs/rgrg/rgrg_r50-c5_gpt2-pubmed-medium_imagenome.py``. The folder
holds ``--images`` twin studies (frontal JPEGs, 380-460 x 420-520 px).

Contenders, interleaved in every round, minimum over ``--repeats`` rounds:

- ``RGRG's script``: what ``src/full_model/generate_reports_for_images.py``
  does with a list of images: one after the other, each read, transformed,
  generated and decoded (``rgrg_end_to_end.rgrg_report``), on torch's
  threads (``--threads``; default all);
- ``crrg exact`` / ``crrg fast``, ``R replicas``: ``ReportInferencer.stream``
  on the folder (``tools/infer.py DIR --replicas R``), ``--batch-size``
  images per forward pass, the batches shared out among R forked copies of
  the inferencer (one torch thread each), the model's inference profile
  set to ``'exact'`` or ``'fast'``; each profile is warmed up on one image
  in this process first, so the copies share its packed weights.

Beside each time, the cores the contender kept busy and those the
machine's other processes used meanwhile (``timing.Watched``).

Random weights never emit the end-of-sentence token, so every selected
region writes ``--max-length`` - 1 tokens with beam ``--num-beams``.

Usage (from the repository root)::

    git --git-dir=<bare ttanida/rgrg repo> archive HEAD src | tar -x -C rgrg
    python benchmarks/rgrg_folder_throughput.py rgrg --images 4 \
        --replicas 2 --repeats 2
"""
import argparse
import glob
import os.path as osp
import sys
import tempfile
from typing import List

import torch
from rgrg_end_to_end import build_models, rgrg_report
from rgrg_parity import git_commit
from timing import Watched, interleaved, log, machine_header, set_threads

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PROFILES = ('exact', 'fast')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('rgrg', help='local checkout of ttanida/rgrg')
    parser.add_argument('--images', type=int, default=4,
                        help='twin studies in the folder')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--replicas', type=int, default=2,
                        help="crrg's forked copies (about one per core)")
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--threads', type=int, default=None,
                        help="torch threads of RGRG's script (default: "
                        "torch's)")
    parser.add_argument('--max-length', type=int, default=20,
                        help="RGRG's max_length, start token included")
    parser.add_argument('--num-beams', type=int, default=4)
    parser.add_argument('--checkpoint',
                        help="RGRG's published checkpoint: both sides run its "
                        'weights (as in rgrg_end_to_end.py)')
    parser.add_argument('--tokenizer',
                        help="a local copy of RGRG's tokenizer "
                        '(healx/gpt-2-pubmed-medium)')
    parser.add_argument('--rgrg-commit',
                        help="the checkout's commit when it is no git work "
                        'tree (e.g. made with git archive)')
    return parser.parse_args(argv)


def twin_folder(work: str, num_images: int) -> List[str]:
    """``num_images`` twin frontal JPEGs written under ``work``, sorted."""
    from crrg.datasets.synthetic import make_synthetic_mimic
    make_synthetic_mimic(work, num_train=0, num_validate=0,
                         num_test=num_images, seed=0, lateral_fraction=0.)
    return sorted(glob.glob(osp.join(work, 'mimic-cxr-jpg', '**', '*.jpg'),
                            recursive=True))


def main(argv=None) -> List[str]:
    """Runs it; returns the printed table rows."""
    args = parse_args(argv)
    set_threads(args.threads)
    threads = torch.get_num_threads()
    log(machine_header(args.threads))
    sys.path.insert(0, REPO)
    from crrg.utils import register_all_modules
    register_all_modules()
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory(prefix='rgrg_folder_') as work:
        images = twin_folder(work, args.images)
        files = {osp.basename(path): path for path in images}
        rgrg, inferencer, tokenizer = build_models(args, files, work)
        model = inferencer.model
        rgrg_report(rgrg, tokenizer, images[0], args.max_length,
                    args.num_beams)  # warm-up
        selected = {}
        for profile in PROFILES:  # packed once here, shared by the copies
            model.set_inference_profile(profile)
            (pred, ) = inferencer(images[0])['predictions']
            selected[profile] = sum(r['selected'] for r in pred['regions'])

        def rgrg_script():
            for path in images:
                rgrg_report(rgrg, tokenizer, path, args.max_length,
                            args.num_beams)

        def crrg_engine(profile: str):
            def run():
                model.set_inference_profile(profile)
                for part in inferencer.stream(
                        images, batch_size=args.batch_size,
                        num_replicas=args.replicas, skip_failed=False):
                    for pred in part['predictions']:
                        assert pred['status'] == 'ok', pred
            return run

        baseline = f"RGRG's script, {threads} threads"
        contenders = {baseline: rgrg_script}
        for profile in PROFILES:
            contenders[f'crrg {profile}, {args.replicas} replicas'] = \
                crrg_engine(profile)
        contenders = {name: Watched(fn, warm_up=False)
                      for name, fn in contenders.items()}
        times = interleaved(contenders, args.repeats, warm_up=False)
        model.set_inference_profile('exact')
    log(f'RGRG checkout {args.rgrg_commit or git_commit(args.rgrg)}; '
        f'{len(images)} twin images; '
        + (f'weights {osp.basename(args.checkpoint)}'
           if args.checkpoint else 'random weights (never EOS)')
        + f', max_length {args.max_length}, beam {args.num_beams}; crrg '
        f'batch {args.batch_size}; regions selected on the first image: '
        f'{selected["exact"]} exact, {selected["fast"]} fast; minimum of '
        f'{args.repeats} interleaved rounds')
    rows = ['| contender | s | s per image | images/s | vs RGRG | '
            "cores busy / others' |", '|---|---|---|---|---|---|']
    for name, seconds in times.items():
        rows.append(f'| {name} | {seconds:.2f} | {seconds / len(images):.2f} '
                    f'| {len(images) / seconds:.3f} | '
                    f'{times[baseline] / seconds:.2f}x | '
                    f'{contenders[name].cores()} |')
    for row in rows:
        log(row)
    return rows


if __name__ == '__main__':
    main()
