"""Folder throughput: images/s of a folder of twin studies, one image at a
time against crrg's folder engine (``ReportInferencer.stream``: decoding
workers, batched detection, the selected regions of a batch's images
generated in one decoding batch).

The contenders, interleaved in every round, minimum over the rounds:

- ``one at a time``: each image its own call, decoded in this process
  (what ``tools/infer.py`` did before the engine);
- ``engine``: ``stream(folder, batch_size=B, num_workers=W)``.

The model is the tiny generator config (the demo's main job trains it) with
random weights, a byte-level tokenizer trained on the twin's reports, and
every region selected so each image generates 29 sentences of
``--max-new-tokens``; the images are the twin's frontal JPEGs (380-460 x
420-520 px).

Example::

    python benchmarks/folder_throughput.py --images 32 --batch-size 8 \
        --workers 1 --repeats 3
"""
import argparse
import glob
import os.path as osp
import tempfile

import torch
from mmengine.config import Config
from timing import interleaved, log, machine_header, set_threads

from crrg.apis import ReportInferencer
from crrg.datasets.synthetic import make_synthetic_mimic
from crrg.models.utils import train_report_tokenizer
from crrg.testing.tiny_rgrg import spread_box_classifier

CONFIG = 'configs/rrg/rrg-generator_tiny_synthetic.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=32,
                        help='twin studies in the folder')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--workers', type=int, default=1,
                        help='decoding processes of the engine')
    parser.add_argument('--max-new-tokens', type=int, default=12)
    parser.add_argument('--threads', type=int, default=None,
                        help="torch's threads (default: torch's choice)")
    parser.add_argument('--repeats', type=int, default=3)
    return parser.parse_args()


def build_inferencer(work: str, max_new_tokens: int,
                     image: str) -> ReportInferencer:
    """The tiny generator with random weights (seed 0); every detected region
    is selected and every sentence is ``max_new_tokens`` long. The random box
    classifier is drawn orthogonal to ``image``'s mean RoI feature so that
    most of the 29 regions win a vote and are detected (a random one left
    ~5 of 29 detected, and random sentences ended at once, which left the
    detector alone to time)."""
    sentences = []
    for path in glob.glob(osp.join(work, 'mimic-cxr-reports', '**', '*.txt'),
                          recursive=True):
        with open(path) as f:
            sentences.extend(s for s in f.read().split('.') if s.strip())
    tokenizer = osp.join(work, 'tokenizer')
    train_report_tokenizer(sentences, tokenizer, vocab_size=500)
    cfg = Config.fromfile(CONFIG)
    cfg.model.generator.tokenizer = tokenizer
    cfg.model.generator.max_new_tokens = max_new_tokens
    cfg.model.generator.min_new_tokens = max_new_tokens
    cfg.model.selector.threshold = -100.0
    torch.manual_seed(0)
    inferencer = ReportInferencer(model=cfg, weights=None)
    spread_box_classifier(inferencer, image)
    return inferencer


def main() -> None:
    args = parse_args()
    set_threads(args.threads)
    log(machine_header(args.threads))
    with tempfile.TemporaryDirectory() as work:
        make_synthetic_mimic(work, num_train=0, num_validate=0,
                             num_test=args.images, seed=0,
                             lateral_fraction=0.)
        images = sorted(glob.glob(
            osp.join(work, 'mimic-cxr-jpg', '**', '*.jpg'), recursive=True))
        inferencer = build_inferencer(work, args.max_new_tokens, images[0])

        def one_at_a_time():
            for path in images:
                inferencer([path])

        def engine():
            for _ in inferencer.stream(images, batch_size=args.batch_size,
                                       num_workers=args.workers):
                pass

        selected = sum(
            sum(r['selected'] for r in pred['regions'])
            for pred in inferencer(images)['predictions']) / len(images)
        times = interleaved(
            {'one at a time': one_at_a_time, 'engine': engine},
            args.repeats)
    base = len(images) / times['one at a time']
    log(f'{len(images)} twin images, {args.max_new_tokens} new tokens per '
        f'region, {selected:.1f} of 29 regions selected per image (mean); '
        f'engine: batch {args.batch_size}, '
        f'{args.workers} decoding worker(s); minimum of {args.repeats}')
    log('| contender | s | images/s | vs one at a time |')
    log('|---|---|---|---|')
    for name, seconds in times.items():
        rate = len(images) / seconds
        log(f'| {name} | {seconds:.2f} | {rate:.2f} | {rate / base:.2f}x |')


if __name__ == '__main__':
    main()
