import os
from typing import Iterable

from tokenizers import ByteLevelBPETokenizer
from transformers import GPT2TokenizerFast

EOS_TOKEN = '<|endoftext|>'


def train_report_tokenizer(sentences: Iterable[str], save_dir: str,
                           vocab_size: int = 2000) -> GPT2TokenizerFast:
    """Train a byte-level BPE tokenizer on report sentences.

    The result is a GPT-2 style tokenizer (``<|endoftext|>`` as bos, eos and
    pad) saved in Hugging Face format, so ``GPT2TokenizerFast.from_pretrained
    (save_dir)`` reloads it.

    Args:
        sentences (Iterable[str]): Training sentences.
        save_dir (str): Output directory (created if missing).
        vocab_size (int): Vocabulary size including the 256 byte tokens and
            the special token. Defaults to 2000.

    Returns:
        GPT2TokenizerFast: The trained tokenizer.
    """
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        sentences, vocab_size=vocab_size, special_tokens=[EOS_TOKEN])
    tokenizer = GPT2TokenizerFast(
        tokenizer_object=bpe,
        bos_token=EOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        pad_token=EOS_TOKEN)
    os.makedirs(save_dir, exist_ok=True)
    tokenizer.save_pretrained(save_dir)
    return tokenizer
