"""The 3,955 original IU X-ray (Open-I) reports that torchxrayvision 1.5.7's
wheel carries (``NLMCXR_reports.tgz``), read by crrg's Open-I reader."""
import html
import re
import tarfile

import pytest

from crrg.datasets import read_openi_reports
from crrg.datasets.iu_xray import (make_iu_xray_splits,
                                   openi_to_annotation_entries)
from crrg.structures import clean_report, normalize_whitespace
from crrg.testing.real_data import real_data_file_or_skip
from crrg.utils import DataFormatError

_FINDINGS = re.compile(
    rb'<AbstractText Label="FINDINGS"\s*(?:/>|>(.*?)</AbstractText>)', re.S)


@pytest.fixture(scope='module')
def archive():
    return real_data_file_or_skip('iu_xray_reports')


@pytest.fixture(scope='module')
def reports(archive):
    return read_openi_reports(archive)


@pytest.fixture(scope='module')
def raw_findings(archive):
    """uid -> FINDINGS text, read with a regex instead of an XML parser."""
    found = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            if not member.isfile():
                continue
            data = tar.extractfile(member).read()
            uid = re.search(rb'<uId id="([^"]+)"', data).group(1).decode()
            match = _FINDINGS.search(data)
            text = (match.group(1) or b'') if match else b''
            text = html.unescape(text.decode('utf-8')).replace('<BR>', ' ')
            found[uid] = normalize_whitespace(text)
    return found


def test_every_report_parsed(reports, raw_findings):
    assert len(reports) == 3955 == len(raw_findings)
    assert len({r['uid'] for r in reports}) == 3955
    assert [r['uid'] for r in reports[:3]] == ['CXR1', 'CXR2', 'CXR3']
    for report in reports:
        assert report['findings'] == raw_findings[report['uid']]
    empty = sum(not r['findings'] for r in reports)
    assert empty == sum(not t for t in raw_findings.values())
    assert 0 < empty < 3955 // 2
    assert sum(bool(r['impression']) for r in reports) > 3900
    assert sum(bool(r['mesh_major']) for r in reports) == 3955
    assert all(i.startswith(r['uid'] + '_') for r in reports
               for i in r['image_ids'])


def test_r2gen_cleaning_on_every_findings(reports):
    removed = re.compile(r'[.,?;*!%^&_+()\[\]{}:<=>@"/\\\']')
    for report in reports:
        if not report['findings']:
            continue
        cleaned = clean_report(report['findings'], 'iu_xray')
        assert cleaned.endswith(' .') and cleaned == cleaned.lower()
        for sentence in cleaned[:-2].split(' . '):
            assert not removed.search(sentence), (report['uid'], sentence)
    # the anonymisation token survives as a word, as in R2Gen's vocabulary
    assert any('xxxx' in clean_report(r['findings'], 'iu_xray').split()
               for r in reports)


def test_annotation_entries_and_split(reports):
    entries, counts = openi_to_annotation_entries(reports)
    # exactly the 2,955 studies of R2Gen's IU X-ray annotation (2,069 + 296 +
    # 590): R2Gen kept the reports with FINDINGS and two or more images
    assert counts['kept'] == len(entries) == 2069 + 296 + 590
    assert (counts['kept'] + counts['no_findings'] +
            counts['fewer_than_two_images'] == 3955)
    assert len({e['id'] for e in entries}) == len(entries)
    assert all(e['image_path'] == [f'{e["id"]}/0.png', f'{e["id"]}/1.png']
               for e in entries)
    splits = make_iu_xray_splits(entries, seed=0)
    sizes = [len(splits[s]) for s in ('train', 'val', 'test')]
    assert sum(sizes) == len(entries)
    assert sizes[0] == round(0.7 * len(entries))


def test_non_utf8_xml_named_or_counted(archive, tmp_path):
    with tarfile.open(archive) as tar:
        members = [m for m in tar if m.isfile()][:3]
        tar.extractall(tmp_path, members=members)
    victim = tmp_path / members[1].name
    victim.write_bytes(victim.read_bytes().replace(b'<uId', b'\xff\xfe<uId'))
    with pytest.raises(DataFormatError) as err:
        read_openi_reports(str(tmp_path))
    assert str(victim) in str(err.value)
    assert len(read_openi_reports(str(tmp_path), skip_invalid=True)) == 2
