"""RGRG's published model in crrg: the authors' code vs the converted model.

No RGRG checkpoint can be downloaded where crrg is tested, so "the same
outputs" is shown on random weights:

1. RGRG's ``ReportGenerationModel`` is built from a local checkout of
   ttanida/rgrg (its code, never copied into crrg) with seeded random
   weights (the backbone's BN statistics set from the two images and the
   class logits centred on their proposals, see :func:`calibrate_batch_norm`
   and :func:`centre_class_logits`) and saved in the published layout
   (``{'model': state_dict}``);
2. ``tools/model_converters/rgrg_to_crrg.py``'s converter turns that file
   into a crrg checkpoint, loaded strictly into
   ``configs/rgrg/rgrg_r50-c5_gpt2-pubmed-medium_imagenome.py``;
3. both run on the same images in fp32 -- a synthetic twin radiograph (PNG)
   and the real radiograph RG1 of ``pydicom-data`` (``RG1_UNCR``, read by
   crrg's DICOM loader; ``python tools/fetch_real_data.py`` caches it) -- and
   the script compares the 29 boxes (in the 512 x 512 input's pixels),
   detected flags, selected regions, region features, generated sentences
   and the report (both sentence lists assembled by crrg's rule); boxes and
   features also with RGRG's input tensor fed to crrg's model (``same_input``;
   ``input_max_abs_diff`` compares the two pre-processings, 0 since the
   config normalises as albumentations does).

Shims, all in :func:`build_rgrg`, only for what cannot run here:
``torchinfo`` (a stub), ``transformers.generation_beam_search`` (aliased to
today's ``transformers.generation.beam_search``), and the two hub downloads
(torchvision's ImageNet ResNet-50 and ``healx/gpt-2-pubmed-medium``: random
initialisations of the same shapes instead). RGRG's pre-processing uses
albumentations (not installed here); :func:`rgrg_image` applies its
``LongestMaxSize(512, INTER_AREA)``, ``PadIfNeeded(512, 512)`` and
``Normalize(0.471, 0.302)`` with cv2 / numpy, as albumentations 1.1.0
computes them, to the grey pixels crrg's loader read. Sentences are decoded
with a byte-level tokenizer of GPT-2's vocabulary size
(:func:`crrg.testing.make_gpt2_shaped_tokenizer`; GPT-2's own vocabulary
cannot be downloaded here).

``--manifest`` writes the key / shape / dtype manifest of RGRG's state dict
(with the checkout's commit) used by crrg's converter tests.

Usage::

    python benchmarks/rgrg_parity.py /path/to/rgrg-checkout \
        [--max-length 60] [--num-beams 4] [--work-dir DIR] [--manifest OUT]
        [--rgrg-commit SHA] [--out RESULT.json]
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
import types

import cv2
import numpy as np
import torch


def build_rgrg(checkout: str, seed: int = 0):
    """RGRG's ``ReportGenerationModel`` with seeded random weights, built
    from the checkout with the shims of the module docstring."""
    sys.path.insert(0, checkout)
    from transformers.generation import beam_search
    sys.modules.setdefault('transformers.generation_beam_search', beam_search)
    if 'torchinfo' not in sys.modules:
        stub = types.ModuleType('torchinfo')
        stub.summary = lambda *args, **kwargs: None
        sys.modules['torchinfo'] = stub
    import torchvision.models as tv_models
    from transformers import GPT2Config, GPT2LMHeadModel

    import src.language_model.language_model as rgrg_lm
    import src.object_detector.object_detector as rgrg_detector

    rgrg_detector.resnet50 = lambda weights=None: tv_models.resnet50()

    class RandomGPT2(GPT2LMHeadModel):

        @classmethod
        def from_pretrained(cls, *args, **kwargs):
            return GPT2LMHeadModel(
                GPT2Config(n_layer=24, n_embd=1024, n_head=16))

    rgrg_lm.GPT2LMHeadModel = RandomGPT2
    from src.full_model.report_generation_model import ReportGenerationModel
    torch.manual_seed(seed)
    return ReportGenerationModel(pretrain_without_lm_model=True).eval()


@torch.no_grad()
def calibrate_batch_norm(backbone: torch.nn.Module,
                         images: torch.Tensor) -> None:
    """Set the BN statistics of a randomly initialised backbone to those of
    ``images`` (one train-mode pass, momentum 1): with its initial running
    statistics the activations of 50 random layers overflow and no box
    survives."""
    norms = [m for m in backbone.modules()
             if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.momentum = 1.0
    backbone.train()(images)
    for norm in norms:
        norm.momentum = 0.1
    backbone.eval()


@torch.no_grad()
def centre_class_logits(model, images: torch.Tensor) -> None:
    """Centre the box predictor's class logits on the proposals of
    ``images`` (its bias minus the logits of their mean box-head feature):
    a random box head gives every proposal nearly the same feature, so one
    or two regions win every vote; centred, every region wins some, as with
    a trained detector."""
    detector = model.object_detector
    feats = []
    handle = detector.roi_heads.box_head.register_forward_hook(
        lambda module, args, out: feats.append(out))
    for image in images:
        detector(image[None])
    handle.remove()
    predictor = detector.roi_heads.box_predictor.cls_score
    predictor.bias -= predictor.weight @ torch.cat(feats).mean(dim=0)


def git_commit(checkout: str) -> str:
    """The checkout's commit, or 'unknown' (e.g. an exported tree)."""
    try:
        return subprocess.run(['git', '-C', checkout, 'rev-parse', 'HEAD'],
                              capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def write_manifest(model, commit: str, out: str) -> None:
    """Key, shape and dtype of every entry of RGRG's state dict."""
    state = model.state_dict()
    manifest = dict(
        source='ttanida/rgrg src/full_model/report_generation_model.py '
        'ReportGenerationModel(pretrain_without_lm_model=True).state_dict()',
        commit=commit,
        torchvision_rpn_conv='conv.0.0 (torchvision >= 0.13)',
        keys=[[k, list(v.shape), str(v.dtype).replace('torch.', '')]
              for k, v in state.items()])
    keys = manifest.pop('keys')
    text = json.dumps(manifest, indent=1)[:-2]
    rows = ',\n'.join(json.dumps(row) for row in keys)
    with open(out, 'w') as f:
        f.write(f'{text},\n "keys": [\n{rows}\n]}}\n')


def twin_image(path: str) -> None:
    """A synthetic frontal radiograph (PNG, 640 x 720)."""
    from crrg.datasets.synthetic.mimic import draw_frontal, jittered_boxes
    rng = np.random.default_rng(0)
    boxes = jittered_boxes(rng, 640, 720, cardiomegaly=False)
    cv2.imwrite(path, draw_frontal(rng, 640, 720, boxes, []))


def grey_pixels(path: str) -> np.ndarray:
    """The uint8 grey pixels crrg's X-ray loader reads (PNG or DICOM)."""
    from crrg.datasets.transforms import LoadXrayImageFromFile
    return LoadXrayImageFromFile(color_type='grayscale').transform(
        dict(img_path=path))['img']


def rgrg_image(img: np.ndarray) -> torch.Tensor:
    """RGRG's val/test transform (generate_reports_for_images.py) of grey
    uint8 pixels: (1, 1, 512, 512) float32."""
    height, width = img.shape
    scale = 512 / max(height, width)
    size = (round(width * scale), round(height * scale))
    img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    top, left = (512 - size[1]) // 2, (512 - size[0]) // 2
    img = cv2.copyMakeBorder(img, top, 512 - size[1] - top, left,
                             512 - size[0] - left, cv2.BORDER_CONSTANT,
                             value=0)
    mean = np.float32(0.471) * np.float32(255.)
    denominator = np.reciprocal(np.float32(0.302) * np.float32(255.))
    img = (img.astype(np.float32) - mean) * denominator
    return torch.from_numpy(img)[None, None]


@torch.no_grad()
def run_rgrg(model, image: torch.Tensor, tokenizer, max_length: int,
             num_beams: int) -> dict:
    """RGRG's ``generate`` as its report scripts call it (early stopping),
    fp32, with the region features caught at ``dim_reduction``."""
    feats = []
    handle = model.object_detector.roi_heads.dim_reduction.register_forward_hook(
        lambda module, args, out: feats.append(out))
    start = time.perf_counter()
    out = model.generate(image, max_length=max_length, num_beams=num_beams,
                         early_stopping=True)
    seconds = time.perf_counter() - start
    handle.remove()
    if out == -1:  # no region selected
        _, detections, _, detected = model.object_detector(image)[:4]
        ids, selected = [], torch.zeros(1, 29, dtype=torch.bool)
    else:
        ids, selected, detections, detected = out
    sentences = tokenizer.batch_decode(
        ids, skip_special_tokens=True, clean_up_tokenization_spaces=True)
    return dict(
        boxes=detections['top_region_boxes'][0],
        detected=detected[0],
        selected=selected[0],
        features=feats[-1][0],
        sentences=[s.strip() for s in sentences],
        seconds=seconds)


@torch.no_grad()
def run_crrg(model, pipeline, path: str, rgrg_input: torch.Tensor) -> dict:
    """crrg's model on the config's test pipeline: boxes and features in the
    512 x 512 input's pixels (``mode='tensor'``), and the predictions; and
    the boxes and features of RGRG's own input tensor (``same_input_*``)."""
    from mmengine.dataset import pseudo_collate
    data = model.data_preprocessor(pseudo_collate([pipeline(
        dict(img_path=path))]), False)
    regions = model(data['inputs'], data['data_samples'], mode='tensor')
    same = model(rgrg_input, data['data_samples'], mode='tensor')
    start = time.perf_counter()
    (sample, ) = model(data['inputs'], data['data_samples'], mode='predict')
    seconds = time.perf_counter() - start
    pred = sample.pred_regions
    selected = pred.selected
    return dict(
        inputs=data['inputs'][0, 0],
        boxes=regions.bboxes[0],
        detected=regions.detected[0],
        selected=selected,
        features=regions.features[0],
        sentences=[pred.sentences[r] for r in selected.nonzero().flatten()],
        report=sample.pred_report,
        original_boxes=pred.bboxes,
        same_input_boxes=same.bboxes[0],
        same_input_features=same.features[0],
        seconds=seconds)


def compare(ours: dict, theirs: dict, rgrg_input: torch.Tensor) -> dict:
    from crrg.models.report_generators import assemble_report
    detected = theirs['detected']
    both = detected & ours['detected']
    box_diff = (ours['boxes'][both] - theirs['boxes'][both]).abs().max()
    feat_diff = (ours['features'][both] - theirs['features'][both]).abs()
    same = sum(a == b for a, b in zip(ours['sentences'], theirs['sentences']))
    same_box = (ours['same_input_boxes'][both] - theirs['boxes'][both]).abs()
    same_feat = (ours['same_input_features'][both] -
                 theirs['features'][both]).abs()
    return dict(
        input_max_abs_diff=float((ours['inputs'] - rgrg_input[0, 0]).abs()
                                 .max()),
        detected_identical=bool(torch.equal(ours['detected'], detected)),
        num_detected=int(detected.sum()),
        box_max_abs_diff_px=float(box_diff) if both.any() else 0.,
        feature_max_abs_diff=float(feat_diff.max()) if both.any() else 0.,
        feature_median_rel_diff=float(
            (feat_diff / theirs['features'][both].abs().clamp(min=1e-6))
            .median()) if both.any() else 0.,
        same_input_box_max_abs_diff_px=float(same_box.max())
        if both.any() else 0.,
        same_input_feature_max_abs_diff=float(same_feat.max())
        if both.any() else 0.,
        selected_identical=bool(torch.equal(ours['selected'],
                                            theirs['selected'])),
        num_selected=int(theirs['selected'].sum()),
        sentences_identical=f'{same}/{len(theirs["sentences"])}',
        sentences_all_identical=(ours['sentences'] == theirs['sentences']),
        report_identical=ours['report'] == assemble_report(
            theirs['sentences']),
        rgrg_seconds=round(theirs['seconds'], 1),
        crrg_seconds=round(ours['seconds'], 1))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('rgrg', help='local checkout of ttanida/rgrg')
    parser.add_argument('--max-length', type=int, default=60,
                        help="RGRG's max_length (counts bos; theirs: 300)")
    parser.add_argument('--num-beams', type=int, default=4)
    parser.add_argument('--work-dir', help='default: a temporary folder')
    parser.add_argument('--manifest', help='also write the key manifest')
    parser.add_argument(
        '--rgrg-commit',
        help='the checkout\'s commit, when it is no git work tree (e.g. '
        'made with git archive)')
    parser.add_argument('--out', help='write the comparison as JSON')
    return parser.parse_args()


def main():
    args = parse_args()
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    sys.path.insert(0, repo)
    from mmengine.config import Config
    from mmengine.dataset import Compose

    from crrg.apis import test_pipeline_cfg
    from crrg.registry import MODELS
    from crrg.testing import make_gpt2_shaped_tokenizer
    from crrg.utils import load_model_checkpoint, register_all_modules
    from crrg.utils.converters import convert_rgrg_file
    from crrg.utils.real_data import real_data_file
    register_all_modules()
    torch.set_grad_enabled(False)
    work = args.work_dir or tempfile.mkdtemp(prefix='rgrg_parity_')
    os.makedirs(work, exist_ok=True)
    tok_dir = osp.join(work, 'tokenizer')
    tokenizer = make_gpt2_shaped_tokenizer(tok_dir)
    dicom = real_data_file('RG1_UNCR')
    if dicom is None:
        sys.exit('RG1_UNCR is not cached: run python tools/fetch_real_data.py')
    twin = osp.join(work, 'twin.png')
    twin_image(twin)
    images = dict(twin=twin, RG1_UNCR=dicom)

    commit = args.rgrg_commit or git_commit(args.rgrg)
    rgrg = build_rgrg(args.rgrg)
    if args.manifest:
        write_manifest(rgrg, commit, args.manifest)
    rgrg_inputs = {
        name: rgrg_image(grey_pixels(path))
        for name, path in images.items()
    }
    calibrate_batch_norm(rgrg.object_detector.backbone,
                         torch.cat(list(rgrg_inputs.values())))
    centre_class_logits(rgrg, torch.cat(list(rgrg_inputs.values())))
    theirs = {}
    for name in images:
        theirs[name] = run_rgrg(rgrg, rgrg_inputs[name], tokenizer,
                                args.max_length, args.num_beams)
    published = osp.join(work, 'rgrg_random.pt')
    torch.save(dict(model=rgrg.state_dict(), current_epoch=0), published)
    del rgrg

    converted = osp.join(work, 'rgrg_converted.pth')
    convert_rgrg_file(published, converted)
    os.remove(published)
    cfg = Config.fromfile(osp.join(
        repo, 'configs/rgrg/rgrg_r50-c5_gpt2-pubmed-medium_imagenome.py'))
    cfg.model.generator.tokenizer = tok_dir
    cfg.model.generator.max_new_tokens = args.max_length - 1
    cfg.model.generator.num_beams = args.num_beams
    model = MODELS.build(cfg.model)
    load_model_checkpoint(model, converted)
    model.eval()
    pipeline = Compose(test_pipeline_cfg(cfg))
    result = dict(
        rgrg_commit=commit,
        settings=dict(precision='fp32', max_length=args.max_length,
                      num_beams=args.num_beams, early_stopping=True,
                      torch=torch.__version__),
        images={})
    for name, path in images.items():
        ours = run_crrg(model, pipeline, path, rgrg_inputs[name])
        result['images'][name] = compare(ours, theirs[name],
                                         rgrg_inputs[name])
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')


if __name__ == '__main__':
    main()
