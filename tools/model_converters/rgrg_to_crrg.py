"""Convert RGRG's published checkpoint for crrg's RGRG config.

    python tools/model_converters/rgrg_to_crrg.py \
        full_model_checkpoint_val_loss_19.793_overall_steps_155252.pt \
        work_dirs/rgrg/rgrg_converted.pth

The result loads strictly into
configs/rgrg/rgrg_r50-c5_gpt2-pubmed-medium_imagenome.py (tools/test.py,
tools/infer.py, the inferencers, the web demo). The source is memory-mapped
and read with ``weights_only=True`` (no code in the file runs).
"""
import argparse
import os.path as osp
import sys

from mmengine.logging import print_log

from crrg.utils.converters import convert_rgrg_file


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='RGRG full-model checkpoint -> crrg checkpoint')
    parser.add_argument('src', help='the authors\' .pt checkpoint')
    parser.add_argument('dst', help='output .pth (mmengine checkpoint)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.src):
        sys.exit(f'rgrg_to_crrg: {args.src}: no such file')
    try:
        count = convert_rgrg_file(args.src, args.dst)
    except (KeyError, ValueError) as err:
        sys.exit(f'rgrg_to_crrg: {err.args[0]}')
    print_log(f'rgrg_to_crrg: {count} tensors -> {args.dst}')


if __name__ == '__main__':
    main()
