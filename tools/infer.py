"""Explainable report generation for chest X-ray images.

Runs a report generator through :class:`crrg.apis.ReportInferencer` on image
files and writes, per image, ``<stem>.txt`` (the report), ``<stem>.json`` (the
inferencer's prediction: image path, original shape, report, the 29
regions with their box in the original image's pixels, scores,
detected/selected flags and sentence, and the loader's warnings, e.g. a DICOM
header naming another body part than the chest) and ``<stem>.png`` (the
selected regions drawn on the X-ray with their sentences), and prints a region
table for each image. Images are JPEG / PNG (16-bit kept at full depth) or
DICOM (windowed, MONOCHROME1 inverted, JPEG 2000 etc. decoded), read by
``LoadXrayImageFromFile``; images below its minimum size are refused.

The exit code is 0 only when every input gave its outputs, 1 when some input
failed (the last line sums up what failed and why) and 2 when the model
cannot be set up (e.g. a checkpoint of another model: pass ``--allow-partial``
to load its matching part anyway).

Example::

    python tools/infer.py configs/rrg/rrg-generator_tiny_synthetic.py \
        work_dirs/rrg/epoch_1.pth 'data/synthetic/files/**/*.jpg' --out out/
"""
import argparse
import glob
import json
import os.path as osp
import sys
from collections.abc import Iterable
from pathlib import Path

import mmcv
from mmengine.config import Config, DictAction
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crrg.apis import ReportInferencer
from crrg.datasets.transforms.loading import DICOM_SUFFIXES
from crrg.utils import CheckpointMismatchError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff'
                    ) + DICOM_SUFFIXES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Generate explainable reports for chest X-ray images')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        'images',
        nargs='+',
        metavar='IMAGE',
        help='image files, folders (their images, not recursive) or glob '
        'patterns (quote them; ** recurses)')
    parser.add_argument(
        '--out', required=True, help='directory for the outputs')
    parser.add_argument(
        '--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='load a checkpoint whose keys do not match the model (missing '
        'weights keep their random initialisation)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    return parser.parse_args(argv)


def expand_images(
        patterns: Iterable[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Turn the IMAGE arguments into image paths.

    A folder gives its files with an image extension or, without an
    extension, the DICOM magic (sorted, not recursive),
    a pattern with glob characters is expanded here (so quoting it is safe;
    ``**`` recurses), anything else is taken as a file path, checked later.

    Args:
        patterns (Iterable[str]): The IMAGE arguments.

    Returns:
        tuple[list[Path], list[tuple[str, str]]]: The image paths without
        duplicates, in order, and the (argument, reason) pairs of arguments
        that gave no image.
    """
    paths, failures = [], []
    for pattern in patterns:
        if osp.isdir(pattern):
            found = sorted(p for p in Path(pattern).iterdir()
                           if p.suffix.lower() in IMAGE_EXTENSIONS or (
                               p.suffix == '' and is_dicom_file(p)))
            reason = 'folder holds no image ' \
                f'({", ".join(IMAGE_EXTENSIONS)})'
        elif glob.has_magic(pattern):
            found = sorted(
                Path(p) for p in glob.glob(pattern, recursive=True)
                if osp.isfile(p))
            reason = 'no file matches this pattern'
        else:
            found, reason = [Path(pattern)], ''
        if not found:
            failures.append((pattern, reason))
        paths.extend(found)
    unique = list(dict.fromkeys(paths))
    return unique, failures


def is_dicom_file(path: Path) -> bool:
    """Whether ``path`` is a file with the DICOM magic (``DICM`` at byte
    128), as DICOM files often have no extension."""
    if not path.is_file():
        return False
    with open(path, 'rb') as f:
        return f.read(132)[128:] == b'DICM'


def region_table(title: str, records: list[dict]) -> Table:
    """A table of the regions: name, detected, selected, sentence."""
    table = Table(title=title, show_lines=False)
    table.add_column('region', no_wrap=True)
    table.add_column('detected', justify='center')
    table.add_column('selected (logit)', justify='center')
    table.add_column('sentence', overflow='fold')
    for rec in records:
        table.add_row(
            rec['name'],
            'yes' if rec['detected'] else 'no',
            f"{'yes' if rec['selected'] else 'no'} "
            f"({rec['selection_score']:+.2f})",
            rec['sentence'] if rec['selected'] else '',
            style=None if rec['selected'] else 'dim')
    return table


def unique_stem(path: Path, used: dict[str, int]) -> str:
    """``path``'s stem, suffixed ``_1``, ``_2``... when already used."""
    stem = path.stem
    count = used.get(stem, 0)
    used[stem] = count + 1
    return stem if count == 0 else f'{stem}_{count}'


def write_outputs(pred: dict, drawing, stem: str, out_dir: Path) -> None:
    """Write ``<stem>.txt``, ``<stem>.json`` and ``<stem>.png``.

    Args:
        pred (dict): The inferencer's prediction for one image.
        drawing (np.ndarray): Its (H, W', 3) RGB visualisation.
        stem (str): Output file stem.
        out_dir (Path): Output directory.
    """
    (out_dir / f'{stem}.txt').write_text(pred['report'] + '\n',
                                         encoding='utf-8')
    with open(out_dir / f'{stem}.json', 'w', encoding='utf-8') as f:
        json.dump(pred, f, indent=2)
    mmcv.imwrite(drawing[..., ::-1], str(out_dir / f'{stem}.png'))


def short_reason(name: str, reason: str) -> str:
    """A failure's reason for the summary: its kind and the error's message
    without the exception type and the repeated file name.

    ``'unreadable image: ImageDecodeError: x.png: image is 1x1 pixels, ...'``
    becomes ``'unreadable image: image is 1x1 pixels, ...'``.
    """
    parts = reason.split(': ', 2)
    if len(parts) < 3:
        return reason
    what, detail = parts[0], parts[2]
    if detail.startswith(f'{name}: '):
        detail = detail[len(name) + 2:]
    return what if what in detail else f'{what}: {detail}'


def summary_line(succeeded: int, failures: list[tuple[str, str]],
                 warned: list[str] | None = None) -> str:
    """``N image(s) succeeded, M failed`` and, per failure, what and why;
    then the images that succeeded with warnings."""
    line = f'{succeeded} image(s) succeeded, {len(failures)} failed'
    if failures:
        line += ': ' + '; '.join(f'{name} ({short_reason(name, reason)})'
                                 for name, reason in failures)
    if warned:
        line += f'; {len(warned)} with warnings (see above and the JSON): ' \
            + ', '.join(warned)
    return line


def main(argv: list[str] | None = None) -> int:
    """Run inference; returns the exit code, 0 only when every input gave
    its outputs."""
    args = parse_args(argv)
    console = Console(soft_wrap=True)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    try:
        inferencer = ReportInferencer(
            model=cfg,
            weights=args.checkpoint,
            device=args.device,
            allow_partial=args.allow_partial)
    except (CheckpointMismatchError, FileNotFoundError) as exc:
        console.print(f'[red]error[/red] {type(exc).__name__}: '
                      f'{escape(str(exc))}')
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    paths, failures = expand_images(args.images)
    for name, reason in failures:
        console.print(f'[red]skipped[/red] {escape(name)}: {escape(reason)}')
    used_stems: dict[str, int] = {}
    stems = {str(path): unique_stem(path, used_stems) for path in paths}
    succeeded, warned = 0, []
    for start in range(0, len(paths), args.batch_size):
        chunk = [str(p) for p in paths[start:start + args.batch_size]]
        out = inferencer(
            chunk,
            batch_size=args.batch_size,
            return_vis=True,
            skip_failed=True)
        for failure in out['failures']:
            failures.append((failure['input'], failure['reason']))
            console.print(f'[red]failed[/red] {escape(failure["input"])}: '
                          f'{escape(failure["reason"])}')
        for pred, drawing in zip(out['predictions'], out['visualization']):
            stem = stems[pred['img_path']]
            try:
                write_outputs(pred, drawing, stem, out_dir)
            except OSError as exc:
                reason = f'writing outputs failed: {exc}'
                failures.append((pred['img_path'], reason))
                console.print(f'[red]failed[/red] '
                              f'{escape(pred["img_path"])}: {escape(reason)}')
                continue
            succeeded += 1
            console.print(
                region_table(
                    escape(f'{pred["img_path"]} -> {out_dir / stem}.*'),
                    pred['regions']))
            console.print(f'[bold]report:[/bold] {escape(pred["report"])}')
            for warning in pred['warnings']:
                console.print(f'[yellow]warning[/yellow] {escape(warning)}')
            if pred['warnings']:
                warned.append(pred['img_path'])
            console.print()
    console.print(escape(summary_line(succeeded, failures, warned)) +
                  f'; outputs in {escape(str(out_dir))}')
    return 0 if not failures and succeeded > 0 else 1


if __name__ == '__main__':
    sys.exit(main())
