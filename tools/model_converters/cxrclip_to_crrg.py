"""Convert a CXR-CLIP ResNet-50 checkpoint into an RCLIP checkpoint.

CXR-CLIP's ``r50_m.tar`` / ``r50_mc.tar`` / ``r50_mcc.tar`` (downloaded by
the user from the authors' repository; CC BY-NC(-SA) 4.0, non-commercial) are
read without executing any pickled code, checked against the key manifest
recorded from the authors' model, and written as an mmengine checkpoint that
``configs/rclip/cxr-clip_r50_bioclinicalbert_*.py`` load strictly::

    python tools/model_converters/cxrclip_to_crrg.py r50_mc.tar cxr-clip_r50_mc.pth

Swin-Tiny checkpoints are refused with a clear message.
"""
import argparse

import torch

from crrg.models.clip.cxrclip_checkpoint import convert_cxrclip_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help="CXR-CLIP checkpoint (e.g. r50_mc.tar)")
    parser.add_argument('dst', help='output mmengine checkpoint (.pth)')
    args = parser.parse_args()
    checkpoint = convert_cxrclip_checkpoint(args.src)
    torch.save(checkpoint, args.dst)
    print(f'{args.src} -> {args.dst}: {len(checkpoint["state_dict"])} '
          'RCLIP weights')


if __name__ == '__main__':
    main()
