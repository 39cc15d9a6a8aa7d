"""One int8 layer of GPT-2 medium at decoding sizes: fbgemm's GEMM vs crrg's.

A 1024 -> 4096 layer at M rows, with its weights in the cache (the same
layer over and over) and streamed from memory (48 different layers, 196 MB,
in turn, as a decoding step reads them): time per layer call and the
streamed rate, for fbgemm's and crrg's kernels (AVX512-VNNI and AVX2, as
far as the CPU, or ``CRRG_FORCE_CPU_ISA``, has them). Interleaved, minimum
of ``--repeats`` rounds, on torch's threads (``--threads``). Needs the
compiled int8 kernel.

Usage::

    python benchmarks/int8_gemm.py [--rows 1 4 10 16 40] [--repeats 3]
        [--threads 1]
"""
import argparse
from typing import List

import torch
from timing import interleaved, log, machine_header, set_threads


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--rows', type=int, nargs='+',
                        default=[1, 4, 10, 16, 40])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None,
                        help="torch threads (default: torch's)")
    parser.add_argument('--layers', type=int, default=48,
                        help='distinct layers streamed (fewer for a smoke '
                        'run)')
    return parser.parse_args(argv)


def main(argv=None) -> List[str]:
    """Runs it; returns the table's rows."""
    from crrg.models.decoding.fast_gpt2 import native_int8_ops, quantize_int8
    args = parse_args(argv)
    set_threads(args.threads)
    log(machine_header())
    ops = native_int8_ops()
    if ops is None:
        log('int8_gemm skipped: the compiled kernel is missing here')
        return []
    log(f'crrg kernels: {ops.cpu_isa()}')
    k, n, layers = 1024, 4096, args.layers
    torch.manual_seed(0)
    weights = [quantize_int8(torch.randn(n, k) * 0.02) for _ in range(layers)]
    bias = torch.zeros(n)
    gemms = {}
    for gemm in ('fbgemm', 'avx2', 'vnni'):
        linears = [ops.Int8Linear(w, bias, gemm) for w in weights]
        if linears[0].gemm == gemm:  # the CPU has it
            gemms[gemm if gemm == 'fbgemm' else f'crrg {gemm}'] = linears
    rows = ['| rows (M) | GEMM | in cache | streamed | streamed GFLOP/s |',
            '|---|---|---|---|---|']
    log(rows[0])
    log(rows[1])
    for m in args.rows:
        x = torch.randn(m, k)

        def run(linears, streamed):
            def fn():
                for i in range(layers):
                    linears[i if streamed else 0](x)
            return fn

        contenders = {(name, streamed): run(linears, streamed)
                      for name, linears in gemms.items()
                      for streamed in (False, True)}
        times = interleaved(contenders, args.repeats)
        for name in gemms:
            hot, cold = (times[name, s] / layers for s in (False, True))
            rows.append(f'| {m} | {name} | {hot * 1e3:.3f} ms | '
                        f'{cold * 1e3:.3f} ms | '
                        f'{2 * m * k * n / cold / 1e9:.0f} |')
            log(rows[-1])
    return rows


if __name__ == '__main__':
    main()
