"""RGRG's decoding at its end-to-end shape: RGRG's code vs crrg's exact path.

The decoding half of ``benchmarks/rgrg_end_to_end.py``'s exact profile, on
its own: GPT-2 medium's shape (random weights), ``--regions`` region
features (29: every region selected, as on the twin image), beam
``--num-beams`` (4), ``--max-length`` 20 (RGRG's count, with the start
token: 19 new tokens), so ``regions x beams`` rows per step (116). RGRG's
own ``LanguageModel.generate`` (imported from a local checkout through
``gpt2_head.load_rgrg``, never copied; ``early_stopping=True`` as its
report script) against crrg's ``GPT2RegionHead.generate`` in fp32 with
RGRG's beam rule. Neither stops early (RGRG's eos id is set to -1, crrg's
``min_new_tokens`` is the token count), so both decode the same number of
steps. Interleaved, minimum over ``--repeats`` rounds, ``--threads`` torch
threads; the load average of the machine is printed with each round.

Usage (from the repository root)::

    git --git-dir=<bare ttanida/rgrg repo> archive HEAD src/language_model \\
        | tar -x -C rgrg
    python benchmarks/rgrg_exact_decoding.py rgrg --threads 1 --repeats 3
"""
import argparse
import os
from functools import partial
from typing import List

import torch
from gpt2_head import load_rgrg
from gpt2_medium import build_head, report_tokenizer
from timing import interleaved, log, machine_header, set_threads


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('rgrg', help='root of a ttanida/rgrg checkout')
    parser.add_argument('--regions', type=int, default=29)
    parser.add_argument('--num-beams', type=int, default=4)
    parser.add_argument('--max-length', type=int, default=20,
                        help="RGRG's max_length (counts the start token)")
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None,
                        help="torch threads (default: torch's)")
    parser.add_argument('--layers', type=int, default=24,
                        help='fewer for a smoke run')
    return parser.parse_args(argv)


def main(argv=None) -> List[str]:
    """Runs it; returns the table's rows."""
    args = parse_args(argv)
    set_threads(args.threads)
    log(machine_header(args.threads))
    torch.manual_seed(0)
    rgrg = load_rgrg(args.rgrg)().eval()
    rgrg.eos_token_id = -1  # never stop early: exact token counts
    feats = torch.randn(args.regions, 1024)
    tokens = args.max_length - 1
    with report_tokenizer() as tokenizer:
        head = build_head(tokenizer, n_layer=args.layers)
    head.inference_precision, head.beam_rule = 'fp32', 'rgrg'
    head.num_beams = args.num_beams
    head.max_new_tokens = head.min_new_tokens = tokens
    contenders = {
        'RGRG': partial(torch.no_grad()(rgrg.generate), feats,
                        max_length=args.max_length,
                        num_beams=args.num_beams, early_stopping=True),
        'crrg exact (fp32)': partial(head.generate, feats),
    }
    times = {name: [] for name in contenders}
    for round_ in range(args.repeats):
        # one round per call (warm-up in the first), so that the load of the
        # machine can be printed with each
        for name, seconds in interleaved(contenders, 1,
                                         warm_up=round_ == 0).items():
            times[name].append(seconds)
        log(f'round {round_ + 1}: ' + ', '.join(
            f'{name} {t[-1]:.2f} s' for name, t in times.items()) +
            ' | load average ' + ' '.join(f'{x:.2f}'
                                          for x in os.getloadavg()))
    ref = min(times['RGRG'])
    rows = [
        f'| {args.regions} x {args.num_beams} beams x {tokens} tokens | '
        f'{name} | {min(t):.2f} s | {ref / min(t):.2f}x |'
        for name, t in times.items()
    ]
    for row in rows:
        log(row)
    return rows


if __name__ == '__main__':
    main()
