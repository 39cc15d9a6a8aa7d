"""RGRGReportAssembler: RGRG's near-duplicate removal, with stand-ins for
the spaCy and BERTScore models (the user's local models at run time)."""
import re

import pytest

from crrg.models.report_generators import RGRGReportAssembler


class FakeAssembler(RGRGReportAssembler):
    """Sentences end at '.' (stripped, as spaCy's ``sent.text``);
    similarity = Jaccard index of the lower-cased words."""

    def __init__(self, **kwargs):
        super().__init__(spacy_model='none', bertscore_model='none', **kwargs)
        self.calls = []

    def split(self, text):
        return [s.strip() for s in re.findall(r'[^.]+\.?', text)
                if s.strip()]

    def similarity(self, candidate, reference):
        self.calls.append((candidate, reference))
        a = set(re.findall(r'\w+', candidate.lower()))
        b = set(re.findall(r'\w+', reference.lower()))
        return len(a & b) / len(a | b)


def test_rgrg_duplicate_rules():
    asm = FakeAssembler(threshold=0.45)
    report = asm([
        'No effusion.',
        'The heart is normal. No effusion.',  # two sentences, one a repeat
        'Heart is normal in size.',  # near duplicate (0.5), longer
        'Lungs are clear.',
    ])
    # re-split, exact repeats gone, the shorter of the near pair gone
    assert report == 'No effusion. Heart is normal in size. Lungs are clear.'


def test_dropped_sentences_stop_comparing():
    asm = FakeAssembler(threshold=0.5)
    a, b, c = 'x y z.', 'x y z w.', 'x y.'
    # a vs b: 0.75 -> a (shorter) dropped, and a is compared no further;
    # b vs c: 0.5, not above the threshold -> both kept
    assert asm([a, b, c]) == 'x y z w. x y.'
    assert asm.calls == [(a, b), (b, c)]


def test_threshold_is_strict_and_equal_lengths_drop_the_first():
    assert FakeAssembler(threshold=1 / 3)(['a b.', 'a c.']) == 'a b. a c.'
    assert FakeAssembler(threshold=0.3)(['a b.', 'a c.']) == 'a c.'


def test_missing_models_say_what_to_do():
    asm = RGRGReportAssembler(spacy_model='/nonexistent/spacy',
                              bertscore_model='/nonexistent/bert')
    with pytest.raises(RuntimeError, match='requirements/rgrg.txt'):
        asm(['No effusion.'])
