"""CXR-CLIP's own model vs crrg's converted RCLIP, on random weights.

Given a local checkout of kakaobrain/cxr-clip, this script

1. builds the authors' ``CXRClip`` from their ``configs/model/
   clip_resnet_clinical.yaml`` with seeded random weights (Bio_ClinicalBERT's
   architecture from a local BertConfig of its shape, a local 28,996-token
   WordPiece vocabulary, random batch-norm statistics, a logit scale above
   CLIP's clamp);
2. saves it in the published layout (``model``, ``optimizer``,
   ``scheduler``, ``config`` with OmegaConf objects inside, ``epoch``,
   ``train_loss``), as their ``trainer.py`` does;
3. converts it with crrg's converter and loads it strictly into
   ``configs/rclip/cxr-clip_r50_bioclinicalbert_mimic.py``'s model;
4. compares image and text embeddings, similarity logits and zero-shot
   probabilities on synthetic-twin radiographs and the real pydicom-data
   radiograph (read by crrg's DICOM loader), each pre-processed by CXR-CLIP's
   evaluation transform and by crrg's config pipeline.

Only what cannot run here is shimmed: the ImageNet / hub downloads (the
weights are random anyway), and the package ``__init__`` files that import
the training stack (tensorboard, albumentations); the model, its encoders,
its projections and its evaluation transform are the authors' code.
``--write-manifest`` records the key / shape manifest the converter checks.
Needs ``requirements/cxrclip_parity.txt`` (OmegaConf, as the authors' code).

    python benchmarks/cxrclip_parity.py /path/to/cxr-clip [--write-manifest]
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import tempfile
import types

import numpy as np
import torch

TEXTS = [
    'No evidence of pneumonia', 'Findings suggesting pneumonia.',
    'The lungs are clear. No pleural effusion or pneumothorax.',
    'Heart size is mildly enlarged. There is a small left pleural effusion '
    'with adjacent atelectasis.',
    'Right lower lobe opacity, concerning for pneumonia.',
]
#: Bio_ClinicalBERT's config.json
BIO_CLINICALBERT = dict(
    vocab_size=28996, hidden_size=768, num_hidden_layers=12,
    num_attention_heads=12, intermediate_size=3072,
    max_position_embeddings=512, type_vocab_size=2, hidden_act='gelu',
    layer_norm_eps=1e-12)


def import_cxrclip(repo: str) -> types.SimpleNamespace:
    """The authors' model and transform modules, their package ``__init__``
    files (the training stack) skipped."""
    sys.path.insert(0, repo)
    for name in ('cxrclip', 'cxrclip.data', 'cxrclip.util'):
        package = types.ModuleType(name)
        package.__path__ = [osp.join(repo, *name.split('.'))]
        sys.modules[name] = package
    # data_utils imports albumentations for its training augmentations; the
    # evaluation transform is torchvision's
    albumentations = types.ModuleType('albumentations')
    albumentations.BasicTransform = type('BasicTransform', (), {})
    albumentations.pytorch = types.ModuleType('albumentations.pytorch')
    albumentations.pytorch.transforms = types.ModuleType(
        'albumentations.pytorch.transforms')
    sys.modules.update({
        'albumentations': albumentations,
        'albumentations.pytorch': albumentations.pytorch,
        'albumentations.pytorch.transforms':
        albumentations.pytorch.transforms
    })
    import cxrclip.model as model
    import cxrclip.model.modules.image_encoder as image_encoder
    from cxrclip.data import data_utils
    from cxrclip.scheduler.warmup_cosine import LinearWarmupCosineAnnealingLR
    from cxrclip.util.utils import convert_dictconfig_to_dict
    import torchvision

    # ResNet50(pretrained=True) downloads ImageNet weights: random instead
    image_encoder.resnet50 = lambda pretrained=True: \
        torchvision.models.resnet50(weights=None)
    return types.SimpleNamespace(
        model=model, data_utils=data_utils,
        scheduler=LinearWarmupCosineAnnealingLR,
        to_dict=convert_dictconfig_to_dict)


def write_text_tower_files(out_dir: str) -> str:
    """A Bio_ClinicalBERT-shaped BERT config and a 28,996-token vocabulary
    (BERT's special tokens, words of the texts, then filler tokens)."""
    from transformers import BertConfig, BertTokenizerFast
    words = sorted({w for t in TEXTS for w in
                    t.lower().replace('.', ' . ').replace(',', ' , ').split()})
    vocab = ['[PAD]'] + [f'[unused{i}]' for i in range(99)] + \
        ['[UNK]', '[CLS]', '[SEP]', '[MASK]'] + words
    vocab += [f'filler{i}' for i in range(28996 - len(vocab))]
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'vocab.txt'), 'w') as f:
        f.write('\n'.join(vocab) + '\n')
    BertTokenizerFast(vocab_file=osp.join(out_dir, 'vocab.txt'),
                      do_lower_case=True).save_pretrained(out_dir)
    BertConfig(**BIO_CLINICALBERT).save_pretrained(out_dir)
    return out_dir


def build_authors_model(cx, repo: str, text_dir: str, seed: int):
    """Their CXRClip with seeded random weights, and the training config as
    their train.py holds it when it saves a checkpoint."""
    from omegaconf import OmegaConf
    torch.manual_seed(seed)
    configs = osp.join(repo, 'configs')
    cfg = OmegaConf.create({
        'base': OmegaConf.load(osp.join(configs, 'train.yaml'))['base'],
        'model': OmegaConf.load(
            osp.join(configs, 'model/clip_resnet_clinical.yaml')),
        'loss': OmegaConf.load(osp.join(configs, 'loss/cxr_clip.yaml')),
        'tokenizer': OmegaConf.load(
            osp.join(configs, 'tokenizer/clinical_bert.yaml')),
        'transform': OmegaConf.load(osp.join(configs, 'transform/clahe.yaml')),
        'optimizer': OmegaConf.load(osp.join(configs, 'optimizer/adamw.yaml')),
        'scheduler': OmegaConf.load(
            osp.join(configs, 'scheduler/cosine_epoch15_warmup1.yaml')),
    })
    cfg.base.output = {'checkpoint': 'outputs/checkpoints/',
                       'tensorboard': 'outputs/tensorboard/'}
    OmegaConf.resolve(cfg)
    cfg = cx.to_dict(cfg)
    # build from the local architecture files, pretrained=False: their
    # BertModel(AutoConfig) path; the checkpoint keeps their hub names
    build_cfg = json.loads(json.dumps(
        {k: v for k, v in cfg['model'].items()}, default=list))
    build_cfg['text_encoder'].update(name=text_dir, pretrained=False,
                                     cache_dir=text_dir)
    tokenizer = cx.data_utils.load_tokenizer(
        source='huggingface', pretrained_model_name_or_path=text_dir,
        cache_dir=text_dir)
    model = cx.model.build_model(build_cfg, cfg['loss'], tokenizer)
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            shape = module.running_mean.shape
            module.running_mean.copy_(0.1 * torch.randn(shape, generator=gen))
            module.running_var.copy_(0.5 + torch.rand(shape, generator=gen))
            module.weight.data.copy_(1 + 0.1 * torch.randn(shape,
                                                           generator=gen))
            module.bias.data.copy_(0.1 * torch.randn(shape, generator=gen))
    with torch.no_grad():
        model.logit_scale.fill_(5.0)  # above CLIP's clamp at ln 100 = 4.605
    model.eval()
    return model, tokenizer, cfg


def write_manifest(path: str, keys: dict, commit: str) -> None:
    """The manifest the converter checks: the model's keys and shapes, and
    the buffer that the authors' pinned transformers (4.26.1) also saves,
    ``embeddings.position_ids`` (non-persistent in newer versions)."""
    import transformers
    source = dict(repository='kakaobrain/cxr-clip', commit=commit,
                  config='configs/model/clip_resnet_clinical.yaml',
                  torch=torch.__version__,
                  transformers=transformers.__version__)
    optional = {
        'text_encoder.text_encoder.embeddings.position_ids':
        [1, BIO_CLINICALBERT['max_position_embeddings']]
    }
    lines = ['{', f' "source": {json.dumps(source)},']
    for name, table in (('keys', keys), ('optional_keys', optional)):
        lines.append(f' "{name}": {{')
        lines += [f'  {json.dumps(k)}: {json.dumps(v)},'
                  for k, v in table.items()]
        lines[-1] = lines[-1].rstrip(',')
        lines.append(' },')
    lines[-1] = ' }'
    with open(path, 'w') as f:
        f.write('\n'.join(lines + ['}']) + '\n')


def save_published_layout(cx, model, cfg, path: str) -> None:
    """``torch.save`` as their trainer.py does after an epoch."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scheduler = cx.scheduler(optimizer, total_steps=100, warmup_steps=10)
    torch.save({
        'model': model.state_dict(),
        'optimizer': optimizer.state_dict(),
        'scheduler': scheduler.state_dict(),
        'config': cfg,
        'epoch': 15,
        'train_loss': 1.2345,
    }, path)


def test_images(work_dir: str) -> dict:
    """name -> PNG path: three synthetic-twin radiographs and the real
    pydicom-data chest radiograph (crrg's DICOM loader, as displayed)."""
    import cv2

    from crrg.datasets.transforms.loading import read_dicom
    from crrg.testing.synthetic.mimic import draw_frontal, jittered_boxes
    from crrg.utils.real_data import real_data_file
    images = {}
    rng = np.random.default_rng(0)
    for i, (width, height) in enumerate([(512, 512), (600, 480),
                                         (430, 560)]):
        boxes = jittered_boxes(rng, width, height, cardiomegaly=i == 1)
        pixels = draw_frontal(rng, width, height, boxes, [])
        images[f'twin_{i}'] = pixels
    dicom = real_data_file('RG1_UNCR')
    if dicom is None:
        raise SystemExit('cxrclip_parity: pydicom-data is not cached; run '
                         'python tools/fetch_real_data.py')
    images['RG1_UNCR (real)'], _ = read_dicom(dicom)
    paths = {}
    for name, pixels in images.items():
        paths[name] = osp.join(work_dir, f'{name.split()[0]}.png')
        cv2.imwrite(paths[name], pixels)
    return paths


def authors_inputs(cx, paths: dict) -> torch.Tensor:
    """Their evaluation transform: PIL RGB, configs/transform/default.yaml's
    test transforms, ImageNet normalisation (ResNet checkpoints)."""
    from PIL import Image
    transforms = cx.data_utils.load_transform(
        'test', {'test': {'Resize': {'size': 224},
                          'CenterCrop': {'size': 224}}})
    return torch.stack([
        cx.data_utils.transform_image(
            transforms, Image.open(p).convert('RGB'), normalize='imagenet')
        for p in paths.values()
    ])


def crrg_inputs(model, cfg, paths: dict) -> torch.Tensor:
    """crrg's test pipeline of the zero-shot config and the model's data
    preprocessor."""
    from mmengine.dataset import Compose

    from crrg.utils import register_all_modules
    register_all_modules()
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    packed = [pipeline(dict(img_path=p)) for p in paths.values()]
    data = model.data_preprocessor(
        dict(inputs=[p['inputs'] for p in packed],
             data_samples=[p['data_samples'] for p in packed]), False)
    return data['inputs']


@torch.no_grad()
def authors_outputs(model, tokenizer, images, max_length):
    """As their Evaluator.encode_image / encode_text and forward do."""
    img = model.image_projection(model.encode_image(images))
    img = img / torch.norm(img, dim=1, keepdim=True)
    tokens = tokenizer(TEXTS, padding='longest', truncation=True,
                       return_tensors='pt', max_length=max_length)
    txt = model.text_projection(model.encode_text(tokens))
    txt = txt / torch.norm(txt, dim=1, keepdim=True)
    logits = model.logit_scale.exp() * img @ txt.T
    zero_shot = torch.softmax(img @ txt[:2].T, dim=1)
    return dict(image=img, text=txt, logits=logits, zero_shot=zero_shot)


@torch.no_grad()
def crrg_outputs(model, images):
    img = model.encode_image(images)
    txt = model.encode_text(TEXTS)
    return dict(image=img, text=txt, logits=model.similarity_logits(img, txt),
                zero_shot=model.zero_shot_probs(img, txt[:2]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('repo', help='local checkout of kakaobrain/cxr-clip')
    parser.add_argument(
        '--commit', help="the checkout's commit, recorded in the manifest "
        '(default: asked of git; give it for an exported tree)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--write-manifest', action='store_true',
        help="record the authors' key / shape manifest into crrg")
    args = parser.parse_args()
    from mmengine.config import Config

    from crrg.models.clip.cxrclip_checkpoint import (R50_MANIFEST,
                                                     convert_cxrclip_checkpoint)
    from crrg.registry import MODELS
    from crrg.utils import load_model_checkpoint, register_all_modules
    torch.set_num_threads(2)
    register_all_modules()
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    commit = args.commit or subprocess.run(
        ['git', 'rev-parse', 'HEAD'], cwd=args.repo, capture_output=True,
        text=True).stdout.strip() or 'unknown'
    cx = import_cxrclip(args.repo)
    with tempfile.TemporaryDirectory() as work:
        text_dir = write_text_tower_files(osp.join(work, 'bio_clinicalbert'))
        theirs, tokenizer, cfg = build_authors_model(cx, args.repo, text_dir,
                                                     args.seed)
        published = osp.join(work, 'r50_random.tar')
        save_published_layout(cx, theirs, cfg, published)
        keys = {k: list(v.shape) for k, v in theirs.state_dict().items()}
        if args.write_manifest:
            write_manifest(R50_MANIFEST, keys, commit)
            print(f'manifest: {len(keys)} keys -> '
                  f'{osp.relpath(R50_MANIFEST, root)}')
        converted = osp.join(work, 'converted.pth')
        torch.save(convert_cxrclip_checkpoint(published), converted)
        crrg_cfg = Config.fromfile(osp.join(
            root, 'configs/rclip/cxr-clip_r50_bioclinicalbert_zero-shot_rsna'
            '.py'))
        crrg_cfg.model.text_encoder.tokenizer = text_dir
        ours = MODELS.build(crrg_cfg.model)
        load_model_checkpoint(ours, converted)
        ours.eval()
        paths = test_images(work)
        their_images = authors_inputs(cx, paths)
        our_images = crrg_inputs(ours, crrg_cfg, paths)
        a = authors_outputs(theirs, tokenizer, their_images,
                            cfg['base']['text_max_length'])
        b = crrg_outputs(ours, their_images)
        e2e = crrg_outputs(ours, our_images)
    print(f'CXR-CLIP {commit[:12]} (kakaobrain/cxr-clip) vs crrg RCLIP, '
          f'random weights (seed {args.seed}), logit scale '
          f'{theirs.logit_scale.exp().item():.1f}; torch {torch.__version__}'
          f', {platform.processor() or platform.machine()}')
    print(f'images: {", ".join(paths)}; {len(TEXTS)} texts')
    print('| compared | max abs difference |')
    print('|---|---|')
    print('| pre-processing (crrg pipeline vs CXR-CLIP transform, '
          f'normalised pixels) | {(our_images - their_images).abs().max():.2e}'
          ' |')
    for name in ('image', 'text', 'logits', 'zero_shot'):
        print(f'| {name} (same input tensors) | '
              f'{(a[name] - b[name]).abs().max():.2e} |')
    for name in ('image', 'logits', 'zero_shot'):
        print(f'| {name}, end to end (each its own pre-processing) | '
              f'{(a[name] - e2e[name]).abs().max():.2e} |')


if __name__ == '__main__':
    main()
