"""CheXbert (Smit et al., 2020) as a labeler of the 14 CheXpert conditions.

The architecture is CheXbert's ``bert_labeler``: a BERT encoder
(bert-base-uncased sizes), dropout, and 14 linear heads on the [CLS] state,
13 with 4 classes (blank, positive, negative, uncertain) and the last
(No Finding) with 2 (blank, positive). Reports are tokenised with
bert-base-uncased's WordPiece vocabulary, white space collapsed, cut to 512
tokens (511 + [SEP]), an empty report becoming ``[CLS] [SEP]``, as
CheXbert's ``label.py`` does. The argmax of each head is already in
CheXbert's coding, which crrg's CE scores use.

Weights are never downloaded: ``checkpoint`` is the ``chexbert.pth`` from
CheXbert's authors (a dict with ``model_state_dict``, keys prefixed
``module.`` as saved from ``nn.DataParallel``), ``tokenizer`` a folder with
bert-base-uncased's ``vocab.txt`` (any Hugging Face BERT tokenizer folder).
"""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from crrg.registry import TASK_UTILS

#: bert-base-uncased's encoder sizes (CheXbert's backbone)
BERT_BASE_UNCASED = dict(
    vocab_size=30522, hidden_size=768, num_hidden_layers=12,
    num_attention_heads=12, intermediate_size=3072,
    max_position_embeddings=512, type_vocab_size=2)

_MISSING = ('{what} not found at {path!r}. CheXbert weights are not '
            'downloaded by crrg: place {fix}, or pass {arg}=PATH.')


class CheXbertModel(nn.Module):
    """CheXbert's ``bert_labeler``: BERT + 14 heads on the [CLS] state.

    Args:
        bert_config (dict, optional): ``transformers.BertConfig`` keyword
            arguments. Defaults to :data:`BERT_BASE_UNCASED`.
        dropout (float): Defaults to 0.1.
    """

    def __init__(self, bert_config: Optional[dict] = None,
                 dropout: float = 0.1) -> None:
        super().__init__()
        from transformers import BertConfig, BertModel
        config = BertConfig(**(bert_config or BERT_BASE_UNCASED))
        self.bert = BertModel(config, add_pooling_layer=True)
        self.dropout = nn.Dropout(dropout)
        hidden = config.hidden_size
        self.linear_heads = nn.ModuleList(
            [nn.Linear(hidden, 4) for _ in range(13)] + [nn.Linear(hidden, 2)])

    def forward(self, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> list:
        """Logits per condition.

        Args:
            input_ids (torch.Tensor): (B, L) token ids.
            attention_mask (torch.Tensor): (B, L), 1 on tokens.

        Returns:
            list[torch.Tensor]: 14 tensors, (B, 4) each and (B, 2) last.
        """
        hidden = self.bert(input_ids, attention_mask=attention_mask)[0]
        cls = self.dropout(hidden[:, 0])
        return [head(cls) for head in self.linear_heads]


def load_chexbert_state(model: nn.Module, checkpoint: str) -> None:
    """Load ``chexbert.pth`` strictly (``module.`` prefixes removed).

    The only key allowed to be absent or extra is BERT's ``position_ids``
    buffer, which transformers versions disagree on.

    Raises:
        FileNotFoundError: No file at ``checkpoint``.
        KeyError: The file has no ``model_state_dict`` or its keys do not
            match the architecture (counts and first keys in the message).
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(
            _MISSING.format(
                what='CheXbert checkpoint', path=checkpoint,
                fix="CheXbert's chexbert.pth (from its authors' release) at "
                'that path', arg='checkpoint'))
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)
    if not isinstance(state, dict) or 'model_state_dict' not in state:
        raise KeyError(f'{checkpoint}: expected a dict with '
                       '"model_state_dict" (CheXbert\'s chexbert.pth)')
    state = {
        k[len('module.'):] if k.startswith('module.') else k: v
        for k, v in state['model_state_dict'].items()
    }
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if 'position_ids' not in k]
    unexpected = [k for k in result.unexpected_keys
                  if 'position_ids' not in k]
    if missing or unexpected:
        raise KeyError(
            f'{checkpoint}: does not match CheXbert\'s architecture: '
            f'{len(missing)} missing key(s) (e.g. {missing[:3]}), '
            f'{len(unexpected)} unexpected (e.g. {unexpected[:3]})')


@TASK_UTILS.register_module()
class CheXbertLabeler:
    """Label reports with CheXbert.

    Args:
        checkpoint (str): CheXbert's ``chexbert.pth``.
        tokenizer (str): Folder with bert-base-uncased's tokenizer files
            (at least ``vocab.txt``).
        bert_config (dict, optional): Encoder sizes; bert-base-uncased's by
            default (tests pass tiny ones).
        batch_size (int): Reports per forward pass. Defaults to 16.
        device (str): Defaults to 'cpu'.
    """
    name = 'chexbert'

    def __init__(self,
                 checkpoint: str,
                 tokenizer: str,
                 bert_config: Optional[dict] = None,
                 batch_size: int = 16,
                 device: str = 'cpu') -> None:
        from transformers import BertTokenizer
        if not osp.isfile(osp.join(tokenizer, 'vocab.txt')):
            raise FileNotFoundError(
                _MISSING.format(
                    what='bert-base-uncased tokenizer (vocab.txt)',
                    path=tokenizer,
                    fix="bert-base-uncased's vocab.txt (and optionally "
                    'tokenizer_config.json) in that folder',
                    arg='tokenizer'))
        self.tokenizer = BertTokenizer.from_pretrained(tokenizer)
        self.model = CheXbertModel(bert_config)
        load_chexbert_state(self.model, checkpoint)
        self.model.to(device).eval()
        self.device = device
        self.batch_size = batch_size

    def _encode(self, report: str) -> list:
        tokens = self.tokenizer.tokenize(' '.join(report.split()))
        if not tokens:
            return [self.tokenizer.cls_token_id, self.tokenizer.sep_token_id]
        ids = self.tokenizer.encode_plus(tokens)['input_ids']
        if len(ids) > 512:
            ids = ids[:511] + [self.tokenizer.sep_token_id]
        return ids

    @torch.no_grad()
    def __call__(self, reports: Sequence[str]) -> np.ndarray:
        """CheXbert-coded labels, (N, 14) int64 (0/1/2/3)."""
        out = []
        for start in range(0, len(reports), self.batch_size):
            encoded = [self._encode(r)
                       for r in reports[start:start + self.batch_size]]
            length = max(len(e) for e in encoded)
            ids = torch.zeros(len(encoded), length, dtype=torch.long)
            mask = torch.zeros(len(encoded), length, dtype=torch.long)
            for i, e in enumerate(encoded):
                ids[i, :len(e)] = torch.tensor(e)
                mask[i, :len(e)] = 1
            logits = self.model(ids.to(self.device), mask.to(self.device))
            out.append(
                torch.stack([lg.argmax(1) for lg in logits], 1).cpu().numpy())
        if not out:
            return np.zeros((0, 14), dtype=np.int64)
        return np.concatenate(out).astype(np.int64)
