"""XrayDetDataPreprocessor: albumentations' normalisation (RGRG's) as an
option, mmdet's DetDataPreprocessor unchanged by default."""
import numpy as np
import pytest
import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.structures import DetDataSample
from mmengine.config import Config

from crrg.models.data_preprocessors import XrayDetDataPreprocessor
from crrg.registry import MODELS
from crrg.utils import register_all_modules

register_all_modules()


def albumentations_normalize(img, mean, std, max_pixel_value=255.):
    """albumentations' ``Normalize`` formula (numpy, float32 throughout):
    ``(img - mean * max) * reciprocal(std * max)``."""
    mean = np.asarray(mean, np.float32) * np.float32(max_pixel_value)
    std = np.asarray(std, np.float32) * np.float32(max_pixel_value)
    return (img.astype(np.float32) - mean) * np.reciprocal(std)


def _data(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in shapes]
    samples = []
    for img in images:
        sample = DetDataSample()
        sample.set_metainfo(dict(img_shape=img.shape[1:]))
        samples.append(sample)
    return images, dict(inputs=[torch.from_numpy(i) for i in images],
                        data_samples=samples)


def test_albumentations_rule_is_rgrgs_normalize():
    pre = XrayDetDataPreprocessor(
        mean=[0.471], std=[0.302], normalize_rule='albumentations',
        pad_size_divisor=32, pad_value=0)
    images, data = _data((1, 60, 64), (1, 64, 40))
    out = pre(data, False)
    inputs = out['inputs']
    assert inputs.shape == (2, 1, 64, 64) and inputs.dtype == torch.float32
    for img, got in zip(images, inputs):
        want = torch.from_numpy(albumentations_normalize(img, [0.471],
                                                         [0.302]))
        h, w = img.shape[1:]
        assert torch.equal(got[:, :h, :w], want)  # bit for bit
        assert (got[:, h:] == 0).all() and (got[:, :, w:] == 0).all()
    assert out['data_samples'][1].batch_input_shape == (64, 64)
    # mmdet's rule on the same values differs in the last bits: the option
    # changes the result
    divide = DetDataPreprocessor(mean=[0.471 * 255], std=[0.302 * 255],
                                 pad_size_divisor=32)(_data((1, 60, 64),
                                                            (1, 64, 40))[1])
    assert not torch.equal(divide['inputs'], inputs)
    torch.testing.assert_close(divide['inputs'], inputs, rtol=0, atol=1e-6)
    # a stacked (N, C, H, W) batch is normalised the same way
    stacked = pre(dict(inputs=torch.stack(data['inputs'][:1] * 2)), False)
    assert torch.equal(stacked['inputs'][1], inputs[0, :, :, :])


def test_default_rule_is_mmdets():
    kwargs = dict(mean=[10., 20., 30.], std=[2., 3., 4.], bgr_to_rgb=True,
                  pad_size_divisor=8)
    ours = XrayDetDataPreprocessor(**kwargs)(_data((3, 13, 9))[1])
    theirs = DetDataPreprocessor(**kwargs)(_data((3, 13, 9))[1])
    assert torch.equal(ours['inputs'], theirs['inputs'])


def test_bad_arguments():
    with pytest.raises(ValueError, match='normalize_rule'):
        XrayDetDataPreprocessor(mean=[0.5], std=[0.2], normalize_rule='x')
    with pytest.raises(ValueError, match='needs mean and std'):
        XrayDetDataPreprocessor(normalize_rule='albumentations')
    with pytest.raises(ValueError, match='bgr_to_rgb'):
        XrayDetDataPreprocessor(mean=[.5] * 3, std=[.2] * 3,
                                normalize_rule='albumentations',
                                bgr_to_rgb=True)


def test_rgrg_config_normalises_as_rgrg():
    cfg = Config.fromfile(
        'configs/rgrg/rgrg_r50-c5_gpt2-pubmed-medium_imagenome.py')
    pre = MODELS.build(cfg.model.data_preprocessor)
    images, data = _data((1, 512, 512))
    want = albumentations_normalize(images[0], [0.471], [0.302])
    assert torch.equal(pre(data, False)['inputs'][0],
                       torch.from_numpy(want))
