"""Decoding GPT-2 with a region prefix slot: packed weights, static KV cache.

``GPT2RegionHead.generate`` writes one sentence per selected region. At the
real shape (GPT-2 medium, 10 regions) every decoding step reads all 355 M
weights for a batch of 10 rows, so a step costs what streaming the weights
costs, and the Python overhead of a generic ``generate()`` loop comes on top.
:class:`GPT2Decoder` is that loop written for this one case:

- the weights of a ``GPT2LMHeadModel`` are packed once in one of three
  precisions: ``'fp32'`` (the model's own tensors, the same ``addmm`` as
  transformers' ``Conv1D``: the exact path), ``'bf16'`` (bf16 copies, oneDNN
  bf16 GEMMs, activations and the residual stream stay fp32), ``'int8'``
  (per-output-channel symmetric int8 weights; activations quantised per call,
  int8 dot products, fp32 output: fbgemm's dynamic-quantised GEMMs in the
  Python step, crrg's own in the compiled one, below);
- one preallocated KV cache ``(layers, 2, rows, heads, 1 + max_new_tokens,
  head_dim)``, fp32 (bf16 for the compiled int8 step, which reads it into
  fp32: half the bytes, and at 60 tokens the cache outgrows the L3 cache);
  slot 0 holds the region's pseudo self-attention key/value, word position
  ``p`` (from ``wpe``) goes to slot ``p``;
- greedy rows that emit ``eos`` leave the batch (the cache rows of the others
  are moved up), and a beam search over all regions at once drops a region
  once its search is done.

Greedy and beam search follow transformers' ``generate()`` (greedy with
``min_new_tokens``; beam search with ``length_penalty=1``,
``early_stopping=False``), so with ``'fp32'`` the token ids equal
``GPT2LMHeadModel.generate`` on the same prefix cache.

With ``'int8'`` a decoding step runs as one compiled call
(``csrc/gpt2_int8_decode.cpp``, built by :func:`native_int8_ops` with
torch's C++ extension loader the first time it is needed on a machine,
~30 s): layer norms, attention, GELU and argmax as fused loops instead of
~25 small kernels per layer, and on a CPU with AVX512-VNNI or AVX2 its own
int8 GEMM for the few rows of a step (the same int8 weights; activations
quantised per row instead of fbgemm's per call, to 8 bits with VNNI, to 7
with AVX2, whose u8 x s8 products are summed in int16): fbgemm's waits on
memory when, as here, every weight is read once per step from DRAM, this
one prefetches ahead (~25 % faster per layer at 10 rows with VNNI). The step runs on
as many threads as torch's intra-op setting (``torch.set_num_threads``):
the GEMMs split by output columns, the attention by (row, head), as tasks
that the calling thread claims too, so that a worker the OS has not
scheduled delays nothing; outputs do not depend on the thread count. It
releases the GIL while it runs. Its attention reads
slot ``s`` of row ``r`` from cache row ``table[r, s]``, so a beam search
reorders a small row table instead of copying the cache (at 10 regions x 4
beams the copy took ~40 % of a step).
Without a C++ compiler it falls back to the Python step with a warning.
"""
import logging
import math
import os
import os.path as osp
import subprocess
import warnings
from functools import partial
from typing import List, Optional

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor
from transformers.activations import ACT2FN

PRECISIONS = ('fp32', 'bf16', 'int8')
# 'vnni' is accepted as the former name of 'crrg'
INT8_GEMMS = ('crrg', 'avx2', 'fbgemm')
# CRRG_FORCE_CPU_ISA -> the highest instruction set the build may use
# (csrc: CRRG_MAX_ISA), with its module name's suffix
FORCED_ISAS = {'AVX512': (4, ''), 'AVX2': (2, '_avx2'), 'GENERIC': (0, '_generic')}
_NATIVE = {}


def native_int8_ops():
    """The compiled int8 step module, or None when it cannot be built.

    Built once per machine and torch version into torch's extension cache
    (``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``) from
    ``csrc/gpt2_int8_decode.cpp``; later processes load the built library.
    With the environment variable ``CRRG_FORCE_CPU_ISA=AVX2`` (or
    ``GENERIC``) set when it is first called, a build without any AVX-512
    (or AVX2) code is loaded instead, as a CPU without them would run it:
    the variable caps the GEMM's choice at run time (``cpu_isa``), but the
    loops the compiler vectorised pick their AVX-512 or AVX2 version once
    at load time from the CPU itself.

    Returns:
        module | None: with ``Int8GPT2`` (the step), ``Int8Linear`` (its
        int8 GEMM), ``cpu_isa`` (the instruction set its kernels use:
        ``'AVX512_VNNI'``, ``'AVX512'``, ``'AVX2'`` or ``'GENERIC'``),
        ``cpu_has_vnni`` and ``argmax_rows``.
    """
    if 'ops' not in _NATIVE:
        from torch.utils.cpp_extension import load
        source = osp.join(osp.dirname(__file__), 'csrc',
                          'gpt2_int8_decode.cpp')
        forced = os.environ.get('CRRG_FORCE_CPU_ISA', '').upper() or 'AVX512'
        if forced not in FORCED_ISAS:
            raise ValueError(f'CRRG_FORCE_CPU_ISA must be one of '
                             f'{tuple(FORCED_ISAS)}, got {forced!r}')
        max_isa, suffix = FORCED_ISAS[forced]
        print_log('GPT2Decoder: loading the int8 decoding kernel (compiled '
                  'once per machine, ~30 s)', logger='current')
        try:
            _NATIVE['ops'] = load(
                name='crrg_gpt2_int8_decode' + suffix, sources=[source],
                extra_cflags=['-O3', '-ffast-math',
                              f'-DCRRG_MAX_ISA={max_isa}'],
                verbose=False)
        except (RuntimeError, OSError, ImportError,
                subprocess.CalledProcessError) as err:
            print_log(
                f'GPT2Decoder: the int8 decoding kernel could not be built '
                f'({type(err).__name__}: ...{str(err)[-400:]}); int8 '
                'decoding uses the slower Python step. A C++ compiler (g++) '
                'and ninja make it available.', logger='current',
                level=logging.WARNING)
            _NATIVE['ops'] = None
    return _NATIVE['ops']


def quantize_int8(out_in: Tensor) -> Tensor:
    """Per-output-channel symmetric int8 weights (zero point 0).

    Args:
        out_in (Tensor): (out, in) weight.

    Returns:
        Tensor: (out, in) ``torch.qint8`` per-channel quantised tensor,
        scale = max |w| of the channel / 127.
    """
    out_in = out_in.detach().float().contiguous()
    scale = (out_in.abs().amax(dim=1) / 127).clamp_min(1e-8)
    # torch.ao's quantised tensors are deprecated in recent torch but still
    # the only int8 x int8 (VNNI) CPU GEMM it ships; the deprecation notice
    # is about the API, not about this call.
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        return torch.quantize_per_channel(
            out_in, scale.double(), torch.zeros_like(scale, dtype=torch.long),
            0, torch.qint8)


def gelu_new_inplace(x: Tensor) -> Tensor:
    """transformers' ``gelu_new`` (``NewGELUActivation``) bit for bit: the
    same roundings, in place on two new tensors where theirs allocates
    eight (at (116, 4096) fp32, one thread: ~1.4 ms against ~3.8 ms).
    ``x`` is left unchanged."""
    out = torch.pow(x, 3.0).mul_(0.044715).add_(x)
    return out.mul_(math.sqrt(2.0 / math.pi)).tanh_().add_(1.0).mul_(x * 0.5)


class PackedLinear:
    """``y = x @ W + b`` of a transformers ``Conv1D`` (weight (in, out)) or
    of the tied LM head (weight (out, in), no bias), packed for decoding.

    Args:
        weight (Tensor): (in, out) if ``transposed`` else (out, in).
        bias (Tensor, optional): (out,).
        precision (str): One of :data:`PRECISIONS`.
        transposed (bool): ``weight`` is stored (in, out) (``Conv1D``).
    """

    def __init__(self, weight: Tensor, bias: Optional[Tensor], precision: str,
                 transposed: bool) -> None:
        if precision == 'int8' and weight.device.type != 'cpu':
            raise ValueError(
                f'PackedLinear: int8 weights are a CPU path (fbgemm), but the '
                f'weight is on {weight.device}; use fp32 or bf16 there')
        self.precision = precision
        weight = weight.detach()
        self.bias = None if bias is None else bias.detach()
        if precision == 'fp32':
            # The model's own tensors, used as transformers uses them.
            self.weight = weight
            self.transposed = transposed
            return
        out_in = (weight.t() if transposed else weight).float().contiguous()
        if precision == 'bf16':
            self.weight = out_in.to(torch.bfloat16)
        else:
            self.weight = torch.ops.quantized.linear_prepack(
                quantize_int8(out_in),
                None if bias is None else self.bias.float())

    def __call__(self, x: Tensor) -> Tensor:
        """(M, in) fp32 -> (M, out) fp32."""
        if self.precision == 'fp32':
            if not self.transposed:
                return F.linear(x, self.weight, self.bias)
            return torch.addmm(self.bias, x, self.weight)
        if self.precision == 'bf16':
            out = F.linear(x.to(torch.bfloat16), self.weight).float()
            return out if self.bias is None else out.add_(self.bias)
        return torch.ops.quantized.linear_dynamic(x, self.weight, True)


class GPT2Decoder:
    """Greedy / beam decoding of a ``GPT2LMHeadModel`` after a 1-slot prefix.

    Args:
        lm (GPT2LMHeadModel): The model; its weights are packed, not copied
            for ``'fp32'``. Rebuild the decoder after the weights change.
        precision (str): ``'fp32'`` (exact), ``'bf16'`` or ``'int8'``.
        native (bool): With ``'int8'``, run each step as one compiled call
            (:func:`native_int8_ops`) when it can be built and the model is
            standard GPT-2 (``gelu_new``, attention scaled by
            1 / sqrt(head_dim)); else the Python step. Defaults to True.
        int8_gemm (str): The compiled step's GEMM: ``'crrg'`` (crrg's
            kernel for few rows, per-row int8 activations: its AVX512-VNNI
            version on a CPU with AVX512-VNNI, else its AVX2 version (7-bit
            activations), else fbgemm's), ``'avx2'`` (the AVX2 version also
            where VNNI is there, fbgemm's without AVX2) or ``'fbgemm'``
            (fbgemm's, per-tensor activations, as the Python step);
            ``'vnni'`` is the former name of ``'crrg'``.
            ``CRRG_FORCE_CPU_ISA=AVX2`` (or ``GENERIC``) in the environment
            makes ``'crrg'`` choose as on a CPU with at most AVX2 (see
            :func:`native_int8_ops`). Defaults to ``'crrg'``.
        position_table (Tensor, optional): (slots, n_embd) the position
            embedding added at cache slot ``s`` (row 0 unused: the prefix's
            slot). Defaults to ``wpe`` (word position ``s`` at slot ``s``);
            :class:`~crrg.models.heads.GPT2RegionHead` passes other tables
            for RGRG's positions.

    Attributes:
        native: The compiled ``Int8GPT2`` in use (its ``gemm`` says which
            GEMM runs: ``'vnni'``, ``'avx2'`` or ``'fbgemm'``), or None
            (Python step).
    """

    def __init__(self, lm, precision: str = 'fp32', native: bool = True,
                 int8_gemm: str = 'crrg',
                 position_table: Optional[Tensor] = None) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f'GPT2Decoder: precision must be one of '
                             f'{PRECISIONS}, got {precision!r}')
        if int8_gemm not in INT8_GEMMS + ('vnni', ):
            raise ValueError(f'GPT2Decoder: int8_gemm must be one of '
                             f'{INT8_GEMMS}, got {int8_gemm!r}')
        device = lm.lm_head.weight.device
        if precision == 'int8' and device.type != 'cpu':
            raise ValueError(
                f'GPT2Decoder: int8 decoding runs on the CPU only, but the '
                f'model is on {device}; decode with precision fp32 (or '
                f"bf16) there, e.g. GPT2RegionHead(inference_precision='fp32')")
        config = lm.config
        self.precision = precision
        self.num_heads = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.embed_dim = config.n_embd
        self.eps = config.layer_norm_epsilon
        self.act = ACT2FN[config.activation_function]
        if config.activation_function == 'gelu_new':
            # fp32: the same roundings with fewer allocations; else the same
            # tanh approximation in one kernel (3x faster here)
            self.act = (gelu_new_inplace if precision == 'fp32' else partial(
                F.gelu, approximate='tanh'))
        gpt = lm.transformer
        self.wte = gpt.wte.weight.detach()
        self.wpe = (gpt.wpe.weight.detach()
                    if position_table is None else position_table)
        self.ln_f = (gpt.ln_f.weight.detach(), gpt.ln_f.bias.detach())
        convs = [(b.attn.c_attn, b.attn.c_proj, b.mlp.c_fc, b.mlp.c_proj)
                 for b in gpt.h]
        numel = lm.lm_head.weight.numel() + sum(
            conv.weight.numel() for layer in convs for conv in layer)
        self._weight_bytes = numel * dict(fp32=4, bf16=2, int8=1)[precision]
        self.layers = []
        self.native = None
        # the compiled step implements standard GPT-2 attention and gelu_new
        standard = (config.activation_function == 'gelu_new'
                    and config.scale_attn_weights
                    and not config.scale_attn_by_inverse_layer_idx
                    and not config.reorder_and_upcast_attn)
        ops = native_int8_ops() if (
            precision == 'int8' and native and standard) else None
        if ops is not None:
            self.native = self._build_native(ops, lm, convs, int8_gemm)
            self._argmax = ops.argmax_rows
            return
        self._argmax = partial(torch.argmax, dim=-1)
        for block, (qkv, proj, fc, out) in zip(gpt.h, convs):
            self.layers.append(dict(
                ln_1=(block.ln_1.weight.detach(), block.ln_1.bias.detach()),
                ln_2=(block.ln_2.weight.detach(), block.ln_2.bias.detach()),
                qkv=self._pack(qkv, precision),
                proj=self._pack(proj, precision),
                fc=self._pack(fc, precision),
                out=self._pack(out, precision)))
        self.lm_head = PackedLinear(lm.lm_head.weight, lm.lm_head.bias,
                                    precision, transposed=False)

    def _build_native(self, ops, lm, convs, gemm: str):
        """``Int8GPT2`` of the compiled module, on the int8 weights of
        :class:`PackedLinear` (:func:`quantize_int8`; packed in C++ for
        crrg's kernels or by fbgemm)."""
        norms, qweights, biases = [], [], []
        for block, layer in zip(lm.transformer.h, convs):
            norms += [block.ln_1.weight, block.ln_1.bias, block.ln_2.weight,
                      block.ln_2.bias]
            for conv in layer:  # Conv1D weights are (in, out)
                qweights.append(quantize_int8(conv.weight.t()))
                biases.append(conv.bias.detach().float())
        qweights.append(quantize_int8(lm.lm_head.weight))
        norms += list(self.ln_f)
        return ops.Int8GPT2(self.num_heads, self.eps, self.wte, self.wpe,
                            [n.detach() for n in norms], qweights, biases,
                            gemm)

    @staticmethod
    def _pack(conv1d, precision: str) -> PackedLinear:
        return PackedLinear(conv1d.weight, conv1d.bias, precision,
                            transposed=True)

    @property
    def weight_bytes_per_step(self) -> int:
        """Bytes of weights one decoding step reads (all layers + LM head)."""
        return self._weight_bytes

    def _layer_norm(self, x: Tensor, params) -> Tensor:
        return F.layer_norm(x, (self.embed_dim, ), params[0], params[1],
                            self.eps)

    def step(self,
             ids: Tensor,
             pos: int,
             cache: Tensor,
             table: Optional[Tensor] = None) -> Tensor:
        """One token per row at word position ``pos``.

        Args:
            ids (Tensor): (B,) token ids, B <= cache rows.
            pos (int): Word position (>= 1); keys/values go to slot ``pos``.
            cache (Tensor): (layers, 2, rows, heads, slots, head_dim); rows
                ``:B`` are the active ones.
            table (Tensor, optional): Compiled step only: (B, slots) int64,
                the cache row each row's slot is read from (see
                :meth:`new_table`); None = row r reads row r.

        Returns:
            Tensor: (B, vocab) fp32 logits.
        """
        if self.native is not None:
            if table is None:
                table = self._identity_table(ids.size(0), cache.size(4))
            return self.native.step(ids, pos, cache, table)
        b = ids.size(0)
        x = self.wte[ids] + self.wpe[pos]
        shape = (b, self.num_heads, self.head_dim)
        for i, layer in enumerate(self.layers):
            h = self._layer_norm(x, layer['ln_1'])
            q, k, v = layer['qkv'](h).split(self.embed_dim, dim=1)
            keys, values = cache[i, 0, :b], cache[i, 1, :b]
            keys[:, :, pos] = k.view(shape)
            values[:, :, pos] = v.view(shape)
            att = F.scaled_dot_product_attention(
                q.view(b, self.num_heads, 1, self.head_dim),
                keys[:, :, :pos + 1], values[:, :, :pos + 1])
            x = x + layer['proj'](att.reshape(b, self.embed_dim).float())
            h = self._layer_norm(x, layer['ln_2'])
            x = x + layer['out'](self.act(layer['fc'](h)))
        return self.lm_head(self._layer_norm(x, self.ln_f))

    def _new_cache(self, prefix_keys: Tensor, prefix_values: Tensor,
                   rows: int, slots: int) -> Tensor:
        """Static cache with the prefix in slot 0 (repeated to ``rows``):
        fp32 for the Python step, bf16 for the compiled one."""
        layers, n = prefix_keys.shape[:2]
        # slots past the current position are written before they are read
        cache = prefix_keys.new_empty(
            (layers, 2, rows, self.num_heads, slots, self.head_dim),
            dtype=prefix_keys.dtype if self.native is None else torch.bfloat16)
        repeat = rows // n
        cache[:, 0, :, :, 0] = prefix_keys.repeat_interleave(repeat, dim=1)
        cache[:, 1, :, :, 0] = prefix_values.repeat_interleave(repeat, dim=1)
        return cache

    @staticmethod
    def _identity_table(rows: int, slots: int) -> Tensor:
        return torch.arange(rows)[:, None].expand(rows, slots).contiguous()

    def new_table(self, rows: int, slots: int) -> Optional[Tensor]:
        """The row table of the compiled step ((rows, slots) int64, row r
        reads row r), or None for the Python step."""
        if self.native is None:
            return None
        return self._identity_table(rows, slots)

    def select_rows(self, cache: Tensor, table: Optional[Tensor],
                    rows: Tensor, filled: int) -> Optional[Tensor]:
        """Rows ``rows`` (their first ``filled`` slots) become rows
        0..len(rows) - 1: the compiled step reorders its table (no cache
        copy); the Python step moves the cache rows.

        Returns:
            Tensor | None: The new table.
        """
        if table is not None:
            return table[rows]
        # one (layer, key / value) at a time through a reused buffer:
        # index_select over the leading dim copies whole (heads, filled,
        # head_dim) blocks: at GPT-2 medium's shape, 116 rows, 11 slots,
        # ~40 ms against ~190 ms for an advanced-index gather + scatter of
        # the 6-d slice
        blocks = cache[:, :, :, :, :filled]
        buffer = blocks.new_empty((rows.numel(), ) + blocks.shape[3:])
        for block in (kv for layer in blocks for kv in layer):
            torch.index_select(block, 0, rows, out=buffer)
            block[:rows.numel()].copy_(buffer)
        return None

    @torch.no_grad()
    def generate(self,
                 prefix_keys: Tensor,
                 prefix_values: Tensor,
                 bos_token_id: int,
                 eos_token_id: int,
                 max_new_tokens: int,
                 num_beams: int = 1,
                 min_new_tokens: int = 0,
                 beam_rule: str = 'transformers') -> List[List[int]]:
        """Decode one sequence per prefix.

        Args:
            prefix_keys (Tensor): (layers, N, heads, head_dim) slot-0 keys.
            prefix_values (Tensor): (layers, N, heads, head_dim) values.
            bos_token_id (int): First input token (word position 1).
            eos_token_id (int): Ends a sequence.
            max_new_tokens (int): Tokens generated at most (eos included).
            num_beams (int): 1 = greedy.
            min_new_tokens (int): eos is forbidden before this many tokens.
            beam_rule (str): ``'transformers'`` or ``'rgrg'`` (see
                :meth:`_beam_search`).

        Returns:
            list[list[int]]: N token lists, without bos and eos.
        """
        n = prefix_keys.size(1)
        if n == 0:
            return []
        if num_beams > 1:
            return self._beam_search(prefix_keys, prefix_values, bos_token_id,
                                     eos_token_id, max_new_tokens, num_beams,
                                     min_new_tokens, beam_rule)
        cache = self._new_cache(prefix_keys, prefix_values, n,
                                max_new_tokens + 1)
        table = self.new_table(n, max_new_tokens + 1)
        ids = torch.full((n, ), bos_token_id, dtype=torch.long)
        rows = torch.arange(n)
        outputs: List[List[int]] = [[] for _ in range(n)]
        for step in range(max_new_tokens):
            logits = self.step(ids, step + 1, cache, table)
            if step < min_new_tokens:
                logits[:, eos_token_id] = -float('inf')
            ids = self._argmax(logits)
            done = ids == eos_token_id
            for row, token, stop in zip(rows.tolist(), ids.tolist(),
                                        done.tolist()):
                if not stop:
                    outputs[row].append(token)
            if bool(done.any()):
                keep = (~done).nonzero().flatten()
                if keep.numel() == 0:
                    break
                table = self.select_rows(cache, table, keep, step + 2)
                rows, ids = rows[keep], ids[keep]
        return outputs

    def _beam_search(self, prefix_keys: Tensor, prefix_values: Tensor,
                     bos_token_id: int, eos_token_id: int,
                     max_new_tokens: int, num_beams: int,
                     min_new_tokens: int,
                     beam_rule: str = 'transformers') -> List[List[int]]:
        """Beam search over all N prefixes at once (N * num_beams rows).

        As transformers' beam search with ``length_penalty=1.0`` and
        ``early_stopping=False``: per step the ``2 * num_beams`` best
        continuations of each region; those ending in eos among the first
        ``num_beams`` become finished hypotheses scored by sum of log-probs
        / generated length; the best ``num_beams`` others continue. A region
        is done when it has ``num_beams`` hypotheses and its best running
        beam, normalised by the current length, cannot beat the worst; done
        regions leave the batch. At ``max_new_tokens`` the first
        ``num_beams`` continuations all become hypotheses.

        ``beam_rule='rgrg'``: RGRG's ``generate(..., early_stopping=True)``
        with the ``BeamSearchScorer`` of its pinned transformers 4.19: a
        region is done as soon as it has ``num_beams`` hypotheses; at
        ``max_new_tokens`` (RGRG's ``max_length`` - 1, which counts bos) eos
        continuations among the first ``num_beams`` are hypotheses scored
        by the length so far, then, unless that made the region done, its
        ``num_beams`` running beams, each with its last token, scored by
        that length + 1 (the bos).
        """
        rgrg = beam_rule == 'rgrg'
        n, k = prefix_keys.size(1), num_beams
        cache = self._new_cache(prefix_keys, prefix_values, n * k,
                                max_new_tokens + 1)
        table = self.new_table(n * k, max_new_tokens + 1)
        regions = torch.arange(n)
        beam_scores = torch.zeros(n, k)
        beam_scores[:, 1:] = -1e9
        tokens = torch.empty(n, k, 0, dtype=torch.long)
        ids = torch.full((n * k, ), bos_token_id, dtype=torch.long)
        finished: List[List[tuple]] = [[] for _ in range(n)]
        for step in range(max_new_tokens):
            active = regions.numel()
            logits = self.step(ids, step + 1, cache, table)
            if step < min_new_tokens:
                logits[:, eos_token_id] = -float('inf')
            vocab = logits.size(-1)
            top_scores, top = self._candidates(logits, beam_scores, 2 * k)
            top_beam = (top // vocab).tolist()
            top_token = (top % vocab).tolist()
            top_scores = top_scores.tolist()
            length = step + 1
            last = step == max_new_tokens - 1
            next_scores, next_beam, next_token, done = [], [], [], []
            for a, region in enumerate(regions.tolist()):
                hyps = finished[region]
                scores_a, beams_a, tokens_a = [], [], []
                for rank in range(2 * k):
                    beam, token = top_beam[a][rank], top_token[a][rank]
                    score = top_scores[a][rank]
                    if rank < k and (token == eos_token_id or
                                     (last and not rgrg)):
                        seq = tokens[a, beam].tolist()
                        if token != eos_token_id:
                            seq.append(token)
                        self._add_hypothesis(hyps, seq, score / length, k)
                    if token != eos_token_id and len(tokens_a) < k:
                        scores_a.append(score)
                        beams_a.append(beam)
                        tokens_a.append(token)
                next_scores.append(scores_a)
                next_beam.append(beams_a)
                next_token.append(tokens_a)
                # transformers: done once num_beams hypotheses exist and the
                # best running score, normalised by the length so far,
                # cannot beat the worst of them.
                if rgrg:
                    done.append(len(hyps) >= k)
                    if last and not done[-1]:
                        for score, beam, token in zip(scores_a, beams_a,
                                                      tokens_a):
                            self._add_hypothesis(
                                hyps, tokens[a, beam].tolist() + [token],
                                score / (length + 1), k)
                    continue
                done.append(
                    len(hyps) >= k
                    and min(h[0] for h in hyps) >= scores_a[0] / length)
            if last:
                break
            next_scores = torch.tensor(next_scores)
            next_beam = torch.tensor(next_beam)
            next_token = torch.tensor(next_token)
            done = torch.tensor(done)
            order = (torch.arange(active)[:, None] * k + next_beam).flatten()
            tokens = torch.cat(
                [tokens.view(active * k, -1)[order],
                 next_token.view(-1, 1)], dim=1).view(active, k, -1)
            beam_scores, ids = next_scores, next_token.flatten()
            if bool(done.any()):
                keep = (~done).nonzero().flatten()
                if keep.numel() == 0:
                    break
                rows = (keep[:, None] * k + torch.arange(k)).flatten()
                regions, tokens = regions[keep], tokens[keep]
                beam_scores, ids, order = beam_scores[keep], ids[rows], order[
                    rows]
            # the surviving beams' rows move into place (or their table)
            if not torch.equal(order, torch.arange(order.numel())):
                table = self.select_rows(cache, table, order, step + 2)
        return [max(hyps, key=lambda h: h[0])[1] for hyps in finished]

    def _candidates(self, logits: Tensor, beam_scores: Tensor,
                    count: int) -> tuple:
        """The ``count`` best continuations of each region.

        Args:
            logits (Tensor): (N * num_beams, vocab) fp32, a region's beams in
                consecutive rows.
            beam_scores (Tensor): (N, num_beams) sums of log-probs so far.
            count (int): Continuations per region.

        Returns:
            tuple[Tensor, Tensor]: (N, count) scores (beam score +
            log-softmax of the logits), best first, and their (N, count)
            indices ``beam * vocab + token``. The compiled step's module
            computes them in one pass on the step's threads (torch's
            log_softmax and topk took ~4-9 ms of a ~100 ms GPT-2 medium step
            at 10 regions x 4 beams on one thread).
        """
        if self.native is not None:
            return self.native.beam_candidates(logits, beam_scores, count)
        n, k = beam_scores.shape
        scores = F.log_softmax(logits, dim=-1).view(n, k, -1)
        return (scores + beam_scores[..., None]).view(n, -1).topk(count,
                                                                  dim=1)

    @staticmethod
    def _add_hypothesis(hyps: List[tuple], tokens: List[int], score: float,
                        num_beams: int) -> None:
        """Keep the ``num_beams`` best (score, tokens) of a region."""
        if len(hyps) < num_beams:
            hyps.append((score, tokens))
        else:
            worst = min(range(len(hyps)), key=lambda i: hyps[i][0])
            if score > hyps[worst][0]:
                hyps[worst] = (score, tokens)
