"""A report generator trained with a CLIP directional loss (IU X-ray).

An image encoder (any mmpretrain backbone) turns both views into visual
tokens, a transformer decoder writes the report, and the loss is
``L = L_CE + w * L_dir`` with

    L_dir = 1 - cos(E_T(r) - E_I(x), E_T(M(x)) - E_I(x))

where ``E_I``, ``E_T`` are a frozen CLIP's image and text encoders, ``x`` the
frontal view, ``r`` the reference report and ``M(x)`` the generated one.

Differentiability. Decoding a report is discrete, so ``E_T(M(x))`` of the
decoded text has no gradient (the published code detaches it, so its L_dir
never trains the decoder). Here ``M(x)`` is the decoder's *soft* report under
teacher forcing: at every position the expected token embedding
``softmax(logits) @ W_emb`` of the CLIP text tower's word-embedding matrix
``W_emb`` (decoder and CLIP share the WordPiece vocabulary), fed to the CLIP
text tower as ``inputs_embeds`` after the ``[CLS]`` embedding, with the
reference's attention mask (same length as the reference). ``E_T`` of this
soft report is differentiable in the decoder's logits, so L_dir's gradient
reaches every decoder parameter and the image encoder; the CLIP stays frozen.
When the decoder is certain (one-hot probabilities) the soft report is
exactly the embedding of the text it would write.
"""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from crrg.models.clip import build_frozen_clip
from crrg.models.report_generators import BaseReportGenerator
from crrg.models.utils import MultiViewTokens, masked_lm_loss
from crrg.registry import MODELS


def directional_distance(image: Tensor, reference: Tensor,
                         generated: Tensor) -> Tensor:
    """``1 - cos(reference - image, generated - image)`` per row, (B,).

    All inputs are (B, D) CLIP embeddings (L2-normalised).
    """
    return 1 - F.cosine_similarity(reference - image, generated - image,
                                   dim=-1)


@MODELS.register_module()
class ClipDirectionalReportGenerator(BaseReportGenerator):
    """Image encoder + transformer decoder, trained with L_CE + L_dir.

    Input per study: a list of V image views (B, 3, H, W) from mmpretrain's
    ``SelfSupDataPreprocessor``; view 0 (the frontal) is the CLIP's ``x``.
    Data samples carry ``gt_report`` in training and get ``pred_report``
    and ``directional_distance`` (of the decoded report) from ``predict``.

    Args:
        backbone (dict): Image backbone (e.g. ``mmpretrain.ResNet``); the
            last feature map (B, C, h, w) of each view becomes h * w tokens.
        backbone_channels (int): C.
        decoder (dict): ``TransformerReportHead`` config; its tokenizer must
            be the CLIP text tower's (checked), ``memory_channels`` is set to
            ``backbone_channels``.
        clip (dict): ``model`` (config file or model config) and
            ``checkpoint`` of the frozen CLIP (crrg's R-CLIP).
        dir_loss_weight (float): Weight w of L_dir; 0 trains with L_CE only
            (the CLIP is then only used to score predictions).
            Defaults to 1.0.
        soft_decoding (str): How the soft report M(x) of L_dir is decoded:
            ``'teacher_forced'`` (the CE pass's next-token distributions) or
            ``'free_running'`` (the decoder fed its own expected embeddings,
            as at generation; one decoder step per token).
            Defaults to 'teacher_forced'.
        data_preprocessor (dict, optional): The configs use mmpretrain's
            ``SelfSupDataPreprocessor`` (a list of views).
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: dict,
                 backbone_channels: int,
                 decoder: dict,
                 clip: dict,
                 dir_loss_weight: float = 1.0,
                 soft_decoding: str = 'teacher_forced',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.view_tokens = MultiViewTokens(backbone_channels)
        self.decoder = MODELS.build(
            dict(decoder, memory_channels=backbone_channels))
        self.clip = build_frozen_clip(**clip)
        clip_vocab = self.clip.text_tokenizer.get_vocab()
        if self.decoder.tokenizer.get_vocab() != clip_vocab:
            raise ValueError(
                'ClipDirectionalReportGenerator: the decoder tokenizer must be '
                "the CLIP text tower's (same vocabulary), so that the soft "
                'report can be embedded by the CLIP; set decoder.tokenizer to '
                'the CLIP tokenizer directory.')
        if soft_decoding not in ('teacher_forced', 'free_running'):
            raise ValueError('ClipDirectionalReportGenerator: soft_decoding '
                             "must be 'teacher_forced' or 'free_running', got "
                             f'{soft_decoding!r}')
        self.dir_loss_weight = dir_loss_weight
        self.soft_decoding = soft_decoding

    def train(self, mode: bool = True) -> 'ClipDirectionalReportGenerator':
        super().train(mode)
        self.clip.eval()
        return self

    def extract_feat(self, inputs: List[Tensor],
                     data_samples: Optional[list] = None) -> Tensor:
        """Visual tokens (B, V * h * w, C) of the image views, with 2D sine
        position codes and a view embedding added (:class:`MultiViewTokens`).
        """
        return self.view_tokens([self.backbone(view)[-1] for view in inputs])

    def free_running_logits(self, memory: Tensor, length: int) -> Tensor:
        """Logits (B, length, V) of the decoder fed its own soft outputs.

        Starts from ``[CLS]``; each next input is the expected word embedding
        ``softmax(logits) @ W_dec`` of the previous step (KV cache on), so
        the whole soft report stays differentiable.
        """
        decoder = self.decoder
        embeddings = decoder.word_embeddings.weight  # (V, H)
        states = decoder.project_memory(memory)
        step = embeddings[decoder.bos_token_id].expand(memory.size(0), 1, -1)
        past, outputs = None, []
        for _ in range(length):
            logits, past = decoder.decode_step(step, states, past)
            outputs.append(logits)
            step = (logits.softmax(dim=-1) @ embeddings)[:, None]
        return torch.stack(outputs, dim=1)

    def soft_text_embedding(self, logits: Tensor, mask: Tensor) -> Tensor:
        """CLIP embedding (B, D) of the decoder's soft report.

        Args:
            logits (Tensor): Teacher-forced next-token logits (B, L-1, V).
            mask (Tensor): (B, L-1), 1 on the report's tokens.
        """
        word_embeddings = self.clip.text_word_embeddings.weight  # (V, C)
        soft = logits.softmax(dim=-1) @ word_embeddings
        cls = word_embeddings[self.clip.text_tokenizer.cls_token_id]
        embeds = torch.cat([cls.expand(soft.size(0), 1, -1), soft], dim=1)
        attention = torch.cat([mask.new_ones(mask.size(0), 1), mask], dim=1)
        return self.clip.encode_text_embeds(embeds, attention)

    def loss(self, inputs: List[Tensor],
             data_samples: list) -> Dict[str, Tensor]:
        views = list(inputs)
        reports = [s.gt_report for s in data_samples]
        memory = self.extract_feat(views)
        logits, targets, mask = self.decoder.logits(memory, reports)
        losses = dict(loss_ce=masked_lm_loss(logits, targets, mask))
        if self.dir_loss_weight > 0:
            with torch.no_grad():
                image = self.clip.encode_image(views[0])
                reference = self.clip.encode_text(reports)
            if self.soft_decoding == 'free_running':
                logits = self.free_running_logits(memory, mask.size(1))
            generated = self.soft_text_embedding(logits, mask)
            losses['loss_dir'] = self.dir_loss_weight * directional_distance(
                image, reference, generated).mean()
        return losses

    @torch.no_grad()
    def predict(self, inputs: List[Tensor], data_samples: list) -> list:
        """Beam-search reports and their directional distance (decoded)."""
        views = list(inputs)
        generated = self.decoder.generate(self.extract_feat(views))
        image = self.clip.encode_image(views[0])
        reference = self.clip.encode_text([s.gt_report for s in data_samples])
        distance = directional_distance(image, reference,
                                         self.clip.encode_text(generated))
        for sample, report, dist in zip(data_samples, generated, distance):
            sample.set_field(report, 'pred_report')
            sample.set_field(float(dist), 'directional_distance')
        return data_samples
