from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast
from transformers.cache_utils import DynamicCache

from crrg.registry import MODELS
from ..utils import missing_checkpoint_error
from ..decoding import PRECISIONS, GPT2Decoder, PackedLinear
from ..utils.lm_loss import masked_lm_loss

#: Tables word positions are read from (``position_embedding``).
POSITION_EMBEDDINGS = ('wpe', 'wte')
#: Beam-search stopping rules (``beam_rule``).
BEAM_RULES = ('transformers', 'rgrg')

EXPECTED_FILES = ('config.json', 'model.safetensors (or pytorch_model.bin)',
                  'tokenizer files: vocab.json + merges.txt '
                  '(or tokenizer.json), tokenizer_config.json')


@MODELS.register_module()
class GPT2RegionHead(BaseModule):
    """GPT-2 writing one sentence per region with pseudo self-attention.

    The region vector goes through an MLP ``in_channels -> n_embd -> n_embd``;
    per layer, two Linear maps turn it into ONE extra key and value slot
    placed in front of the word keys (RGRG's pseudo self-attention). In
    training the slot is passed to GPT-2 as a 1-token ``past_key_values``
    prefix; ``generate()`` decodes all regions at once with
    :class:`~crrg.models.decoding.fast_gpt2.GPT2Decoder` (static KV cache whose
    slot 0 is the region's, finished sentences leave the batch, beam search
    batched over regions), which follows transformers' greedy / beam search.
    Word positions start at 1 in both (the prefix slot occupies position 0
    and has no position embedding); positions come from ``wpe``, not from the
    word embedding table as in RGRG's code.

    ``inference_precision`` is the one switch of the fast path: ``'fp32'``
    (default; the model's own weights, the same tokens as
    ``GPT2LMHeadModel.generate``), ``'bf16'`` (bf16 weight copies) or
    ``'int8'`` (per-channel int8 weights, dynamically quantised activations).
    Training always uses the fp32 weights; the packed copies are rebuilt when
    the weights change. See ``docs/benchmarks.md`` for speed and agreement.

    Targets are ``<|endoftext|> sentence <|endoftext|>``; the loss covers the
    sentence tokens and the final eos.

    RGRG's checkpoints were trained and decode with RGRG's quirks; three
    switches reproduce them (crrg's behaviour is the default):
    ``position_embedding='wte'`` reads word positions from the word-embedding
    table (RGRG's ``LanguageModel`` looks position ids up in ``wte``, not
    ``wpe``), ``first_position=0`` numbers the words from 0 (the prefix slot
    takes no position there either), and ``beam_rule='rgrg'`` stops a beam
    search as RGRG's report scripts do (``early_stopping=True``, see
    :meth:`GPT2Decoder._beam_search
    <crrg.models.decoding.GPT2Decoder._beam_search>`). RGRG decodes with
    ``clean_up_tokenization_spaces=True``.

    Args:
        in_channels (int): Region feature size C. Defaults to 1024.
        pretrained (str, optional): Hub name (e.g.
            ``healx/gpt-2-pubmed-medium``) or local directory of a GPT-2.
        gpt2_config (dict, optional): ``GPT2Config`` keys of a randomly
            initialised model, used when ``pretrained`` is None. The
            vocabulary size is taken from the tokenizer.
        tokenizer (str, optional): Directory (or hub name) of the tokenizer;
            defaults to ``pretrained``.
        local_files_only (bool): Never reach the hub. Defaults to True.
        freeze_lm (bool): Freeze GPT-2; only the region MLP and the
            injection layers train. Defaults to True.
        max_new_tokens (int): Max tokens per sentence (must be below
            ``n_positions``: word positions 1..max_new_tokens). Defaults to
            60.
        min_new_tokens (int): eos is not allowed before this many tokens
            (as transformers' ``min_new_tokens``). Defaults to 0.
        max_report_tokens (int): Token budget of a report (applied when the
            report is assembled: sentences are added in region order until
            the report's token count reaches the budget; the sentence that
            crosses it is the last one kept). Defaults to 300.
        num_beams (int): 1 = greedy. Defaults to 1.
        inference_precision (str): ``'fp32'``, ``'bf16'`` or ``'int8'`` weights
            for ``generate``. Defaults to ``'fp32'``.
        position_embedding (str): ``'wpe'`` or ``'wte'`` (RGRG), the table
            word positions are read from. Defaults to ``'wpe'``.
        first_position (int): Position of the first word (bos): 1 (crrg,
            after the prefix slot) or 0 (RGRG). Defaults to 1.
        beam_rule (str): ``'transformers'`` (``early_stopping=False``) or
            ``'rgrg'``. Defaults to ``'transformers'``.
        clean_up_tokenization_spaces (bool, optional): Passed to the
            tokenizer's ``batch_decode``; None = the tokenizer's default.
        loss_weight (float): Multiplier of the LM loss. Defaults to 1.0.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 in_channels: int = 1024,
                 pretrained: Optional[str] = None,
                 gpt2_config: Optional[dict] = None,
                 tokenizer: Optional[str] = None,
                 local_files_only: bool = True,
                 freeze_lm: bool = True,
                 max_new_tokens: int = 60,
                 max_report_tokens: int = 300,
                 num_beams: int = 1,
                 inference_precision: str = 'fp32',
                 min_new_tokens: int = 0,
                 loss_weight: float = 1.0,
                 position_embedding: str = 'wpe',
                 first_position: int = 1,
                 beam_rule: str = 'transformers',
                 clean_up_tokenization_spaces: Optional[bool] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value, allowed in (
                ('position_embedding', position_embedding,
                 POSITION_EMBEDDINGS), ('first_position', first_position,
                                        (0, 1)),
                ('beam_rule', beam_rule, BEAM_RULES)):
            if value not in allowed:
                raise ValueError(f'GPT2RegionHead: {name} must be one of '
                                 f'{allowed}, got {value!r}')
        if inference_precision not in PRECISIONS:
            raise ValueError(f'GPT2RegionHead: inference_precision must be one '
                             f'of {PRECISIONS}, got {inference_precision!r}')
        tokenizer = tokenizer or pretrained
        if tokenizer is None:
            raise ValueError('GPT2RegionHead: set `tokenizer` (a directory '
                             'written by tools/train_tokenizer.py) or '
                             '`pretrained`.')
        try:
            self.tokenizer = GPT2TokenizerFast.from_pretrained(
                tokenizer, local_files_only=local_files_only)
        except (OSError, ValueError) as err:
            raise missing_checkpoint_error('GPT2RegionHead', tokenizer,
                                               EXPECTED_FILES, err) from err
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if pretrained is not None:
            try:
                self.lm = GPT2LMHeadModel.from_pretrained(
                    pretrained, local_files_only=local_files_only)
            except (OSError, ValueError) as err:
                raise missing_checkpoint_error(
                    'GPT2RegionHead', pretrained, EXPECTED_FILES, err) from err
        else:
            cfg = dict(n_layer=2, n_embd=128, n_head=4, n_positions=256)
            cfg.update(gpt2_config or {})
            cfg['vocab_size'] = len(self.tokenizer)
            cfg['bos_token_id'] = self.tokenizer.bos_token_id
            cfg['eos_token_id'] = self.tokenizer.eos_token_id
            self.lm = GPT2LMHeadModel(GPT2Config(**cfg))
        config = self.lm.config
        if max_new_tokens + first_position > config.n_positions:
            raise ValueError(
                f'GPT2RegionHead: max_new_tokens={max_new_tokens} needs word '
                f'positions up to {max_new_tokens + first_position - 1}, but the '
                f'GPT-2 has '
                f'n_positions={config.n_positions}; lower max_new_tokens.')
        self.num_layers = config.n_layer
        self.num_heads = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.region_mlp = nn.Sequential(
            nn.Linear(in_channels, config.n_embd), nn.ReLU(inplace=True),
            nn.Linear(config.n_embd, config.n_embd))
        self.key_maps = nn.ModuleList(
            nn.Linear(config.n_embd, config.n_embd)
            for _ in range(self.num_layers))
        self.value_maps = nn.ModuleList(
            nn.Linear(config.n_embd, config.n_embd)
            for _ in range(self.num_layers))
        self.freeze_lm = freeze_lm
        if freeze_lm:
            self.lm.requires_grad_(False)
        self.max_new_tokens = max_new_tokens
        self.max_report_tokens = max_report_tokens
        self.num_beams = num_beams
        self.min_new_tokens = min_new_tokens
        self.inference_precision = inference_precision
        self.loss_weight = loss_weight
        self.position_embedding = position_embedding
        self.first_position = first_position
        self.beam_rule = beam_rule
        self.clean_up_tokenization_spaces = clean_up_tokenization_spaces
        # precision -> (weights key, decoder), see ``decoder``; and
        # ('slot maps', precision) -> (weights key, packed key/value maps);
        # filled by ``_packed``
        self._decoders: Dict[object, tuple] = {}

    def train(self, mode: bool = True) -> 'GPT2RegionHead':
        """Keep a frozen GPT-2 in eval mode (no dropout)."""
        super().train(mode)
        if self.freeze_lm:
            self.lm.eval()
        return self

    def region_slots(self, features: Tensor) -> Tuple[Tensor, Tensor]:
        """One key/value slot per layer from the region features.

        Args:
            features (Tensor): (N, C) region features.

        Returns:
            tuple[Tensor, Tensor]: keys and values, each of shape
            (num_layers, N, n_head, head_dim).
        """
        vec = self.region_mlp(features)
        shape = (vec.size(0), self.num_heads, self.head_dim)
        keys = torch.stack([m(vec).view(shape) for m in self.key_maps])
        values = torch.stack([m(vec).view(shape) for m in self.value_maps])
        return keys, values

    def region_prefix(self, features: Tensor) -> DynamicCache:
        """The region slots as a 1-token GPT-2 ``past_key_values`` prefix.

        Args:
            features (Tensor): (N, C) region features.

        Returns:
            DynamicCache: per layer keys and values of shape
            (N, n_head, 1, head_dim).
        """
        keys, values = self.region_slots(features)
        return DynamicCache.from_legacy_cache(
            tuple((k[:, :, None], v[:, :, None])
                  for k, v in zip(keys, values)))

    @property
    def decoder(self) -> GPT2Decoder:
        """The decoder of ``inference_precision``, packed on first use and
        repacked when GPT-2's weights were replaced or modified in place."""
        return self._packed(
            (self.inference_precision, self.position_embedding,
             self.first_position), self.lm.parameters(),
            lambda: GPT2Decoder(self.lm, self.inference_precision,
                                position_table=self.position_table()
                                if self.position_embedding != 'wpe'
                                or self.first_position != 1 else None))

    def position_table(self) -> Tensor:
        """(n_positions, n_embd) the position embedding of each decoder cache
        slot: row 0 (the prefix's slot) zeros, row ``s`` the embedding of
        word position ``first_position + s - 1`` from ``position_embedding``'s
        table."""
        gpt = self.lm.transformer
        table = getattr(gpt, self.position_embedding).weight.detach()
        rows = self.lm.config.n_positions - 1
        first = self.first_position
        return torch.cat([table.new_zeros(1, table.size(1)),
                          table[first:first + rows]])

    @contextmanager
    def _positions(self) -> Iterator[None]:
        """While open, GPT-2's ``wpe`` lookups read ``position_embedding``'s
        table (for ``'wte'``, RGRG's positions; a no-op for ``'wpe'``)."""
        if self.position_embedding == 'wpe':
            yield
            return
        gpt = self.lm.transformer
        table = getattr(gpt, self.position_embedding)
        handle = gpt.wpe.register_forward_hook(
            lambda module, args, output: table(args[0]))
        try:
            yield
        finally:
            handle.remove()

    def _packed(self, name, params, build):
        """``build()``, cached under ``name`` until one of ``params`` is
        replaced (data pointer) or modified in place (version counter)."""
        key = tuple((p.data_ptr(), p._version) for p in params)
        cached = self._decoders.get(name)
        if cached is None or cached[0] != key:
            cached = (key, build())
            self._decoders[name] = cached
        return cached[1]

    @torch.no_grad()
    def fast_region_slots(self, features: Tensor) -> Tuple[Tensor, Tensor]:
        """:meth:`region_slots` for decoding in ``inference_precision``.

        fp32 is :meth:`region_slots` itself; bf16 / int8 run the key and
        value maps of all layers as ONE packed linear of that precision
        (2 * layers * n_embd outputs; 50 M weights at GPT-2 medium's shape,
        which fp32 GEMVs read in ~40 ms), packed on first use and repacked
        when they change. Inference only (no gradient).

        Returns:
            tuple[Tensor, Tensor]: keys and values, each (num_layers, N,
            n_head, head_dim).
        """
        if self.inference_precision == 'fp32':
            return self.region_slots(features)
        maps = list(self.key_maps) + list(self.value_maps)
        packed = self._packed(
            ('slot maps', self.inference_precision),
            [p for m in maps for p in (m.weight, m.bias)],
            lambda: PackedLinear(
                torch.cat([m.weight.detach() for m in maps]),
                torch.cat([m.bias.detach() for m in maps]),
                self.inference_precision, transposed=False))
        vec = self.region_mlp(features).float()
        out = packed(vec).view(vec.size(0), 2, self.num_layers,
                               self.num_heads, self.head_dim)
        return out[:, 0].transpose(0, 1), out[:, 1].transpose(0, 1)

    def count_tokens(self, text: str) -> int:
        """Number of tokens of ``text``."""
        return len(self.tokenizer(text)['input_ids'])

    def loss(self, features: Tensor, sentences: List[str]) -> Dict[str, Tensor]:
        """Teacher-forced LM loss.

        Args:
            features (Tensor): (N, C) features of regions with a sentence.
            sentences (list[str]): Their N reference sentences.

        Returns:
            dict: ``loss_lm`` (scalar), mean over target tokens.
        """
        tok = self.tokenizer
        # bos + sentence + eos take word positions first_position ..
        # n_positions - 1.
        max_len = self.lm.config.n_positions - 2 - self.first_position
        ids = [[tok.bos_token_id] + tok(s)['input_ids'][:max_len] +
               [tok.eos_token_id] for s in sentences]
        length = max(len(i) for i in ids)
        device = features.device
        input_ids = torch.full((len(ids), length), tok.pad_token_id,
                               dtype=torch.long, device=device)
        mask = torch.zeros_like(input_ids, dtype=torch.bool)
        for row, seq in enumerate(ids):
            input_ids[row, :len(seq)] = torch.tensor(seq, device=device)
            mask[row, :len(seq)] = True
        attention_mask = torch.cat(
            [mask.new_ones(len(ids), 1), mask], dim=1).long()
        position_ids = torch.arange(
            self.first_position, self.first_position + length,
            device=device).expand(len(ids), -1)
        with self._positions():
            out = self.lm(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_values=self.region_prefix(features),
                use_cache=True)
        # each token predicts the next; bos is never a target, pads never count
        loss = masked_lm_loss(out.logits[:, :-1], input_ids[:, 1:],
                              mask[:, 1:])
        return dict(loss_lm=self.loss_weight * loss)

    @torch.no_grad()
    def generate(self, features: Tensor) -> List[str]:
        """Write one sentence per region, all N decoded in one call.

        Args:
            features (Tensor): (N, C) region features.

        Returns:
            list[str]: N sentences (stripped).
        """
        if features.size(0) == 0:
            return []
        tok = self.tokenizer
        keys, values = self.fast_region_slots(features)
        ids = self.decoder.generate(
            keys,
            values,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            max_new_tokens=self.max_new_tokens,
            num_beams=self.num_beams,
            min_new_tokens=self.min_new_tokens,
            beam_rule=self.beam_rule)
        return [
            s.strip() for s in tok.batch_decode(
                ids,
                skip_special_tokens=True,
                clean_up_tokenization_spaces=self.clean_up_tokenization_spaces)
        ]
