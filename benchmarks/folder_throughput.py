"""Folder throughput: images/s of a folder of twin studies, one image at a
time against crrg's folder engine (``ReportInferencer.stream``).

The contenders, interleaved in every round, minimum over the rounds:

- ``one at a time, T threads``: each image its own call, decoded in this
  process (what ``tools/infer.py`` did before the engine), on torch's
  threads (the baseline) and on 1 thread: their ratio shows how much of a
  call uses the second core (single-threaded operators such as RoIAlign
  and NMS, and Python, do not);
- ``engine, batch B, W workers``: ``stream(folder, batch_size=B,
  num_workers=W)``, one process: decoding workers ahead of the model,
  batched detection, the selected regions of a batch's images generated in
  one decoding batch;
- ``engine, batch B, R replicas``: ``stream(folder, batch_size=B,
  num_replicas=R)``: the batches shared out among R forked copies of the
  inferencer, each on one torch thread.

Beside each time, the cores the contender kept busy (its CPU seconds, and
its worker processes', per second) and those the machine's other processes
used meanwhile (0 on a quiet machine).

The model is the tiny generator config (the demo's main job trains it) with
random weights, a byte-level tokenizer trained on the twin's reports, and
every detected region selected (most of the 29 are), each generating a
sentence of ``--max-new-tokens``; the images are the twin's frontal JPEGs
(380-460 x 420-520 px).

The replicas fork and warm up once per call (~0.25 s here), so a small
folder understates them; docs/benchmarks.md reports 32, 128 and 256 images.

Example::

    python benchmarks/folder_throughput.py --images 128 --batch-size 8 \
        --workers 1 --replicas 2 --repeats 5
"""
import argparse
import glob
import os.path as osp
import tempfile
from typing import List

import torch
from mmengine.config import Config
from timing import Watched, interleaved, log, machine_header, set_threads

from crrg.apis import ReportInferencer
from crrg.datasets.synthetic import make_synthetic_mimic
from crrg.models.utils import train_report_tokenizer
from crrg.testing.tiny_rgrg import spread_box_classifier

CONFIG = 'configs/rrg/rrg-generator_tiny_synthetic.py'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=32,
                        help='twin studies in the folder')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--workers', type=int, default=1,
                        help='decoding processes of the one-process engine')
    parser.add_argument('--replicas', type=int, default=2,
                        help='forked copies of the inferencer in the '
                        'replicated engine')
    parser.add_argument('--max-new-tokens', type=int, default=12)
    parser.add_argument('--threads', type=int, default=None,
                        help="torch's threads (default: torch's choice)")
    parser.add_argument('--repeats', type=int, default=3)
    return parser.parse_args(argv)


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


def main(argv=None) -> List[str]:
    """Runs it; returns the table's rows."""
    args = parse_args(argv)
    set_threads(args.threads)
    threads = torch.get_num_threads()
    log(machine_header(args.threads))
    with tempfile.TemporaryDirectory() as work:
        make_synthetic_mimic(work, num_train=0, num_validate=0,
                             num_test=args.images, seed=0,
                             lateral_fraction=0.)
        images = sorted(glob.glob(
            osp.join(work, 'mimic-cxr-jpg', '**', '*.jpg'), recursive=True))
        inferencer = build_inferencer(work, args.max_new_tokens, images[0])

        def one_at_a_time(num_threads):
            torch.set_num_threads(num_threads)
            for path in images:
                inferencer([path])
            torch.set_num_threads(threads)

        def engine(**kwargs):
            for _ in inferencer.stream(images, batch_size=args.batch_size,
                                       **kwargs):
                pass

        baseline = f'one at a time, {threads} threads'
        contenders = {baseline: lambda: one_at_a_time(threads)}
        if threads > 1:
            contenders['one at a time, 1 thread'] = lambda: one_at_a_time(1)
        contenders[f'engine, batch {args.batch_size}, {args.workers} '
                   'workers'] = lambda: engine(num_workers=args.workers)
        contenders[f'engine, batch {args.batch_size}, {args.replicas} '
                   'replicas'] = lambda: engine(num_replicas=args.replicas)
        selected = sum(
            sum(r['selected'] for r in pred['regions'])
            for pred in inferencer(images)['predictions']) / len(images)
        contenders = {name: Watched(fn) for name, fn in contenders.items()}
        times = interleaved(contenders, args.repeats)
    base = len(images) / times[baseline]
    log(f'{len(images)} twin images, {args.max_new_tokens} new tokens per '
        f'region, {selected:.1f} of 29 regions selected per image (mean); '
        f'minimum of {args.repeats}')
    rows = ['| contender | s | ms per image | images/s | vs one at a time | '
            "cores busy / others' |", '|---|---|---|---|---|---|']
    for name, seconds in times.items():
        rate = len(images) / seconds
        rows.append(f'| {name} | {seconds:.2f} | {1000 / rate:.1f} | '
                    f'{rate:.2f} | {rate / base:.2f}x | '
                    f'{contenders[name].cores()} |')
    for row in rows:
        log(row)
    return rows


if __name__ == '__main__':
    main()
