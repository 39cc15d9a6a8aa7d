"""The fast profile's quality guard on a tiny model of RGRG's design: the
two profiles' predictions of a twin radiograph, and the same predictions
altered just past each threshold."""
import copy

import cv2
import numpy as np
import pytest
import torch

from crrg.apis import ReportInferencer
from crrg.apis.quality_guard import quality_guard
from crrg.datasets.synthetic.mimic import draw_frontal, jittered_boxes
from crrg.models.utils.tokenizer_training import train_report_tokenizer
from crrg.testing import tiny_rgrg_config
from crrg.testing.tiny_rgrg import spread_box_classifier


@pytest.fixture(scope='module')
def predictions(tmp_path_factory):
    """Exact, exact again and fast predictions of one 640 x 720 twin image
    by a tiny RGRG whose box classifier is random and orthogonal to the
    image's mean RoI feature (so that most regions win a vote and are
    detected) and whose selector keeps every detected region."""
    tmp = tmp_path_factory.mktemp('guard')
    train_report_tokenizer(['no pleural effusion.', 'the heart is normal.']
                           * 10, str(tmp / 'tok'), vocab_size=300)
    cfg = tiny_rgrg_config(str(tmp / 'tok'))
    cfg.model.selector.threshold = -1e9
    torch.manual_seed(0)
    inferencer = ReportInferencer(cfg)
    rng = np.random.default_rng(0)
    path = str(tmp / 'twin.png')
    cv2.imwrite(path, draw_frontal(rng, 640, 720, jittered_boxes(
        rng, 640, 720, cardiomegaly=False), []))
    spread_box_classifier(inferencer, path)
    out = {}
    for name, profile in (('exact', 'exact'), ('again', 'exact'),
                          ('fast', 'fast')):
        inferencer.model.set_inference_profile(profile)
        (out[name], ) = inferencer(path)['predictions']
    return out


def test_guard_of_the_two_profiles(predictions):
    """The exact profile reproduces itself exactly; the fast profile is
    compared region by region. Whether it passes is not asserted: on random
    weights bf16 rounding can flip a vote between far-apart proposals
    (docs/benchmarks.md), so only a trained checkpoint tells."""
    exact, fast = predictions['exact'], predictions['fast']
    assert exact['status'] == fast['status'] == 'ok'
    again = quality_guard([exact], [predictions['again']])
    assert again['sentence_regions'] >= 10  # most regions detected, selected
    assert again == dict(
        regions=29, regions_identical=1., box_max_diff_px=0.,
        sentence_regions=again['sentence_regions'], sentences_identical=1.,
        passed=True)
    guard = quality_guard([exact], [fast])
    assert guard['regions'] == 29
    assert 0 <= guard['regions_identical'] <= 1
    assert 0 <= guard['sentences_identical'] <= 1
    assert guard['box_max_diff_px'] >= 0
    assert guard['passed'] == (guard['regions_identical'] >= 0.99
                               and guard['box_max_diff_px'] <= 1
                               and guard['sentences_identical'] >= 0.95)


def test_guard_fails_just_past_each_threshold(predictions):
    exact = predictions['exact']
    selected = [r for r in exact['regions'] if r['selected']]
    scale = 512 / max(exact['ori_shape'])  # original px -> input px

    def altered(change):
        pred = copy.deepcopy(exact)
        change(pred['regions'])
        return quality_guard([exact], [pred])

    def shift(px):
        def change(regions):
            region = next(r for r in regions if r['detected'])
            region['bbox'][2] += px / scale
        return change

    assert altered(shift(0.9))['passed']
    guard = altered(shift(1.1))
    assert not guard['passed'] and guard['box_max_diff_px'] == \
        pytest.approx(1.1)

    def unselect(regions):
        next(r for r in regions if r['selected'])['selected'] = False
    guard = altered(unselect)
    assert guard['regions_identical'] == pytest.approx(28 / 29)
    assert not guard['passed']

    def reword(count):
        def change(regions):
            for region in [r for r in regions if r['selected']][:count]:
                region['sentence'] += ' x'
        return change
    # one changed sentence in >= 20 is within 95%, two are not
    count = len(selected)
    assert altered(reword(1))['passed'] == (count >= 20)
    guard = altered(reword(2))
    assert guard['sentences_identical'] == pytest.approx(1 - 2 / count)
    assert not guard['passed']
    with pytest.raises(ValueError, match='differ'):
        quality_guard([exact], [dict(exact, regions=exact['regions'][:5])])
