import copy
from typing import Callable, Dict, List, Optional, Sequence

import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData
from rouge_score import rouge_scorer
from torch import Tensor

from crrg.registry import MODELS, TASK_UTILS
from ..detectors import RegionPredictions
from ..detectors.head_precision import native_bf16
from .base import INFERENCE_PROFILES, BaseReportGenerator

_ROUGE = rouge_scorer.RougeScorer(['rougeL'])


def assemble_report(sentences: Sequence[str],
                    count_tokens: Optional[Callable[[str], int]] = None,
                    max_tokens: Optional[int] = None,
                    near_duplicate_f1: float = 0.9) -> str:
    """Join region sentences into a report.

    Rules, in order:

    1. ``sentences`` are taken in the given (anatomical, region-index) order;
       empty ones are skipped.
    2. Exact duplicates (after whitespace stripping) keep their first
       occurrence.
    3. Near duplicates: of any pair whose ROUGE-L F1 on lower-cased
       alphanumeric tokens (``rouge-score``'s tokenizer) is
       ``>= near_duplicate_f1``, the shorter is dropped (the earlier one on
       ties). RGRG uses BERTScore > 0.9, which needs a BERT checkpoint at
       inference; crrg uses a lexical rule so assembly has no model
       dependency and is deterministic.
    4. Token budget: sentences are added in order until the report's token
       count reaches ``max_tokens``; the sentence that reaches it is the last
       one kept.

    Args:
        sentences (Sequence[str]): Sentences in region order.
        count_tokens (Callable, optional): Token counter for the budget.
        max_tokens (int, optional): Token budget; None = no budget.
        near_duplicate_f1 (float): ROUGE-L F1 threshold. Defaults to 0.9.

    Returns:
        str: The report, sentences joined by a space.
    """
    unique: List[str] = []
    for sentence in sentences:
        sentence = sentence.strip()
        if sentence and sentence not in unique:
            unique.append(sentence)
    dropped = set()
    for i in range(len(unique)):
        for j in range(i + 1, len(unique)):
            if i in dropped or j in dropped:
                continue
            f1 = _ROUGE.score(unique[i], unique[j])['rougeL'].fmeasure
            if f1 >= near_duplicate_f1:
                dropped.add(j if len(unique[j]) < len(unique[i]) else i)
    kept: List[str] = []
    num_tokens = 0
    for idx, sentence in enumerate(unique):
        if idx in dropped:
            continue
        if max_tokens is not None and num_tokens >= max_tokens:
            break
        kept.append(sentence)
        if count_tokens is not None:
            num_tokens += count_tokens(sentence)
    return ' '.join(kept)


@MODELS.register_module()
class RegionGuidedReportGenerator(BaseReportGenerator):
    """Region-guided report generation (RGRG design, staged training).

    :class:`RegionDetector` (any supported mmdet detector) ->
    :class:`RegionSelector` -> :class:`GPT2RegionHead`. Each part is trained
    or frozen by a switch, so the three stages (detector, selector,
    generator) are config diffs. Frozen parts stay in eval mode with
    ``requires_grad=False``.

    Args:
        detector (dict): ``RegionDetector`` config (its ``detector`` is the
            mmdet detector of stage 1).
        selector (dict, optional): ``RegionSelector`` config; without it
            every detected region is selected.
        generator (dict, optional): ``GPT2RegionHead`` config; without it
            no sentences are written.
        abnormality (dict, optional): ``RegionAbnormalityClassifier``
            config (RGRG's auxiliary classifier): trained on
            ``region_abnormal`` when ``train_abnormality``; its logits and
            flags go into ``pred_regions``, never into generation.
        data_preprocessor (dict, optional): e.g. ``DetDataPreprocessor``.
        train_detector (bool): Train the detector. Defaults to False.
        train_selector (bool): Train the selector. Defaults to True.
        train_generator (bool): Train the generator. Defaults to False.
        train_abnormality (bool): Train the abnormality classifier.
            Defaults to False.
        detector_checkpoint (str, optional): Stage-1 checkpoint (of the
            plain mmdet detector) loaded into the detector at weight
            initialisation.
        near_duplicate_f1 (float): See :func:`assemble_report`.
        report_assembler (dict, optional): A report assembler config (e.g.
            :class:`RGRGReportAssembler`), called with the selected
            regions' sentences in region order; None = crrg's
            :func:`assemble_report`.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 detector: dict,
                 selector: Optional[dict] = None,
                 generator: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 train_detector: bool = False,
                 train_selector: bool = True,
                 train_generator: bool = False,
                 abnormality: Optional[dict] = None,
                 train_abnormality: bool = False,
                 detector_checkpoint: Optional[str] = None,
                 near_duplicate_f1: float = 0.9,
                 report_assembler: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        detector = copy.deepcopy(detector)
        if detector_checkpoint is not None:
            detector['detector']['init_cfg'] = dict(
                type='Pretrained', checkpoint=detector_checkpoint)
        self.detector = MODELS.build(detector)
        self.selector = MODELS.build(selector) if selector else None
        self.generator = MODELS.build(generator) if generator else None
        self.abnormality = MODELS.build(abnormality) if abnormality else None
        self.train_detector = train_detector
        self.train_selector = train_selector and self.selector is not None
        self.train_generator = train_generator and self.generator is not None
        self.train_abnormality = (train_abnormality
                                  and self.abnormality is not None)
        self.near_duplicate_f1 = near_duplicate_f1
        self.report_assembler = (TASK_UTILS.build(report_assembler)
                                 if report_assembler else None)
        for module, trained in self._parts():
            if module is not None and not trained:
                module.requires_grad_(False)

    def _parts(self):
        return ((self.detector, self.train_detector),
                (self.selector, self.train_selector),
                (self.generator, self.train_generator),
                (self.abnormality, self.train_abnormality))

    def train(self, mode: bool = True) -> 'RegionGuidedReportGenerator':
        """Set train mode, keeping frozen parts in eval mode."""
        super().train(mode)
        for module, trained in self._parts():
            if module is not None and not trained:
                module.eval()
        return self

    def set_inference_profile(self, profile: str) -> None:
        """Set the detector's and the generator's speed switches at once.

        ``'exact'``: detector in fp32 with contiguous input, generator
        decoding in fp32 (the same tokens as transformers' ``generate``).
        ``'fast'``: the detector's backbone and neck in bf16 on channels-last
        input (``RegionDetector.inference_precision='bf16'``,
        ``channels_last=True``; boxes and region features stay fp32), its
        heavy head layers in bf16 (``head_precision='bf16'``); on a CPU
        without native bf16 (no AVX512-BF16 / AMX, where bf16 is emulated
        and slower than fp32) the backbone stays fp32 and the head layers
        run in int8 (fbgemm); and the
        generator decoding with int8 weights
        (``GPT2RegionHead.inference_precision='int8'``; the compiled step where
        it can be built). Figures: docs/benchmarks.md.

        Args:
            profile (str): ``'exact'`` or ``'fast'``.
        """
        if profile not in INFERENCE_PROFILES:
            raise ValueError(f'{type(self).__name__}: inference profile must '
                             f'be one of {INFERENCE_PROFILES}, got '
                             f'{profile!r}')
        fast = profile == 'fast'
        bf16 = native_bf16()
        self.detector.inference_precision = 'bf16' if fast and bf16 \
            else 'fp32'
        self.detector.head_precision = ('bf16' if bf16 else 'int8') \
            if fast else 'fp32'
        self.detector.channels_last = fast
        if self.generator is not None:
            self.generator.inference_precision = 'int8' if fast else 'fp32'

    def extract_feat(self, inputs: Tensor,
                     data_samples: List[DetDataSample]) -> RegionPredictions:
        """One box, score, detected flag and feature per region (boxes in
        the pipeline image's pixels); without gradient unless the detector
        trains."""
        if self.train_detector and self.training:
            return self.detector.predict_regions(inputs, data_samples)
        with torch.no_grad():
            return self.detector.predict_regions(inputs, data_samples)

    def loss(self, inputs: Tensor,
             data_samples: List[DetDataSample]) -> Dict[str, Tensor]:
        """Sum of the enabled parts' losses.

        Detector losses (``train_detector``), selection BCE against
        ``region_has_sentence`` (``train_selector``) and the LM loss on the
        ground-truth sentences of regions that have a sentence and are
        detected, all decoded as one batch (``train_generator``).

        Args:
            inputs (Tensor): (B, 3, H, W) preprocessed images.
            data_samples (list[DetDataSample]): With the RRG metainfo keys.

        Returns:
            dict: Loss tensors.
        """
        losses: Dict[str, Tensor] = {}
        if self.train_detector:
            losses.update(self.detector.loss(inputs, data_samples))
        if not (self.train_selector or self.train_generator
                or self.train_abnormality):
            return losses
        regions = self.extract_feat(inputs, data_samples)
        has_sentence = torch.tensor(
            [s.region_has_sentence for s in data_samples],
            dtype=torch.bool,
            device=inputs.device)
        if self.train_selector:
            losses.update(
                self.selector.loss(regions.features, regions.detected,
                                   has_sentence))
        if self.train_abnormality:
            abnormal = torch.tensor(
                [s.region_abnormal for s in data_samples],
                dtype=torch.bool,
                device=inputs.device)
            losses.update(
                self.abnormality.loss(regions.features, regions.detected,
                                      abnormal))
        if self.train_generator:
            mask = has_sentence & regions.detected
            sentences = [
                sample.region_sentences[r]
                for b, sample in enumerate(data_samples)
                for r in mask[b].nonzero().flatten().tolist()
            ]
            if sentences:
                losses.update(
                    self.generator.loss(regions.features[mask], sentences))
            else:
                losses['loss_lm'] = self.zero_loss(
                    regions.features, parameters=self.generator.parameters())
        return losses

    @torch.no_grad()
    def predict(self, inputs: Tensor,
                data_samples: List[DetDataSample]) -> List[DetDataSample]:
        """Boxes, selected regions, their sentences and the report.

        Fills, in the original image's pixels, ``pred_instances`` (the
        detected regions: ``bboxes``, ``scores``, ``labels``) and
        ``pred_regions`` (one row per region: ``bboxes`` (R, 4),
        ``scores``, ``detected``, ``selection_scores`` (logits),
        ``selected``, ``sentences``; with an abnormality classifier also
        ``abnormal_scores`` (logits) and ``abnormal``), and ``pred_report``.
        """
        regions = self.extract_feat(inputs, data_samples)
        if self.selector is not None:
            logits = self.selector.predict(regions.features)
            selected = self.selector.select(logits, regions.detected)
        else:
            logits = torch.zeros_like(regions.scores)
            selected = regions.detected.clone()
        if self.abnormality is not None:
            abnormal_logits = self.abnormality.predict(regions.features)
            abnormal = self.abnormality.select(abnormal_logits,
                                               regions.detected)
        num_images, num_regions = selected.shape
        texts = [[''] * num_regions for _ in range(num_images)]
        if self.generator is not None and selected.any():
            generated = self.generator.generate(regions.features[selected])
            for (b, r), text in zip(selected.nonzero().tolist(), generated):
                texts[b][r] = text
        for b, sample in enumerate(data_samples):
            detected = regions.detected[b]
            bboxes = self.boxes_to_original(regions.bboxes[b],
                                            sample.metainfo)
            sample.pred_instances = InstanceData(
                bboxes=bboxes[detected],
                scores=regions.scores[b][detected],
                labels=detected.nonzero().flatten())
            sample.pred_regions = InstanceData(
                bboxes=bboxes,
                scores=regions.scores[b],
                detected=detected,
                selection_scores=logits[b],
                selected=selected[b],
                sentences=texts[b])
            if self.abnormality is not None:
                sample.pred_regions.abnormal_scores = abnormal_logits[b]
                sample.pred_regions.abnormal = abnormal[b]
            generator = self.generator
            if self.report_assembler is not None:
                sample.pred_report = self.report_assembler([
                    text for text, chosen in zip(texts[b], selected[b])
                    if chosen
                ])
                continue
            sample.pred_report = assemble_report(
                texts[b],
                count_tokens=generator.count_tokens if generator else None,
                max_tokens=generator.max_report_tokens if generator else None,
                near_duplicate_f1=self.near_duplicate_f1)
        return data_samples
