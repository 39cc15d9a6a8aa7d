"""Write the synthetic RSNA Pneumonia twin in the Kaggle layout.

Example::

    python tools/make_synthetic_rsna.py data/synthetic_rsna --num-patients 2000
"""
import argparse
import time

from mmengine.logging import print_log

from crrg.datasets.synthetic import make_synthetic_rsna


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', help='output root directory')
    parser.add_argument('--num-patients', type=int, default=2000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--image-size', type=int, default=256)
    parser.add_argument('--format', choices=('dcm', 'png'), default='dcm')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    counts = make_synthetic_rsna(args.out, args.num_patients, args.seed,
                                 args.image_size, image_format=args.format)
    print_log(
        f'wrote {counts["patients"]} patients ({args.format}) to {args.out} '
        f'in {time.perf_counter() - start:.1f} s: {counts["positives"]} with '
        f'pneumonia, {counts["distractors"]} with another finding, '
        f'{counts["label_rows"]} label rows', 'current')


if __name__ == '__main__':
    main()
