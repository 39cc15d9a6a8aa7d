"""Explainable report generation for chest X-ray images.

Runs a report generator through :class:`crrg.apis.ReportInferencer` on image
files and writes, per image, ``<stem>.txt`` (the report), ``<stem>.json`` (the
inferencer's prediction: image path, original shape, status, report, the 29
regions with their box in the original image's pixels, scores,
detected/selected flags and sentence, and the loader's warnings) and
``<stem>.png`` (the selected regions drawn on the X-ray with their
sentences), and prints a region table for each image. Images are JPEG / PNG
(16-bit kept at full depth) or DICOM (windowed, MONOCHROME1 inverted, JPEG
2000 etc. decoded), read by the config's test-pipeline loader; each is
decoded once.

With ``--sr``, a DICOM input also gets ``<stem>.sr.dcm``: a DICOM
Structured Report (TID 1500) that references the image and holds each
selected region's box, sentence and scores, the report and the model card
(see docs/dicom.md); the JSON names it (``"sr"``), or says why there is none
(``"sr_note"``: a JPEG or PNG has no DICOM header to reference).

A folder (or a glob, or many files) runs on the same engine as
``tools/generate_reports.py`` (``ReportInferencer.stream``): ``--workers``
processes decode the images ahead of the model, ``--batch-size`` images go
through the model at once (their selected regions generated in one decoding
batch), each batch's outputs are written as soon as it finishes, and a
progress bar shows images/s. ``--replicas N`` shares the batches out among
N forked copies of the model, each on one torch thread. One image
at a time leaves much of a small CPU idle, in single-threaded operators
(mmcv's RoIAlign and NMS) and Python; replicas keep every core on the
whole call (see docs/benchmarks.md), at up to N times the model's memory.
The outputs are the same as one image at a time; an unreadable file is
reported and counted, and the run goes on.

Every JSON carries the checkpoint's model card (``"model_card"``: training
data, config, crrg version and the research-use notice).

An image that is not a frontal chest radiograph (its DICOM header names
another body part or a lateral view or, without such a header, the picture
is not laid out as a frontal chest: see ``crrg.apis.chest_checks``) is
refused: the reason is printed and written to ``<stem>.json``
(``"status": "refused"``), no report or picture is written, and the exit
code is 1; ``--allow-non-chest`` analyses it anyway.

The exit code is 0 only when every input gave its outputs, 1 when some input
failed or was refused (the last line sums up what and why) and 2 when the
model cannot be set up (e.g. a checkpoint of another model: pass
``--allow-partial`` to load its matching part anyway).

Example::

    python tools/infer.py configs/rrg/rrg-generator_tiny_synthetic.py \
        work_dirs/rrg/epoch_1.pth 'data/synthetic/files/**/*.jpg' --out out/ \
        --batch-size 8 --replicas 2
"""
import argparse
import json
import sys
from pathlib import Path

import mmcv
from mmengine.config import Config, DictAction
from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                           ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn)
from rich.table import Table
from rich.text import Text

from crrg.apis import ReportInferencer, expand_inputs
from crrg.utils import CheckpointMismatchError


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
        help='image files, folders (their images, DICOM found by its '
        'magic bytes; not recursive) or glob patterns (quote them; ** '
        'recurses)')
    parser.add_argument(
        '--out', required=True, help='directory for the outputs')
    parser.add_argument(
        '--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--batch-size', type=int, default=1, help='images per forward pass '
        '(a region-guided model generates the selected regions of a '
        "batch's images in one decoding batch)")
    parser.add_argument(
        '--workers', type=int, default=1,
        help='processes that decode the images ahead of the model (0: '
        'decode in this process; not used with --replicas)')
    parser.add_argument(
        '--replicas', type=int, default=1,
        help='forked copies of the model that predict batches in parallel, '
        'each on one torch thread (about one per core) and decoding its '
        'own images; '
        'outputs as one at a time (up to the float rounding of 1 thread '
        'against several), written in input order. Each replica shares '
        'the weights until it writes them but has its own activations: '
        'budget up to N times the model\'s memory (a full-size RGRG model '
        'is ~2.4 GB)')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='load a checkpoint whose keys do not match the model (missing '
        'weights keep their random initialisation)')
    parser.add_argument(
        '--allow-non-chest',
        action='store_true',
        help='analyse images that are not frontal chest radiographs (by '
        'default they are refused)')
    parser.add_argument(
        '--sr',
        action='store_true',
        help='also write a DICOM Structured Report <stem>.sr.dcm for each '
        'DICOM input (it references the image; JPEG / PNG inputs get none)')
    parser.add_argument(
        '--profile',
        choices=['exact', 'fast'],
        help='inference profile: exact (fp32) or fast (detector bf16 + '
        "channels-last, generator int8); default: the config's switches")
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    return parser.parse_args(argv)


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


def write_outputs(pred: dict, drawing, stem: str, out_dir: Path,
                  inferencer: ReportInferencer | None = None) -> None:
    """Write ``<stem>.json`` and, unless the image was refused,
    ``<stem>.txt``, ``<stem>.png`` and (with ``inferencer``) the SR
    ``<stem>.sr.dcm``.

    Args:
        pred (dict): The inferencer's prediction for one image.
        drawing (np.ndarray | None): Its (H, W', 3) RGB visualisation (None
            when refused).
        stem (str): Output file stem.
        out_dir (Path): Output directory.
        inferencer (ReportInferencer, optional): Writes the SR when given.
    """
    if inferencer is not None:
        sr_path = inferencer.try_write_sr(pred, str(out_dir / f'{stem}.sr.dcm'))
        # the JSON names the file beside it, not a path of this machine
        pred['sr'] = Path(sr_path).name if sr_path else None
    with open(out_dir / f'{stem}.json', 'w', encoding='utf-8') as f:
        json.dump(pred, f, indent=2)
    if pred['status'] != 'ok':
        return
    (out_dir / f'{stem}.txt').write_text(pred['report'] + '\n',
                                         encoding='utf-8')
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


def summary_line(succeeded: int,
                 failures: list[tuple[str, str]],
                 warned: list[str] | None = None,
                 refused: list[str] | None = None) -> str:
    """``N image(s) succeeded, M failed`` and, per failure, what and why;
    then the refused images and the images that succeeded with
    warnings."""
    line = f'{succeeded} image(s) succeeded, {len(failures)} failed'
    if failures:
        line += ': ' + '; '.join(f'{name} ({short_reason(name, reason)})'
                                 for name, reason in failures)
    if refused:
        line += (f'; {len(refused)} refused as not frontal chest radiographs '
                 '(--allow-non-chest analyses them): ' + ', '.join(refused))
    if warned:
        line += f'; {len(warned)} with warnings (see above and the JSON): ' \
            + ', '.join(warned)
    return line


def print_prediction(console: Console, pred: dict, path: str, stem: Path,
                     sr: bool) -> None:
    """Print one image's region table, report, SR and warnings."""
    console.print(region_table(escape(f'{path} -> {stem}.*'),
                               pred['regions']))
    console.print(f'[bold]report:[/bold] {escape(pred["report"])}')
    if sr:
        console.print(f'[bold]SR:[/bold] {escape(pred["sr"])}'
                      if pred['sr'] else
                      f'[yellow]{escape(pred["sr_note"])}[/yellow]')
    for warning in pred['warnings']:
        console.print(f'[yellow]warning[/yellow] {escape(warning)}')
    console.print()


class ImagesPerSecond(ProgressColumn):
    """A progress column: images done per second since the start."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        rate = task.completed / elapsed if elapsed else 0.
        return Text(f'{rate:.2f} images/s', style='progress.data.speed')


def progress_bar(console: Console, total: int) -> Progress:
    """A progress bar of ``total`` images with images/s, shown on
    ``console`` (which prints above it) when there is more than one."""
    return Progress(
        TextColumn('[progress.description]{task.description}'), BarColumn(),
        MofNCompleteColumn(), ImagesPerSecond(), TimeElapsedColumn(),
        console=console, disable=total <= 1)


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
            allow_partial=args.allow_partial,
            profile=args.profile,
            allow_non_chest=args.allow_non_chest)
    except (CheckpointMismatchError, FileNotFoundError) as exc:
        console.print(f'[red]error[/red] {type(exc).__name__}: '
                      f'{escape(str(exc))}')
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    paths, failures = expand_inputs(args.images)
    for name, reason in failures:
        console.print(f'[red]skipped[/red] {escape(name)}: {escape(reason)}')
    used_stems: dict[str, int] = {}
    stems = {path: unique_stem(Path(path), used_stems) for path in paths}
    succeeded, warned, refused = 0, [], []
    parts = inferencer.stream(
        paths, batch_size=args.batch_size, num_workers=args.workers,
        num_replicas=args.replicas, return_vis=True, skip_failed=True)
    with progress_bar(console, len(paths)) as progress:
        task = progress.add_task('images', total=len(paths))
        for out in parts:
            progress.advance(task, len(out['predictions']) +
                             len(out['failures']))
            for failure in out['failures']:
                failures.append((failure['input'], failure['reason']))
                console.print(f'[red]failed[/red] '
                              f'{escape(failure["input"])}: '
                              f'{escape(failure["reason"])}')
            for pred, drawing in zip(out['predictions'],
                                     out['visualization']):
                path = pred['img_path']
                stem = stems[path]
                try:
                    write_outputs(pred, drawing, stem, out_dir,
                                  inferencer if args.sr else None)
                except OSError as exc:
                    reason = f'writing outputs failed: {exc}'
                    failures.append((path, reason))
                    console.print(f'[red]failed[/red] {escape(path)}: '
                                  f'{escape(reason)}')
                    continue
                if pred['status'] == 'refused':
                    refused.append(path)
                    console.print(
                        f'[red]refused[/red] {escape(path)}: '
                        f'{escape(pred["refusal"])} (no report written; '
                        f'see {escape(str(out_dir / stem))}.json)')
                    continue
                succeeded += 1
                print_prediction(console, pred, path, out_dir / stem,
                                 args.sr)
                if pred['warnings']:
                    warned.append(path)
    console.print(f'model: {escape(inferencer.model_card["summary"])}. '
                  f'{escape(inferencer.model_card["notice"])}')
    console.print(escape(summary_line(succeeded, failures, warned, refused))
                  + f'; outputs in {escape(str(out_dir))}')
    return 0 if not (failures or refused) and succeeded > 0 else 1


if __name__ == '__main__':
    sys.exit(main())
