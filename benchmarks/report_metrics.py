"""Time crrg's report metrics against calling pycocoevalcap directly.

Builds a corpus the size of the MIMIC-CXR test split (3,858 reports) from the
synthetic report generator's sentence templates, scores it with
:func:`crrg.evaluation.metrics.report_metric.score_reports` and with
pycocoevalcap's scorers called directly on the same cleaned reports, and prints
both wall times, their ratio and the largest difference between the figures.

    python benchmarks/report_metrics.py [--num-reports 3858]
"""
import argparse
import platform
import random
import time

import torch

from crrg.structures import ANATOMICAL_REGIONS
from crrg.structures import clean_report
from crrg.evaluation.metrics.report_metric import score_reports

TEMPLATES = [
    'There is an opacity in the {}.', 'The {} is clear.',
    'A small nodule is present in the {}.', 'The {} is unremarkable.',
    'No abnormality of the {} is seen.', 'Mild atelectasis in the {}.'
]


def make_report(rng: random.Random) -> str:
    sentences = [
        rng.choice(TEMPLATES).format(rng.choice(ANATOMICAL_REGIONS))
        for _ in range(rng.randint(2, 6))
    ]
    return ' '.join(sentences)


def pycocoevalcap_direct(predictions, references):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    gts = {k: [clean_report(v)] for k, v in references.items()}
    res = {k: [clean_report(v)] for k, v in predictions.items()}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    meteor, _ = Meteor().compute_score(gts, res)
    rouge, _ = Rouge().compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)
    return dict(bleu_1=bleu[0], bleu_2=bleu[1], bleu_3=bleu[2],
                bleu_4=bleu[3], meteor=meteor, rouge_l=rouge, cider=cider)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--num-reports', type=int, default=3858)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    ids = [str(i) for i in range(args.num_reports)]
    references = {i: make_report(rng) for i in ids}
    predictions = {i: make_report(rng) for i in ids}

    start = time.perf_counter()
    ours = score_reports(predictions, references)
    ours_time = time.perf_counter() - start
    start = time.perf_counter()
    theirs = pycocoevalcap_direct(predictions, references)
    direct_time = time.perf_counter() - start

    gap = max(abs(ours[k] - v) for k, v in theirs.items())
    print(f'machine: {platform.processor() or platform.machine()}, '
          f'{torch.get_num_threads()} torch threads, Python '
          f'{platform.python_version()}')
    print(f'{args.num_reports} reports')
    print(f'crrg score_reports (7 metrics + TF-IDF): {ours_time:8.2f} s')
    print(f'pycocoevalcap direct (7 metrics):        {direct_time:8.2f} s')
    print(f'ratio crrg / direct:                     '
          f'{ours_time / direct_time:8.2f}')
    print(f'largest difference between the figures:  {gap:.2e} '
          f'({"agree" if gap < 1e-4 else "DISAGREE"} to 1e-4)')


if __name__ == '__main__':
    main()
