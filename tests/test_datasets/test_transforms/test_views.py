"""SampleTextViews with back-translated texts, as CXR-CLIP draws them."""
import random
from collections import Counter

import pytest

from crrg.registry import TRANSFORMS


def draw(transform, results, times=2000):
    return Counter(tuple(transform(dict(results))['texts'])
                   for _ in range(times))


def test_two_sections_each_view_back_translated_with_p():
    random.seed(0)
    views = TRANSFORMS.build(dict(type='SampleTextViews', augment_prob=0.5))
    counts = draw(views, dict(texts=['F', 'I'],
                              texts_augmented=['bt F', 'bt I']))
    seen = Counter(text for pair in counts.elements() for text in pair)
    # each view: section drawn uniformly, back-translated half the time
    for text in ('F', 'I', 'bt F', 'bt I'):
        assert seen[text] / 4000 == pytest.approx(0.25, abs=0.03)
    assert len(counts) == 16
    never = TRANSFORMS.build(dict(type='SampleTextViews', augment_prob=0.0))
    assert set(t for pair in draw(never, dict(
        texts=['F', 'I'], texts_augmented=['bt F', 'bt I'])) for t in pair) \
        == {'F', 'I'}


def test_one_section_pairs_text_with_its_back_translation():
    random.seed(1)
    views = TRANSFORMS.build(dict(type='SampleTextViews'))
    counts = draw(views, dict(texts=['F'], texts_augmented=['bt F']))
    assert set(counts) == {('F', 'bt F'), ('bt F', 'F')}
    assert counts[('F', 'bt F')] / 2000 == pytest.approx(0.5, abs=0.05)
    # a section without back-translation is used as it is
    counts = draw(views, dict(texts=['F', 'I'], texts_augmented=['bt F',
                                                                 None]))
    assert 'bt I' not in {t for pair in counts for t in pair}
    assert {t for pair in counts for t in pair} == {'F', 'I', 'bt F'}


def test_validation_and_mismatch():
    fixed = TRANSFORMS.build(dict(type='SampleTextViews', random_draw=False))
    assert fixed(dict(texts=['F'], texts_augmented=['bt F']))['texts'] == [
        'F', 'F']
    views = TRANSFORMS.build(dict(type='SampleTextViews'))
    with pytest.raises(ValueError, match='1 back-translations.*2 texts.*s7'):
        views(dict(texts=['F', 'I'], texts_augmented=['bt F'], study_id='s7'))
