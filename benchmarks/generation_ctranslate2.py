"""crrg's int8 decoding against CTranslate2's on the same GPT-2 weights.

GPT-2 medium's shape (random weights), ``--regions`` sequences x
``--tokens`` new tokens, greedy and beam 4, at 1 thread and at ``--threads``:
crrg's ``GPT2Decoder`` (int8, the compiled step, each GEMM of ``--gemm``)
against CTranslate2's ``Generator`` (``compute_type='int8'``) on the same
``GPT2LMHeadModel``, converted in memory by CTranslate2's own GPT-2 loader.
crrg decodes after its region slot (one key/value slot in front of the
words), CTranslate2 after a one-token prompt (bos): the same number of
generated tokens (eos forbidden until ``--tokens``) and one slot less of
attention for CTranslate2. Interleaved, minimum of ``--repeats`` rounds,
with a pause before each contender so that the other library's OpenMP
threads have stopped spinning.

CTranslate2 is an optional dependency: ``pip install -r
requirements/benchmarks.txt``. To emulate a CPU without AVX-512 / VNNI::

    CRRG_FORCE_CPU_ISA=AVX2 CT2_FORCE_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 \\
        FBGEMM_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2 \\
        python benchmarks/generation_ctranslate2.py --gemm crrg fbgemm

(crrg: its step built without AVX-512 and its AVX2 GEMM, or fbgemm's;
CTranslate2: its own kernels by CT2_FORCE_CPU_ISA, its int8 GEMM (oneDNN's
on a CPU that is not Intel's, its log says ``GEMM_S8 backend: DNNL``) by
ONEDNN_MAX_CPU_ISA; fbgemm and torch: their AVX2 kernels.)

Usage::

    python benchmarks/generation_ctranslate2.py [--threads 2] [--repeats 3]
        [--regions 10] [--tokens 20] [--beams 1 4] [--gemm crrg fbgemm]
"""
import tempfile
from functools import partial
from typing import List

import torch
from gpt2_medium import VOCAB, generation_parser, random_lm, random_slots
from timing import interleaved, log, machine_header


def parse_args(argv=None):
    return generation_parser(
        __doc__, 'all threads (default: all CPUs); 1 runs too').parse_args(argv)


def ctranslate2_model(lm, path: str) -> list:
    """Convert ``lm`` with CTranslate2's GPT-2 loader and int8 quantisation
    into ``path``; returns the vocabulary (token i is ``'<i>'``)."""
    from ctranslate2.converters.transformers import GPT2Loader
    spec = GPT2Loader().get_model_spec(lm)
    tokens = [f'<{i}>' for i in range(lm.config.vocab_size)]
    spec.register_vocabulary(tokens)
    spec.config.bos_token = tokens[0]
    spec.config.eos_token = tokens[-1]
    spec.config.unk_token = tokens[-1]
    spec.validate()
    spec.optimize(quantization='int8')
    spec.save(path)
    return tokens


def main(argv=None) -> List[str]:
    """Runs it; returns the table's rows."""
    try:
        import ctranslate2
    except ImportError as err:
        raise SystemExit('generation_ctranslate2 needs CTranslate2: pip '
                         'install -r requirements/benchmarks.txt') from err
    from crrg.models.decoding.fast_gpt2 import GPT2Decoder, native_int8_ops
    args = parse_args(argv)
    lm = random_lm(n_layer=args.layers)
    keys, values = random_slots(lm, args.regions)
    decoders = {g: GPT2Decoder(lm, 'int8', int8_gemm=g) for g in args.gemm}
    if any(d.native is None for d in decoders.values()):
        raise RuntimeError('the compiled int8 step could not be built here')
    counts = sorted({1, args.threads})
    log(machine_header(args.threads))
    ops = native_int8_ops()
    log(f'crrg int8 step: {ops.__name__}, instruction set {ops.cpu_isa()}, '
        f'GEMMs {[d.native.gemm for d in decoders.values()]}')
    log(f'CTranslate2 {ctranslate2.__version__}, CPU compute types '
        f'{sorted(ctranslate2.get_supported_compute_types("cpu"))}')
    with tempfile.TemporaryDirectory() as path:
        tokens = ctranslate2_model(lm, path)
        generators = {n: ctranslate2.Generator(
            path, device='cpu', compute_type='int8', intra_threads=n,
            inter_threads=1) for n in counts}
    eos = VOCAB - 1

    def crrg(decoder, threads, beams):
        torch.set_num_threads(threads)
        out = decoder.generate(keys, values, 0, eos, args.tokens, beams,
                               min_new_tokens=args.tokens)
        assert all(len(s) == args.tokens for s in out)

    def ct2(generator, beams):
        out = generator.generate_batch(
            [[tokens[0]]] * args.regions, beam_size=beams,
            max_length=args.tokens, min_length=args.tokens,
            end_token=tokens[eos], include_prompt_in_result=False)
        lengths = {len(r.sequences_ids[0]) for r in out}
        assert lengths == {args.tokens}, lengths

    rows = ['| search | threads | contender | time | crrg vs CTranslate2 |',
            '|---|---|---|---|---|']
    log(rows[0])
    log(rows[1])
    for beams in args.beams:
        contenders = {}
        for n in counts:
            for g, decoder in decoders.items():
                contenders[n, f'crrg int8 ({decoder.native.gemm} GEMM)'] = \
                    partial(crrg, decoder, n, beams)
            contenders[n, 'CTranslate2 int8'] = partial(
                ct2, generators[n], beams)
        times = interleaved(contenders, args.repeats, pause=0.05)
        search = 'greedy' if beams == 1 else f'beam {beams}'
        for (n, name), seconds in times.items():
            ratio = times[n, 'CTranslate2 int8'] / seconds
            rows.append(f'| {search} | {n} | {name} | {seconds:.2f} s | '
                        f'{ratio:.2f}x |')
            log(rows[-1])
    torch.set_num_threads(args.threads)
    return rows


if __name__ == '__main__':
    main()
