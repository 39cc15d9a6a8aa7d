"""CLIPInferencer: tools/test.py's zero-shot probabilities, any prompts,
embeddings, retrieval, one decode per image, refusals."""
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_report_models import DECODES
from mmengine.config import Config

from crrg.apis import CLIPInferencer
from crrg.registry import MODELS
from crrg.datasets.synthetic import make_synthetic_rsna
from crrg.models.utils import train_wordpiece_tokenizer
from crrg.datasets.synthetic.rsna import write_dicom

REPO = Path(__file__).resolve().parents[2]
ZERO_SHOT_CFG = str(REPO / 'configs/rclip/rclip_tiny_zero-shot_rsna_synthetic.py')
RETRIEVAL_CFG = str(REPO / 'configs/rclip/rclip_tiny_synthetic.py')
PROMPTS = ['No acute cardiopulmonary process.', 'Opacity in the lung.']


@pytest.fixture(scope='module')
def clip_setup(tmp_path_factory):
    """A random tiny R-CLIP checkpoint, its tokenizer and a small RSNA twin."""
    work = tmp_path_factory.mktemp('clip')
    tokenizer = str(work / 'tokenizer')
    train_wordpiece_tokenizer(
        ['no acute cardiopulmonary process', 'opacity in the lung',
         'the heart is normal', 'small left pleural effusion'] * 10,
        tokenizer, vocab_size=200)
    option = {'model.text_encoder.tokenizer': tokenizer}
    cfg = Config.fromfile(ZERO_SHOT_CFG)
    cfg.merge_from_dict(option)
    torch.manual_seed(0)
    checkpoint = str(work / 'rclip.pth')
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict(),
                'meta': {}}, checkpoint)
    rsna = work / 'rsna'
    make_synthetic_rsna(str(rsna), num_patients=40, image_size=64)
    return dict(work=work, tokenizer=tokenizer, option=option,
                checkpoint=checkpoint, rsna=rsna, cfg=cfg)


@pytest.fixture(scope='module')
def clip(clip_setup):
    return CLIPInferencer(clip_setup['cfg'], clip_setup['checkpoint'])


def test_zero_shot_probabilities_are_those_of_the_test_loop(clip_setup,
                                                           clip):
    """The config's test loop as tools/test.py runs it (mmengine's Runner,
    strict loading, the RSNA twin's test split, BinaryClassificationMetric)
    and CLIPInferencer on the same files give the same probabilities."""
    from mmengine.evaluator import DumpResults
    from mmengine.runner import Runner
    from sklearn.metrics import roc_auc_score

    from crrg.utils import load_model_checkpoint
    setup = clip_setup
    cfg = Config.fromfile(ZERO_SHOT_CFG)
    cfg.merge_from_dict(dict(
        setup['option'], work_dir=str(setup['work'] / 'run'),
        **{'test_dataloader.dataset.data_root': f'{setup["rsna"]}/'}))
    runner = Runner.from_cfg(cfg)
    load_model_checkpoint(runner.model, setup['checkpoint'])
    out = setup['work'] / 'preds.pkl'
    runner.test_evaluator.metrics.append(DumpResults(out_file_path=str(out)))
    metrics = runner.test()
    with open(out, 'rb') as f:
        dumped = pickle.load(f)
    paths = [d['img_path'] for d in dumped]
    assert len(paths) >= 3 and all(p.endswith('.dcm') for p in paths)
    expected = np.stack([np.asarray(d['pred_score']) for d in dumped])
    result = clip(paths, batch_size=4)
    assert result['prompts'] == PROMPTS  # the config's own
    got = np.array([p['scores'] for p in result['predictions']])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert [p['label'] for p in result['predictions']] == list(
        expected.argmax(axis=1))
    labels = [int(np.asarray(d['gt_label']).flatten()[0]) for d in dumped]
    assert set(labels) == {0, 1}
    assert roc_auc_score(labels, got[:, 1]) == pytest.approx(
        metrics['binary/auc'])


def test_any_prompts_and_embeddings(clip, clip_setup):
    paths = sorted(str(p) for p in
                   (clip_setup['rsna'] / 'stage_2_train_images').glob('*.dcm')
                   )[:3]
    prompts = ['the heart is normal', 'small left pleural effusion',
               'opacity in the lung']
    out = clip(paths, prompts=prompts, return_embeddings=True)
    assert out['prompts'] == prompts
    model = clip.model
    texts = clip.embed_texts(prompts)
    assert texts.shape == (3, model.image_projection.out_features)
    torch.testing.assert_close(texts.norm(dim=1), torch.ones(3))
    for pred in out['predictions']:
        assert pred['status'] == 'ok' and len(pred['scores']) == 3
        embedding = torch.tensor(pred['embedding'])
        assert abs(float(embedding.norm()) - 1) < 1e-5
        expected = model.zero_shot_probs(embedding[None], texts)[0]
        np.testing.assert_allclose(pred['scores'], expected.numpy(),
                                   atol=1e-6)
        assert pred['label'] == int(np.argmax(pred['scores']))
    images = clip.embed_images(paths)
    np.testing.assert_allclose(
        images.numpy(), [p['embedding'] for p in out['predictions']],
        atol=1e-6)
    with pytest.raises(ValueError, match='at least 2'):
        clip(paths, prompts=['only one'])


def test_retrieval_against_reports_and_images(clip, clip_setup):
    paths = sorted(str(p) for p in
                   (clip_setup['rsna'] / 'stage_2_train_images').glob('*.dcm')
                   )[:4]
    reports = ['the heart is normal', 'small left pleural effusion',
               'opacity in the lung']
    (hits, ) = clip.retrieve(paths[0], reports=reports, top_k=2)
    assert len(hits) == 2 and hits[0]['score'] >= hits[1]['score']
    sims = (clip.embed_images(paths[:1]) @ clip.embed_texts(reports).T)[0]
    assert hits[0]['index'] == int(sims.argmax())
    assert hits[0]['item'] == reports[hits[0]['index']]
    # against a gallery of images (a folder): each query finds itself
    found = clip.retrieve(paths[:2], images=str(
        clip_setup['rsna'] / 'stage_2_train_images'), top_k=3)
    for query, row in zip(paths, found):
        assert row[0]['item'] == query and row[0]['score'] > 0.999
    with pytest.raises(ValueError, match='one gallery'):
        clip.retrieve(paths, top_k=1)


def test_a_retrieval_config_and_one_decode_per_image(clip_setup, tmp_path):
    """A plain RCLIP config, whose test pipeline is wrapped in
    MultiImageViews with text transforms, serves image inputs; prompts are
    then required. The image is decoded once however it is used."""
    cfg = Config.fromfile(RETRIEVAL_CFG)
    cfg.merge_from_dict(clip_setup['option'])
    cfg.test_dataloader.dataset.pipeline[0].transforms[0].type = \
        'CountingXrayLoader'
    clip = CLIPInferencer(cfg, clip_setup['checkpoint'])
    path = str(next((clip_setup['rsna'] / 'stage_2_train_images').glob(
        '*.dcm')))
    with pytest.raises(ValueError, match='no prompts'):
        clip(path)
    DECODES.clear()
    loaded = clip.load(path)
    out = clip(loaded, prompts=PROMPTS, return_embeddings=True)
    embeds = clip.embed_images([loaded])
    assert DECODES[path] == 1
    np.testing.assert_allclose(out['predictions'][0]['embedding'],
                               embeds[0].numpy(), atol=1e-6)


def test_non_chest_images_are_refused(clip, tmp_path):
    import pydicom
    path = tmp_path / 'knee.dcm'
    write_dicom(str(path), np.full((64, 64), 100, np.uint8), 'patient')
    ds = pydicom.dcmread(str(path))
    ds.BodyPartExamined = 'KNEE'
    ds.save_as(str(path))
    (pred, ) = clip(str(path))['predictions']
    assert pred['status'] == 'refused' and 'KNEE' in pred['refusal']
    assert pred['scores'] == [] and pred['label'] is None
    with pytest.raises(ValueError, match='not a frontal chest'):
        clip.embed_images(str(path))
