"""Image-text retrieval Recall@K of a CLIP on paired test data."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from crrg.registry import METRICS


def retrieval_recall(image_embeds: torch.Tensor,
                     text_embeds: torch.Tensor,
                     texts: Sequence[str],
                     topk: Sequence[int] = (1, 5, 10)) -> Dict[str, float]:
    """Recall@K of image-to-text and text-to-image retrieval.

    Pair i is image i with text i. Similarity is the cosine of the
    embeddings. A retrieved item is a hit when it is the paired one or, for
    duplicate texts, when its text is identical to the paired text (so two
    studies with the same report do not count as a miss of each other).

    Args:
        image_embeds (torch.Tensor): (N, D).
        text_embeds (torch.Tensor): (N, D).
        texts (Sequence[str]): The N texts.
        topk (Sequence[int]): Ks. Defaults to (1, 5, 10).

    Returns:
        dict[str, float]: ``i2t_R@K``, ``t2i_R@K`` and their mean
        ``mean_R@K`` for each K, fractions in [0, 1].
    """
    n = len(texts)
    if image_embeds.shape[0] != n or text_embeds.shape[0] != n or n == 0:
        raise ValueError('retrieval_recall: need N image and N text '
                         f'embeddings for N texts, got {image_embeds.shape}, '
                         f'{text_embeds.shape} and {n} texts')
    image_embeds = torch.nn.functional.normalize(image_embeds.float(), dim=-1)
    text_embeds = torch.nn.functional.normalize(text_embeds.float(), dim=-1)
    sims = (image_embeds @ text_embeds.T).numpy()
    _, group = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    same = group[:, None] == group[None, :]  # (N, N) same text
    # first rank (0-based) at which a hit appears, per query
    i2t_order = np.argsort(-sims, axis=1, kind='stable')
    t2i_order = np.argsort(-sims.T, axis=1, kind='stable')
    rows = np.arange(n)[:, None]
    i2t_rank = same[rows, i2t_order].argmax(1)
    t2i_rank = same[rows, t2i_order].argmax(1)
    scores = {}
    for k in topk:
        i2t = float((i2t_rank < k).mean())
        t2i = float((t2i_rank < k).mean())
        scores[f'i2t_R@{k}'] = i2t
        scores[f't2i_R@{k}'] = t2i
        scores[f'mean_R@{k}'] = (i2t + t2i) / 2
    return scores


@METRICS.register_module()
class ImageTextRetrievalMetric(BaseMetric):
    """Recall@K of image-text retrieval over the whole test split.

    Reads ``image_embedding`` (D,), ``text_embedding`` (D,) and ``texts``
    (the first is the paired text) from each data sample, as ``RCLIP``'s
    predict mode writes them. See :func:`retrieval_recall`.

    Args:
        topk (Sequence[int]): Defaults to (1, 5, 10).
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Defaults to 'retrieval'.
    """
    default_prefix: Optional[str] = 'retrieval'

    def __init__(self,
                 topk: Sequence[int] = (1, 5, 10),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(topk)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            for key in ('image_embedding', 'text_embedding', 'texts'):
                if key not in sample:
                    raise KeyError(
                        f'ImageTextRetrievalMetric: data sample of '
                        f'{sample.get("study_id", sample.get("img_paths"))} '
                        f'has no "{key}"; test with a CLIP whose predict '
                        'mode writes image and text embeddings')
            self.results.append(
                (torch.as_tensor(sample['image_embedding']).cpu(),
                 torch.as_tensor(sample['text_embedding']).cpu(),
                 sample['texts'][0]))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        return retrieval_recall(
            torch.stack([r[0] for r in results]),
            torch.stack([r[1] for r in results]), [r[2] for r in results],
            self.topk)
