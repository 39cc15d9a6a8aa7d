"""Write the synthetic IU X-ray twin in R2Gen's layout.

Example::

    python tools/make_synthetic_iu_xray.py data/iu_xray_synthetic --num-studies 300
"""
import argparse
import time

from mmengine.logging import print_log

from crrg.datasets.synthetic import make_synthetic_iu_xray


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', help='output root directory')
    parser.add_argument('--num-studies', type=int, default=300)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--image-size', type=int, default=160)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    counts = make_synthetic_iu_xray(args.out, args.num_studies, args.seed,
                                    args.image_size)
    print_log(
        f'wrote {args.num_studies} studies ({2 * args.num_studies} images) to '
        f'{args.out} in {time.perf_counter() - start:.1f} s: train '
        f'{counts["train"]}, val {counts["val"]}, test {counts["test"]}; '
        f'{counts["abnormal"]} with findings', 'current')


if __name__ == '__main__':
    main()
