"""Cache the real chest X-ray files that ship inside PyPI wheels.

Downloads ``torchxrayvision`` 1.5.7 and ``pydicom-data`` 1.0.0 as wheels
(nothing is installed) and copies the real IU X-ray reports, RSNA labels and
DICOM radiographs that crrg reads (tests, the web demo's real sample) into
``~/.cache/crrg/real_data`` (``$CRRG_REAL_DATA`` overrides); see
:mod:`crrg.utils.real_data`.

Example::

    python tools/fetch_real_data.py            # everything
    python tools/fetch_real_data.py rsna_labels
"""
import argparse
import sys

from crrg.utils.real_data import REAL_DATA_FILES, fetch_real_data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        'names',
        nargs='*',
        help=f'files to fetch (default: all): {", ".join(REAL_DATA_FILES)}')
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(REAL_DATA_FILES))
    if unknown:
        parser.error(f'unknown file(s) {unknown}')
    try:
        paths = fetch_real_data(args.names or None)
    except RuntimeError as err:
        print(f'fetch_real_data: {err}', file=sys.stderr)
        return 1
    for name, path in sorted(paths.items()):
        print(f'{name}: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
