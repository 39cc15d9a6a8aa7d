"""One report on 1 and on N threads: crrg's compiled int8 decoding step.

GPT-2 medium's shape (random weights), ``--regions`` regions x ``--tokens``
tokens, greedy and beam 4, every sentence exactly ``--tokens`` long; the
int8 step on 1 thread and on ``--threads`` (torch's intra-op threads: the
step splits GEMM columns and attention heads across them), with each int8
GEMM of ``--gemm`` (``vnni``: crrg's, the default on a CPU with AVX512-VNNI;
``fbgemm``: fbgemm's, the path of a CPU without it). Interleaved, minimum of
``--repeats`` rounds; the memory read bandwidth is probed at both thread
counts in the same rounds, with the bandwidth floor of the report (int8
weight bytes streamed per step x steps / bandwidth). On a shared machine a
second thread only helps while a core is free: each row says how many cores
the other processes used during its minimum run (Linux ``/proc/stat``).

Usage::

    python benchmarks/generation_threads.py [--threads 2] [--repeats 3]
        [--regions 10] [--tokens 20] [--beams 1 4] [--gemm vnni fbgemm]
"""
from functools import partial
from typing import List

import torch
from gpt2_medium import VOCAB, generation_parser, random_lm, random_slots
from timing import (Watched, interleaved, log, machine_header,
                    read_bandwidth)


def parse_args(argv=None):
    return generation_parser(
        __doc__, 'the N of 1 vs N (default: all CPUs)').parse_args(argv)


def main(argv=None) -> List[str]:
    """Runs it; returns the table's rows."""
    from crrg.models.decoding.fast_gpt2 import GPT2Decoder
    args = parse_args(argv)
    lm = random_lm(n_layer=args.layers)
    keys, values = random_slots(lm, args.regions)
    decoders = {g: GPT2Decoder(lm, 'int8', int8_gemm=g) for g in args.gemm}
    if any(d.native is None for d in decoders.values()):
        raise RuntimeError('the compiled int8 step could not be built here')
    log(machine_header(args.threads))
    counts = sorted({1, args.threads})
    probe = read_bandwidth()

    def run(decoder, threads, beams):
        torch.set_num_threads(threads)
        out = decoder.generate(keys, values, 0, VOCAB - 1, args.tokens,
                               beams, min_new_tokens=args.tokens)
        assert all(len(s) == args.tokens for s in out)

    def read(threads):
        torch.set_num_threads(threads)
        probe()

    rows = ['| search | GEMM | threads | time | vs 1 thread | bandwidth '
            "floor | others' cores |", '|---|---|---|---|---|---|---|']
    log(rows[0])
    log(rows[1])
    for beams in args.beams:
        contenders = {(g, n): Watched(partial(run, d, n, beams))
                      for g, d in decoders.items() for n in counts}
        contenders.update({('read', n): partial(read, n) for n in counts})
        times = interleaved(contenders, args.repeats)
        search = 'greedy' if beams == 1 else f'beam {beams}'
        bandwidth = {n: probe() / times['read', n] for n in counts}
        for g, decoder in decoders.items():
            for n in counts:
                floor = (decoder.weight_bytes_per_step * args.tokens /
                         bandwidth[n])
                rows.append(f'| {search} | {decoder.native.gemm} | {n} | '
                            f'{times[g, n]:.2f} s | '
                            f'{times[g, 1] / times[g, n]:.2f}x | '
                            f'{floor:.2f} s at '
                            f'{bandwidth[n] / 1e9:.1f} GB/s | '
                            f'{contenders[g, n].others()} |')
                log(rows[-1])
    torch.set_num_threads(args.threads)
    return rows


if __name__ == '__main__':
    main()
