"""Report texts in MIMIC-CXR's layout, one per header variant or rule of the
official MIMIC-CXR section parser and RGRG's reference-report choice, each
with the FINDINGS text RGRG takes (None: the study gives no reference)."""

_TOP = '                                 FINAL REPORT\n'
_EXAM = (' EXAMINATION:  CHEST (PA AND LAT)\n \n'
         ' INDICATION:  ___F with cough, evaluate for pneumonia.\n \n'
         ' COMPARISON:  ___.\n \n')


def _report(*sections: str) -> str:
    return _TOP + _EXAM + '\n \n'.join(sections) + '\n'


#: (case name, report text, study_id, expected FINDINGS or None)
CASES = [
    ('standard',
     _report(' FINDINGS:\n \n The lungs are clear.  There is no pleural\n'
             ' effusion or pneumothorax.',
             ' IMPRESSION:\n \n No acute cardiopulmonary process.'),
     50000001,
     'The lungs are clear. There is no pleural effusion or pneumothorax.'),
    ('same_line_text',
     _report(' FINDINGS:  Heart size is normal.\n Lungs are clear.',
             ' IMPRESSION:  Normal chest.'), 50000002,
     'Heart size is normal. Lungs are clear.'),
    ('typo_findngs',
     _report(' FINDNGS:\n \n No focal consolidation.',
             ' IMPRESSION:\n \n Normal.'), 50000003,
     'No focal consolidation.'),
    ('typo_finding',
     _report(' FINDING:  Mild cardiomegaly.', ' IMPRESSION:  Cardiomegaly.'),
     50000004, 'Mild cardiomegaly.'),
    ('typo_finidngs',
     _report(' FINIDNGS:  Small left effusion.', ' IMPRESSON:  Effusion.'),
     50000005, 'Small left effusion.'),
    ('reference_findings',
     _report(' REFERENCE FINDINGS:  Stable line position.'), 50000006,
     'Stable line position.'),
    ('findings_with_qualifier',
     _report(' FINDINGS (PA AND LATERAL):  Lungs are hyperinflated.',
             ' IMPRESSION:  COPD.'), 50000007, 'Lungs are hyperinflated.'),
    ('view_header_table_chest_two_views',
     (_TOP + ' INDICATION:  Cough.\n \n'
              ' CHEST, TWO VIEWS:  The lungs are clear.\n \n'
              ' IMPRESSION:  No pneumonia.\n'), 50000008,
     'The lungs are clear.'),
    ('view_header_portable_ap_chest',
     _TOP + ' INDICATION:  Line placement.\n \n'
     ' PORTABLE AP CHEST:  Right IJ line ends in the SVC.\n \n'
     ' IMPRESSION:  Line in good position.\n', 50000009,
     'Right IJ line ends in the SVC.'),
    ('view_header_pa_and_lateral_views',
     _TOP + ' HISTORY:  Fever.\n \n'
     ' PA AND LATERAL VIEWS OF THE CHEST:\n \n No consolidation.\n', 50000010,
     'No consolidation.'),
    ('view_header_chest_pa_and_lateral',
     _TOP + ' CHEST, PA AND LATERAL:  Heart is top normal.\n', 50000011,
     'Heart is top normal.'),
    ('view_header_ap_view',
     _TOP + ' SINGLE AP VIEW:  Endotracheal tube 4 cm above the carina.\n',
     50000012, 'Endotracheal tube 4 cm above the carina.'),
    ('view_header_naming_history_is_history',
     _TOP + ' PA AND LATERAL CHEST, HISTORY:  Dyspnea.\n \n'
     ' IMPRESSION:  Clear.\n', 50000013, None),
    ('findings_and_impression_is_impression',
     _report(' FINDINGS AND IMPRESSION:  No acute process.'), 50000014, None),
    ('findings_slash_impression_is_impression',
     _report(' FINDINGS/IMPRESSION:  No acute process.'), 50000015, None),
    ('impression_only',
     _report(' IMPRESSION:  No acute cardiopulmonary process.'), 50000016,
     None),
    ('no_header_at_all',
     'Lungs are clear.  No effusion.\n \n No pneumothorax.\n', 50000017,
     None),
    ('header_at_text_start_is_no_header',
     'FINDINGS:  Lungs are clear.\n', 50000018, None),
    ('lower_case_header_is_text',
     _report(' Findings:  Lungs are clear.'), 50000019, None),
    ('header_without_space_after_colon',
     _report(' FINDINGS:Lungs are clear.'), 50000020, None),
    ('repeated_findings_last_wins',
     _report(' FINDINGS:  Prior read: lungs clear.',
             ' IMPRESSION:  Clear.',
             ' FINDINGS:  Final read: small right effusion.'), 50000021,
     'Final read: small right effusion.'),
    ('repeated_findings_last_empty',
     _report(' FINDINGS:  Lungs are clear.', ' FINDINGS:\n \n',
             ' IMPRESSION:  Clear.'), 50000022, 'Lungs are clear.'),
    ('empty_findings',
     _report(' FINDINGS:\n \n', ' IMPRESSION:  No change.'), 50000023, None),
    ('empty_view_title_then_findings',
     _TOP + ' CHEST, PA LATERAL:\n \n INDICATION:  Cough.\n \n'
     ' FINDINGS:  Lungs are clear.\n', 50000024, 'Lungs are clear.'),
    ('header_on_next_line_is_swallowed',
     _report(' FINDINGS:\n IMPRESSION:  No change.'), 50000025,
     'IMPRESSION: No change.'),
    ('findings_end_at_technique_and_notification',
     _report(' FINDINGS:  Lungs are clear.', ' NOTIFICATION:  Called.',
             ' TECHNIQUE:  PA.'), 50000026, 'Lungs are clear.'),
    ('wet_read_is_not_findings',
     ' WET READ: ___ ___ 8:19 AM\n  No pneumothorax.\n' + _report(
         ' FINDINGS:  No pneumothorax.  Stable effusion.'), 50000027,
     'No pneumothorax. Stable effusion.'),
    ('addendum_first',
     '                                 FINAL ADDENDUM\n ADDENDUM:\n \n'
     ' Findings were discussed with Dr. ___.\n' + _report(
         ' FINDINGS:  Left lower lobe opacity.', ' IMPRESSION:  Pneumonia.'),
     50000028, 'Left lower lobe opacity.'),
    ('addendum_after_findings',
     _report(' FINDINGS:  Mild edema.', ' ADDENDUM:  Edema is new.'),
     50000029, 'Mild edema.'),
    ('final_addendum_header',
     _report(' FINDINGS:  Mild edema.', ' FINAL ADDENDUM:  Reviewed.'),
     50000030, 'Mild edema.'),
    ('conclusion_is_impression',
     _report(' CONCLUSION:  Normal.'), 50000031, None),
    ('colon_inside_text',
     _report(' FINDINGS:  Lines: the PICC ends in the SVC.\n Heart: normal.'),
     50000032, 'Lines: the PICC ends in the SVC. Heart: normal.'),
    ('custom_rule_study_skipped',
     _report(' FINDINGS:  Lungs are clear.'), 50913680, None),
    ('custom_indices_study_skipped',
     _report(' FINDINGS:  Lungs are clear.'), 50525523, None),
    ('custom_no_findings_study_skipped',
     _report(' FINDINGS:  Lungs are clear.'), 58235663, None),
    ('tabs_and_runs_of_space',
     _report(' FINDINGS:\t Lungs\tare   clear.\n \n \n  No effusion.'),
     50000036, 'Lungs are clear. No effusion.'),
]
