"""A tokenizer of GPT-2's shape for tests and parity runs of real-size
GPT-2 models."""
from tokenizers import ByteLevelBPETokenizer
from transformers import GPT2TokenizerFast
from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

from crrg.models.utils.tokenizer_training import (EOS_TOKEN,
                                                  save_gpt2_tokenizer)


def make_gpt2_shaped_tokenizer(save_dir: str) -> GPT2TokenizerFast:
    """A byte-level BPE tokenizer with GPT-2's vocabulary size (50,257, eos
    ``<|endoftext|>`` = 50256), for real-shape GPT-2 models without GPT-2's
    own vocabulary files (no hub here).

    Its tokens are the 256 byte tokens and 50,000 merged byte pairs (in a
    fixed order), so any id decodes; the texts mean nothing.

    Args:
        save_dir (str): Output directory (created if missing).

    Returns:
        GPT2TokenizerFast: The tokenizer, saved in Hugging Face format.
    """
    chars = list(bytes_to_unicode().values())
    vocab = {char: i for i, char in enumerate(chars)}
    merges = []
    for first in chars:
        for second in chars:
            if len(vocab) == 50256:
                break
            vocab[first + second] = len(vocab)
            merges.append((first, second))
    vocab[EOS_TOKEN] = 50256
    bpe = ByteLevelBPETokenizer(vocab, merges)
    bpe.add_special_tokens([EOS_TOKEN])
    return save_gpt2_tokenizer(bpe, save_dir)
