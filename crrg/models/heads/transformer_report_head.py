from typing import Dict, List, Optional, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn
from transformers import AutoTokenizer, BertConfig, BertLMHeadModel

from crrg.registry import MODELS
from ..utils import masked_lm_loss, missing_checkpoint_error

EXPECTED_FILES = ('vocab.txt (or tokenizer.json)', 'tokenizer_config.json')


@MODELS.register_module()
class TransformerReportHead(BaseModule):
    """A transformer decoder writing a whole report from visual tokens.

    R2Gen-style: ``num_layers`` decoder layers (self-attention over the
    words, cross-attention to the memory), built as transformers'
    ``BertLMHeadModel`` (``is_decoder``, ``add_cross_attention``), so
    ``generate`` gives greedy or beam search (``num_beams``) with its KV
    cache. Reports are tokenised by a BERT tokenizer: ``[CLS]`` starts,
    ``[SEP]`` ends, ``[PAD]`` pads. Sharing that vocabulary with R-CLIP's
    text tower lets a CLIP read the decoder's soft outputs (plugin 1).

    Args:
        tokenizer (str): Tokenizer directory (e.g. written by
            ``tools/train_tokenizer.py --kind wordpiece``).
        memory_channels (int): Channels C of the memory (B, N, C); a Linear
            maps them to ``hidden_size``.
        hidden_size (int): Defaults to 256.
        num_layers (int): Defaults to 3.
        num_heads (int): Defaults to 8.
        intermediate_size (int): Feed-forward size. Defaults to 1024.
        dropout (float): Defaults to 0.1.
        max_length (int): Tokens per report, [CLS] and [SEP] included
            (R2Gen: 60 on IU X-ray). Defaults to 60.
        num_beams (int): Beam size of ``generate``. Defaults to 3.
        local_files_only (bool): Never reach the hub. Defaults to True.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 tokenizer: str,
                 memory_channels: int,
                 hidden_size: int = 256,
                 num_layers: int = 3,
                 num_heads: int = 8,
                 intermediate_size: int = 1024,
                 dropout: float = 0.1,
                 max_length: int = 60,
                 num_beams: int = 3,
                 local_files_only: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                tokenizer, local_files_only=local_files_only)
        except (OSError, ValueError) as err:
            raise missing_checkpoint_error('TransformerReportHead', tokenizer,
                                           EXPECTED_FILES, err) from err
        tok = self.tokenizer
        config = BertConfig(
            vocab_size=len(tok),
            hidden_size=hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            intermediate_size=intermediate_size,
            hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout,
            max_position_embeddings=max_length + 2,
            is_decoder=True,
            add_cross_attention=True,
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.cls_token_id,
            eos_token_id=tok.sep_token_id)
        self.decoder = BertLMHeadModel(config)
        self.memory_proj = nn.Linear(memory_channels, hidden_size)
        self.max_length = max_length
        self.num_beams = num_beams

    @property
    def word_embeddings(self) -> nn.Embedding:
        """The decoder's input word embeddings (V, hidden_size)."""
        return self.decoder.get_input_embeddings()

    @property
    def bos_token_id(self) -> int:
        """The id that starts every report (``[CLS]``)."""
        return self.tokenizer.cls_token_id

    def project_memory(self, memory: Tensor) -> Tensor:
        """Memory (B, N, C) mapped to the decoder's width (B, N, hidden)."""
        return self.memory_proj(memory)

    def decode_step(self, inputs_embeds: Tensor, states: Tensor,
                    past_key_values=None) -> Tuple[Tensor, object]:
        """One incremental decoder step on input embeddings.

        Args:
            inputs_embeds (Tensor): (B, T, hidden) embeddings of the new
                positions.
            states (Tensor): (B, N, hidden) projected memory
                (:meth:`project_memory`).
            past_key_values: The cache the previous step returned, or None.

        Returns:
            tuple: next-token logits (B, V) at the last position, and the
            cache for the next step.
        """
        out = self.decoder(
            inputs_embeds=inputs_embeds,
            encoder_hidden_states=states,
            past_key_values=past_key_values,
            use_cache=True)
        return out.logits[:, -1], out.past_key_values

    def tokenize(self, reports: List[str]) -> Dict[str, Tensor]:
        """``input_ids`` and ``attention_mask`` (B, L), L <= max_length."""
        tokens = self.tokenizer(list(reports), padding=True, truncation=True,
                                max_length=self.max_length,
                                return_tensors='pt')
        device = self.memory_proj.weight.device
        return dict(input_ids=tokens['input_ids'].to(device),
                    attention_mask=tokens['attention_mask'].to(device))

    def logits(self, memory: Tensor,
               reports: List[str]) -> Tuple[Tensor, Tensor, Tensor]:
        """Teacher-forced next-token logits of the reference reports.

        Args:
            memory (Tensor): Visual tokens (B, N, C).
            reports (list[str]): B reference reports.

        Returns:
            tuple: ``logits`` (B, L-1, V) predicting tokens 1..L-1,
            ``targets`` (B, L-1) those tokens, ``mask`` (B, L-1) 1 on real
            tokens (the final [SEP] included).
        """
        tokens = self.tokenize(reports)
        hidden = self.decoder(
            input_ids=tokens['input_ids'],
            attention_mask=tokens['attention_mask'],
            encoder_hidden_states=self.memory_proj(memory)).logits
        return (hidden[:, :-1], tokens['input_ids'][:, 1:],
                tokens['attention_mask'][:, 1:])

    def loss(self, memory: Tensor, reports: List[str]) -> Dict[str, Tensor]:
        """Token cross-entropy ``loss_ce`` averaged over real tokens."""
        return dict(loss_ce=masked_lm_loss(*self.logits(memory, reports)))

    @torch.no_grad()
    def generate(self, memory: Tensor) -> List[str]:
        """Reports (B strings) by beam search (``num_beams``) on (B, N, C)."""
        start = torch.full((memory.size(0), 1), self.bos_token_id,
                           dtype=torch.long, device=memory.device)
        ids = self.decoder.generate(
            input_ids=start,
            attention_mask=torch.ones_like(start),
            encoder_hidden_states=self.memory_proj(memory),
            max_length=self.max_length,
            num_beams=self.num_beams,
            do_sample=False,
            eos_token_id=self.tokenizer.sep_token_id,
            pad_token_id=self.tokenizer.pad_token_id)
        return self.tokenizer.batch_decode(ids, skip_special_tokens=True,
                                           clean_up_tokenization_spaces=True)
