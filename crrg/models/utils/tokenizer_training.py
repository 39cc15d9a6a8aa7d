"""Small vocabularies trained on report text: the byte-level BPE of the tiny
GPT-2 and the WordPiece of the tiny R-CLIP text tower
(``tools/train_tokenizer.py``), saved in Hugging Face format."""
import os
from typing import Iterable

from tokenizers import BertWordPieceTokenizer, ByteLevelBPETokenizer
from transformers import BertTokenizerFast, GPT2TokenizerFast

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


def train_wordpiece_tokenizer(texts: Iterable[str], save_dir: str,
                              vocab_size: int = 2000) -> BertTokenizerFast:
    """Train a lower-cased BERT WordPiece tokenizer on report texts.

    The text tower of the tiny R-CLIP uses it in place of Bio_ClinicalBERT's
    vocabulary; it has BERT's special tokens (``[PAD] [UNK] [CLS] [SEP]
    [MASK]``) and is saved in Hugging Face format, so
    ``BertTokenizerFast.from_pretrained(save_dir)`` reloads it.

    Args:
        texts (Iterable[str]): Training texts (reports or sections).
        save_dir (str): Output directory (created if missing).
        vocab_size (int): Maximum vocabulary size including the special
            tokens. Defaults to 2000.

    Returns:
        BertTokenizerFast: The trained tokenizer.
    """
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator(texts, vocab_size=vocab_size)
    os.makedirs(save_dir, exist_ok=True)
    wordpiece.save_model(save_dir)
    tokenizer = BertTokenizerFast(
        vocab_file=os.path.join(save_dir, 'vocab.txt'), do_lower_case=True)
    tokenizer.save_pretrained(save_dir)
    return tokenizer


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
    from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode
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
    tokenizer = GPT2TokenizerFast(
        tokenizer_object=bpe,
        bos_token=EOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        pad_token=EOS_TOKEN)
    os.makedirs(save_dir, exist_ok=True)
    tokenizer.save_pretrained(save_dir)
    return tokenizer
