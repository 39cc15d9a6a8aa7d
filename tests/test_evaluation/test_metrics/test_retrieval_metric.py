"""Image-text retrieval Recall@K by hand."""
import pytest
import torch
from mmengine.evaluator import Evaluator

from crrg.evaluation.metrics.retrieval_metric import retrieval_recall


def test_perfect_and_hand_ranked_retrieval():
    eye = torch.eye(4)
    s = retrieval_recall(eye, eye, ['a', 'b', 'c', 'd'], topk=(1, 2))
    assert s['i2t_R@1'] == s['t2i_R@1'] == s['mean_R@2'] == 1.0
    # images 0, 1 swapped: image 0 is closest to text 1, then text 0
    images = torch.tensor([[0.6, 0.8, 0, 0], [0.8, 0.6, 0, 0],
                           [0, 0, 1., 0], [0, 0, 0, 1.]])
    s = retrieval_recall(images, eye, ['a', 'b', 'c', 'd'], topk=(1, 2))
    assert s['i2t_R@1'] == pytest.approx(0.5)
    assert s['i2t_R@2'] == 1.0
    assert s['t2i_R@1'] == pytest.approx(0.5)  # text 0 finds image 1 first
    # identical texts count as hits of each other
    s = retrieval_recall(images, eye, ['a', 'a', 'c', 'd'], topk=(1, ))
    assert s['i2t_R@1'] == 1.0 and s['t2i_R@1'] == 1.0
    with pytest.raises(ValueError, match='N image'):
        retrieval_recall(eye, eye[:3], ['a', 'b', 'c', 'd'])


def test_metric_reads_rclip_predictions():
    evaluator = Evaluator([dict(type='ImageTextRetrievalMetric', topk=(1, ))])
    samples = [dict(image_embedding=torch.eye(3)[i],
                    text_embedding=torch.eye(3)[i], texts=[f't{i}'])
               for i in range(3)]
    evaluator.process(samples)
    assert evaluator.evaluate(3) == {'retrieval/i2t_R@1': 1.0,
                                     'retrieval/t2i_R@1': 1.0,
                                     'retrieval/mean_R@1': 1.0}
    with pytest.raises(KeyError, match='text_embedding'):
        evaluator.process([dict(image_embedding=torch.ones(3), texts=['x'])])
