"""Write the synthetic MIMIC-CXR / Chest ImaGenome twin in the real layout.

Example::

    python tools/make_synthetic_dataset.py data/synthetic
"""
import argparse
import time

from crrg.datasets.synthetic import make_synthetic_mimic


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', help='output root directory')
    parser.add_argument('--num-train', type=int, default=200)
    parser.add_argument('--num-validate', type=int, default=40)
    parser.add_argument('--num-test', type=int, default=40)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    counts = make_synthetic_mimic(args.out, args.num_train, args.num_validate,
                                  args.num_test, args.seed)
    print(f'wrote {counts["studies"]} studies ({counts["images"]} images) to '
          f'{args.out} in {time.perf_counter() - start:.1f} s; deliberate '
          f'defects: {counts["missing_region"]} image(s) missing a region, '
          f'{counts["degenerate_box"]} degenerate box(es), '
          f'{counts["no_findings"]} report(s) without FINDINGS, '
          f'{counts["avoided"]} image(s) in images_to_avoid.csv')


if __name__ == '__main__':
    main()
