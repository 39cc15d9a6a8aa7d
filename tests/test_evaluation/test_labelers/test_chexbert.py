"""CheXbert labeler plumbing with tiny random weights (no real checkpoint)."""
import os.path as osp

import numpy as np
import pytest
import torch

from crrg.evaluation.labelers import CHEXPERT_CONDITIONS, CheXbertLabeler
from crrg.evaluation.labelers.chexbert import CheXbertModel
from crrg.evaluation.metrics.clinical_efficacy_metric import \
    score_clinical_efficacy

TINY_BERT = dict(vocab_size=40, hidden_size=16, num_hidden_layers=1,
                 num_attention_heads=2, intermediate_size=32,
                 max_position_embeddings=520, type_vocab_size=2)
WORDS = ('heart is enlarged no effusion small pneumothorax lungs are clear '
         'mild edema').split()


@pytest.fixture(scope='module')
def tokenizer_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp('bert_vocab')
    vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.'] + WORDS
    (path / 'vocab.txt').write_text('\n'.join(vocab) + '\n')
    return str(path)


def save_checkpoint(model, path):
    # as CheXbert's authors saved it: nn.DataParallel keys
    state = {f'module.{k}': v for k, v in model.state_dict().items()}
    torch.save({'model_state_dict': state, 'epoch': 1}, path)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = CheXbertModel(TINY_BERT)
    with torch.no_grad():
        for head in model.linear_heads:  # every condition blank ...
            head.weight.zero_()
            head.bias.copy_(torch.eye(head.out_features)[0])
        # ... except cardiomegaly positive, edema uncertain, no finding yes
        model.linear_heads[1].bias.copy_(torch.tensor([0., 1., 0., 0.]))
        model.linear_heads[4].bias.copy_(torch.tensor([0., 0., 0., 1.]))
        model.linear_heads[13].bias.copy_(torch.tensor([0., 1.]))
    path = str(tmp_path_factory.mktemp('chexbert') / 'chexbert.pth')
    save_checkpoint(model, path)
    return path


def test_label_order_and_coding(checkpoint, tokenizer_dir):
    labeler = CheXbertLabeler(checkpoint, tokenizer_dir,
                              bert_config=TINY_BERT, batch_size=2)
    labels = labeler(['heart is enlarged.', '', 'no effusion.'])
    expected = np.zeros(14, dtype=np.int64)
    expected[CHEXPERT_CONDITIONS.index('Cardiomegaly')] = 1
    expected[CHEXPERT_CONDITIONS.index('Edema')] = 3
    expected[CHEXPERT_CONDITIONS.index('No Finding')] = 1
    assert labels.shape == (3, 14)
    assert (labels == expected).all()


def test_random_weights_give_valid_labels_and_self_scores_max(
        tmp_path, tokenizer_dir):
    torch.manual_seed(1)
    path = str(tmp_path / 'random.pth')
    save_checkpoint(CheXbertModel(TINY_BERT), path)
    labeler = CheXbertLabeler(path, tokenizer_dir, bert_config=TINY_BERT)
    reports = ['heart is enlarged.', 'small pneumothorax.',
               'lungs are clear. ' * 300]  # > 512 tokens: cut
    labels = labeler(reports)
    assert labels.shape == (3, 14)
    assert labels[:, :13].min() >= 0 and labels[:, :13].max() <= 3
    assert set(labels[:, 13]) <= {0, 1}
    scores = score_clinical_efficacy(reports, reports, labeler)
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    for key in ('f1_micro5_unc-pos', 'f1_micro14_unc-pos',
                'f1_example14_unc-neg'):
        # identical labels: 1 where there is any positive, else undefined (0)
        assert scores[key] in (0.0, 1.0)
    assert scores['f1_micro14_unc-pos'] == float(
        np.isin(labels, (1, 3)).any())


def test_missing_files_say_what_to_place_where(tmp_path, checkpoint,
                                               tokenizer_dir):
    missing = str(tmp_path / 'nowhere' / 'chexbert.pth')
    with pytest.raises(FileNotFoundError, match='chexbert.pth') as err:
        CheXbertLabeler(missing, tokenizer_dir, bert_config=TINY_BERT)
    assert missing in str(err.value)
    with pytest.raises(FileNotFoundError, match='vocab.txt'):
        CheXbertLabeler(checkpoint, str(tmp_path), bert_config=TINY_BERT)


def test_mismatched_checkpoint_is_refused(tmp_path, tokenizer_dir):
    path = str(tmp_path / 'other.pth')
    torch.save({'model_state_dict': {'module.classifier.weight':
                                     torch.zeros(2, 2)}}, path)
    with pytest.raises(KeyError, match='missing key'):
        CheXbertLabeler(path, tokenizer_dir, bert_config=TINY_BERT)
    torch.save({'state_dict': {}}, path)
    with pytest.raises(KeyError, match='model_state_dict'):
        CheXbertLabeler(path, tokenizer_dir, bert_config=TINY_BERT)
    assert osp.isfile(path)


def test_chexbert_behind_the_registered_metric(checkpoint, tokenizer_dir):
    from mmengine.evaluator import Evaluator
    evaluator = Evaluator([
        dict(type='ClinicalEfficacyMetric',
             labeler=dict(type='CheXbertLabeler', checkpoint=checkpoint,
                          tokenizer=tokenizer_dir, bert_config=TINY_BERT))
    ])
    evaluator.process([dict(pred_report='heart is enlarged.',
                            gt_report='mild edema.')])
    metrics = evaluator.evaluate(1)
    # the fixed heads label every report cardiomegaly + uncertain edema
    assert metrics['ce_chexbert/f1_micro5_unc-pos'] == 1.0
    assert metrics['ce_chexbert/f1_example14_unc-neg'] == 1.0
