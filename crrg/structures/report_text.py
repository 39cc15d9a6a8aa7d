"""Report text handling shared by the datasets and the report metrics.

Two different jobs:

* :func:`section_text`, :func:`split_sections` and :func:`extract_findings`
  cut a raw MIMIC-CXR report into its sections the way the official MIMIC-CXR
  section parser does (MIT-LCP/mimic-cxr ``txt/section_parser.py``), and pick
  the reference FINDINGS text the way RGRG does (``get_reference_report`` of
  ttanida/rgrg ``src/dataset/create_dataset.py``; CRRG-CLIP reuses it). Case
  is kept. ``docs/data.md`` states the rule.
* :func:`clean_report` is R2Gen's ``clean_report_mimic_cxr`` /
  ``clean_report_iu_xray`` (cuhksz-nlp/R2Gen ``modules/tokenizers.py``),
  reproduced character for character: the lower-casing, punctuation-stripping
  cleaner that R2Gen and the papers after it apply to references and
  predictions before scoring.
"""
import re
from typing import Dict, List, Optional, Tuple, Union

# The official parser's header: a newline, one space, an upper-case phrase
# (letters, spaces, brackets, '/', ',' and '-'), a colon and white space.
_HEADER = re.compile(r'\n ([A-Z ()/,-]+):\s')

# Header names the official parser maps to a canonical name (typos included).
SECTION_NAME_TABLE: Dict[str, str] = {
    'preamble': 'preamble',
    'impression': 'impression',
    'comparison': 'comparison',
    'indication': 'indication',
    'findings': 'findings',
    'examination': 'examination',
    'technique': 'technique',
    'history': 'history',
    'comparisons': 'comparison',
    'clinical history': 'history',
    'reason for examination': 'indication',
    'notification': 'notification',
    'reason for exam': 'indication',
    'clinical information': 'history',
    'exam': 'examination',
    'clinical indication': 'indication',
    'conclusion': 'impression',
    'chest, two views': 'findings',
    'recommendation(s)': 'recommendations',
    'type of examination': 'examination',
    'reference exam': 'comparison',
    'patient history': 'history',
    'addendum': 'addendum',
    'comparison exam': 'comparison',
    'date': 'date',
    'comment': 'comment',
    'findings and impression': 'impression',
    'wet read': 'wet read',
    'comparison film': 'comparison',
    'recommendations': 'recommendations',
    'findings/impression': 'impression',
    'pfi': 'history',
    'recommendation': 'recommendations',
    'wetread': 'wet read',
    # sic: the official table sends this truncated "indication" to impression
    'ndication': 'impression',
    'impresson': 'impression',
    'imprression': 'impression',
    'imoression': 'impression',
    'impressoin': 'impression',
    'imprssion': 'impression',
    'impresion': 'impression',
    'imperssion': 'impression',
    'mpression': 'impression',
    'impession': 'impression',
    'findings/ impression': 'impression',
    'finding': 'findings',
    'findins': 'findings',
    'findindgs': 'findings',
    'findgings': 'findings',
    'findngs': 'findings',
    'findnings': 'findings',
    'finidngs': 'findings',
    'idication': 'indication',
    'reference findings': 'findings',
    'comparision': 'comparison',
    'comparsion': 'comparison',
    'comparrison': 'comparison',
    'comparisions': 'comparison',
}
# A name containing one of these (first match wins) becomes that name.
_MAIN_SECTIONS = ('impression', 'findings', 'history', 'comparison',
                  'addendum')
# A name describing the study's views ("PA AND LATERAL CHEST", "PORTABLE AP")
# introduces the findings.
_VIEW_HEADER = re.compile(
    'chest|portable|pa and lateral|lateral and pa|ap and lateral|'
    'lateral and ap|frontal and|two views|frontal view|pa view|ap view|'
    'one view|lateral view|bone window|frontal upright|frontal semi-upright|'
    'ribs|pa and lat')

# Studies the official parser sections by hand (custom_mimic_cxr_rules():
# mis-named sections, or fixed character ranges); RGRG keeps none of them as
# a reference report.
MIMIC_CXR_CUSTOM_RULE_STUDIES = frozenset(
    f's{n}' for n in (
        # custom section names
        50913680, 59363654, 59279892, 59768032, 57936451, 50058765, 53356173,
        53202765, 50808053, 51966317, 50743547, 56451190, 59067458, 59215320,
        55124749, 54365831, 59087630, 58157373, 56482935, 58375018, 54654948,
        55157853, 51491012,
        # custom character ranges
        50525523, 57564132, 59982525, 53488209, 54875119, 50196495, 56579911,
        52648681, 59889364, 53514462, 59505494, 53182247, 51410602, 56412866,
        54986978, 59003148, 57150433, 56760320, 59562049, 52674888, 55258338,
        59330497, 52119491,
        # no findings anywhere in the report
        58235663, 50798377, 54168089, 53071062, 56724958, 54231141, 53607029,
        52035334))


def normalize_whitespace(text: str) -> str:
    """Remove newlines and collapse runs of white space into one space."""
    return ' '.join(text.split())


def normalize_section_name(name: str) -> str:
    """The canonical name the official parser gives a header.

    Lower-cased and stripped; looked up in :data:`SECTION_NAME_TABLE`; else
    the first of impression / findings / history / comparison / addendum it
    contains; else ``'findings'`` when it names a view ("chest", "portable",
    "pa and lateral", ...); else itself.
    """
    name = name.lower().strip()
    if name in SECTION_NAME_TABLE:
        return SECTION_NAME_TABLE[name]
    for main in _MAIN_SECTIONS:
        if main in name:
            return main
    return 'findings' if _VIEW_HEADER.search(name) else name


def section_text(report: str) -> Tuple[List[str], List[str], List[int]]:
    """Cut a MIMIC-CXR report into sections as the official parser does.

    The text before the first header is the ``'preamble'``; a report with no
    header is one ``'full report'`` section. A header's text runs from just
    after ``HEADER:`` and its white space to the next header, where the search
    for that next header starts only after the first newline following the
    header (so a header on the very next line stays inside the section, as in
    the official parser). Empty findings / impression sections are dropped.
    When neither is left, the last section's text after its first blank line
    (``'\\n \\n'``) becomes a ``'last_paragraph'`` section.

    Args:
        report (str): The raw report text (``sNNNNNNNN.txt``).

    Returns:
        tuple: ``(sections, names, starts)``: the raw text of each section,
        its canonical name (:func:`normalize_section_name`) and its start
        offset in ``report``, in report order.
    """
    match = _HEADER.search(report)
    if match is None:
        sections, names, starts = [report], ['full report'], [0]
    else:
        sections, names, starts = [report[:match.start(1)]], ['preamble'], [0]
        while match is not None:
            name, start = match.group(1), match.end()
            newline = report.find('\n', start)
            resume = newline if newline != -1 else start
            match = _HEADER.search(report, resume)
            end = match.start() if match is not None else len(report)
            sections.append(report[start:end])
            names.append(name)
            starts.append(start)
    names = [normalize_section_name(n) for n in names]
    kept = [
        i for i, name in enumerate(names)
        if name not in ('findings', 'impression') or sections[i].strip()
    ]
    sections = [sections[i] for i in kept]
    names = [names[i] for i in kept]
    starts = [starts[i] for i in kept]
    if ('findings' not in names and 'impression' not in names
            and '\n \n' in sections[-1]):
        head, *rest = sections[-1].split('\n \n')
        sections[-1] = head
        sections.append('\n \n'.join(rest))
        names.append('last_paragraph')
        starts.append(starts[-1] + len(head))
    return sections, names, starts


def split_sections(report: str) -> Dict[str, str]:
    """Section name to text, white space normalised (see :func:`section_text`).

    Args:
        report (str): The raw report text.

    Returns:
        dict[str, str]: Canonical section name (``'findings'``,
        ``'impression'``, ``'preamble'``, ...) to the text of the **last**
        section of that name, newlines removed and white space collapsed (the
        official parser's and RGRG's choice when a name repeats).
    """
    sections, names, _ = section_text(report)
    return {
        name: normalize_whitespace(text)
        for name, text in zip(names, sections)
    }


def is_custom_rule_study(study_id: Union[int, str, None]) -> bool:
    """Whether the official parser sections this study by hand.

    Args:
        study_id (int | str | None): ``50913680``, ``'50913680'`` or
            ``'s50913680'``.
    """
    if study_id is None:
        return False
    study = str(study_id)
    return (study if study.startswith('s') else f's{study}') in \
        MIMIC_CXR_CUSTOM_RULE_STUDIES


def extract_findings(report: str,
                     study_id: Union[int, str, None] = None) -> Optional[str]:
    """The reference FINDINGS text of a MIMIC-CXR report, as RGRG takes it.

    The last non-empty ``findings`` section of :func:`section_text` (typos and
    view headers such as ``PA AND LATERAL VIEWS OF THE CHEST:`` count as
    findings; ``FINDINGS AND IMPRESSION:`` counts as impression), white space
    collapsed. None when the report has no findings section, or when
    ``study_id`` is one of the studies the official parser sections by hand
    (:data:`MIMIC_CXR_CUSTOM_RULE_STUDIES`), which RGRG skips.

    Args:
        report (str): The raw report text.
        study_id (int | str, optional): The study, to apply the custom-rule
            skip.
    """
    if is_custom_rule_study(study_id):
        return None
    return extract_section(report, 'findings')


def extract_section(report: str, name: str = 'findings') -> Optional[str]:
    """The text of the last section called ``name``; None when there is none.

    Args:
        report (str): The raw report text.
        name (str): Canonical section name, case-insensitive. Defaults to
            'findings'.
    """
    return split_sections(report).get(name.lower()) or None


# R2Gen's sentence cleaner removes these characters. Its pattern
# '[.,?;*!%^&_+():-\[\]{}]' holds the range ':-[' (0x3a-0x5b: ': ; < = > ?
# @ A-Z ['), so a literal '-' is kept and '<', '=', '>', '@' are removed.
_R2GEN_PUNCTUATION = re.compile(r'[.,?;*!%^&_+()\x3a-\x5b\]{}]')
_R2GEN_NUMBERING = ('1. ', '. 2. ', '. 3. ', '. 4. ', '. 5. ', ' 2. ', ' 3. ',
                    ' 4. ', ' 5. ')


def _replace_times(text: str, old: str, new: str, times: int) -> str:
    for _ in range(times):
        text = text.replace(old, new)
    return text


def clean_report(report: str, dataset: str = 'mimic_cxr') -> str:
    """Lower-case and tokenise a report exactly as R2Gen does.

    MIMIC-CXR: newlines to spaces, then (each a fixed number of plain string
    replacements, as R2Gen) runs of ``_`` shortened (7 passes), double spaces
    (6) and double dots (8) halved; IU X-ray: double dots halved (3 passes),
    newlines kept. Both then drop list numbering (``'1. '`` anywhere, ``' 2. '``
    .. ``' 5. '`` become ``'. '``), strip, lower-case and split sentences on
    ``'. '``. Each sentence loses ``" / \\ '``, is stripped, and loses the
    characters of R2Gen's punctuation class (``. , ? ; * ! % ^ & _ + ( ) ] { }``
    and ``:`` .. ``[``; a ``-`` is kept). Sentences, empty ones included, are
    joined with ``' . '`` and ``' .'`` is appended, so an empty report gives
    ``' .'``, as R2Gen's.

    Args:
        report (str): Report text.
        dataset (str): ``'mimic_cxr'`` or ``'iu_xray'``.

    Returns:
        str: The cleaned report, e.g. ``'the lungs are clear . no effusion .'``.
    """
    if dataset == 'mimic_cxr':
        text = report.replace('\n', ' ')
        text = _replace_times(text, '__', '_', 7)
        text = _replace_times(text, '  ', ' ', 6)
        text = _replace_times(text, '..', '.', 8)
    elif dataset == 'iu_xray':
        text = _replace_times(report, '..', '.', 3)
    else:
        raise ValueError(f"clean_report: dataset must be 'mimic_cxr' or "
                         f"'iu_xray', got {dataset!r}")
    for numbering in _R2GEN_NUMBERING:
        text = text.replace(numbering, '. ' if numbering != '1. ' else '')
    sentences = []
    for sentence in text.strip().lower().split('. '):
        for char in '"/\\\'':
            sentence = sentence.replace(char, '')
        sentences.append(
            _R2GEN_PUNCTUATION.sub('', sentence.strip().lower()))
    return ' . '.join(sentences) + ' .'
