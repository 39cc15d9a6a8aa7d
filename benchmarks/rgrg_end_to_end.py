"""RGRG's published model end to end: the authors' code against crrg with
the converted weights, exact and fast profiles, one 512 px image at a time.

The model is built as ``benchmarks/rgrg_parity.py`` builds it (imported,
not copied): RGRG's ``ReportGenerationModel`` from a local checkout of
ttanida/rgrg with seeded random weights in the published layout (BN
statistics and class logits calibrated on the images, so that every region
is detected as with a trained detector), converted by crrg's converter and
loaded strictly into ``configs/rgrg/rgrg_r50-c5_gpt2-pubmed-medium_imagenome.py``.

Contenders, per image, interleaved in every round, minimum over
``--repeats`` rounds, same torch thread count:

- ``RGRG``: what its ``src/full_model/generate_reports_for_images.py`` does
  per image: ``cv2.imread(path, IMREAD_UNCHANGED)`` (a DICOM, which RGRG
  cannot read, is decoded by crrg's loader), its val/test transform
  (``rgrg_parity.rgrg_image``: albumentations' resize, pad, normalise with
  cv2 / numpy), ``model.generate(max_length, num_beams, early_stopping=True)``
  and ``tokenizer.batch_decode``. Its report step (spaCy sentence splitting
  + BERTScore de-duplication, which need models this machine cannot
  download) is not run: it would only add to RGRG's time;
- ``crrg exact`` / ``crrg fast``: one ``ReportInferencer`` call on the file
  (decode, chest checks, pipeline, detector, selector, generator, report),
  the model's inference profile set to ``'exact'`` (fp32) or ``'fast'``.

Random weights never emit the end-of-sentence token, so every selected
region writes ``--max-length`` - 1 tokens (RGRG's ``max_length`` counts the
start token; RGRG decodes 300 with a trained model) with beam ``--num-beams``
(RGRG's 4). The quality guard (:func:`crrg.apis.quality_guard.quality_guard`)
compares the fast profile's last predictions with the exact profile's.
Sentences are decoded with a byte-level tokenizer of GPT-2's vocabulary
size (GPT-2's own cannot be downloaded here).

With ``--checkpoint`` (RGRG's published file) both sides run its weights
instead: RGRG's model loads it as its report script does, crrg converts it
with its converter, nothing is calibrated; with ``--tokenizer`` (a local
copy of ``healx/gpt-2-pubmed-medium``'s) both decode with RGRG's tokenizer.
The quality guard then measures the fast profile on the trained model.

Usage (from the repository root)::

    git --git-dir=<bare ttanida/rgrg repo> archive HEAD src | tar -x -C rgrg
    python benchmarks/rgrg_end_to_end.py rgrg --threads 1 --repeats 3 \
        [--images twin RG1_UNCR] [--max-length 20] [--num-beams 4] \
        [--checkpoint full_model_checkpoint_val_loss_19.793_overall_steps_\
155252.pt --tokenizer gpt-2-pubmed-medium --max-length 300]
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
from typing import Dict, List

import cv2
import torch
from mmengine.dataset import pseudo_collate
from rgrg_parity import (build_rgrg, calibrate_batch_norm,
                         centre_class_logits, git_commit, grey_pixels,
                         rgrg_image, twin_image)
from timing import interleaved, log, machine_header, set_threads

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/rgrg/rgrg_r50-c5_gpt2-pubmed-medium_imagenome.py'
IMAGES = ('twin', 'RG1_UNCR')
PROFILES = ('exact', 'fast')
#: the fast profile's switches, each tried alone to explain the guard
SWITCHES = ('backbone', 'heads', 'generator')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('rgrg', help='local checkout of ttanida/rgrg')
    parser.add_argument('--images', nargs='+', choices=IMAGES,
                        default=list(IMAGES),
                        help='twin: a synthetic 640 x 720 PNG; RG1_UNCR: '
                        "pydicom-data's real radiograph (python "
                        'tools/fetch_real_data.py caches it)')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None,
                        help="torch threads (default: torch's)")
    parser.add_argument('--max-length', type=int, default=20,
                        help="RGRG's max_length, start token included")
    parser.add_argument('--num-beams', type=int, default=4)
    parser.add_argument('--work-dir', help='default: a temporary folder')
    parser.add_argument('--checkpoint',
                        help="RGRG's published checkpoint (full_model_"
                        'checkpoint_val_loss_19.793_overall_steps_155252.pt)'
                        ': both sides run its weights (RGRG loads it, crrg '
                        'converts it; no calibration) instead of random ones')
    parser.add_argument('--tokenizer',
                        help='a local copy of healx/gpt-2-pubmed-medium\'s '
                        "tokenizer (RGRG's); default: a byte-level one of "
                        "GPT-2's vocabulary size")
    parser.add_argument('--rgrg-commit',
                        help='the checkout\'s commit when it is no git work '
                        'tree (e.g. made with git archive)')
    return parser.parse_args(argv)


def image_files(names: List[str], work: str) -> Dict[str, str]:
    """Name -> file of the chosen images (the twin written to ``work``)."""
    from crrg.utils.real_data import real_data_file
    files = {}
    for name in names:
        if name == 'twin':
            files[name] = osp.join(work, 'twin.png')
            twin_image(files[name])
        else:
            files[name] = real_data_file(name)
            if files[name] is None:
                sys.exit(f'{name} is not cached: run python '
                         'tools/fetch_real_data.py')
    return files


def rgrg_report(model, tokenizer, path: str, max_length: int,
                num_beams: int) -> dict:
    """One image through RGRG's code as its report script runs it: read,
    transform, ``generate``, decode (its report step left out)."""
    if path.endswith('.dcm'):
        img = grey_pixels(path)  # RGRG reads no DICOM: crrg's loader
    else:
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    out = model.generate(rgrg_image(img), max_length=max_length,
                         num_beams=num_beams, early_stopping=True)
    if out == -1:
        return dict(sentences=[], selected=0)
    ids, selected = out[:2]
    sentences = tokenizer.batch_decode(
        ids, skip_special_tokens=True, clean_up_tokenization_spaces=True)
    return dict(sentences=[s.strip() for s in sentences],
                selected=int(selected.sum()))


def load_published(model: torch.nn.Module, path: str) -> None:
    """Load RGRG's published checkpoint file (``{'model': state_dict,
    ...}``) into its model strictly, as its
    ``generate_reports_for_images.py`` does (``weights_only``: tensors and
    numbers only, as crrg's converter reads it), with the RPN conv renamed
    as that script's comment says when the file and today's torchvision
    name it differently (``conv`` / ``conv.0.0``)."""
    state = dict(torch.load(path, map_location='cpu',
                            weights_only=True)['model'])
    expected = model.state_dict().keys()
    for suffix in ('weight', 'bias'):
        names = [f'object_detector.rpn.head.conv.{suffix}',
                 f'object_detector.rpn.head.conv.0.0.{suffix}']
        for old, new in (names, names[::-1]):
            if old in state and old not in expected and new in expected:
                state[new] = state.pop(old)
    model.load_state_dict(state)
    model.eval()


def build_models(args, files: Dict[str, str], work: str):
    """RGRG's model (``--checkpoint``'s weights, or random ones calibrated
    on ``files``), its conversion in a :class:`~crrg.apis.ReportInferencer`,
    and the tokenizer."""
    from mmengine.config import Config

    from crrg.apis import ReportInferencer
    from crrg.testing import make_gpt2_shaped_tokenizer
    from crrg.utils.converters import convert_rgrg_file
    from transformers import AutoTokenizer
    if args.tokenizer:
        tok_dir = args.tokenizer
        tokenizer = AutoTokenizer.from_pretrained(tok_dir,
                                                  local_files_only=True)
    else:
        tok_dir = osp.join(work, 'tokenizer')
        tokenizer = make_gpt2_shaped_tokenizer(tok_dir)
    rgrg = build_rgrg(args.rgrg)
    if args.checkpoint:
        load_published(rgrg, args.checkpoint)
        published = args.checkpoint
    else:
        inputs = torch.cat(
            [rgrg_image(grey_pixels(p)) for p in files.values()])
        calibrate_batch_norm(rgrg.object_detector.backbone, inputs)
        centre_class_logits(rgrg, inputs)
        published = osp.join(work, 'rgrg_random.pt')
        torch.save(dict(model=rgrg.state_dict(), current_epoch=0), published)
    converted = osp.join(work, 'rgrg_converted.pth')
    convert_rgrg_file(published, converted)
    if not args.checkpoint:
        os.remove(published)
    cfg = Config.fromfile(osp.join(REPO, CONFIG))
    cfg.model.generator.tokenizer = tok_dir
    cfg.model.generator.max_new_tokens = args.max_length - 1
    cfg.model.generator.num_beams = args.num_beams
    inferencer = ReportInferencer(cfg, weights=converted)
    os.remove(converted)
    return rgrg, inferencer, tokenizer


def main(argv=None) -> List[str]:
    """Runs it; returns the printed table rows."""
    args = parse_args(argv)
    set_threads(args.threads)
    log(machine_header(args.threads))
    sys.path.insert(0, REPO)
    from crrg.apis.quality_guard import QUALITY_GUARD, quality_guard
    from crrg.utils import register_all_modules
    register_all_modules()
    torch.set_grad_enabled(False)
    work = args.work_dir or tempfile.mkdtemp(prefix='rgrg_e2e_')
    os.makedirs(work, exist_ok=True)
    files = image_files(args.images, work)
    rgrg, inferencer, tokenizer = build_models(args, files, work)
    model = inferencer.model
    last: Dict[tuple, dict] = {}

    def theirs(name: str):
        def run():
            last[name, 'RGRG'] = rgrg_report(rgrg, tokenizer, files[name],
                                             args.max_length, args.num_beams)
        return run

    def ours(name: str, profile: str):
        def run():
            model.set_inference_profile(profile)
            (pred, ) = inferencer(files[name])['predictions']
            if pred['status'] != 'ok':
                raise RuntimeError(f'{name}: refused: {pred["refusal"]}')
            last[name, profile] = pred
        return run

    contenders = {}
    for name in files:
        contenders[name, 'RGRG'] = theirs(name)
        for profile in PROFILES:
            contenders[name, f'crrg {profile}'] = ours(name, profile)
    times = interleaved(contenders, args.repeats)

    weights = (f'weights {osp.basename(args.checkpoint)}: every selected '
               'region decodes up to' if args.checkpoint else
               'random weights (never EOS): every selected region decodes')
    log(f'RGRG checkout {args.rgrg_commit or git_commit(args.rgrg)}; '
        f'{weights} max_length {args.max_length} = {args.max_length - 1} '
        'new tokens, '
        f'beam {args.num_beams}, early stopping; minimum of {args.repeats} '
        f'interleaved rounds; {torch.get_num_threads()} torch threads; '
        'fast profile: ' + fast_profile(model))
    rows = ['| image | regions detected / selected | contender | s | '
            'vs RGRG |', '|---|---|---|---|---|']
    for name in files:
        exact = last[name, 'exact']
        detected = sum(r['detected'] for r in exact['regions'])
        selected = sum(r['selected'] for r in exact['regions'])
        base = times[name, 'RGRG']
        for who in ('RGRG', ) + tuple(f'crrg {p}' for p in PROFILES):
            seconds = times[name, who]
            rows.append(f'| {name} | {detected} / {selected} | {who} | '
                        f'{seconds:.2f} | {base / seconds:.2f}x |')
    rows += ['', '| image | regions identical | box max diff (px of 512) | '
             'sentences identical | RGRG = crrg exact sentences | median '
             'vote margin (exact) | guard |', '|---|---|---|---|---|---|---|']
    guards = []
    for name in list(files) + ['all']:
        names = list(files) if name == 'all' else [name]
        guard = quality_guard([last[n, 'exact'] for n in names],
                              [last[n, 'fast'] for n in names])
        guards.append(guard['passed'])
        same = total = 0
        for n in names:
            chosen = [r['sentence'] for r in last[n, 'exact']['regions']
                      if r['selected']]
            same += sum(a == b for a, b in zip(
                chosen, last[n, 'RGRG']['sentences']))
            total += max(len(chosen), len(last[n, 'RGRG']['sentences']))
        rows.append(
            f'| {name} | {guard["regions_identical"]:.1%} of '
            f'{guard["regions"]} | {guard["box_max_diff_px"]:.3f} | '
            f'{guard["sentences_identical"]:.1%} of '
            f'{guard["sentence_regions"]} | {same}/{total} | '
            + (f'{vote_margin(inferencer, files[name]):.2e}'
               if name in files else '-') +
            f' | {"pass" if guard["passed"] else "FAIL"} |')
    rows += ['', '| fast switch alone (one call each) | regions identical | '
             'box max diff (px of 512) | sentences identical |',
             '|---|---|---|---|']
    for switch in SWITCHES:
        preds = []
        for name in files:
            set_switches(model, switch)
            (pred, ) = inferencer(files[name])['predictions']
            preds.append(pred)
        guard = quality_guard([last[n, 'exact'] for n in files], preds)
        rows.append(f'| {switch} | {guard["regions_identical"]:.1%} | '
                    f'{guard["box_max_diff_px"]:.3f} | '
                    f'{guard["sentences_identical"]:.1%} |')
    model.set_inference_profile('exact')
    for row in rows:
        log(row)
    log(f'quality guard (fast vs exact, same converted model): regions '
        f'detected and selected identical >= {QUALITY_GUARD["regions"]:.0%}, '
        f'boxes within {QUALITY_GUARD["box_px"]:g} px, sentences identical '
        f'>= {QUALITY_GUARD["sentences"]:.0%}: '
        + ('passed' if all(guards) else 'FAILED'))
    return rows


@torch.no_grad()
def vote_margin(inferencer, path: str) -> float:
    """The median, over the regions detected in the exact profile, of the
    relative gap between the two best scores among a region's voters (the
    proposals whose top class it is): how far a region's box is from
    changing. bf16 rounds at a relative 2^-9 (0.2 %)."""
    model = inferencer.model
    model.set_inference_profile('exact')
    data = model.data_preprocessor(
        pseudo_collate([inferencer.pipeline(path)]), False)
    logits = []
    fc_cls = model.detector.detector.roi_head.bbox_head.fc_cls
    handle = fc_cls.register_forward_hook(
        lambda module, args, out: logits.append(out))
    model.detector.predict_regions(data['inputs'], data['data_samples'])
    handle.remove()
    scores = logits[-1].softmax(dim=1)[:, :-1]  # mmdet: background last
    votes = scores.argmax(dim=1)
    gaps = []
    for region in votes.unique():
        top = scores[votes == region, region].sort(descending=True).values
        if len(top) > 1:
            gaps.append(float((top[0] - top[1]) / top[0]))
    return float(torch.tensor(gaps).median()) if gaps else float('nan')


def set_switches(model, switch: str) -> None:
    """The exact profile with one of :data:`SWITCHES` of the fast one."""
    model.set_inference_profile('fast')
    det, gen = model.detector, model.generator
    fast = (det.inference_precision, det.head_precision, det.channels_last,
            gen.inference_precision)
    model.set_inference_profile('exact')
    if switch == 'backbone':
        det.inference_precision, det.channels_last = fast[0], fast[2]
    elif switch == 'heads':
        det.head_precision = fast[1]
    else:
        gen.inference_precision = fast[3]


def fast_profile(model) -> str:
    """The switches the fast profile set on this machine."""
    model.set_inference_profile('fast')
    det = model.detector
    text = (f'backbone {det.inference_precision}, heads '
            f'{det.head_precision}, channels-last {det.channels_last}, '
            f'generator {model.generator.inference_precision}')
    model.set_inference_profile('exact')
    return text


if __name__ == '__main__':
    main()
