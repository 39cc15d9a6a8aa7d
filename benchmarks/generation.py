"""Batched vs per-region sentence generation of the region-guided model.

crrg decodes all selected regions of all images of a batch in ONE
``generate`` call (KV cache, pseudo self-attention prefix); the naive
reference calls ``generate`` once per region. Region features come from the
model's own detector (random weights); only the generation is timed.

Usage::

    python benchmarks/generation.py [--images 4] [--regions 8]
"""
import argparse
import tempfile
import time

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from crrg.testing import train_report_tokenizer
from crrg.registry import MODELS
from crrg.utils.setup_env import register_all_modules

SENTENCES = [
    'the heart is normal in size.', 'no pleural effusion is seen.',
    'there is a right lower lobe opacity.', 'the lungs are clear.'
] * 10


def build(config: str, tokenizer: str, real: bool, max_new_tokens: int):
    model_cfg = Config.fromfile(config).model
    gen = model_cfg.generator
    gen.tokenizer = tokenizer
    gen.pretrained = None
    gen.max_new_tokens = max_new_tokens
    gen.num_beams = 1
    if real:
        model_cfg.detector.backbone.init_cfg = None
        gen.gpt2_config = dict(
            n_layer=24, n_embd=1024, n_head=16)
    return MODELS.build(model_cfg).eval()


def bench(name: str, model, size: int, images: int, regions: int) -> None:
    from mmdet.structures import DetDataSample
    samples = [
        DetDataSample(metainfo=dict(img_shape=(size, size),
                                    batch_input_shape=(size, size)))
        for _ in range(images)
    ]
    with torch.no_grad():
        feats = model.detector.predict_regions(
            torch.randn(images, 3, size, size), samples).features
    feats = feats[:, :regions].reshape(-1, feats.size(-1))
    head = model.generator
    # Random weights may stop at once: decode exactly max_new_tokens.
    head.lm.generation_config.min_new_tokens = head.max_new_tokens
    head.generate(feats[:1])  # warm-up
    start = time.perf_counter()
    head.generate(feats)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    for row in feats:
        head.generate(row[None])
    naive = time.perf_counter() - start
    print_log(
        f'{name}: {images} images x {regions} regions, '
        f'max {head.max_new_tokens} new tokens | batched '
        f'{images / batched:.2f} img/s ({batched:.2f} s) | per-region loop '
        f'{images / naive:.2f} img/s ({naive:.2f} s) | speed-up '
        f'{naive / batched:.1f}x',
        logger='current')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--images', type=int, default=4)
    parser.add_argument('--regions', type=int, default=8)
    args = parser.parse_args()
    register_all_modules()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tok:
        train_report_tokenizer(SENTENCES, tok, vocab_size=500)
        tiny = build('configs/rrg/rrg-generator_tiny_synthetic.py', tok,
                     real=False, max_new_tokens=30)
        bench('(a) tiny config, 256 px', tiny, 256, args.images,
              args.regions)
        real = build(
            'configs/rrg/'
            'rrg-generator_r50_fpn_gpt2-pubmed-medium_opt_imagenome.py',
            tok, real=True, max_new_tokens=8)
    # The vocabulary is the trained tokenizer's (500), not GPT-2's 50257:
    # the output layer is ~15% of GPT-2 medium's per-token cost.
    bench('(b) R50-FPN 512 px + GPT-2-medium shape (random)', real, 512, 2,
          4)


if __name__ == '__main__':
    main()
