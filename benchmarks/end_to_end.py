"""One 512 px image through the region-guided report generator, end to end.

The RRG-opt generator config (R50-FPN region detector + selector + GPT-2
medium generator) with random weights of the real shape, built by
:class:`~crrg.apis.ReportInferencer`: the detector with each inference
switch, the selector, the generator fp32 and int8, and one measured
inferencer call. Interleaved, minimum of ``--repeats`` rounds. Run from the
repository root.

Usage::

    python benchmarks/end_to_end.py [--regions 10] [--repeats 3]
        [--threads 1] [--config <generator config>]
"""
import argparse
from typing import List

import numpy as np
import torch
from gpt2_medium import GPT2_MEDIUM, VOCAB, report_tokenizer
from timing import best_of, interleaved, log, machine_header, set_threads

CONFIG = ('configs/rrg/rrg-generator_r50_fpn_gpt2-pubmed-medium_opt_'
          'imagenome.py')


def bench_end_to_end(args, tokenizer: str) -> List[str]:
    """One 512 px image through the R50-FPN region-guided generator.

    The model is ``--config`` (the RRG-opt generator) with random weights of
    the real shape, built by :class:`~crrg.apis.ReportInferencer`. Rows: the
    region detector with its inference switches (fp32; fp32 channels-last;
    bf16 backbone + FPN in channels-last), interleaved; the selector; the
    generator on ``--regions`` region features x 20 tokens greedy, fp32 and
    int8, interleaved; the sum of the fastest detector, the selector and the
    int8 generator; and one measured inferencer call on a 512 x 512 uint8
    image (pipeline, detector, selector, generator, report) with the
    fastest detector, int8 generator and the selector's threshold set so
    that exactly ``--regions`` regions are selected.
    """
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate

    from crrg.apis import ReportInferencer
    from crrg.models.detectors.region_detector import classifier_inputs
    torch.manual_seed(0)
    cfg = Config.fromfile(args.config)
    cfg.model.detector.detector.backbone.init_cfg = None
    cfg.model.generator.update(
        pretrained=None, tokenizer=tokenizer, gpt2_config=dict(GPT2_MEDIUM),
        num_beams=1, max_new_tokens=20, min_new_tokens=20)
    # a random image: no chest check applies
    inferencer = ReportInferencer(cfg, allow_non_chest=True)
    model = inferencer.model
    model.generator.lm.resize_token_embeddings(VOCAB)
    size = 512
    image = np.random.default_rng(0).integers(
        0, 256, (size, size), dtype=np.uint8)
    data = model.data_preprocessor(
        pseudo_collate([inferencer.pipeline(image)]), False)
    inputs, samples = data['inputs'], data['data_samples']
    log(f'e2e input {tuple(inputs.shape)} (a {size} x {size} uint8 image '
        'through the config\'s test pipeline)')
    det = model.detector
    # random box-head weights vote for 2 of the 29 regions (the RoI features
    # share a large common component); a classifier orthogonal to this
    # image's mean RoI feature spreads the votes as a trained one does
    head = det.detector.roi_head.bbox_head
    with torch.no_grad(), classifier_inputs(head.fc_cls) as seen:
        det.predict_regions(inputs, samples)
        mean = seen[-1].flatten(1).mean(0)
        unit = mean / mean.norm()
        weight = torch.randn_like(head.fc_cls.weight)
        head.fc_cls.weight.copy_(weight - (weight @ unit)[:, None] * unit)
        head.fc_cls.bias.zero_()
    out = {}

    def detect(precision: str, channels_last: bool):
        def run():
            det.inference_precision = precision
            det.channels_last = channels_last
            with torch.no_grad():
                out['regions'] = det.predict_regions(inputs, samples)
        return run

    switches = {
        'detector fp32': ('fp32', False),
        'detector fp32 channels-last': ('fp32', True),
        'detector bf16 backbone + FPN, channels-last': ('bf16', True),
    }
    det_times = interleaved(
        {name: detect(*switch) for name, switch in switches.items()},
        args.repeats)
    fastest = min(det_times, key=det_times.get)
    detect(*switches[fastest])()
    regions = out['regions']
    sel_time = best_of(
        lambda: model.selector.predict(regions.features), args.repeats)
    # exactly --regions regions selected: the threshold between the
    # --regions-th and the next detected region's logit
    with torch.no_grad():
        logits = model.selector.predict(regions.features)
    ranked = logits[regions.detected].sort(descending=True).values
    if len(ranked) < args.regions:
        raise RuntimeError(
            f'bench_end_to_end: the random detector detected only '
            f'{len(ranked)} regions, fewer than --regions {args.regions}')
    below = ranked[args.regions] if len(ranked) > args.regions \
        else ranked[-1] - 1
    model.selector.threshold = float((ranked[args.regions - 1] + below) / 2)
    selected = model.selector.select(logits, regions.detected)
    region_feats = regions.features[selected]
    log(f'e2e: {int(regions.detected.sum())} regions detected, '
        f'{len(region_feats)} selected')

    def generate(precision: str):
        def run():
            model.generator.inference_precision = precision
            out['sentences'] = model.generator.generate(region_feats)
        return run

    def one_call():
        model.generator.inference_precision = 'int8'
        out['e2e'] = inferencer(image)['predictions'][0]

    gen_times = interleaved(
        {
            'fp32': generate('fp32'),
            'int8': generate('int8'),
            'e2e': one_call
        }, args.repeats)
    num_selected = sum(r['selected'] for r in out['e2e']['regions'])
    if num_selected != args.regions:
        raise RuntimeError(f'bench_end_to_end: {num_selected} regions '
                           f'selected instead of {args.regions}')
    rows = [f'| {name} | {seconds:.2f} s |'
            for name, seconds in det_times.items()]
    rows.append(f'| selector | {sel_time * 1000:.1f} ms |')
    for precision in ('fp32', 'int8'):
        rows.append(f'| generator {precision}, {args.regions} regions x 20 '
                    f'tokens greedy | {gen_times[precision]:.2f} s |')
    total = det_times[fastest] + sel_time + gen_times['int8']
    rows.append(f'| one image end to end, sum: {fastest} + selector + '
                f'generator int8 | {total:.2f} s |')
    rows.append(f'| one image end to end, measured: one ReportInferencer '
                f'call ({size} px uint8 image -> report; {fastest}, '
                f'{num_selected} regions, generator int8) | '
                f'{gen_times["e2e"]:.2f} s |')
    for row in rows:
        log(row)
    return rows



def main(argv=None) -> List[str]:
    """Runs it; returns the table's rows."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--regions', type=int, default=10)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None,
                        help="torch threads (default: torch's)")
    parser.add_argument('--config', default=CONFIG)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    log(machine_header())
    with report_tokenizer() as tokenizer:
        return bench_end_to_end(args, tokenizer)


if __name__ == '__main__':
    main()
