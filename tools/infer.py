"""Explainable report generation for chest X-ray images.

Runs a region-guided report generator on image files and writes, per image,
``<stem>.txt`` (the report), ``<stem>.json`` (the 29 regions: name, box in the
original image's pixels, scores, detected/selected flags and sentence) and
``<stem>.png`` (the selected regions drawn on the X-ray with their sentences),
and prints a region table for each image.

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
import torch
from mmcv.transforms import Compose
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crrg.apis import build_model, test_pipeline_cfg
from crrg.structures import ANATOMICAL_REGIONS
from crrg.utils.setup_env import register_all_modules
from crrg.visualization import RegionReportVisualizer, rescale_regions

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')


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
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    return parser.parse_args(argv)


def expand_images(
        patterns: Iterable[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Turn the IMAGE arguments into image paths.

    A folder gives its files with an image extension (sorted, not recursive),
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
                           if p.suffix.lower() in IMAGE_EXTENSIONS)
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


def region_records(regions: InstanceData) -> list[dict]:
    """The JSON rows of the 29 regions.

    Args:
        regions (InstanceData): ``pred_regions`` in original pixels.

    Returns:
        list[dict]: Per region ``name``, ``box`` [x1, y1, x2, y2], ``score``,
        ``detected``, ``selected``, ``selection_score`` and ``sentence``.
    """
    records = []
    for i, name in enumerate(ANATOMICAL_REGIONS):
        records.append(
            {
                'name': name,
                'box': [round(float(v), 2) for v in regions.bboxes[i]],
                'score': float(regions.scores[i]),
                'detected': bool(regions.detected[i]),
                'selected': bool(regions.selected[i]),
                'selection_score': float(regions.selection_scores[i]),
                'sentence': regions.sentences[i]})
    return records


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


def write_outputs(image_path: Path, stem: str, sample, out_dir: Path,
                  visualizer: RegionReportVisualizer) -> list[dict]:
    """Write ``<stem>.txt``, ``<stem>.json`` and ``<stem>.png``.

    Args:
        image_path (Path): The input image.
        stem (str): Output file stem.
        sample (DetDataSample): The model's prediction for the image.
        out_dir (Path): Output directory.
        visualizer (RegionReportVisualizer): Draws the PNG.

    Returns:
        list[dict]: The region records written to the JSON.
    """
    sample = sample.cpu()
    regions = rescale_regions(sample.pred_regions, sample.metainfo)
    records = region_records(regions)
    report = sample.pred_report
    (out_dir / f'{stem}.txt').write_text(report + '\n', encoding='utf-8')
    with open(out_dir / f'{stem}.json', 'w', encoding='utf-8') as f:
        json.dump(
            {'image': str(image_path), 'report': report, 'regions': records},
            f,
            indent=2)
    image = mmcv.imread(str(image_path), channel_order='rgb')
    sample.pred_regions = regions
    visualizer.add_datasample(
        stem, image, sample, out_file=str(out_dir / f'{stem}.png'))
    return records


def run_batch(model: torch.nn.Module, batch: list[tuple[Path, str, dict]],
              out_dir: Path, visualizer: RegionReportVisualizer,
              console: Console) -> list[tuple[str, str]]:
    """Predict one batch and write its outputs.

    Returns:
        list[tuple[str, str]]: (image, reason) of the images that failed.
    """
    with torch.no_grad():
        try:
            samples = model.test_step(pseudo_collate([b[2] for b in batch]))
        except Exception as exc:  # noqa: BLE001 - reported per image
            return [(str(b[0]), f'model failed: {type(exc).__name__}: {exc}')
                    for b in batch]
    failures = []
    for (path, stem, _), sample in zip(batch, samples):
        try:
            records = write_outputs(path, stem, sample, out_dir, visualizer)
        except Exception as exc:  # noqa: BLE001 - reported per image
            failures.append(
                (str(path), (f'writing outputs failed: '
                 f'{type(exc).__name__}: {exc}')))
            continue
        console.print(
            region_table(escape(f'{path} -> {out_dir / stem}.*'), records))
        console.print(f'[bold]report:[/bold] {escape(sample.pred_report)}\n')
    return failures


def main(argv: list[str] | None = None) -> int:
    """Run inference; returns the exit code (0 when an image succeeded)."""
    args = parse_args(argv)
    console = Console(soft_wrap=True)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'crrg'))

    model = build_model(cfg, args.checkpoint, args.device)
    pipeline = Compose(test_pipeline_cfg(cfg))
    visualizer = RegionReportVisualizer(name=f'infer-{id(args)}')
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    paths, failures = expand_images(args.images)
    for name, reason in failures:
        console.print(f'[red]skipped[/red] {escape(name)}: {escape(reason)}')
    used_stems: dict[str, int] = {}
    batch, succeeded = [], 0
    for i, path in enumerate(paths):
        if not path.is_file():
            failures.append((str(path), 'file not found'))
            console.print(f'[red]skipped[/red] {escape(str(path))}: '
                          'file not found')
        else:
            try:
                data = pipeline(
                    {'img_path': str(path), 'img_id': path.stem})
            except Exception as exc:  # noqa: BLE001 - reported per image
                reason = f'unreadable image: {type(exc).__name__}: {exc}'
                failures.append((str(path), reason))
                console.print(f'[red]skipped[/red] {escape(str(path))}: '
                              f'{escape(reason)}')
            else:
                batch.append((path, unique_stem(path, used_stems), data))
        if batch and (len(batch) == args.batch_size or i == len(paths) - 1):
            batch_failures = run_batch(model, batch, out_dir, visualizer,
                                       console)
            for name, reason in batch_failures:
                console.print(
                    f'[red]failed[/red] {escape(name)}: {escape(reason)}')
            failures.extend(batch_failures)
            succeeded += len(batch) - len(batch_failures)
            batch = []

    console.print(f'{succeeded} image(s) succeeded, {len(failures)} '
                  f'failed; outputs in {escape(str(out_dir))}')
    return 0 if succeeded > 0 else 1


if __name__ == '__main__':
    sys.exit(main())
