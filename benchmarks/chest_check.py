"""Error of the chest checks that refuse non-chest inputs.

Runs :class:`crrg.apis.FrontalChestLayoutCheck` (the picture alone: DICOM
headers ignored) and the inferencers' default checks (DICOM header, then the
picture where the header does not say "frontal chest") on:

- frontal and lateral images of the synthetic MIMIC-CXR twin and of the
  synthetic IU X-ray twin (written to a temporary folder);
- the real chest radiograph RG1 and the real extremity radiograph RG3 of
  the pydicom-data wheel (four encodings each), and its CT, MR, ultrasound
  and NM images (:data:`crrg.utils.real_data.NON_CHEST_DICOM`), all from the
  real-data cache (``python tools/fetch_real_data.py`` fills it; nothing is
  downloaded here);
- matplotlib's sample photographs (installed with matplotlib).

Prints, per set, the number of images, what they should get (pass or
refuse) and the error rate of each check (false refusals for frontal
chests, false passes for everything else), then the range of the check's two
measurements per set. Example::

    python benchmarks/chest_check.py --mimic 100 --iu 100
"""
import argparse
import glob
import gzip
import csv
import logging
import os.path as osp
import tempfile

import matplotlib
import numpy as np
from mmengine.logging import MMLogger

from crrg.apis import DEFAULT_CHEST_CHECKS, FrontalChestLayoutCheck
from crrg.registry import TRANSFORMS
from crrg.datasets.synthetic import make_synthetic_mimic
from crrg.datasets.synthetic.iu_xray import make_synthetic_iu_xray
from crrg.utils import register_all_modules
from crrg.utils.real_data import NON_CHEST_DICOM, real_data_file


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Error table of the chest checks')
    parser.add_argument('--mimic', type=int, default=100,
                        help='studies of the synthetic MIMIC-CXR twin')
    parser.add_argument('--iu', type=int, default=100,
                        help='studies of the synthetic IU X-ray twin')
    parser.add_argument('--seed', type=int, default=7)
    return parser.parse_args()


def mimic_sets(root: str, studies: int, seed: int) -> dict:
    """Frontal and lateral image paths of a fresh MIMIC-CXR twin."""
    make_synthetic_mimic(root, num_train=studies, num_validate=0,
                         num_test=0, seed=seed)
    jpg = osp.join(root, 'mimic-cxr-jpg')
    with gzip.open(osp.join(jpg, 'mimic-cxr-2.0.0-metadata.csv.gz'),
                   'rt') as f:
        views = {r['dicom_id']: r['ViewPosition'] for r in csv.DictReader(f)}
    sets = {'MIMIC twin frontal': [], 'MIMIC twin lateral': []}
    for path in sorted(glob.glob(f'{jpg}/files/**/*.jpg', recursive=True)):
        lateral = views[osp.basename(path)[:-4]] == 'LATERAL'
        sets['MIMIC twin ' + ('lateral' if lateral else 'frontal')].append(
            path)
    return sets


def iu_sets(root: str, studies: int, seed: int) -> dict:
    """Frontal (0.png) and lateral (1.png) paths of a fresh IU X-ray twin."""
    make_synthetic_iu_xray(root, num_studies=studies, seed=seed)
    paths = sorted(glob.glob(f'{root}/images/*/*.png'))
    return {
        'IU twin frontal': [p for p in paths if p.endswith('0.png')],
        'IU twin lateral': [p for p in paths if p.endswith('1.png')],
    }


def real_sets() -> dict:
    """The cached pydicom-data images and matplotlib's photographs."""
    def cached(names):
        return [p for p in map(real_data_file, names) if p]

    encodings = ('UNCR', 'UNCI', 'J2KR', 'J2KI')
    samples = osp.join(matplotlib.get_data_path(), 'sample_data')
    return {
        'RG1 chest (real)': cached(f'RG1_{e}' for e in encodings),
        'RG3 extremity (real)': cached(f'RG3_{e}' for e in encodings),
        'CT/MR/US/NM (real)': cached(NON_CHEST_DICOM),
        'photographs': [
            osp.join(samples, f) for f in ('grace_hopper.jpg',
                                           'Minduka_Present_Blue_Pack.png',
                                           'logo2.png')
            if osp.isfile(osp.join(samples, f))
        ],
    }


def main() -> None:
    args = parse_args()
    register_all_modules()
    MMLogger.get_current_instance().setLevel(logging.ERROR)
    loader = TRANSFORMS.build(dict(type='LoadXrayImageFromFile'))
    pixels_only = FrontalChestLayoutCheck(trust_dicom_header=False)

    def default(loaded):
        return next((r for r in (c(loaded) for c in DEFAULT_CHEST_CHECKS)
                     if r), None)

    with tempfile.TemporaryDirectory() as tmp:
        sets = {**mimic_sets(osp.join(tmp, 'mimic'), args.mimic, args.seed),
                **iu_sets(osp.join(tmp, 'iu'), args.iu, args.seed),
                **real_sets()}
        print(f'{"set":22s} {"n":>4s} {"should":>7s} {"unread":>6s} '
              f'{"picture check error":>20s} {"default checks error":>21s}'
              '   contrast range    symmetry range')
        for name, paths in sets.items():
            chest = 'frontal' in name or 'chest' in name
            errors = np.zeros(2, int)
            measured, unreadable = [], 0
            for path in paths:
                try:
                    loaded = loader(dict(img_path=path, img_id='x'))
                except Exception:  # noqa: BLE001 - e.g. a 3-D volume
                    unreadable += 1
                    continue
                loaded.setdefault('not_chest_reasons', [])
                scores = pixels_only.scores(loaded['img'])
                measured.append([scores['contrast'], scores['symmetry']])
                for k, check in enumerate((pixels_only, default)):
                    refused = check(loaded) is not None
                    errors[k] += refused if chest else not refused
            n = len(measured)
            if n == 0:
                print(f'{name:22s} {0:4d}  (not cached: run '
                      'tools/fetch_real_data.py)')
                continue
            low, high = np.min(measured, 0), np.max(measured, 0)
            rates = [f'{e}/{n} = {100 * e / n:5.1f}%' for e in errors]
            print(f'{name:22s} {n:4d} {"pass" if chest else "refuse":>7s} '
                  f'{unreadable:6d} {rates[0]:>20s} {rates[1]:>21s}   '
                  f'[{low[0]:+.2f}, {high[0]:+.2f}]   '
                  f'[{low[1]:+.2f}, {high[1]:+.2f}]')


if __name__ == '__main__':
    main()
