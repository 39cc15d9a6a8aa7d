"""Sentence generation at GPT-2 medium's shape: crrg's GPT2RegionHead vs RGRG.

GPT-2 medium's shape (24 layers x 1024, 16 heads, vocabulary 50,257; random
weights), ``--regions`` regions x ``--tokens`` new tokens, greedy and beam
4: RGRG's own ``LanguageModel.generate`` (from a local checkout given by
``--rgrg``) vs crrg's ``GPT2RegionHead.generate`` with fp32 / bf16 / int8
weights (int8: the compiled step; beside it the Python step and the compiled
step on fbgemm's GEMM); every contender writes exactly the requested number
of tokens. With each, the floor of its precision: weight bytes per step /
memory bandwidth and FLOPs / GEMM throughput, both probed in the same rounds
(interleaved, minimum).

RGRG's ``src/language_model/language_model.py`` is imported from the
checkout, never copied. Shims, all in :func:`load_rgrg`: a stub ``torchinfo``
when it is not installed, ``transformers.generation_beam_search`` aliased to
today's ``transformers.generation.beam_search``, and ``from_pretrained``
returning a randomly initialised GPT-2 medium instead of downloading
``healx/gpt-2-pubmed-medium``; its eos id is set to -1 so it never stops
early (crrg gets ``min_new_tokens`` for the same purpose). Get a checkout
with e.g. ``git --git-dir=<bare rgrg repo> archive HEAD src/language_model
| tar -x -C <dir>`` (outside the repository).

Usage::

    python benchmarks/gpt2_head.py [--rgrg <checkout>] [--repeats 3]
        [--tokens 20 60] [--beams 1 4] [--threads 1]
"""
import argparse
import importlib.util
import os.path as osp
import sys
import types
from functools import partial
from typing import Callable, Dict, List

import torch
from gpt2_medium import GPT2_MEDIUM, VOCAB, build_head, report_tokenizer
from timing import interleaved, log, machine_header, set_threads


# ---------------------------------------------------------------- machine
class FloorProbes:
    """The machine's limits, measured in the same rounds as the contenders.

    ``read``: summing a 1 GiB fp32 tensor (read bandwidth). ``gemm <p>``: a
    512 x 1024 x 4096 GEMM of precision ``p`` through crrg's own packed
    linear (fp32 MKL, bf16 oneDNN, int8 fbgemm), its best shape here; for
    int8 also crrg's VNNI kernel (``Int8Linear`` of the compiled step) when
    it is built, and the int8 floor takes the faster of the two.
    """

    M, K, N = 512, 1024, 4096

    def __init__(self) -> None:
        from crrg.models.decoding.fast_gpt2 import (PackedLinear,
                                                 native_int8_ops,
                                                 quantize_int8)
        self.big = torch.ones(256 * 1024 * 1024)
        self.x = torch.randn(self.M, self.K)
        w = torch.randn(self.N, self.K) * 0.02
        self.linears = {
            p: PackedLinear(w, torch.zeros(self.N), p, transposed=False)
            for p in ('fp32', 'bf16', 'int8')
        }
        ops = native_int8_ops()
        if ops is not None and ops.cpu_has_vnni():
            self.linears['int8 vnni'] = ops.Int8Linear(
                quantize_int8(w), torch.zeros(self.N), 'vnni')

    def contenders(self) -> Dict[str, Callable]:
        out = {'probe read': self.big.sum}
        for p, lin in self.linears.items():
            out[f'probe gemm {p}'] = partial(lin, self.x)
        return out

    def rates(self, times: Dict[str, float]):
        """(read bytes/s, {probe: GEMM FLOP/s}) from probe times; key
        ``'int8'`` is the faster int8 GEMM."""
        bandwidth = self.big.numel() * 4 / times.pop('probe read')
        flops = 2 * self.M * self.K * self.N
        gemm = {p: flops / times.pop(f'probe gemm {p}')
                for p in self.linears}
        gemm['int8 fbgemm'] = gemm['int8']
        gemm['int8'] = max(gemm['int8'], gemm.get('int8 vnni', 0))
        return bandwidth, gemm


# ------------------------------------------------------------------ RGRG
def load_rgrg(checkout: str):
    """RGRG's ``LanguageModel`` class with the smallest shims (see top)."""
    path = osp.join(checkout, 'src', 'language_model', 'language_model.py')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'--rgrg {checkout}: no src/language_model/language_model.py; '
            'pass the root of a ttanida/rgrg checkout.')
    try:
        import torchinfo  # noqa: F401
    except ImportError:
        sys.modules['torchinfo'] = types.SimpleNamespace(summary=None)
    import transformers.generation.beam_search as beam_search
    sys.modules.setdefault('transformers.generation_beam_search', beam_search)
    spec = importlib.util.spec_from_file_location('rgrg_language_model', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    from transformers import GPT2Config, GPT2LMHeadModel

    class RandomGPT2:
        """``from_pretrained`` -> random weights of GPT-2 medium's shape."""

        @staticmethod
        def from_pretrained(name):
            return GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB,
                                              **GPT2_MEDIUM))

    module.GPT2LMHeadModel = RandomGPT2
    return module.LanguageModel

def bench_generation(args, tokenizer: str) -> List[str]:
    from crrg.models.decoding.fast_gpt2 import GPT2Decoder, native_int8_ops
    probes = FloorProbes()
    torch.manual_seed(0)
    head = build_head(tokenizer, n_layer=args.layers)
    rgrg = None
    if args.rgrg:
        rgrg = load_rgrg(args.rgrg)().eval()
        rgrg.eos_token_id = -1  # never stop early: exact token counts
    else:
        log('RGRG column skipped: pass --rgrg <checkout of ttanida/rgrg>')
    feats = torch.randn(args.regions, 1024)
    tok = head.tokenizer
    mlp = sum(p.numel() for p in head.region_mlp.parameters())
    maps = sum(p.numel() for m in (head.key_maps, head.value_maps)
               for p in m.parameters())
    lm_weights = GPT2Decoder(head.lm, 'fp32').weight_bytes_per_step // 4
    # int8 without the compiled step, and the compiled step on fbgemm's
    # GEMM instead of crrg's VNNI one: what each of them buys
    others = {'crrg int8 Python step': GPT2Decoder(head.lm, 'int8',
                                                   native=False)}
    ops = native_int8_ops()
    if ops is not None and ops.cpu_has_vnni():
        others['crrg int8 compiled step, fbgemm GEMM'] = GPT2Decoder(
            head.lm, 'int8', int8_gemm='fbgemm')
    # warm-up: pack the bf16 / int8 weights, touch every code path once
    head.max_new_tokens, head.min_new_tokens = 2, 2
    for beams in args.beams:
        head.num_beams = beams
        for precision in ('fp32', 'bf16', 'int8'):
            head.inference_precision = precision
            head.generate(feats)
        head.inference_precision = 'int8'
        for decoder in others.values():
            decoder.generate(*head.fast_region_slots(feats),
                             tok.bos_token_id, tok.eos_token_id, 2, beams, 2)
        if rgrg is not None:
            rgrg.generate(feats, max_length=3, num_beams=beams)
    rows = []
    for beams in args.beams:
        for tokens in args.tokens:
            head.max_new_tokens = head.min_new_tokens = tokens
            head.num_beams = beams

            def crrg_run(precision):
                def run():
                    head.inference_precision = precision
                    head.generate(feats)
                return run

            def other_int8(decoder):
                def run():
                    head.inference_precision = 'int8'
                    decoder.generate(
                        *head.fast_region_slots(feats), tok.bos_token_id,
                        tok.eos_token_id, tokens, beams, tokens)
                return run

            contenders = {}
            if rgrg is not None:
                contenders['RGRG'] = partial(
                    rgrg.generate, feats, max_length=tokens + 1,
                    num_beams=beams)
            for precision in ('fp32', 'bf16', 'int8'):
                contenders[f'crrg {precision}'] = crrg_run(precision)
            for name, decoder in others.items():
                contenders[name] = other_int8(decoder)
            contenders.update(probes.contenders())
            times = interleaved(contenders, args.repeats, warm_up=False)
            bandwidth, gemm = probes.rates(times)
            name = 'greedy' if beams == 1 else f'beam {beams}'
            log(f'{args.regions} x {tokens}, {name}: read bandwidth '
                f'{bandwidth / 1e9:.1f} GB/s; GEMM at M = 512 ' + ', '.join(
                    f'{k} {v / 1e9:.0f} GFLOP/s' for k, v in gemm.items()))
            ref = times.get('RGRG')
            for contender, seconds in times.items():
                floor = ''
                if contender.startswith('crrg'):
                    precision = contender.split()[1]
                    head.inference_precision = precision
                    dec = head.decoder
                    if contender == 'crrg int8':
                        contender = 'crrg int8 ' + (
                            f'(compiled step, {dec.native.gemm} GEMM)'
                            if dec.native else '(Python step)')
                    params = sum(p.numel() for p in head.lm.parameters())
                    steps = tokens
                    # + once per region: the MLP (fp32) and the key/value
                    # maps (in the decoding precision) of the region slots
                    mem = (dec.weight_bytes_per_step * steps + mlp * 4 +
                           maps * dec.weight_bytes_per_step // lm_weights)
                    mem /= bandwidth
                    flops = 2 * args.regions * (
                        params * beams * steps + mlp + maps)
                    comp = flops / gemm[precision]
                    floor = (f'{mem:.2f} s | {comp:.2f} s | '
                             f'{seconds / max(mem, comp):.2f}x')
                else:
                    floor = '- | - | -'
                speed = f'{ref / seconds:.1f}x' if ref else '-'
                rows.append(f'| {args.regions} x {tokens}, {name} | '
                            f'{contender} | {seconds:.2f} s | {speed} | '
                            f'{floor} |')
                log(rows[-1])
    return rows



def main(argv=None) -> List[str]:
    """Runs it; returns the table's rows."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--rgrg', help='root of a ttanida/rgrg checkout')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--regions', type=int, default=10)
    parser.add_argument('--threads', type=int, default=None,
                        help="torch threads (default: torch's)")
    parser.add_argument('--tokens', type=int, nargs='+', default=[20, 60])
    parser.add_argument('--beams', type=int, nargs='+', default=[1, 4])
    parser.add_argument('--layers', type=int, default=24,
                        help='fewer for a smoke run')
    args = parser.parse_args(argv)
    set_threads(args.threads)
    from crrg.utils.setup_env import register_all_modules
    register_all_modules()
    log(machine_header())
    with report_tokenizer() as tokenizer:
        log('| regions x tokens, search | contender | time | vs RGRG | '
            'bandwidth floor | compute floor | time / floor |')
        log('|---|---|---|---|---|---|---|')
        return bench_generation(args, tokenizer)


if __name__ == '__main__':
    main()
