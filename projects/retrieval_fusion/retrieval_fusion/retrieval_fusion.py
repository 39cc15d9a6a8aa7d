"""Retrieval + cross-modal fusion report generation (MedCLIP-style, IU X-ray).

A frozen CLIP (crrg's R-CLIP) gives the image features and retrieves, for
each study, the most similar training report (cosine similarity of the
CLIP image embedding and the corpus' CLIP text embeddings, the query's own
report excluded in training). The image tokens go through self-attention
(I_I), attend to the retrieved report's tokens (I_R, cross-attention), and
the fusion ``F = I_I + W I_R`` is the memory of a 3-layer transformer
decoder that writes the report with beam search (beam 3).
"""
import math
from typing import Dict, List, Optional, Union

import torch
from torch import Tensor, nn

from crrg.models.clip import build_frozen_clip
from crrg.models.report_generators import BaseReportGenerator
from crrg.models.utils import MultiViewTokens
from crrg.registry import DATASETS, MODELS


@MODELS.register_module()
class RetrievalFusionReportGenerator(BaseReportGenerator):
    """CLIP retrieval + cross-modal fusion + transformer decoder.

    Input per study: V image views (a list of V tensors (B, 3, H, W) from
    ``SelfSupDataPreprocessor``; view 0, the frontal, is the retrieval
    query) and, in training, ``gt_report`` and ``img_id`` in each data
    sample's metainfo.

    Args:
        clip (dict): ``model`` (config file or model config) and
            ``checkpoint`` of the frozen CLIP (see
            :func:`crrg.models.clip.build_frozen_clip`).
        retrieval_corpus (dict): Dataset config whose ``gt_report`` and
            ``img_id`` form the retrieval index (the training split); its
            pipeline is ignored. Encoded once, at the first forward.
        decoder (dict): ``TransformerReportHead`` config; its
            ``memory_channels`` is set to ``hidden_size``.
        hidden_size (int): Width d of the fusion. Defaults to 256.
        num_heads (int): Attention heads. Defaults to 8.
        dropout (float): Defaults to 0.1.
        data_preprocessor (dict, optional): The configs use mmpretrain's
            ``SelfSupDataPreprocessor`` (a list of views).
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 clip: dict,
                 retrieval_corpus: dict,
                 decoder: dict,
                 hidden_size: int = 256,
                 num_heads: int = 8,
                 dropout: float = 0.1,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.clip = build_frozen_clip(**clip)
        self.corpus_cfg = dict(retrieval_corpus, pipeline=[])
        self.corpus_reports: List[str] = []
        self.corpus_ids: List[str] = []
        self.register_buffer('corpus_embeddings', torch.empty(0),
                             persistent=False)
        self.image_proj = nn.Linear(self.clip.image_feat_channels,
                                    hidden_size)
        self.view_tokens = MultiViewTokens(hidden_size)
        self.image_self_attn = nn.TransformerEncoderLayer(
            hidden_size, num_heads, 4 * hidden_size, dropout,
            batch_first=True)
        self.report_proj = nn.Linear(self.clip.text_channels, hidden_size)
        self.cross_attn = nn.MultiheadAttention(
            hidden_size, num_heads, dropout=dropout, batch_first=True)
        self.fusion = nn.Linear(hidden_size, hidden_size)
        self.decoder = MODELS.build(dict(decoder, memory_channels=hidden_size))

    def train(self, mode: bool = True) -> 'RetrievalFusionReportGenerator':
        super().train(mode)
        self.clip.eval()
        return self

    @torch.no_grad()
    def build_index(self) -> None:
        """Encode the corpus' reports with the CLIP text tower, once."""
        corpus = DATASETS.build(self.corpus_cfg)
        infos = [corpus.get_data_info(i) for i in range(len(corpus))]
        self.corpus_reports = [info['gt_report'] for info in infos]
        self.corpus_ids = [str(info['img_id']) for info in infos]
        self.corpus_embeddings = torch.cat([
            self.clip.encode_text(self.corpus_reports[i:i + 64])
            for i in range(0, len(infos), 64)
        ])

    @torch.no_grad()
    def nearest(self, query: Tensor,
                exclude_ids: Optional[List[str]] = None) -> Tensor:
        """Corpus index (B,) of the most similar report of each frontal image.

        Args:
            query (Tensor): Frontal views (B, 3, H, W), normalised.
            exclude_ids (list[str], optional): Per query, a corpus id that
                may not be returned (the query's own study, in training).
        """
        if not self.corpus_reports:
            self.build_index()
        similarity = self.clip.encode_image(query) @ self.corpus_embeddings.t()
        if exclude_ids is not None:
            index = {sid: i for i, sid in enumerate(self.corpus_ids)}
            for row, sid in enumerate(exclude_ids):
                if sid in index:
                    similarity[row, index[sid]] = -math.inf
        return similarity.argmax(dim=1)

    def retrieve(self, query: Tensor,
                 exclude_ids: Optional[List[str]] = None) -> List[str]:
        """The reports of :meth:`nearest`."""
        return [self.corpus_reports[i]
                for i in self.nearest(query, exclude_ids).tolist()]

    def image_tokens(self, views: List[Tensor]) -> Tensor:
        """Self-attended image tokens I_I (B, V * h * w, d)."""
        maps = []
        for view in views:
            with torch.no_grad():
                fmap = self.clip.extract_image_feat(view)  # (B, C, h, w)
            maps.append(
                self.image_proj(fmap.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
        return self.image_self_attn(self.view_tokens(maps))

    def fuse(self, views: List[Tensor], reports: List[str]) -> Tensor:
        """The fused memory F = I_I + W I_R (B, N, d)."""
        image = self.image_tokens(views)
        with torch.no_grad():
            hidden, mask = self.clip.encode_text_tokens(reports)
        report = self.report_proj(hidden)
        attended, _ = self.cross_attn(
            image, report, report, key_padding_mask=~mask)
        return image + self.fusion(attended)

    @staticmethod
    def _views(inputs: Union[List[Tensor], Tensor]) -> List[Tensor]:
        return [inputs] if isinstance(inputs, Tensor) else list(inputs)

    def extract_feat(self, inputs, data_samples: Optional[list] = None,
                     exclude_ids: Optional[List[str]] = None):
        """The fused memory (B, N, d) and the retrieved reports.

        Args:
            inputs (Tensor | list[Tensor]): The image views.
            data_samples (list, optional): Unused.
            exclude_ids (list[str], optional): See :meth:`nearest`.

        Returns:
            tuple[Tensor, list[str]]: memory and retrieved reports.
        """
        views = self._views(inputs)
        retrieved = self.retrieve(views[0], exclude_ids)
        return self.fuse(views, retrieved), retrieved

    def loss(self, inputs, data_samples: list) -> Dict[str, Tensor]:
        memory, _ = self.extract_feat(
            inputs, exclude_ids=[str(s.img_id) for s in data_samples])
        return self.decoder.loss(memory, [s.gt_report for s in data_samples])

    def predict(self, inputs, data_samples: list) -> list:
        """Set ``pred_report`` and ``retrieved_report`` on each sample."""
        memory, retrieved = self.extract_feat(inputs)
        reports = self.decoder.generate(memory)
        for sample, report, nearest in zip(data_samples, reports, retrieved):
            sample.set_field(report, 'pred_report')
            sample.set_field(nearest, 'retrieved_report')
        return data_samples
