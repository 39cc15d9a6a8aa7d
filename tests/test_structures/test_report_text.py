import pytest
from report_corpus import CASES

from crrg.structures import (clean_report, extract_findings, extract_section,
                             section_text, split_sections)
from crrg.structures.report_text import (MIMIC_CXR_CUSTOM_RULE_STUDIES,
                                         normalize_section_name)


@pytest.mark.parametrize('name,report,study_id,expected', CASES,
                         ids=[c[0] for c in CASES])
def test_findings_corpus(name, report, study_id, expected):
    # expected texts were checked case by case against RGRG's own
    # get_reference_report + section_parser (see docs/data.md)
    assert extract_findings(report, study_id) == expected


@pytest.mark.parametrize('header,canonical', [
    ('FINDINGS', 'findings'), ('FINDNGS', 'findings'),
    ('IMPRESSON', 'impression'), ('NDICATION', 'impression'),
    ('CHEST, TWO VIEWS', 'findings'), ('PORTABLE AP CHEST', 'findings'),
    ('PA AND LAT', 'findings'), ('RIBS', 'findings'),
    ('FINDINGS AND IMPRESSION', 'impression'),
    ('IMPRESSION AND FINDINGS', 'impression'),
    ('CLINICAL HISTORY', 'history'), ('REASON FOR EXAM', 'indication'),
    ('COMPARISON EXAM', 'comparison'), ('FINAL ADDENDUM', 'addendum'),
    ('WETREAD', 'wet read'), ('TECHNIQUE', 'technique'),
    (' Unknown Thing ', 'unknown thing'),
])
def test_section_names(header, canonical):
    assert normalize_section_name(header) == canonical


def test_section_text_offsets_and_last_paragraph():
    report = (' HEADER\n INDICATION:  Cough.\n \n'
              ' COMPARISON:  None.\n \n Lungs are clear.\n \n No effusion.\n')
    sections, names, starts = section_text(report)
    assert names == ['preamble', 'indication', 'comparison', 'last_paragraph']
    for text, start in zip(sections[:3], starts[:3]):
        assert report[start:start + len(text)] == text
    assert sections[2] == ' None.'  # \s takes one of the two spaces
    assert sections[3] == ' Lungs are clear.\n \n No effusion.\n'
    assert split_sections(report)['indication'] == 'Cough.'


def test_repeated_names_keep_the_last():
    report = ('\n FINDINGS:  one.\n IMPRESSION:  a.\n FINDINGS:  two.\n'
              ' IMPRESSION:  b.\n')
    assert split_sections(report)['findings'] == 'two.'
    assert extract_section(report, 'IMPRESSION') == 'b.'
    assert extract_findings(report) == 'two.'


def test_custom_rule_ids_accept_every_spelling():
    assert len(MIMIC_CXR_CUSTOM_RULE_STUDIES) == 54
    report = '\n FINDINGS:  Lungs are clear.\n'
    for study in (50913680, '50913680', 's50913680'):
        assert extract_findings(report, study) is None
    assert extract_findings(report) == 'Lungs are clear.'


@pytest.mark.parametrize('dataset,report,expected', [
    # numbering dropped, sentences split on '. ', the last dot stripped
    ('mimic_cxr', '1. No effusion. 2. Lungs clear.',
     'no effusion . lungs clear .'),
    # hyphens survive R2Gen's class (its '-' is a range ':'..'['), '<=>@' go
    ('mimic_cxr', 'Right-sided PICC <5 cm, a=b @ x.',
     'right-sided picc 5 cm ab  x .'),
    ('mimic_cxr', 'Heart  normal..\nLungs__clear', 'heart normal . lungsclear .'),
    # empty sentences are kept, an empty report gives ' .'
    ('mimic_cxr', 'A. . B', 'a .  . b .'),
    ('mimic_cxr', '', ' .'),
    ('iu_xray', 'The heart is normal.. The lungs\nare clear.',
     'the heart is normal . the lungs\nare clear .'),
    ('iu_xray', "Patient's \"XXXX\" (r/o) effusion.", 'patients xxxx ro effusion .'),
])
def test_clean_report_matches_r2gen(dataset, report, expected):
    assert clean_report(report, dataset) == expected


def test_clean_report_unknown_dataset():
    with pytest.raises(ValueError, match='iu_xray'):
        clean_report('x', 'chexpert')
