import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from crrg.registry import MODELS


@MODELS.register_module()
class RCLIP(BaseModel):
    """CRRG-CLIP's R-CLIP: an image tower and a text tower in one space.

    Image tower: ``backbone`` (+ ``neck``), e.g. mmpretrain's ResNet-50 and
    global average pooling, giving (B, ``image_channels``) features; or an
    open_clip vision tower (``OpenCLIPVisionTower``, no neck). Text tower: a
    :class:`HFTextEncoder` (Bio_ClinicalBERT). Each has a linear projection
    (with bias) into the ``embed_dim`` shared space; embeddings are L2
    normalised. The temperature is learnt as ``logit_scale`` (logits are
    ``exp(logit_scale) * cos``, :meth:`similarity_logits`), initialised at
    ``log(1 / 0.07)`` and clamped at ``log(100)`` as in CLIP
    (``max_logit_scale=None``: unclamped, as CXR-CLIP).

    Training input per study: image views (the data preprocessor gives a list
    of V >= 2 tensors (B, 3, H, W); views 0 and 1 are I1 and I2) and two texts
    (``data_sample.texts``: [T1, T2]). The loss is the sum of the registered
    ``losses`` (CXR-CLIP's MVS, ICL, TCL), each reported under its name.

    Args:
        backbone (dict): Image backbone config.
        text_encoder (dict): Text encoder config.
        neck (dict, optional): Pooling neck config. Defaults to None.
        image_channels (int): Pooled image feature size. Defaults to 2048.
        embed_dim (int): Shared space size. Defaults to 512.
        losses (dict): Name -> loss config; the log keys are ``loss_<name>``.
        init_logit_scale (float): Defaults to log(1/0.07).
        max_logit_scale (float, optional): Clamp of ``logit_scale``; None
            for none (CXR-CLIP's models). Defaults to log(100).
        data_preprocessor (dict, optional): Defaults to mmpretrain's
            ``SelfSupDataPreprocessor`` (lists of views).
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: dict,
                 text_encoder: dict,
                 neck: Optional[dict] = None,
                 image_channels: int = 2048,
                 embed_dim: int = 512,
                 losses: Optional[Dict[str, dict]] = None,
                 init_logit_scale: float = math.log(1 / 0.07),
                 max_logit_scale: Optional[float] = math.log(100),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='mmpretrain.SelfSupDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        self.text_encoder = MODELS.build(text_encoder)
        self.image_projection = nn.Linear(image_channels, embed_dim)
        self.text_projection = nn.Linear(self.text_encoder.out_channels,
                                         embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(float(init_logit_scale)))
        self.max_logit_scale = max_logit_scale
        if losses is None:
            losses = dict(
                mvs=dict(type='MultiViewSupervisedContrastiveLoss'),
                icl=dict(type='ImageContrastiveLoss', loss_weight=1.0),
                tcl=dict(type='TextContrastiveLoss', loss_weight=0.5))
        self.losses = nn.ModuleDict(
            {name: MODELS.build(cfg) for name, cfg in losses.items()})

    # Public feature methods: other models read R-CLIP only through these.
    @property
    def image_feat_channels(self) -> int:
        """C of :meth:`extract_image_feat`'s map (= the pooled size)."""
        return self.image_projection.in_features

    @property
    def text_channels(self) -> int:
        """C of :meth:`encode_text_tokens`' token features."""
        return self.text_encoder.out_channels

    @property
    def text_tokenizer(self):
        """The text tower's tokenizer."""
        return self.text_encoder.tokenizer

    @property
    def text_word_embeddings(self) -> nn.Embedding:
        """The text tower's input word embeddings (V, C)."""
        return self.text_encoder.model.get_input_embeddings()

    def extract_image_feat(self, inputs: Tensor) -> Tensor:
        """The image backbone's last feature map (B, C, h, w) of (B, 3, H, W)
        images (C = :attr:`image_feat_channels`)."""
        return self.backbone(inputs)[-1]

    def extract_feat(self, images: Tensor) -> Tensor:
        """Pooled image features (B, ``image_channels``) of (B, 3, H, W)."""
        feats = self.backbone(images)
        if self.neck is not None:
            feats = self.neck(feats)
        return feats[-1] if isinstance(feats, (tuple, list)) else feats

    def encode_image(self, inputs: Tensor, normalize: bool = True) -> Tensor:
        """Image embeddings (B, ``embed_dim``), L2-normalised by default."""
        embeds = self.image_projection(self.extract_feat(inputs))
        return F.normalize(embeds, dim=-1) if normalize else embeds

    def encode_text(self, texts: Sequence[str],
                    normalize: bool = True) -> Tensor:
        """Text embeddings (N, ``embed_dim``) of N texts, L2-normalised by
        default."""
        embeds = self.text_projection(self.text_encoder(list(texts)))
        return F.normalize(embeds, dim=-1) if normalize else embeds

    @staticmethod
    def zero_shot_probs(image_embeds: Tensor, prompt_embeds: Tensor) -> Tensor:
        """Zero-shot class probabilities: the softmax over the cosine
        similarities of each image with the class prompts (CXR-CLIP's
        protocol, no temperature).

        Args:
            image_embeds (Tensor): (B, D) L2-normalised image embeddings
                (:meth:`encode_image`).
            prompt_embeds (Tensor): (C, D) L2-normalised embeddings of one
                prompt per class (:meth:`encode_text`).

        Returns:
            Tensor: (B, C) probabilities.
        """
        return (image_embeds @ prompt_embeds.T).softmax(dim=-1)

    def encode_text_embeds(self,
                           inputs_embeds: Tensor,
                           attention_mask: Tensor,
                           normalize: bool = True) -> Tensor:
        """Text embeddings (N, ``embed_dim``) of word embeddings
        (N, L, C) given directly (e.g. expected embeddings of soft tokens),
        with their (N, L) attention mask."""
        pooled = self.text_encoder.forward_tokens(
            attention_mask=attention_mask, inputs_embeds=inputs_embeds)
        embeds = self.text_projection(pooled)
        return F.normalize(embeds, dim=-1) if normalize else embeds

    def encode_text_tokens(self,
                           texts: Sequence[str]) -> Tuple[Tensor, Tensor]:
        """Per-token text features for token-level consumers.

        Returns:
            tuple[Tensor, Tensor]: features (N, L, C) of the text tower's
            last layer (C = :attr:`text_channels`) and the (N, L) bool mask,
            True on real tokens.
        """
        tokens = self.text_encoder.tokenize(list(texts))
        hidden = self.text_encoder.model(**tokens).last_hidden_state
        return hidden, tokens['attention_mask'].bool()

    def embed_views(self, inputs: Union[List[Tensor], Tensor],
                    data_samples: list) -> Dict[str, Tensor]:
        """``I1, I2, T1, T2``, each (B, ``embed_dim``), of a training batch."""
        if isinstance(inputs, Tensor) or len(inputs) < 2:
            raise ValueError('RCLIP: training needs two image views per '
                             'study; wrap the image pipeline in '
                             'MultiImageViews')
        batch = inputs[0].size(0)
        images = self.encode_image(torch.cat(list(inputs[:2])))
        texts = [s.texts[i] for i in (0, 1) for s in data_samples]
        text_embeds = self.encode_text(texts)
        return dict(I1=images[:batch], I2=images[batch:],
                    T1=text_embeds[:batch], T2=text_embeds[batch:])

    def scale(self) -> Tensor:
        """``exp(logit_scale)``, with logit_scale clamped at the maximum
        (if there is one)."""
        if self.max_logit_scale is None:
            return self.logit_scale.exp()
        return self.logit_scale.clamp(max=self.max_logit_scale).exp()

    def similarity_logits(self, image_embeds: Tensor,
                          text_embeds: Tensor) -> Tensor:
        """Image-to-text logits, :meth:`scale` times the cosine similarity.

        Args:
            image_embeds (Tensor): (B, D) L2-normalised image embeddings.
            text_embeds (Tensor): (N, D) L2-normalised text embeddings.

        Returns:
            Tensor: (B, N) logits (transpose for text-to-image).
        """
        return self.scale() * image_embeds @ text_embeds.T

    def loss(self, inputs: Union[List[Tensor], Tensor],
             data_samples: list) -> Dict[str, Tensor]:
        views = self.embed_views(inputs, data_samples)
        scale = self.scale()
        return {f'loss_{name}': loss(views, scale)
                for name, loss in self.losses.items()}

    def predict(self, inputs: Union[List[Tensor], Tensor],
                data_samples: Optional[list] = None) -> list:
        """Set ``image_embedding`` (D,) and, if texts are given,
        ``text_embedding`` (D,) of the first text on each data sample."""
        images = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        image_embeds = self.encode_image(images)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(images.size(0))]
        has_text = all('texts' in s for s in data_samples)
        text_embeds = self.encode_text(
            [s.texts[0] for s in data_samples]) if has_text else None
        for i, sample in enumerate(data_samples):
            sample.set_field(image_embeds[i], 'image_embedding')
            if text_embeds is not None:
                sample.set_field(text_embeds[i], 'text_embedding')
        return data_samples

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            images = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            return self.encode_image(images)
        raise RuntimeError(f'RCLIP: invalid mode "{mode}"')


#: CXR-CLIP's zero-shot RSNA pneumonia prompts (class 0, class 1)
RSNA_PNEUMONIA_PROMPTS = ('No evidence of pneumonia',
                          'Findings suggesting pneumonia.')


@MODELS.register_module()
class RCLIPZeroShot(RCLIP):
    """An :class:`RCLIP` that classifies images zero-shot with text prompts.

    Its parameters are RCLIP's, so an R-CLIP checkpoint loads strictly. In
    predict mode each image embedding is compared with the prompts'
    embeddings by cosine similarity and the similarities are soft-maxed over
    the classes (CXR-CLIP's zero-shot evaluation; with two classes the
    probability order does not depend on a temperature). Each data sample
    gets ``pred_score`` (C,) class probabilities and ``pred_label``, which
    :class:`crrg.evaluation.BinaryClassificationMetric` reads.

    Args:
        prompts (Sequence[str]): One prompt per class, class 0 first.
            Defaults to :data:`RSNA_PNEUMONIA_PROMPTS`.
        **kwargs: :class:`RCLIP` arguments.
    """

    def __init__(self, prompts: Sequence[str] = RSNA_PNEUMONIA_PROMPTS,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if len(prompts) < 2:
            raise ValueError('RCLIPZeroShot: need one prompt per class (at '
                             f'least 2), got {list(prompts)}')
        self.prompts = list(prompts)

    def predict(self, inputs: Union[List[Tensor], Tensor],
                data_samples: Optional[list] = None) -> list:
        images = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        image_embeds = self.encode_image(images)
        probs = self.zero_shot_probs(image_embeds,
                                     self.encode_text(self.prompts))
        if data_samples is None:
            data_samples = [DataSample() for _ in range(images.size(0))]
        for sample, prob in zip(data_samples, probs):
            sample.set_pred_score(prob).set_pred_label(prob.argmax())
        return data_samples
