import random
import re
from typing import List, Sequence

from mmcv.transforms import BaseTransform, Compose

from crrg.registry import TRANSFORMS

_SENTENCE_END = re.compile(r'(?<=[.!?])\s+')


@TRANSFORMS.register_module()
class MultiImageViews(BaseTransform):
    """Run an image pipeline once per view path and collect the views.

    Each path in ``results[paths_key]`` (e.g. a study's frontal image and its
    second view, or the same path twice) goes through ``transforms`` as
    ``dict(img_path=path)``; random transforms draw anew per view. The views
    go to ``results['img']`` as a list (pack with mmpretrain's
    ``PackInputs``, batch with ``default_collate``).

    Required keys: ``paths_key``. Added keys: ``img`` (list of V images),
    ``img_shape`` (of the first view).

    Args:
        transforms (Sequence[dict]): Per-view pipeline, starting with a
            loading transform.
        paths_key (str): Defaults to 'img_paths'.
        num_views (int, optional): Keep the first ``num_views`` paths,
            repeating the last one when there are fewer. None keeps them
            all. Defaults to 2.
    """

    def __init__(self, transforms: Sequence[dict], paths_key: str = 'img_paths',
                 num_views: int = 2) -> None:
        self.pipeline = Compose(list(transforms))
        self.paths_key = paths_key
        self.num_views = num_views

    def transform(self, results: dict) -> dict:
        paths: List[str] = list(results[self.paths_key])
        if self.num_views is not None:
            paths = (paths + paths[-1:] * self.num_views)[:self.num_views]
        views = [self.pipeline(dict(img_path=path)) for path in paths]
        results['img'] = [view['img'] for view in views]
        results['img_shape'] = views[0]['img_shape']
        return results


@TRANSFORMS.register_module()
class SampleTextViews(BaseTransform):
    """Draw the text views T1, T2 from a study's available texts.

    As CXR-CLIP's image-text dataset does (``cxrclip/data/datasets/
    imagetext.py``), with back-translations of the texts available under
    ``augment_key`` (aligned with the texts; None or '' where a text has
    none):

    - two or more texts: each view draws a text with replacement and takes
      its back-translation with probability ``augment_prob``;
    - one text: one view is the text and the other its back-translation, in
      random order (each order with probability 0.5);
    - without back-translations, the views are the drawn texts.

    ``random_draw=False`` (validation) takes the texts in order and never
    the back-translations.

    Required keys: ``source_key`` (one str, or a list of one or more).
    Optional: ``augment_key`` (list aligned with ``source_key``).
    Added or modified: ``texts`` (``num_views`` strings).

    Args:
        num_views (int): Defaults to 2.
        source_key (str): Where the available texts are, e.g. 'gt_report'
            for a report dataset. Defaults to 'texts'.
        random_draw (bool): Draw with replacement, as CXR-CLIP does (training).
            False takes the texts in order, repeating the last one (e.g.
            [findings, impression], or [findings, findings]). Defaults to
            True.
        augment_key (str): Where the back-translations are. Defaults to
            'texts_augmented'.
        augment_prob (float): Probability that a drawn text is replaced by
            its back-translation (CXR-CLIP: 0.5). Defaults to 0.5.
    """

    def __init__(self, num_views: int = 2, random_draw: bool = True,
                 source_key: str = 'texts',
                 augment_key: str = 'texts_augmented',
                 augment_prob: float = 0.5) -> None:
        self.num_views = num_views
        self.random_draw = random_draw
        self.source_key = source_key
        self.augment_key = augment_key
        self.augment_prob = augment_prob

    def transform(self, results: dict) -> dict:
        texts = results[self.source_key]
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not self.random_draw:
            results['texts'] = (texts + texts[-1:] * self.num_views
                                )[:self.num_views]
            return results
        augmented = results.get(self.augment_key)
        if augmented is None:
            augmented = [None] * len(texts)
        else:
            augmented = [augmented] if isinstance(augmented, str) \
                else list(augmented)
        if len(augmented) != len(texts):
            raise ValueError(
                f'SampleTextViews: {len(augmented)} back-translations '
                f'({self.augment_key!r}) for {len(texts)} texts '
                f'({self.source_key!r}) of {results.get("study_id", "?")}')
        if len(texts) == 1 and augmented[0]:
            pair = [texts[0], augmented[0]]
            if random.random() >= 0.5:
                pair.reverse()
            results['texts'] = (pair * self.num_views)[:self.num_views]
            return results
        views = []
        for index in random.choices(range(len(texts)), k=self.num_views):
            use_augmented = augmented[index] and \
                random.random() < self.augment_prob
            views.append(augmented[index] if use_augmented else texts[index])
        results['texts'] = views
        return results


@TRANSFORMS.register_module()
class RandomSentenceShuffle(BaseTransform):
    """Shuffle the sentences of one text view, CXR-CLIP's text augmentation.

    Required keys: ``texts`` (list of str). Modified: ``texts[index]``.

    Args:
        index (int): Which text view to shuffle. Defaults to 1 (T2).
        prob (float): Probability of shuffling. Defaults to 0.5.
    """

    def __init__(self, index: int = 1, prob: float = 0.5) -> None:
        self.index = index
        self.prob = prob

    def transform(self, results: dict) -> dict:
        if random.random() < self.prob:
            texts = list(results['texts'])
            sentences = _SENTENCE_END.split(texts[self.index].strip())
            random.shuffle(sentences)
            texts[self.index] = ' '.join(sentences)
            results['texts'] = texts
        return results
