"""R-CLIP inference as an API: zero-shot classification with any prompts,
image and text embeddings, and retrieval against a gallery of reports or
images.

Example::

    >>> from crrg.apis import CLIPInferencer
    >>> clip = CLIPInferencer(
    ...     'configs/rclip/rclip_tiny_zero-shot_rsna_synthetic.py',
    ...     'work_dirs/demo/rclip/epoch_10.pth')
    >>> out = clip(['cxr.dcm'])            # the config's prompts
    >>> out['prompts'], out['predictions'][0]['scores']
    >>> clip(['cxr.dcm'], prompts=['No effusion.', 'Pleural effusion.'])
    >>> clip.retrieve(['cxr.dcm'], reports=['The lungs are clear.', ...])
"""
from typing import List, Optional, Sequence

import torch
from mmengine.config import Config
from mmpretrain.structures import DataSample
from torch import Tensor

from .base import BaseXrayInferencer, InferenceItem, InputsType


class CLIPInferencer(BaseXrayInferencer):
    """Zero-shot classification, embeddings and retrieval with an R-CLIP.

    Works with any model that has R-CLIP's public methods (``encode_image``,
    ``encode_text``, ``zero_shot_probs``): an ``RCLIP`` or ``RCLIPZeroShot``
    config, whose test pipeline prepares the images (a pipeline wrapped in
    ``MultiImageViews`` is unwrapped: one view, no text transforms). The
    probabilities are those of ``RCLIPZeroShot`` in ``tools/test.py``: the
    softmax over the cosine similarities with the prompts.

    Calling it (``clip(inputs, prompts=None, return_embeddings=False,
    batch_size=1, return_datasamples=False, skip_failed=False)``) returns a
    dict:

    - ``prompts``: the class prompts used (``prompts`` or the model's own,
      e.g. an ``RCLIPZeroShot`` config's).
    - ``predictions``: one dict per input that was read, in input order::

        {'img_path': str | None, 'ori_shape': [h, w],
         'status': 'ok' | 'refused', 'refusal': None | str,
         'scores': [p_0, ..., p_C-1],   # one probability per prompt
         'label': int | None,           # the most probable prompt
         'warnings': [str, ...]}

      plus ``'embedding'`` (the image embedding, a list of D floats) with
      ``return_embeddings=True``. A refused input (see
      :mod:`crrg.apis.chest_checks`) has ``scores`` [] and ``label`` None.
      With ``return_datasamples=True``, mmpretrain ``DataSample`` s with
      ``image_embedding`` (D,), ``pred_score`` (C,) and ``pred_label``.
    - ``visualization``: an empty list.
    - ``failures`` with ``skip_failed=True``, as :class:`ReportInferencer`.

    Args:
        model (str | Config | ConfigDict | dict): An R-CLIP config.
        weights (str, optional): Checkpoint (file or URI).
        prompts (Sequence[str], optional): Default class prompts (at least
            two); None takes the model's ``prompts`` if it has them.
        **kwargs: :class:`BaseXrayInferencer` arguments (``device``,
            ``allow_partial``, ``allow_non_chest``, ``chest_checks`` ...).
    """

    forward_kwargs = {'prompts'}
    postprocess_kwargs = {'return_embeddings', 'prompts_used'}

    def __init__(self,
                 model,
                 weights: Optional[str] = None,
                 prompts: Optional[Sequence[str]] = None,
                 **kwargs) -> None:
        super().__init__(model=model, weights=weights, **kwargs)
        for method in ('encode_image', 'encode_text', 'zero_shot_probs'):
            if not callable(getattr(self.model, method, None)):
                raise TypeError(
                    f'{type(self.model).__name__} has no {method}(): '
                    'CLIPInferencer needs an R-CLIP config (RCLIP or '
                    'RCLIPZeroShot)')
        if prompts is None:
            prompts = getattr(self.model, 'prompts', None) or []
        self.prompts = self._checked_prompts(prompts)
        self._prompt_cache: Optional[tuple] = None

    @staticmethod
    def _checked_prompts(prompts: Sequence[str]) -> List[str]:
        if isinstance(prompts, str):
            raise TypeError('prompts must be a sequence of strings, one per '
                            f'class, got the string {prompts!r}')
        prompts = list(prompts)
        if len(prompts) == 1:
            raise ValueError('zero-shot classification needs one prompt per '
                             f'class (at least 2), got {prompts}')
        return prompts

    def _pipeline_cfg(self, cfg: Config) -> List[dict]:
        """The test pipeline; a ``MultiImageViews`` wrapper gives its
        per-view transforms and the packer (text transforms need texts)."""
        transforms = super()._pipeline_cfg(cfg)
        if transforms and transforms[0].get('type') == 'MultiImageViews':
            packers = [
                dict(t, meta_keys=()) for t in transforms[1:]
                if 'Pack' in str(t.get('type', ''))
            ]
            transforms = list(transforms[0]['transforms']) + packers
        return transforms

    def _init_visualizer(self, cfg: Config) -> None:
        """No visualiser: the predictions are numbers."""
        return None

    def __call__(self,
                 inputs: InputsType,
                 prompts: Optional[Sequence[str]] = None,
                 return_embeddings: bool = False,
                 batch_size: int = 1,
                 return_datasamples: bool = False,
                 skip_failed: bool = False) -> dict:
        """Classify ``inputs`` zero-shot (see the class docstring).

        Args:
            inputs (str | np.ndarray | dict | Sequence): Image files,
                folders, globs, uint8 arrays or :meth:`load` results.
            prompts (Sequence[str], optional): One prompt per class; None
                uses the default prompts.
            return_embeddings (bool): Add each image's embedding. Defaults
                to False.
            batch_size (int): Images per forward pass. Defaults to 1.
            return_datasamples (bool): Data samples instead of dicts.
            skip_failed (bool): Report failures instead of raising.

        Raises:
            ValueError: No prompts (neither given nor the model's) and no
                embeddings asked for.
        """
        prompts = self.prompts if prompts is None else self._checked_prompts(
            prompts)
        if not prompts and not (return_embeddings or return_datasamples):
            raise ValueError(
                'no prompts: pass prompts=[...] (one per class) or use an '
                'RCLIPZeroShot config; for embeddings alone pass '
                'return_embeddings=True or call embed_images()')
        return super().__call__(
            inputs,
            return_datasamples=return_datasamples,
            batch_size=batch_size,
            skip_failed=skip_failed,
            prompts=prompts,
            return_embeddings=return_embeddings,
            prompts_used=prompts)

    def _prompt_embeds(self, prompts: List[str]) -> Tensor:
        """(C, D) embeddings of ``prompts``, computed once per prompt list."""
        if self._prompt_cache is None or self._prompt_cache[0] != tuple(
                prompts):
            self._prompt_cache = (tuple(prompts), self.embed_texts(prompts))
        return self._prompt_cache[1]

    @torch.no_grad()
    def forward(self, data: dict,
                prompts: Optional[List[str]] = None) -> List[DataSample]:
        """Image embeddings and, with ``prompts``, zero-shot probabilities.

        Args:
            data (dict): A collated batch (``inputs``, ``data_samples``).
            prompts (list[str], optional): Class prompts.

        Returns:
            list[DataSample]: With ``image_embedding`` (D,) and, with
            prompts, ``pred_score`` (C,) and ``pred_label``.
        """
        data = self.model.data_preprocessor(data, False)
        images = data['inputs']
        if isinstance(images, (list, tuple)):
            images = images[0]
        embeds = self.model.encode_image(images)
        probs = None
        if prompts:
            probs = self.model.zero_shot_probs(
                embeds, self._prompt_embeds(prompts).to(embeds.device))
        samples = data['data_samples']
        for i, sample in enumerate(samples):
            sample.set_field(embeds[i], 'image_embedding')
            if probs is not None:
                sample.set_pred_score(probs[i]).set_pred_label(
                    probs[i].argmax())
        return samples

    def visualize(self, items: List[InferenceItem], **kwargs) -> list:
        """Nothing to draw: an empty list."""
        return []

    def postprocess(self,
                    items: List[InferenceItem],
                    visualization: list,
                    return_datasamples: bool = False,
                    return_embeddings: bool = False,
                    prompts_used: Optional[List[str]] = None) -> dict:
        """The predictions as dicts (see the class docstring)."""
        if return_datasamples:
            predictions = [
                item.sample if item.sample is not None else DataSample(
                    metainfo=dict(img_path=item.loaded.get('img_path'),
                                  refusal=item.refusal))
                for item in items
            ]
        else:
            predictions = [
                self.pred2dict(item, return_embeddings) for item in items
            ]
        return dict(prompts=list(prompts_used or []),
                    predictions=predictions,
                    visualization=visualization)

    def pred2dict(self, item: InferenceItem,
                  return_embedding: bool = False) -> dict:
        """One prediction as a dict (see the class docstring)."""
        head = self.item_dict(item)
        scores, label, embedding = [], None, None
        if item.sample is not None:
            sample = item.sample.cpu()
            if 'pred_score' in sample:
                scores = [float(p) for p in sample.pred_score]
                label = int(sample.pred_label)
            embedding = [float(v) for v in sample.image_embedding]
        warnings, card = head.pop('warnings'), head.pop('model_card')
        out = dict(head, scores=scores, label=label, warnings=warnings,
                   model_card=card)
        if return_embedding:
            out['embedding'] = embedding
        return out

    # ------------------------------------------------ embeddings, retrieval
    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str],
                    batch_size: int = 64) -> Tensor:
        """Text embeddings (N, D), L2-normalised, on the CPU.

        Args:
            texts (Sequence[str]): N texts (reports, prompts ...).
            batch_size (int): Texts per forward pass. Defaults to 64.
        """
        texts = list(texts)
        if not texts:
            raise ValueError('embed_texts: no texts given')
        return torch.cat([
            self.model.encode_text(texts[i:i + batch_size]).cpu()
            for i in range(0, len(texts), batch_size)
        ])

    def embed_images(self, inputs: InputsType, batch_size: int = 1) -> Tensor:
        """Image embeddings (N, D), L2-normalised, on the CPU, one per image
        of ``inputs`` in order.

        Raises:
            ValueError: An input is refused by a chest check (the message
                names it; ``allow_non_chest=True`` embeds it anyway).
        """
        items, _ = self._run(inputs, batch_size, skip_failed=False,
                             keep_images=False, forward_kwargs={})
        for item in items:
            if item.refusal:
                raise ValueError(f'{item.name}: {item.refusal}')
        if not items:
            raise ValueError('embed_images: no image given')
        return torch.stack([item.sample.image_embedding.cpu()
                            for item in items])

    def retrieve(self,
                 inputs: InputsType,
                 reports: Optional[Sequence[str]] = None,
                 images: Optional[InputsType] = None,
                 top_k: int = 5,
                 batch_size: int = 1) -> List[List[dict]]:
        """The gallery items most similar to each query image.

        Give exactly one gallery: ``reports`` (image-to-text retrieval) or
        ``images`` (image-to-image).

        Args:
            inputs (str | np.ndarray | dict | Sequence): Query images.
            reports (Sequence[str], optional): A gallery of report texts.
            images (str | np.ndarray | dict | Sequence, optional): A
                gallery of images (files, folders, globs, arrays ...).
            top_k (int): Items per query. Defaults to 5.
            batch_size (int): Images per forward pass. Defaults to 1.

        Returns:
            list[list[dict]]: Per query, up to ``top_k`` ``{'index': int,
            'score': float (cosine similarity), 'item': str}`` best first;
            ``item`` is the report, or the gallery image's path (``array
            #i`` for an array).
        """
        if (reports is None) == (images is None):
            raise ValueError('retrieve: give one gallery, reports=[...] or '
                             'images=[...]')
        queries = self.embed_images(inputs, batch_size)
        if reports is not None:
            names = list(reports)
            gallery = self.embed_texts(names)
        else:
            items, _ = self._expand(images, skip_failed=False)
            names = [item.name for item in items]
            gallery = self.embed_images([item.input for item in items],
                                        batch_size)
        sims = queries @ gallery.T
        scores, indices = sims.topk(min(top_k, len(names)), dim=1)
        return [[
            dict(index=int(j), score=float(s), item=names[int(j)])
            for s, j in zip(row_scores, row_indices)
        ] for row_scores, row_indices in zip(scores, indices)]
