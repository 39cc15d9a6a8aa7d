"""JPEG decode throughput per core on 2,500 x 3,000 chest X-ray-like images.

Full decode + resize against ``LoadResizedImage`` (DCT-scaled decode, and
its decode-once cache), on synthetic JPEGs and, when the real-data cache has
it, on copies of the real ``pydicom-data`` radiograph; then the whole Chest
ImaGenome training pipeline with each loader. Interleaved, minimum of
``--repeats`` rounds. Run from the repository root (it reads the Chest
ImaGenome dataset config).

Usage::

    python benchmarks/jpeg_decode.py [--jpegs 8] [--repeats 3] [--threads 1]
"""
import argparse
import copy
import os.path as osp
import tempfile
from typing import List

import numpy as np
from timing import interleaved, log, machine_header, set_threads


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



def main(argv=None) -> List[str]:
    """Runs it; returns the table's rows."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--jpegs', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None,
                        help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    log(machine_header())
    return bench_jpeg(args)


if __name__ == '__main__':
    main()
