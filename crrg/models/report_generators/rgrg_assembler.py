"""RGRG's report assembly: spaCy sentences, BERTScore near duplicates."""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

from crrg.registry import TASK_UTILS


@TASK_UTILS.register_module()
class RGRGReportAssembler:
    """Join region sentences into a report as RGRG's
    ``generate_reports_for_images.py`` does.

    1. The selected regions' sentences are joined with spaces, in region
       order, and split into sentences again by a spaCy pipeline (RGRG:
       ``en_core_web_trf``), so a generated text with two sentences counts
       as two;
    2. exact duplicates keep their first occurrence;
    3. pairs in order: for sentence ``i`` (unless already dropped) and each
       later ``j`` (unless dropped), BERTScore F1 of ``i`` against ``j``
       (RGRG: ``distilbert-base-uncased``, its layer 5, no idf, no baseline
       rescaling) above ``threshold`` drops the shorter (``j`` when equal);
    4. the rest joined with spaces. No token budget.

    Where crrg's default (:func:`assemble_report`) differs: it does not
    re-split sentences, compares with ROUGE-L F1 >= 0.9 on lower-cased
    words instead of BERTScore (no model at inference, deterministic), skips
    empty sentences and stops at the generator's token budget.

    Both models are the user's: local directories or installed spaCy
    packages, loaded on first use (``pip install -r requirements/rgrg.txt``;
    nothing is downloaded).

    Args:
        spacy_model (str): A spaCy package name or directory
            (``en_core_web_trf`` for RGRG's).
        bertscore_model (str): Directory of the BERTScore model (a copy of
            ``distilbert-base-uncased`` for RGRG's).
        bertscore_num_layers (int): Its layer used by BERTScore. Defaults
            to 5 (bert-score's choice for ``distilbert-base-uncased``).
        threshold (float): F1 above which the shorter sentence is dropped.
            Defaults to 0.9.
        device (str): Device of the BERTScore model. Defaults to 'cpu'.
    """

    def __init__(self,
                 spacy_model: str,
                 bertscore_model: str,
                 bertscore_num_layers: int = 5,
                 threshold: float = 0.9,
                 device: str = 'cpu') -> None:
        self.spacy_model = spacy_model
        self.bertscore_model = bertscore_model
        self.bertscore_num_layers = bertscore_num_layers
        self.threshold = threshold
        self.device = device
        self._nlp = None
        self._scorer = None

    def split(self, text: str) -> List[str]:
        """spaCy's sentences of ``text``."""
        if self._nlp is None:
            try:
                import spacy
                self._nlp = spacy.load(self.spacy_model)
            except (ImportError, OSError) as err:
                raise RuntimeError(
                    f'RGRGReportAssembler: cannot load the spaCy model '
                    f'{self.spacy_model!r} ({err}); install spaCy and the '
                    'model (requirements/rgrg.txt), or use crrg\'s default '
                    'assembly (report_assembler=None)') from err
        return [sent.text for sent in self._nlp(text).sents]

    def similarity(self, candidate: str, reference: str) -> float:
        """BERTScore F1 of ``candidate`` against ``reference``."""
        if self._scorer is None:
            try:
                from bert_score import BERTScorer
                self._scorer = BERTScorer(
                    model_type=self.bertscore_model,
                    num_layers=self.bertscore_num_layers,
                    device=self.device)
            except (ImportError, OSError) as err:
                raise RuntimeError(
                    f'RGRGReportAssembler: cannot load the BERTScore model '
                    f'{self.bertscore_model!r} ({err}); install bert-score '
                    '(requirements/rgrg.txt) and give a local model '
                    'directory') from err
        _, _, f1 = self._scorer.score([candidate], [reference])
        return float(f1[0])

    def __call__(self,
                 sentences: Sequence[str],
                 count_tokens=None,
                 max_tokens: Optional[int] = None) -> str:
        """The report of the selected regions' ``sentences`` (region order;
        ``count_tokens`` / ``max_tokens`` are ignored: RGRG has no report
        budget)."""
        sents = list(dict.fromkeys(self.split(' '.join(sentences))))
        dropped: Dict[str, List[str]] = defaultdict(list)

        def is_dropped(sent: str) -> bool:
            return any(sent in group for group in dropped.values())

        for i, first in enumerate(sents):
            for second in sents[i + 1:]:
                if is_dropped(first):
                    break
                if is_dropped(second):
                    continue
                if self.similarity(first, second) > self.threshold:
                    if len(first) > len(second):
                        dropped[first].append(second)
                    else:
                        dropped[second].append(first)
        return ' '.join(s for s in sents if not is_dropped(s))
