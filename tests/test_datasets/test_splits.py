"""The split protocols: Chest ImaGenome's (RGRG), MIMIC-CXR's, the gold set
and R2Gen's annotation.json, on the twin and on a hand-written real-layout
sample."""
import json
import os
import os.path as osp

import pytest
from real_layout import (AVOIDED, FINDINGS, IMAGES, REAL_BOXES, REAL_SIZE,
                         write_real_layout_sample)

from crrg.datasets import ChestImaGenomeDataset, R2GenMimicCxrDataset
from crrg.structures import ANATOMICAL_REGIONS, clean_report
from crrg.utils import DataFormatError


@pytest.fixture(scope='module')
def real_sample(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('real_layout'))
    write_real_layout_sample(root)
    return root


def _ids(dataset):
    return [dataset.get_data_info(i)['img_id'] for i in range(len(dataset))]


def test_imagenome_protocol_on_real_layout(real_sample):
    train = ChestImaGenomeDataset(data_root=real_sample, split='train',
                                  split_protocol='imagenome',
                                  require_findings=False, pipeline=[])
    # images_to_avoid.csv drops the gold-standard patient's image
    assert _ids(train) == [IMAGES[0][0]]
    assert train.split_counts['avoided'] == 1
    info = train.get_data_info(0)
    assert info['gt_report'] == FINDINGS
    assert (info['width'], info['height']) == REAL_SIZE
    assert len(info['instances']) == 29
    test = ChestImaGenomeDataset(data_root=real_sample, split='test',
                                 split_protocol='imagenome', test_mode=True,
                                 pipeline=[])
    # RGRG's failed X-ray is ignored, the study without FINDINGS filtered
    assert _ids(test) == [IMAGES[3][0]]
    assert test.split_counts == dict(
        listed=3, avoided=0, ignored=1, skipped=0, **{'no FINDINGS': 1},
        kept=1, all_29_regions=1, boxes_degenerate=0, boxes_reversed=0)
    valid = dict(data_root=real_sample, split='valid',
                 split_protocol='imagenome', test_mode=True, pipeline=[])
    assert len(ChestImaGenomeDataset(**valid)) == 1
    # RGRG's valid set keeps only images with all 29 regions
    with pytest.raises(DataFormatError, match="split 'valid'") as err:
        ChestImaGenomeDataset(require_all_regions=True, **valid)
    assert 'fewer than 29 boxes 1' in str(err.value)
    assert 'require_all_regions' in str(err.value)


def test_imagenome_split_without_view_column(tmp_path):
    # RGRG reads only subject_id, study_id, dicom_id and path of the split
    # files; the view comes from MIMIC-CXR-JPG's metadata
    import pandas as pd
    write_real_layout_sample(str(tmp_path))
    split_csv = osp.join(tmp_path, 'chest-imagenome', 'silver_dataset',
                         'splits', 'test.csv')
    table = pd.read_csv(split_csv)
    table.drop(columns=['ViewPosition']).to_csv(split_csv, index=False)
    test = ChestImaGenomeDataset(data_root=str(tmp_path), split='test',
                                 split_protocol='imagenome', test_mode=True,
                                 pipeline=[])
    assert _ids(test) == [IMAGES[3][0]]


def test_mimic_protocol_on_real_layout(real_sample):
    # the config names .csv.gz; the plain .csv copies are found
    dataset = ChestImaGenomeDataset(data_root=real_sample, split='train',
                                    pipeline=[])
    assert dataset.split_file.endswith('.csv.gz')
    assert _ids(dataset) == [IMAGES[0][0], IMAGES[1][0]]
    test = ChestImaGenomeDataset(data_root=real_sample, split='test',
                                 pipeline=[], test_mode=True)
    assert len(test) == 2 and test.split_counts['no FINDINGS'] == 1


def test_gold_split(real_sample):
    gold = ChestImaGenomeDataset(data_root=real_sample, split='gold',
                                 split_protocol='imagenome', test_mode=True,
                                 pipeline=[])
    assert _ids(gold) == [AVOIDED]
    info = gold.get_data_info(0)
    names = list(REAL_BOXES)[::3]
    assert [ANATOMICAL_REGIONS[i['bbox_label']]
            for i in info['instances']] == names
    for inst in info['instances']:
        x1, y1, x2, y2 = REAL_BOXES[ANATOMICAL_REGIONS[inst['bbox_label']]]
        assert inst['bbox'] == [max(x1 + 5, 0), max(y1, 0),
                                min(x2 - 5, REAL_SIZE[0]),
                                min(y2, REAL_SIZE[1])]
    # sentences from the silver scene graph
    assert info['region_has_sentence'][0]
    with pytest.raises(ValueError, match='gold'):
        ChestImaGenomeDataset(data_root=real_sample, split='gold',
                              pipeline=[])


def test_no_usable_image_names_the_split(tmp_path):
    write_real_layout_sample(str(tmp_path))
    for dicom, study, *_ in IMAGES:
        if study != IMAGES[3][1]:
            continue
        os.remove(osp.join(tmp_path, 'mimic-cxr-jpg', 'files', 'p10',
                           'p10000032', f's{study}', f'{dicom}.jpg'))
    kwargs = dict(data_root=str(tmp_path), split='test',
                  split_protocol='imagenome', test_mode=True, pipeline=[])
    with pytest.raises(FileNotFoundError, match=IMAGES[3][0]):
        ChestImaGenomeDataset(**kwargs)
    with pytest.raises(DataFormatError) as err:
        ChestImaGenomeDataset(skip_invalid=True, **kwargs)
    assert "no usable image in split 'test'" in str(err.value)
    assert 'image file not found' in str(err.value)
    os.remove(osp.join(tmp_path, 'chest-imagenome', 'silver_dataset',
                       'splits', 'images_to_avoid.csv'))
    with pytest.raises(FileNotFoundError, match='images_to_avoid=None'):
        ChestImaGenomeDataset(**kwargs)


def test_non_utf8_report_named_or_counted(tmp_path):
    write_real_layout_sample(str(tmp_path))
    dicom, study = IMAGES[0][:2]
    report = osp.join(tmp_path, 'mimic-cxr-reports', 'files', 'p10',
                      'p10000032', f's{study}.txt')
    with open(report, 'rb') as f:
        data = f.read()
    with open(report, 'wb') as f:
        f.write(data.replace(b'ascites', b'asc\xeftes'))
    kwargs = dict(data_root=str(tmp_path), split='train', pipeline=[])
    with pytest.raises(DataFormatError) as err:
        ChestImaGenomeDataset(**kwargs)
    assert report in str(err.value) and 'not UTF-8' in str(err.value)
    lenient = ChestImaGenomeDataset(skip_invalid=True, **kwargs)
    assert lenient.num_skipped == 1 and _ids(lenient) == [IMAGES[1][0]]


def test_bad_metadata_size_is_named(tmp_path):
    write_real_layout_sample(str(tmp_path))
    meta = osp.join(tmp_path, 'mimic-cxr-jpg', 'mimic-cxr-2.0.0-metadata.csv')
    lines = open(meta, encoding='utf-8').read().splitlines()
    lines[1] = lines[1].replace(',3056,2544,', ',,2544,')
    open(meta, 'w', encoding='utf-8').write('\n'.join(lines) + '\n')
    with pytest.raises(DataFormatError, match='"Rows"') as err:
        ChestImaGenomeDataset(data_root=str(tmp_path), split='train',
                              pipeline=[])
    assert IMAGES[0][0] in str(err.value)


def test_imagenome_protocol_on_twin(synthetic_twin):
    root, counts = synthetic_twin
    by_protocol = {}
    for protocol in ('imagenome', 'mimic'):
        dataset = ChestImaGenomeDataset(
            data_root=str(root), split='train', split_protocol=protocol,
            skip_invalid=True, pipeline=[])
        by_protocol[protocol] = set(_ids(dataset))
    assert counts['avoided'] == 1
    # the same frontal images, less the one in images_to_avoid.csv
    assert len(by_protocol['mimic'] - by_protocol['imagenome']) == 1
    assert by_protocol['imagenome'] < by_protocol['mimic']
    for split in ('valid', 'test'):
        dataset = ChestImaGenomeDataset(
            data_root=str(root), split=split, split_protocol='imagenome',
            test_mode=True, skip_invalid=True, pipeline=[])
        assert len(dataset) + dataset.split_counts.get('no FINDINGS', 0) == 4


@pytest.mark.parametrize('reference', ['r2gen', 'clean', 'raw'])
def test_r2gen_annotation_on_real_layout(real_sample, reference):
    dataset = R2GenMimicCxrDataset(data_root=real_sample, split='train',
                                   reference=reference, threshold=2)
    assert len(dataset) == 2
    info = dataset.get_data_info(0)
    assert info['img_path'].endswith(f'/s{IMAGES[0][1]}/{IMAGES[0][0]}.jpg')
    assert osp.isfile(info['img_path'])
    assert info['study_id'] == IMAGES[0][1]
    if reference == 'raw':
        assert info['gt_report'] == FINDINGS
    elif reference == 'clean':
        assert info['gt_report'] == clean_report(FINDINGS)
    else:
        # every token occurs twice in train (threshold 2): no <unk>
        assert info['gt_report'] == ' '.join(clean_report(FINDINGS).split())
    test = R2GenMimicCxrDataset(data_root=real_sample, split='test',
                                reference=reference, threshold=3)
    if reference == 'r2gen':
        # train holds the report twice: tokens it has once are <unk>
        tokens = clean_report(FINDINGS).split()
        expected = [t if tokens.count(t) > 1 else '<unk>' for t in tokens]
        assert test.get_data_info(0)['gt_report'].split() == expected
        assert 'the' in expected and '<unk>' in expected


def test_r2gen_reference_is_truncated(real_sample):
    dataset = R2GenMimicCxrDataset(data_root=real_sample, split='val',
                                   threshold=1, max_seq_length=5)
    assert dataset.get_data_info(0)['gt_report'] == (
        'there is no focal')


def test_r2gen_twin_and_bad_entries(synthetic_twin, tmp_path):
    root, counts = synthetic_twin
    ann = osp.join(root, 'mimic-cxr-r2gen', 'annotation.json')
    annotation = json.load(open(ann, encoding='utf-8'))
    total = sum(len(v) for v in annotation.values())
    assert total == counts['studies'] - counts['no_findings']
    test = R2GenMimicCxrDataset(data_root=str(root), split='test')
    assert len(test) == len(annotation['test'])
    annotation['test'][0]['image_path'] = ['p10/missing.jpg']
    bad = tmp_path / 'annotation.json'
    bad.write_text(json.dumps(annotation), encoding='utf-8')
    kwargs = dict(data_root=str(root), split='test', ann_file=str(bad))
    with pytest.raises(DataFormatError, match=r'test\[0\]'):
        R2GenMimicCxrDataset(**kwargs)
    lenient = R2GenMimicCxrDataset(skip_invalid=True, **kwargs)
    assert lenient.num_skipped == 1
    assert len(lenient) == len(annotation['test']) - 1


@pytest.mark.parametrize('config,split', [
    ('mimic_cxr_r2gen_report.py', 'test'),
    ('chest_imagenome_detection.py', 'train'),
    ('chest_imagenome_detection.py', 'test')])
def test_dataset_configs_build_on_twin(synthetic_twin, config, split):
    from mmengine.config import Config

    from crrg.registry import DATASETS
    root, _ = synthetic_twin
    cfg = Config.fromfile(osp.join('configs', '_base_', 'datasets', config))
    loader = cfg.train_dataloader if split == 'train' else cfg.test_dataloader
    dataset_cfg = dict(loader.dataset, data_root=str(root) + '/')
    if config.startswith('chest'):
        assert dataset_cfg['split_protocol'] == 'imagenome'
        dataset_cfg.update(skip_invalid=True, require_all_regions=False)
    dataset = DATASETS.build(dataset_cfg)
    assert len(dataset) > 0
    item = dataset[0]
    assert item['data_samples'].gt_report or split == 'train'


def test_non_utf8_tables_and_annotation_are_named(tmp_path):
    write_real_layout_sample(str(tmp_path))
    split_csv = osp.join(tmp_path, 'chest-imagenome', 'silver_dataset',
                         'splits', 'train.csv')
    with open(split_csv, 'ab') as f:
        f.write(b'9,10000032,50000000,caf\xe9,files/x.dcm,PA\n')
    with pytest.raises(DataFormatError, match='UTF-8') as err:
        ChestImaGenomeDataset(data_root=str(tmp_path), split='train',
                              split_protocol='imagenome', pipeline=[])
    assert split_csv in str(err.value)
    ann = osp.join(tmp_path, 'mimic-cxr-r2gen', 'annotation.json')
    with open(ann, 'rb') as f:
        data = f.read()
    with open(ann, 'wb') as f:
        f.write(data.replace(b'nipple', b'n\xefpple', 1))
    with pytest.raises(DataFormatError, match='UTF-8') as err:
        R2GenMimicCxrDataset(data_root=str(tmp_path), split='train')
    assert ann in str(err.value)
