"""Report generation speed on a CPU at the real shape, against RGRG's code.

One run prints, interleaved and as the minimum of ``--repeats`` runs:

1. sentence generation at GPT-2 medium's shape (24 layers x 1024, 16 heads,
   vocabulary 50,257; random weights) for 10 regions x 20 and x 60 new
   tokens, greedy and beam 4: RGRG's own ``LanguageModel.generate`` (from a
   local checkout given by ``--rgrg``) vs crrg's ``GPT2RegionHead.generate``
   with fp32 / bf16 / int8 weights (int8: the compiled step, and the Python
   step beside it); every contender writes exactly the requested number of
   tokens;
2. the floor of each crrg precision: weight bytes per step / memory bandwidth
   and FLOPs / GEMM throughput, both probed in the same rounds as the
   contenders (interleaved, minimum); and one int8 layer's time, fbgemm's
   GEMM vs crrg's, with its weights in the cache and streamed from memory;
3. end-to-end latency of one 512 px image (R50-FPN region detector +
   selector + generator, random weights of the real shape);
4. JPEG decode throughput per core on 2,500 x 3,000 images: full decode +
   resize vs ``LoadResizedImage`` (DCT-scaled decode, and its decode-once
   cache), and the Chest ImaGenome training pipeline.

RGRG's ``src/language_model/language_model.py`` is imported from the
checkout, never copied. Shims, all in :func:`load_rgrg`: a stub ``torchinfo``
when it is not installed, ``transformers.generation_beam_search`` aliased to
today's ``transformers.generation.beam_search``, and ``from_pretrained``
returning a randomly initialised GPT-2 medium instead of downloading
``healx/gpt-2-pubmed-medium``; its eos id is set to -1 so it never stops
early (crrg gets ``min_new_tokens`` for the same purpose). Get a checkout
with e.g. ``git --git-dir=<bare rgrg repo> archive HEAD src/language_model
| tar -x -C /tmp/rgrg`` (outside the repository).

Usage::

    python benchmarks/generation.py [--rgrg /tmp/rgrg] [--repeats 4]
        [--sections gen gemm e2e jpeg] [--threads 2]
"""
import argparse
import copy
import importlib.util
import os.path as osp
import sys
import tempfile
import time
import types
from functools import partial
from typing import Callable, Dict, List

import numpy as np
import torch
from mmengine.logging import print_log

GPT2_MEDIUM = dict(n_layer=24, n_embd=1024, n_head=16, n_positions=1024)
VOCAB = 50257
SENTENCES = [
    'the heart is normal in size.', 'no pleural effusion is seen.',
    'there is a right lower lobe opacity.', 'the lungs are clear.'
] * 10


def log(msg: str) -> None:
    print_log(msg, logger='current')


def best_of(fn: Callable, repeats: int) -> float:
    """Minimum wall time of ``repeats`` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def interleaved(contenders: Dict[str, Callable], repeats: int,
                warm_up: bool = True) -> dict:
    """Minimum time per contender, the contenders run in turn each round."""
    for fn in contenders.values() if warm_up else ():
        fn()
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


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
                quantize_int8(w), torch.zeros(self.N), True)

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


# ------------------------------------------------------------------ crrg
def build_head(tokenizer: str, in_channels: int = 1024):
    """GPT2RegionHead with random GPT-2 medium weights, vocabulary 50,257."""
    from crrg.models.heads import GPT2RegionHead
    head = GPT2RegionHead(
        in_channels=in_channels, tokenizer=tokenizer,
        gpt2_config=dict(GPT2_MEDIUM))
    # The tokenizer trained here is small; the LM gets GPT-2's vocabulary
    # size (ids beyond the tokenizer's decode to nothing; only time counts).
    head.lm.resize_token_embeddings(VOCAB)
    return head.eval()


def bench_generation(args, tokenizer: str) -> List[str]:
    from crrg.models.decoding.fast_gpt2 import GPT2Decoder, native_int8_ops
    probes = FloorProbes()
    torch.manual_seed(0)
    head = build_head(tokenizer)
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


# ---------------------------------------------------------------- gemm
def bench_gemm(args) -> List[str]:
    """One int8 layer of GPT-2 medium (1024 -> 4096) at decoding sizes:
    fbgemm's GEMM vs crrg's VNNI one, with the weights in the cache (the
    same layer over and over) and streamed from memory (48 different layers,
    196 MB, in turn, as a decoding step reads them). Time per layer call.
    """
    from crrg.models.decoding.fast_gpt2 import native_int8_ops, quantize_int8
    ops = native_int8_ops()
    if ops is None or not ops.cpu_has_vnni():
        log('gemm section skipped: the compiled kernel or AVX512-VNNI is '
            'missing here')
        return []
    k, n, layers = 1024, 4096, 48
    torch.manual_seed(0)
    weights = [quantize_int8(torch.randn(n, k) * 0.02) for _ in range(layers)]
    bias = torch.zeros(n)
    gemms = {
        'fbgemm': [ops.Int8Linear(w, bias, False) for w in weights],
        'crrg VNNI': [ops.Int8Linear(w, bias, True) for w in weights],
    }
    rows = ['| rows (M) | GEMM | in cache | streamed | streamed GFLOP/s |',
            '|---|---|---|---|---|']
    for m in args.gemm_rows:
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


# ---------------------------------------------------------------- e2e
def bench_end_to_end(args, tokenizer: str) -> List[str]:
    """One 512 px image through the R50-FPN region-guided generator.

    The model is the RRG-opt generator config with random weights of the
    real shape, built by :class:`~crrg.apis.ReportInferencer`. Rows: the
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
    cfg = Config.fromfile(
        'configs/rrg/rrg-generator_r50_fpn_gpt2-pubmed-medium_opt_'
        'imagenome.py')
    cfg.model.detector.detector.backbone.init_cfg = None
    cfg.model.generator.update(
        pretrained=None, tokenizer=tokenizer, gpt2_config=dict(GPT2_MEDIUM),
        num_beams=1, max_new_tokens=20, min_new_tokens=20)
    inferencer = ReportInferencer(cfg)
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


# ---------------------------------------------------------------- jpeg
def make_jpeg(path: str, seed: int, width: int = 2500, height: int = 3000,
              real: bool = False) -> int | None:
    """A grey X-ray-like JPEG at quality 95 (as MIMIC-CXR-JPG), ~1.5-1.8 MB.

    MIMIC-CXR-JPG averages ~1.5 MB per image (570 GB / 377,110 images); the
    smooth structure plus mild noise lands at that size, which matters: the
    entropy decoding that DCT scaling cannot skip grows with the file size.
    With ``real=True`` the pixels are instead those of the real chest
    radiograph of ``pydicom-data`` (``RG1_UNCR``, 1841 x 1955, read by the
    X-ray loader: windowed to 8 bits, MONOCHROME1 inverted), resized to
    ``width`` x ``height``.

    Returns:
        int | None: The file size in bytes; None when ``real`` and the
        DICOM is not in the real-data cache (``tools/fetch_real_data.py``).
    """
    import cv2
    from PIL import Image
    if real:
        from crrg.datasets.transforms import LoadXrayImageFromFile
        from crrg.utils.real_data import real_data_file
        dicom = real_data_file('RG1_UNCR')
        if dicom is None:
            return None
        img = LoadXrayImageFromFile(color_type='grayscale')(
            dict(img_path=dicom))['img']
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_CUBIC)
    else:
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        img = 110 + 50 * np.sin(xx / 180 + seed) * np.cos(yy / 240)
        img += 30 * np.exp(-((xx - width / 2)**2 + (yy - height / 2)**2) /
                           (2 * 500**2))
        img += rng.normal(0, 2.5, size=img.shape)
        img = img.clip(0, 255).astype(np.uint8)
    Image.fromarray(img).save(path, quality=95)
    return osp.getsize(path)


ENTROPY_BOUND = ('bound: entropy decoding alone (1/8-scale decode, DC '
                 'coefficients only, no resize)')


def bench_jpeg(args) -> List[str]:
    """Images/s on one core: full decode + resize vs ``LoadResizedImage``.

    Contenders, interleaved, each over all images of a set: mmcv's
    ``LoadImageFromFile`` (colour) + mmdet's ``Resize`` to 512 (the
    reference), crrg's ``LoadXrayImageFromFile`` + ``Resize`` (what the
    Chest ImaGenome config trained with before), ``LoadResizedImage``
    without a cache (every epoch), with a new, empty cache (the first epoch:
    decode + write) and with a filled cache (later epochs); and the bound of
    reduced-size decoding, a 1/8-scale decode (:data:`ENTROPY_BOUND`). Each
    path's ``img_shape``, ``ori_shape`` and
    ``scale_factor`` must equal the full-decode path's; its boxes' largest
    difference from them and its pixels' mean absolute difference (grey
    levels) are reported. Then the whole training pipeline of the Chest
    ImaGenome config: with its former loader (the X-ray loader + ``Resize``)
    vs ``LoadResizedImage`` without and with a filled cache.
    """
    import shutil

    import cv2
    from mmcv.transforms import LoadImageFromFile
    from mmdet.datasets.transforms import Resize
    from mmdet.structures.bbox import HorizontalBoxes
    from PIL import Image

    from mmengine.config import Config
    from mmengine.dataset import Compose

    from crrg.datasets.transforms import (LoadResizedImage,
                                          LoadXrayImageFromFile)
    cv2.setNumThreads(1)
    scale = (512, 512)
    # boxes in the original pixels, fractional as Chest ImaGenome's
    boxes = np.array([[301.5, 452.25, 1211.0, 1630.75],
                      [1500.0, 700.5, 2301.25, 2950.0]], np.float32)
    full_name = 'LoadImageFromFile + Resize (full decode)'
    rows = ['| images | path | throughput | vs full decode | boxes: max '
            '|diff| vs full | pixels: mean |diff| vs full |',
            '|---|---|---|---|---|---|']
    with tempfile.TemporaryDirectory() as tmp:
        paths = [osp.join(tmp, f'{i}.jpg') for i in range(args.jpegs)]
        sizes = [make_jpeg(p, i) for i, p in enumerate(paths)]
        synthetic = paths
        sets = {f'{args.jpegs} synthetic 2500 x 3000, mean '
                f'{np.mean(sizes) / 1e6:.2f} MB': paths}
        real = osp.join(tmp, 'real.jpg')
        size = make_jpeg(real, 0, real=True)
        if size is None:
            log('real radiograph skipped: RG1_UNCR is not in the real-data '
                'cache (python tools/fetch_real_data.py)')
        else:
            # copies under other names: one cache entry each, as many
            # images per run as the synthetic set
            copies = [osp.join(tmp, f'real{i}.jpg') for i in range(args.jpegs)]
            for path in copies:
                shutil.copyfile(real, path)
            sets[f'{args.jpegs} copies of a real radiograph (pydicom-data '
                 f'RG1) resized to 2500 x 3000, {size / 1e6:.2f} MB'] = copies
        load = LoadImageFromFile(color_type='color')
        load_xray = LoadXrayImageFromFile(color_type='color')
        resize = Resize(scale=scale, keep_ratio=True)
        reduced = LoadResizedImage(scale=scale, keep_ratio=True)
        cached = LoadResizedImage(scale=scale, keep_ratio=True,
                                  cache_dir=osp.join(tmp, 'cache'))

        def sample(path):
            return dict(img_path=path, gt_bboxes=HorizontalBoxes(boxes))

        def full(loader, paths):
            return lambda: [resize(loader(sample(p))) for p in paths]

        def entropy_only(paths):
            """A 1/8-scale decode: DC coefficients only, no inverse DCT
            worth the name, no resize. What is left is the entropy (Huffman)
            decoding of the whole file, which every DCT scale does: the
            ceiling of any reduced-size decoding with this decoder."""
            def fn():
                for path in paths:
                    with Image.open(path) as pil:
                        pil.draft(pil.mode, (pil.width // 8, pil.height // 8))
                        pil.load()
            return fn

        def fast(transforms, paths):
            """``transforms``: one transform, or an iterator: one per run."""
            def fn():
                transform = transforms if isinstance(
                    transforms, LoadResizedImage) else next(transforms)
                return [transform(sample(p)) for p in paths]
            return fn

        for number, (name, paths) in enumerate(sets.items()):
            # the first epoch: a new, empty cache for every run
            first_epochs = iter([
                LoadResizedImage(scale=scale, keep_ratio=True,
                                 cache_dir=osp.join(tmp, f'new{number}-{i}'))
                for i in range(args.repeats + 1)
            ])
            contenders = {
                full_name: full(load, paths),
                'LoadXrayImageFromFile + Resize (full decode)':
                full(load_xray, paths),
                'LoadResizedImage, no cache (every epoch)':
                fast(reduced, paths),
                'LoadResizedImage, cache on, first epoch (decode + write)':
                fast(first_epochs, paths),
                'LoadResizedImage, cache on, later epochs (read)':
                fast(cached, paths),
                ENTROPY_BOUND: entropy_only(paths),
            }
            # the warm-up run, whose outputs are compared
            outputs = {k: fn() for k, fn in contenders.items()}
            times = interleaved(contenders, args.repeats, warm_up=False)
            for contender, seconds in times.items():
                speed = times[full_name] / seconds
                if contender == ENTROPY_BOUND:
                    rows.append(f'| {name} | {contender} | '
                                f'{len(paths) / seconds:.1f} img/s | '
                                f'{speed:.1f}x | - | - |')
                    continue
                box_diff, pixel_diff = 0., 0.
                for out, ref in zip(outputs[contender], outputs[full_name]):
                    for key in ('img_shape', 'ori_shape', 'scale_factor'):
                        assert tuple(out[key]) == tuple(ref[key]), key
                    box_diff = max(box_diff, float(np.abs(
                        out['gt_bboxes'].numpy() -
                        ref['gt_bboxes'].numpy()).max()))
                    pixel_diff = max(pixel_diff, float(np.abs(
                        out['img'].astype(np.float32) - ref['img']).mean()))
                rows.append(f'| {name} | {contender} | '
                            f'{len(paths) / seconds:.1f} img/s | '
                            f'{speed:.1f}x | {box_diff:.2g} px | '
                            f'{pixel_diff:.2f} |')
        # the whole Chest ImaGenome training pipeline (loading, 29 boxes,
        # pad, colour / noise / affine augmentation, packing), per image
        pipeline = Config.fromfile('configs/_base_/datasets/'
                                   'chest_imagenome_detection.py')
        pipeline = [dict(t) for t in pipeline.train_pipeline]
        assert pipeline[1]['type'] == 'LoadResizedImage', pipeline[1]
        former = [dict(type='LoadXrayImageFromFile', color_type='color'),
                  pipeline[0], dict(type='Resize', scale=scale,
                                    keep_ratio=True)] + pipeline[2:]
        with_cache = copy.deepcopy(pipeline)
        with_cache[1]['cache_dir'] = osp.join(tmp, 'pipeline-cache')
        regions = [dict(bbox=[100. + 40 * i, 200. + 30 * i, 1500. + 30 * i,
                              2000. + 20 * i], bbox_label=i, ignore_flag=0)
                   for i in range(29)]

        def train(transforms):
            compose = Compose(transforms)
            return lambda: [compose(dict(
                img_path=p, img_id=str(i), instances=copy.deepcopy(regions)))
                for i, p in enumerate(synthetic)]

        np.random.seed(0)
        times = interleaved({
            'former (LoadXrayImageFromFile + Resize)': train(former),
            'LoadResizedImage, no cache': train(pipeline),
            'LoadResizedImage, cache on, later epochs': train(with_cache),
        }, args.repeats)
        rows += ['', '| Chest ImaGenome training pipeline, 512 px, '
                 f'{len(synthetic)} synthetic images | throughput | vs '
                 'former |', '|---|---|---|']
        for contender, seconds in times.items():
            speed = times['former (LoadXrayImageFromFile + Resize)'] / seconds
            rows.append(f'| {contender} | '
                        f'{len(synthetic) / seconds:.1f} img/s | '
                        f'{speed:.1f}x |')
    for row in rows:
        log(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--rgrg', help='root of a ttanida/rgrg checkout')
    parser.add_argument('--repeats', type=int, default=4)
    parser.add_argument('--regions', type=int, default=10)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: torch\'s)')
    parser.add_argument('--tokens', type=int, nargs='+', default=[20, 60])
    parser.add_argument('--beams', type=int, nargs='+', default=[1, 4])
    parser.add_argument('--jpegs', type=int, default=8)
    parser.add_argument('--gemm-rows', type=int, nargs='+',
                        default=[1, 4, 10, 16, 40])
    sections = ['gen', 'gemm', 'e2e', 'jpeg']
    parser.add_argument('--sections', nargs='+', choices=sections,
                        default=sections)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from crrg.models.utils import train_report_tokenizer
    from crrg.utils.setup_env import register_all_modules
    register_all_modules()
    log(f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
        f'CPU capability {torch.backends.cpu.get_cpu_capability()}')
    with tempfile.TemporaryDirectory() as tok:
        train_report_tokenizer(SENTENCES, tok, vocab_size=500)
        if 'gen' in args.sections:
            log('| regions x tokens, search | contender | time | vs RGRG | '
                'bandwidth floor | compute floor | time / floor |')
            bench_generation(args, tok)
        if 'gemm' in args.sections:
            log('| rows (M) | GEMM | in cache | streamed | streamed '
                'GFLOP/s |')
            bench_gemm(args)
        if 'e2e' in args.sections:
            bench_end_to_end(args, tok)
    if 'jpeg' in args.sections:
        bench_jpeg(args)


if __name__ == '__main__':
    main()
