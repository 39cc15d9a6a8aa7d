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
    return save_gpt2_tokenizer(bpe, save_dir)


def save_gpt2_tokenizer(bpe: ByteLevelBPETokenizer,
                        save_dir: str) -> GPT2TokenizerFast:
    """``bpe`` as a GPT-2 style tokenizer (``<|endoftext|>`` as bos, eos, unk
    and pad), saved in Hugging Face format under ``save_dir`` (created if
    missing)."""
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
