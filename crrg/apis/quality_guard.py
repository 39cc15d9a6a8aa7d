"""The quality guard of a fast inference profile: its predictions against
the exact profile's on the same model and images.

The guard (issue thresholds, :data:`QUALITY_GUARD`): the regions detected
and selected identical on at least 99% of the regions, every box of a
region detected by both within 1 pixel of the model's input, and the
sentences identical on at least 95% of the regions that either profile
selected. It reads :class:`~crrg.apis.ReportInferencer` predictions, so any
two runs (profiles, machines, versions) of one model can be compared.
"""
from typing import Dict, Sequence

#: thresholds: shares of regions (``regions``, ``sentences``) and pixels of
#: the model's input (``box_px``)
QUALITY_GUARD = dict(regions=0.99, box_px=1.0, sentences=0.95)


def quality_guard(reference: Sequence[dict],
                  candidate: Sequence[dict],
                  input_size: int = 512) -> Dict[str, object]:
    """Compare two profiles' predictions of the same images.

    Args:
        reference (Sequence[dict]): :class:`~crrg.apis.ReportInferencer`
            predictions of the exact profile, one per image (``ori_shape``
            [h, w] and the ``regions`` rows: ``detected``, ``selected``,
            ``bbox`` [x1, y1, x2, y2] in original-image pixels,
            ``sentence``).
        candidate (Sequence[dict]): The fast profile's predictions of the
            same images, in the same order.
        input_size (int): The model input's side: a box difference in
            original pixels is scaled by ``input_size / max(h, w)`` (the
            longest-side resize of RGRG's and crrg's pipelines) to pixels
            of the model's input. Defaults to 512.

    Returns:
        dict: ``regions`` (compared), ``regions_identical`` (share of the
        regions with the same detected and selected flags),
        ``box_max_diff_px`` (the largest coordinate difference, in input
        pixels, over the regions detected by both; 0 when none),
        ``sentence_regions`` (regions selected by either),
        ``sentences_identical`` (share of those selected by both with the
        same sentence; 1 when none is selected) and ``passed`` (all three
        within :data:`QUALITY_GUARD`).

    Raises:
        ValueError: The two lists differ in images or regions.
    """
    if len(reference) != len(candidate):
        raise ValueError(f'quality_guard: {len(reference)} reference and '
                         f'{len(candidate)} candidate predictions')
    regions = same_flags = sentence_regions = same_sentences = 0
    box_diff = 0.
    for ref, cand in zip(reference, candidate):
        if len(ref['regions']) != len(cand['regions']) or \
                ref['ori_shape'] != cand['ori_shape']:
            raise ValueError(
                f'quality_guard: {ref["img_path"]} and {cand["img_path"]} '
                'differ in regions or image size: not the same image and '
                'model')
        scale = input_size / max(ref['ori_shape'])
        for a, b in zip(ref['regions'], cand['regions']):
            regions += 1
            same_flags += (a['detected'] == b['detected']
                           and a['selected'] == b['selected'])
            if a['detected'] and b['detected']:
                box_diff = max(box_diff, scale * max(
                    abs(u - v) for u, v in zip(a['bbox'], b['bbox'])))
            if a['selected'] or b['selected']:
                sentence_regions += 1
                same_sentences += (a['selected'] and b['selected']
                                   and a['sentence'] == b['sentence'])
    result = dict(
        regions=regions,
        regions_identical=same_flags / regions if regions else 1.,
        box_max_diff_px=box_diff,
        sentence_regions=sentence_regions,
        sentences_identical=(same_sentences / sentence_regions
                             if sentence_regions else 1.))
    result['passed'] = bool(
        result['regions_identical'] >= QUALITY_GUARD['regions']
        and box_diff <= QUALITY_GUARD['box_px']
        and result['sentences_identical'] >= QUALITY_GUARD['sentences'])
    return result
