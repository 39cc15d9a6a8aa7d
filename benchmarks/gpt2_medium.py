"""The generation benchmarks' model: GPT-2 medium's shape, random weights.

24 layers x 1024, 16 heads, vocabulary 50,257 (RGRG's language model,
``healx/gpt-2-pubmed-medium``); random weights, since only time counts and
nothing is downloaded.
"""
import argparse
import os
import tempfile
from contextlib import contextmanager
from typing import Iterator, Tuple

import torch
from torch import Tensor

GPT2_MEDIUM = dict(n_layer=24, n_embd=1024, n_head=16, n_positions=1024)
VOCAB = 50257
SENTENCES = [
    'the heart is normal in size.', 'no pleural effusion is seen.',
    'there is a right lower lobe opacity.', 'the lungs are clear.'
] * 10


def generation_parser(description: str,
                      threads_help: str) -> argparse.ArgumentParser:
    """The options of the generation benchmarks: ``--threads``,
    ``--repeats``, GPT-2 medium's workload (``--regions`` x ``--tokens``,
    ``--beams``), crrg's int8 ``--gemm`` and ``--layers``."""
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--threads', type=int, default=os.cpu_count(),
                        help=threads_help)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--regions', type=int, default=10)
    parser.add_argument('--tokens', type=int, default=20)
    parser.add_argument('--beams', type=int, nargs='+', default=[1, 4])
    parser.add_argument('--gemm', nargs='+',
                        choices=['crrg', 'vnni', 'avx2', 'fbgemm'],
                        default=['crrg'],
                        help="crrg's int8 GEMM(s), GPT2Decoder's int8_gemm "
                        "(default: crrg, its VNNI or AVX2 kernel)")
    parser.add_argument('--layers', type=int, default=24,
                        help='fewer for a smoke run')
    return parser


def random_lm(**shape):
    """``GPT2LMHeadModel`` of GPT-2 medium's shape (``shape`` overrides it,
    e.g. ``n_layer=2`` for a smoke run), random weights, eval mode."""
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    config = dict(GPT2_MEDIUM, vocab_size=VOCAB)
    config.update(shape)
    return GPT2LMHeadModel(GPT2Config(**config)).eval()


def random_slots(lm, regions: int) -> Tuple[Tensor, Tensor]:
    """Random region slots (the pseudo self-attention prefix): keys and
    values (layers, regions, heads, head_dim), as
    ``GPT2RegionHead.fast_region_slots`` gives them."""
    config = lm.config
    shape = (config.n_layer, regions, config.n_head,
             config.n_embd // config.n_head)
    generator = torch.Generator().manual_seed(1)
    return (torch.randn(shape, generator=generator),
            torch.randn(shape, generator=generator))


@contextmanager
def report_tokenizer() -> Iterator[str]:
    """A small report tokenizer trained on :data:`SENTENCES`, in a temporary
    directory (its path) for the duration of the block."""
    from crrg.models.utils.tokenizer_training import train_report_tokenizer
    with tempfile.TemporaryDirectory() as path:
        train_report_tokenizer(SENTENCES, path, vocab_size=500)
        yield path


def build_head(tokenizer: str, in_channels: int = 1024, **shape):
    """``GPT2RegionHead`` with random GPT-2 medium weights (``shape``
    overrides it) and vocabulary 50,257: ids beyond the small tokenizer's
    decode to nothing; only time counts."""
    from crrg.models.heads import GPT2RegionHead
    head = GPT2RegionHead(in_channels=in_channels, tokenizer=tokenizer,
                          gpt2_config=dict(GPT2_MEDIUM, **shape))
    head.lm.resize_token_embeddings(VOCAB)
    return head.eval()
