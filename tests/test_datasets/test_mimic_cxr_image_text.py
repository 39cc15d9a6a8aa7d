import json
import os.path as osp
import random
import re

import pytest
import torch
from mmengine.dataset import default_collate

from crrg.datasets.mimic_cxr_image_text import read_generated_reports
from crrg.utils import DataFormatError
from crrg.datasets.mimic_cxr import FRONTAL_VIEWS, load_image_records
from crrg.registry import DATASETS, MODELS, TRANSFORMS

VIEW_PIPELINE = [
    dict(type='LoadImageFromFile', color_type='color'),
    dict(type='mmpretrain.RandomResizedCrop', scale=32),
]
PIPELINE = [
    dict(type='MultiImageViews', transforms=VIEW_PIPELINE),
    dict(type='SampleTextViews', random_draw=True),
    dict(type='RandomSentenceShuffle', index=1, prob=0.5),
    dict(type='mmpretrain.PackInputs', meta_keys=('texts', 'study_id')),
]


def build(root, **kwargs):
    return DATASETS.build(
        dict(type='MimicCxrImageTextDataset', data_root=str(root), **kwargs))


def test_one_sample_per_study_with_second_real_view(synthetic_twin):
    root, _ = synthetic_twin
    dataset = build(root)
    records = load_image_records(
        osp.join(root, 'mimic-cxr-jpg/mimic-cxr-2.0.0-split.csv.gz'),
        osp.join(root, 'mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz'),
        'train', view_positions=None)
    views = {}
    for r in records:
        views.setdefault(r['study_id'], []).append(r)
    with_lateral = {s for s, rs in views.items() if len(rs) > 1}
    assert len(dataset) == len(views) == 12 and with_lateral
    for info in (dataset.get_data_info(i) for i in range(len(dataset))):
        first, second = info['img_paths']
        frontal = [r for r in views[info['study_id']]
                   if r['view_position'] in FRONTAL_VIEWS][0]
        assert first.endswith(frontal['dicom_id'] + '.jpg')
        assert (first != second) == (info['study_id'] in with_lateral)
        assert osp.isfile(first) and osp.isfile(second)
        assert 1 <= len(info['texts']) <= 2
    augment = build(root, image_views='augment')
    assert all(a == b for a, b in (
        augment.get_data_info(i)['img_paths'] for i in range(len(augment))))


def test_texts_are_findings_then_impression(synthetic_twin):
    root, _ = synthetic_twin
    info = build(root).get_data_info(0)
    report = open(osp.join(
        root, 'mimic-cxr-reports', 'files',
        f'p{str(info["subject_id"])[:2]}', f'p{info["subject_id"]}',
        f's{info["study_id"]}.txt')).read()
    findings, impression = info['texts']
    assert findings.split()[0] in report.split('FINDINGS:')[1]
    assert impression.split()[0] in report.split('IMPRESSION:')[1]


def test_generated_report_file_replaces_reference(synthetic_twin, tmp_path):
    root, _ = synthetic_twin
    studies = [build(root).get_data_info(i)['study_id'] for i in range(12)]
    path = tmp_path / 'reports.jsonl'
    path.write_text('\n'.join(
        json.dumps(dict(study_id=s, report=f'generated {s}.'))
        for s in studies) + '\n')
    dataset = build(root, report_file=str(path))
    assert dataset.get_data_info(3)['texts'] == [f'generated {studies[3]}.']
    path.write_text('\n'.join(
        json.dumps(dict(study_id=s, report='x')) for s in studies[1:]))
    with pytest.raises(DataFormatError, match=f'reports.jsonl.*{studies[0]}'):
        build(root, report_file=str(path))
    path.write_text(json.dumps(dict(study_id=1)) + '\n')
    with pytest.raises(DataFormatError, match="line 1 has no field 'report'"):
        read_generated_reports(str(path))


def test_view_transforms():
    random.seed(0)
    texts = dict(texts=['A b. C d. E f.', 'Only one.'])
    fixed = TRANSFORMS.build(dict(type='SampleTextViews', random_draw=False))
    assert fixed(dict(texts=['x']))['texts'] == ['x', 'x']
    assert fixed(dict(texts))['texts'] == texts['texts']
    drawn = TRANSFORMS.build(dict(type='SampleTextViews'))
    seen = {tuple(drawn(dict(texts))['texts']) for _ in range(50)}
    assert len(seen) == 4
    shuffle = TRANSFORMS.build(dict(type='RandomSentenceShuffle', index=0,
                                    prob=1.0))
    outs = {shuffle(dict(texts))['texts'][0] for _ in range(30)}
    assert len(outs) > 1
    assert all(sorted(re.split(r'(?<=\.)\s+', o)) == ['A b.', 'C d.', 'E f.']
               for o in outs)


def test_pipeline_batch_trains_rclip(synthetic_twin, tmp_path):
    from crrg.models.utils import train_wordpiece_tokenizer
    root, _ = synthetic_twin
    dataset = build(root, pipeline=PIPELINE)
    samples = [dataset[i] for i in range(4)]
    assert len(samples[0]['inputs']) == 2
    assert samples[0]['inputs'][0].shape == (3, 32, 32)
    texts = [t for i in range(len(dataset))
             for t in build(root).get_data_info(i)['texts']]
    train_wordpiece_tokenizer(texts, str(tmp_path / 'tok'), 200)
    model = MODELS.build(dict(
        type='RCLIP',
        backbone=dict(type='mmpretrain.ResNet', depth=18, base_channels=8),
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        text_encoder=dict(type='HFTextEncoder', tokenizer=str(tmp_path / 'tok'),
                          bert_config=dict(hidden_size=32, num_hidden_layers=1,
                                           num_attention_heads=2,
                                           intermediate_size=64)),
        image_channels=64, embed_dim=16))
    data = model.data_preprocessor(default_collate(samples), training=True)
    assert [v.shape for v in data['inputs']] == [(4, 3, 32, 32)] * 2
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())


def test_non_utf8_report_is_named_or_counted(synthetic_twin, tmp_path):
    import shutil
    root, _ = synthetic_twin
    copy = tmp_path / 'twin'
    shutil.copytree(root, copy)
    info = build(copy).get_data_info(0)
    study, subject = info['study_id'], info['subject_id']
    from crrg.datasets.mimic_cxr import report_path
    path = osp.join(copy, 'mimic-cxr-reports', report_path(subject, study))
    with open(path, 'ab') as f:
        f.write(b'\n FINDINGS: caf\xe9 \xff\n')
    with pytest.raises(DataFormatError, match=re.escape(path)):
        build(copy)
    dataset = build(copy, skip_invalid=True)
    assert dataset.num_skipped == 1
    assert study not in {
        dataset.get_data_info(i)['study_id'] for i in range(len(dataset))}
    assert len(dataset) == len(build(root)) - 1
