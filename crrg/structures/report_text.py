"""Report text handling shared by the datasets and the report metrics.

Two different jobs:

* :func:`extract_section` / :func:`normalize_whitespace` turn a raw MIMIC-CXR
  report into the FINDINGS text a model is trained on (case kept).
* :func:`clean_report` is the lower-casing, punctuation-stripping cleaner of
  published report-generation code (R2Gen's ``clean_report_mimic_cxr`` and
  ``clean_report_iu_xray``), applied to references and predictions alike
  before they are scored, and to IU X-ray reports when they are loaded.
"""
import re
from typing import Dict, Optional

# A section header is an upper-case phrase at the start of a line (or of the
# text) followed by a colon, e.g. "FINDINGS:", "PA AND LATERAL VIEWS OF THE CHEST:".
_HEADER = re.compile(r'(?:^|\n)\s*([A-Z][A-Z /&()-]{2,}):', re.MULTILINE)


def normalize_whitespace(text: str) -> str:
    """Remove newlines and collapse runs of white space into one space."""
    return re.sub(r'\s+', ' ', text).strip()


def split_sections(report: str) -> Dict[str, str]:
    """Split a free-text report into its upper-case headed sections.

    Args:
        report (str): The raw report text (``sNNNNNNNN.txt``).

    Returns:
        dict[str, str]: Lower-case section name (``'findings'``, ``'impression'``,
        ...) to its text with white space normalised. Text before the first
        header is under ``'preamble'``. A repeated header keeps its first text.
    """
    sections: Dict[str, str] = {}
    matches = list(_HEADER.finditer(report))
    start = matches[0].start() if matches else len(report)
    if report[:start].strip():
        sections['preamble'] = normalize_whitespace(report[:start])
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(report)
        name = normalize_whitespace(match.group(1)).lower()
        sections.setdefault(name, normalize_whitespace(report[match.end():end]))
    return sections


def extract_section(report: str, name: str = 'findings') -> Optional[str]:
    """The text of one section, or None when the report has none (or it is empty).

    Args:
        report (str): The raw report text.
        name (str): Section name, case-insensitive. Defaults to 'findings'.
    """
    text = split_sections(report).get(name.lower())
    return text or None


def clean_report(report: str, dataset: str = 'mimic_cxr') -> str:
    """Lower-case and tokenise a report as R2Gen (and the papers after it) do.

    Sentences are split on ``'. '``, numbering and punctuation removed, and
    rejoined with ``' . '``; the result ends with ``' .'``. An empty report
    stays empty.

    Args:
        report (str): Report text.
        dataset (str): ``'mimic_cxr'`` or ``'iu_xray'``; the two papers' rules
            differ in how they treat repeated dots and list numbering.

    Returns:
        str: The cleaned report, e.g. ``'the lungs are clear . no effusion .'``.
    """
    if dataset == 'mimic_cxr':
        text = report.replace('\n', ' ')
        text = re.sub(r'_+', '_', text)
        text = re.sub(r' {2,}', ' ', text)
        text = re.sub(r'\.{2,}', '.', text)
        text = text.replace('1. ', '')
        text = re.sub(r'(?:\. | )[2-5]\. ', '. ', text)
        sentences = text.strip().lower().split('. ')
    elif dataset == 'iu_xray':
        text = re.sub(r'\.{2,}', '.', report)
        text = re.sub(r'\b1\. ', '', text)
        sentences = text.strip().lower().split('. ')
    else:
        raise ValueError(f"clean_report: dataset must be 'mimic_cxr' or "
                         f"'iu_xray', got {dataset!r}")
    cleaned = []
    for sentence in sentences:
        sentence = re.sub(r'[.,?;*!%^&_+():\-\[\]{}"/\\\']', '',
                          sentence.replace('\n', ' ')).strip()
        sentence = re.sub(r'\s+', ' ', sentence)
        if sentence:
            cleaned.append(sentence)
    return ' . '.join(cleaned) + ' .' if cleaned else ''
