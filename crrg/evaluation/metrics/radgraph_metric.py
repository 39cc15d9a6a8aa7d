"""RadGraph F1 (Delbrouck et al., 2022): entity and relation overlap.

A RadGraph model annotates each report with entities (``tokens``, ``label``
such as ``ANAT-DP`` / ``OBS-DP`` / ``OBS-U`` / ``OBS-DA``) and relations
between them. Per report pair, three sets are compared by F1 (precision and
recall of set membership, 0 when a side is empty), as the ``radgraph``
package's rewards define them:

- **simple**: ``(tokens, label)`` of every entity;
- **partial**: ``(tokens, label)`` of entities without relations and
  ``(tokens, label, True)`` of entities that have one;
- **complete**: ``(tokens, label)`` of entities without relations and
  ``(tokens.lower(), label, relation, target tokens.lower())`` of every
  relation.

A pair where either side has no entity (or an empty report) scores 0; the
metric is the mean over reports. The annotator is the ``radgraph`` package's
``RadGraph`` on a local model folder (never downloaded by crrg); tests and
other models can pass any callable with the same output.
"""
import os
import os.path as osp
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from crrg.registry import METRICS

REWARD_LEVELS = ('simple', 'partial', 'complete')


def _set_f1(hyp: set, ref: set) -> float:
    precision = len(hyp & ref) / len(hyp) if hyp else 0.0
    recall = len(hyp & ref) / len(ref) if ref else 0.0
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _candidates(annotation: Mapping, level: str) -> set:
    entities = annotation['entities']
    out = set()
    for entity in entities.values():
        key = (entity['tokens'], entity['label'])
        if level == 'simple' or not entity['relations']:
            out.add(key)
        elif level == 'partial':
            out.add(key + (True, ))
        else:
            out.update((entity['tokens'].lower(), entity['label'], rel,
                        entities[target]['tokens'].lower())
                       for rel, target in entity['relations'])
    return out


def radgraph_rewards(hyp: Mapping, ref: Mapping) -> Dict[str, float]:
    """simple / partial / complete F1 of two RadGraph annotations.

    Args:
        hyp (Mapping): ``{"entities": {id: {"tokens", "label",
            "relations": [[relation, target id], ...]}}}`` of the generated
            report.
        ref (Mapping): The same for the reference.

    Returns:
        dict[str, float]: ``simple``, ``partial``, ``complete`` in [0, 1].
    """
    if not hyp['entities'] or not ref['entities']:
        return {level: 0.0 for level in REWARD_LEVELS}
    return {
        level: _set_f1(_candidates(hyp, level), _candidates(ref, level))
        for level in REWARD_LEVELS
    }


def build_radgraph_annotator(model_dir: str,
                             model_type: str = 'radgraph-xl') -> Callable:
    """The ``radgraph`` package's annotator on a local model folder.

    Args:
        model_dir (str): Folder holding ``{model_type}/config.json``,
            ``{model_type}/weights.th`` and ``{model_type}/vocabulary/`` (the
            extracted ``{model_type}.tar.gz`` of the RadGraph release). The
            BERT named in its ``config.json`` must be in the local Hugging
            Face cache (set ``HF_HUB_OFFLINE=1``).
        model_type (str): 'radgraph', 'radgraph-xl' or
            'modern-radgraph-xl'. Defaults to 'radgraph-xl'.

    Returns:
        callable: ``reports -> {str(i): annotation}``.

    Raises:
        ImportError: The ``radgraph`` package is not installed.
        FileNotFoundError: A model file is missing (the message names it).
    """
    folder = osp.join(model_dir, model_type)
    for name in ('config.json', 'weights.th', 'vocabulary'):
        if not osp.exists(osp.join(folder, name)):
            raise FileNotFoundError(
                f'{osp.join(folder, name)} not found. RadGraph weights are '
                f'not downloaded by crrg: extract {model_type}.tar.gz of the '
                f'RadGraph release (config.json, weights.th, vocabulary/) '
                f'into {folder}, or pass model_dir=PATH.')
    try:
        from radgraph import RadGraph
    except ImportError as e:
        raise ImportError('RadGraph F1 needs the radgraph package: pip '
                          'install radgraph==0.1.18') from e
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    return RadGraph(model_type=model_type, model_cache_dir=model_dir,
                    cuda=-1)


def score_radgraph(predictions: Sequence[str], references: Sequence[str],
                   annotator: Callable) -> Dict[str, float]:
    """Mean simple / partial / complete RadGraph F1 over report pairs.

    Args:
        predictions (Sequence[str]): Generated reports.
        references (Sequence[str]): Their references, same order.
        annotator (callable): ``reports -> {str(i): annotation}``.

    Returns:
        dict[str, float]: ``f1_simple``, ``f1_partial``, ``f1_complete``.
    """
    if len(predictions) != len(references) or not predictions:
        raise ValueError('score_radgraph: need as many predictions as '
                         f'references, got {len(predictions)} and '
                         f'{len(references)}')
    pairs = [i for i, (p, r) in enumerate(zip(predictions, references))
             if p.strip() and r.strip()]
    texts = [predictions[i] for i in pairs] + [references[i] for i in pairs]
    annotations = annotator(texts) if texts else {}
    rewards: List[Dict[str, float]] = []
    index = {i: k for k, i in enumerate(pairs)}
    for i in range(len(predictions)):
        if i not in index:
            rewards.append({level: 0.0 for level in REWARD_LEVELS})
            continue
        k = index[i]
        rewards.append(
            radgraph_rewards(annotations[str(k)],
                             annotations[str(k + len(pairs))]))
    return {
        f'f1_{level}': float(np.mean([r[level] for r in rewards]))
        for level in REWARD_LEVELS
    }


@METRICS.register_module()
class RadGraphMetric(BaseMetric):
    """RadGraph F1 (simple / partial / complete) of generated reports.

    Args:
        model_dir (str, optional): Local RadGraph model folder (see
            :func:`build_radgraph_annotator`).
        model_type (str): Defaults to 'radgraph-xl'.
        annotator (callable, optional): Use this instead of loading a model.
        pred_key (str): Defaults to 'pred_report'.
        gt_key (str): Defaults to 'gt_report'.
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Defaults to 'radgraph'.
    """
    default_prefix: Optional[str] = 'radgraph'

    def __init__(self,
                 model_dir: Optional[str] = None,
                 model_type: str = 'radgraph-xl',
                 annotator: Optional[Callable] = None,
                 pred_key: str = 'pred_report',
                 gt_key: str = 'gt_report',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if annotator is None:
            if model_dir is None:
                raise ValueError('RadGraphMetric: give model_dir (a local '
                                 'RadGraph model folder) or an annotator')
            annotator = build_radgraph_annotator(model_dir, model_type)
        self.annotator = annotator
        self.pred_key = pred_key
        self.gt_key = gt_key

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            self.results.append((sample[self.pred_key], sample[self.gt_key]))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        return score_radgraph([r[0] for r in results],
                              [r[1] for r in results], self.annotator)
