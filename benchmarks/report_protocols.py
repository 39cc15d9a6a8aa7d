"""How much the scoring protocol moves report metrics, on real reports.

Gives every one of the real IU X-ray (Open-I) reports that has a FINDINGS
section the most common FINDINGS text as its "generated" report (a constant
report) and scores the lot under each scoring protocol of
:mod:`crrg.evaluation.metrics.report_metric` (R2Gen's cleaning with its IU
X-ray and MIMIC-CXR variants, RGRG's tokenisation, white space only). The
reports come from ``torchxrayvision==1.5.7``'s wheel
(``python tools/fetch_real_data.py`` caches it; nothing else is read).

    python benchmarks/report_protocols.py
"""
import argparse
from collections import Counter

from crrg.datasets.iu_xray import read_openi_reports
from crrg.evaluation.metrics.report_metric import (METRIC_KEYS,
                                                   protocol_name,
                                                   score_reports)
from crrg.utils.real_data import real_data_file

PROTOCOLS = (('r2gen', 'iu_xray'), ('r2gen', 'mimic_cxr'),
             ('rgrg', 'mimic_cxr'), ('none', 'mimic_cxr'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    path = real_data_file('iu_xray_reports')
    if path is None:
        raise SystemExit('report_protocols: the IU X-ray reports are not '
                         'cached; run python tools/fetch_real_data.py')
    findings = {r['uid']: r['findings'] for r in read_openi_reports(path)
                if r['findings']}
    constant, count = Counter(findings.values()).most_common(1)[0]
    print(f'{len(findings)} IU X-ray reports with FINDINGS; constant report '
          f'({count} of them): {constant!r}')
    print('| protocol | ' + ' | '.join(METRIC_KEYS) + ' |')
    print('|---' * (len(METRIC_KEYS) + 1) + '|')
    for protocol, dataset in PROTOCOLS:
        scores = score_reports({i: constant for i in findings}, findings,
                               protocol, dataset)
        print(f'| {protocol_name(protocol, dataset)} | ' +
              ' | '.join(f'{scores[k]:.3f}' for k in METRIC_KEYS) + ' |')


if __name__ == '__main__':
    main()
