from typing import List, Optional

import torch
from mmengine.model import BaseModule
from torch import Tensor
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

from crrg.registry import MODELS
from ..utils import missing_checkpoint_error

EXPECTED_FILES = ('config.json', 'pytorch_model.bin (or model.safetensors)',
                  'vocab.txt (or tokenizer.json)', 'tokenizer_config.json')


@MODELS.register_module()
class HFTextEncoder(BaseModule):
    """A Hugging Face text encoder (BERT family) with end-of-sequence pooling.

    Texts are tokenised here (padding to the longest text of the batch,
    truncation at ``max_length`` tokens); the sentence embedding is the last
    hidden state of the last non-padding token (BERT's ``[SEP]``), CXR-CLIP's
    ``eos`` pooling.

    Args:
        pretrained (str, optional): Hub name (e.g.
            ``emilyalsentzer/Bio_ClinicalBERT``) or local directory of a
            checkpoint. Never downloaded: when absent the error says how to
            provide it.
        bert_config (dict, optional): ``BertConfig`` keys of a randomly
            initialised BERT, used when ``pretrained`` is None; the vocabulary
            size is taken from the tokenizer.
        tokenizer (str, optional): Tokenizer directory or hub name; defaults
            to ``pretrained``. For a random BERT, a directory written by
            ``tools/train_tokenizer.py --kind wordpiece``.
        max_length (int): Tokens per text, special tokens included.
            Defaults to 256.
        local_files_only (bool): Never reach the hub. Defaults to True.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 pretrained: Optional[str] = None,
                 bert_config: Optional[dict] = None,
                 tokenizer: Optional[str] = None,
                 max_length: int = 256,
                 local_files_only: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        tokenizer = tokenizer or pretrained
        if tokenizer is None:
            raise ValueError('HFTextEncoder: set `tokenizer` (a directory '
                             'written by tools/train_tokenizer.py --kind '
                             'wordpiece) or `pretrained`.')
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                tokenizer, local_files_only=local_files_only)
        except (OSError, ValueError) as err:
            raise missing_checkpoint_error('HFTextEncoder', tokenizer,
                                           EXPECTED_FILES, err) from err
        if pretrained is not None:
            try:
                self.model = AutoModel.from_pretrained(
                    pretrained, local_files_only=local_files_only,
                    add_pooling_layer=False)
            except (OSError, ValueError) as err:
                raise missing_checkpoint_error('HFTextEncoder', pretrained,
                                               EXPECTED_FILES, err) from err
        else:
            config = dict(bert_config or {})
            config['vocab_size'] = len(self.tokenizer)
            config['pad_token_id'] = self.tokenizer.pad_token_id
            self.model = BertModel(BertConfig(**config),
                                   add_pooling_layer=False)
        self.max_length = max_length
        self.out_channels = self.model.config.hidden_size

    def tokenize(self, texts: List[str]) -> dict:
        """Token ids and attention mask, each (N, L), on the model's device."""
        tokens = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors='pt')
        device = self.model.device
        return {k: v.to(device) for k, v in tokens.items()}

    def forward_tokens(self, attention_mask: Tensor, **model_inputs) -> Tensor:
        """Pooled (N, C) features from ``input_ids`` or ``inputs_embeds``.

        Args:
            attention_mask (Tensor): (N, L), 1 on real tokens.
            **model_inputs: ``input_ids`` (N, L) or ``inputs_embeds``
                (N, L, C), plus optional ``token_type_ids``.
        """
        hidden = self.model(attention_mask=attention_mask,
                            **model_inputs).last_hidden_state
        last = attention_mask.sum(dim=1) - 1
        return hidden[torch.arange(hidden.size(0), device=hidden.device), last]

    def forward(self, texts: List[str]) -> Tensor:
        """Pooled (N, C) features of N texts, C = ``out_channels``."""
        return self.forward_tokens(**self.tokenize(texts))
