import os
import tempfile

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmpretrain.structures import DataSample

from crrg.models.clip import HFTextEncoder
from crrg.models.utils import train_wordpiece_tokenizer
from crrg.registry import MODELS

CONFIG_DIR = os.path.join(os.path.dirname(__file__), '..', '..', '..',
                          'configs')
SENTENCES = [
    'There is an opacity in the right upper lung zone.',
    'The left lung is clear.', 'The cardiac silhouette is enlarged.',
    'A small effusion fills the left costophrenic angle.',
    'No acute cardiopulmonary process.', 'Nodule in the left mid lung zone.'
]


@pytest.fixture(scope='module')
def tokenizer_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('wordpiece'))
    train_wordpiece_tokenizer(SENTENCES * 20, path, vocab_size=300)
    return path


def tiny_rclip_cfg(tokenizer_dir):
    return dict(
        type='RCLIP',
        backbone=dict(type='mmpretrain.ResNet', depth=18, base_channels=8,
                      norm_cfg=dict(type='GN', num_groups=4)),
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        text_encoder=dict(
            type='HFTextEncoder', tokenizer=tokenizer_dir,
            bert_config=dict(hidden_size=32, num_hidden_layers=1,
                             num_attention_heads=2, intermediate_size=64,
                             hidden_dropout_prob=0.0,
                             attention_probs_dropout_prob=0.0)),
        image_channels=64, embed_dim=16)


def batch(num, seed=0, size=32):
    gen = torch.Generator().manual_seed(seed)
    views = [torch.randint(0, 256, (num, 3, size, size), generator=gen,
                           dtype=torch.uint8) for _ in range(2)]
    samples = [
        DataSample(metainfo=dict(texts=[SENTENCES[i % 6],
                                        SENTENCES[(i + 1) % 6]]))
        for i in range(num)
    ]
    return dict(inputs=views, data_samples=samples)


def test_loss_terms_and_gradients_reach_both_towers(tokenizer_dir):
    model = MODELS.build(tiny_rclip_cfg(tokenizer_dir))
    data = model.data_preprocessor(batch(4), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_mvs', 'loss_icl', 'loss_tcl'}
    sum(losses.values()).backward()
    for name in ('backbone.conv1.weight', 'image_projection.weight',
                 'text_projection.weight', 'logit_scale',
                 'text_encoder.model.embeddings.word_embeddings.weight'):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_loss_equals_losses_applied_to_normalised_projections(tokenizer_dir):
    model = MODELS.build(tiny_rclip_cfg(tokenizer_dir)).eval()
    data = model.data_preprocessor(batch(3, seed=2), training=False)
    with torch.no_grad():
        losses = model(**data, mode='loss')
        images = [model.image_projection(model.extract_feat(v))
                  for v in data['inputs']]
        texts = [model.text_projection(model.text_encoder(
            [s.texts[i] for s in data['data_samples']])) for i in (0, 1)]
        views = dict(I1=F.normalize(images[0], dim=-1),
                     I2=F.normalize(images[1], dim=-1),
                     T1=F.normalize(texts[0], dim=-1),
                     T2=F.normalize(texts[1], dim=-1))
        scale = torch.tensor(1 / 0.07)
        expected = {k: model.losses[k[5:]](views, scale) for k in losses}
    for key, value in losses.items():
        assert float(value) == pytest.approx(float(expected[key]), rel=1e-5)


def test_predict_sets_normalised_embeddings(tokenizer_dir):
    model = MODELS.build(tiny_rclip_cfg(tokenizer_dir)).eval()
    data = model.data_preprocessor(batch(2), training=False)
    with torch.no_grad():
        samples = model(**data, mode='predict')
    for sample in samples:
        assert sample.image_embedding.shape == (16, )
        assert float(sample.image_embedding.norm()) == pytest.approx(1.0)
        assert float(sample.text_embedding.norm()) == pytest.approx(1.0)


def test_eos_pooling_takes_last_real_token_whatever_the_padding(
        tokenizer_dir):
    encoder = HFTextEncoder(tokenizer=tokenizer_dir, bert_config=dict(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64)).eval()
    short, long = 'The left lung is clear.', SENTENCES[0] + ' ' + SENTENCES[3]
    with torch.no_grad():
        alone = encoder([short])
        padded = encoder([short, long])
        tokens = encoder.tokenize([short, long])
        hidden = encoder.model(**tokens).last_hidden_state
    assert tokens['attention_mask'][0].sum() < tokens['attention_mask'].size(1)
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-5)
    last = int(tokens['attention_mask'][0].sum()) - 1
    assert int(tokens['input_ids'][0, last]) == encoder.tokenizer.sep_token_id
    torch.testing.assert_close(padded[0], hidden[0, last])


def test_missing_checkpoint_says_how_to_provide_it(tmp_path):
    name = str(tmp_path / 'Bio_ClinicalBERT')
    with pytest.raises(FileNotFoundError) as info:
        HFTextEncoder(pretrained=name)
    message = str(info.value)
    assert name in message and 'huggingface-cli download' in message
    assert 'vocab.txt' in message


def test_real_size_config_builds_and_runs_one_step(tokenizer_dir):
    """R-CLIP-base (ResNet-50, BERT-base shape) at 224 px, batch 2."""
    cfg = Config.fromfile(
        os.path.join(CONFIG_DIR, 'rclip', 'rclip_r50_bioclinicalbert_mimic.py'))
    assert cfg.train_dataloader.batch_size == 32
    assert cfg.optim_wrapper.optimizer.lr == 5e-5
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-4
    assert cfg.train_cfg.max_epochs == 5
    assert cfg.model.text_encoder.pretrained == \
        'emilyalsentzer/Bio_ClinicalBERT'
    assert cfg.model.losses.tcl.loss_weight == 0.5
    # offline stand-ins for the two checkpoints, same shapes
    cfg.model.backbone.init_cfg = None
    cfg.model.text_encoder.update(
        pretrained=None, tokenizer=tokenizer_dir,
        bert_config=dict(hidden_size=768, num_hidden_layers=12,
                         num_attention_heads=12, intermediate_size=3072))
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert model.image_projection.in_features == 2048
    assert model.text_projection.in_features == 768
    assert model.image_projection.out_features == 512
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    before = model.image_projection.weight.detach().clone()
    log_vars = model.train_step(batch(2, size=224), optim)
    assert torch.isfinite(log_vars['loss'])
    assert not torch.equal(before, model.image_projection.weight)


def _ddp_worker(rank, world_size, init_file, cfg, state, data, out):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=world_size)
    from mmengine.model import MMDistributedDataParallel

    from crrg.utils import register_all_modules
    register_all_modules()
    model = MODELS.build(cfg)
    model.load_state_dict(state)
    ddp = MMDistributedDataParallel(module=model, device_ids=None)
    per_rank = len(data['data_samples']) // world_size
    part = slice(rank * per_rank, (rank + 1) * per_rank)
    local = dict(inputs=[v[part] for v in data['inputs']],
                 data_samples=data['data_samples'][part])
    local = model.data_preprocessor(local, training=True)
    losses = ddp(**local, mode='loss')
    total = sum(losses.values())
    total.backward()
    out[rank] = (float(total),
                 model.image_projection.weight.grad.clone(),
                 model.text_projection.weight.grad.clone())
    dist.destroy_process_group()


def test_two_process_gloo_training_matches_one_process(tokenizer_dir):
    cfg = tiny_rclip_cfg(tokenizer_dir)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    data = batch(4, seed=3)
    single = sum(model(**model.data_preprocessor(data, training=True),
                       mode='loss').values())
    single.backward()
    with tempfile.TemporaryDirectory() as tmp:
        out = mp.Manager().dict()
        mp.spawn(_ddp_worker,
                 args=(2, os.path.join(tmp, 'init'), cfg, model.state_dict(),
                       data, out),
                 nprocs=2, join=True)
        for rank in (0, 1):
            loss, image_grad, text_grad = out[rank]
            assert loss == pytest.approx(float(single.detach()), rel=1e-5)
            # The features are gathered with gradient and DDP averages, so
            # the synchronised gradient is the global-batch gradient itself.
            torch.testing.assert_close(
                image_grad, model.image_projection.weight.grad,
                atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(
                text_grad, model.text_projection.weight.grad,
                atol=1e-5, rtol=1e-4)


def test_open_clip_vision_tower_swaps_in_by_config(tokenizer_dir):
    cfg = Config.fromfile(os.path.join(
        CONFIG_DIR, 'rclip', 'rclip_openclip-rn50_bioclinicalbert_mimic.py'))
    cfg.model.text_encoder.update(
        pretrained=None, tokenizer=tokenizer_dir,
        bert_config=dict(hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=64))
    model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == 'OpenCLIPVisionTower'
    data = model.data_preprocessor(batch(2, size=224), training=True)
    losses = model(**data, mode='loss')
    sum(losses.values()).backward()
    assert model.backbone.visual.conv1.weight.grad is not None


def test_zero_shot_predict_is_softmax_over_prompt_cosines(tokenizer_dir):
    cfg = dict(tiny_rclip_cfg(tokenizer_dir), type='RCLIPZeroShot',
               prompts=['No evidence of pneumonia',
                        'Findings suggesting pneumonia.'],
               data_preprocessor=dict(type='mmpretrain.ClsDataPreprocessor'))
    model = MODELS.build(cfg).eval()
    # an R-CLIP checkpoint loads strictly: same parameters
    plain = MODELS.build(tiny_rclip_cfg(tokenizer_dir))
    model.load_state_dict(plain.state_dict(), strict=True)
    images = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        samples = model(images, [DataSample() for _ in range(3)],
                        mode='predict')
        sims = model.encode_image(images) @ model.encode_text(
            model.prompts).T
    probs = torch.stack([s.pred_score for s in samples])
    assert torch.allclose(probs, sims.softmax(-1), atol=1e-6)
    assert torch.allclose(probs.sum(-1), torch.ones(3))
    assert [int(s.pred_label) for s in samples] == probs.argmax(-1).tolist()
    with pytest.raises(ValueError, match='one prompt per class'):
        MODELS.build(dict(cfg, prompts=['only one']))
