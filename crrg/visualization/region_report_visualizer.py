"""Draw a region-guided report: the selected regions' boxes and their sentences."""
import colorsys
import textwrap
from collections.abc import Sequence

import cv2
import mmcv
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.visualization import DetLocalVisualizer
from mmengine.dist import master_only
from mmengine.structures import InstanceData

from crrg.structures import ANATOMICAL_REGIONS
from crrg.registry import VISUALIZERS


#: colour of the outline around the region a user picked (RGB); no region's
#: colour is near it (:func:`region_palette`)
HIGHLIGHT_COLOUR = (255, 255, 0)


def _lab(colours) -> np.ndarray:
    """CIELAB (L in 0..100) of RGB uint8 colours, (N, 3)."""
    rgb = np.asarray(colours, dtype=np.float32).reshape(-1, 1, 3) / 255
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def colour_distances(colours) -> np.ndarray:
    """Pairwise CIE76 colour differences (ΔE in CIELAB), (N, N)."""
    lab = _lab(colours)
    return np.sqrt(((lab[:, None] - lab[None]) ** 2).sum(-1))


def region_palette(num_regions: int) -> list[tuple[int, int, int]]:
    """One bright colour per region, as distinct from each other as a
    greedy choice makes them.

    The candidates are 72 hues at four saturation / value levels, minus the
    dark ones (CIELAB lightness below 45, hard to see on an X-ray) and those
    near white or :data:`HIGHLIGHT_COLOUR`; starting from red, each next
    colour is the candidate farthest (CIE76 ΔE) from all chosen so far. For
    the 29 regions no two colours are closer than ΔE 24 (a "just noticeable
    difference" is about 2.3).

    Args:
        num_regions (int): Number of colours.

    Returns:
        list[tuple[int, int, int]]: ``num_regions`` RGB colours in 0..255.
    """
    candidates = []
    for hue in range(72):
        for saturation, value in ((1, 1), (0.55, 1), (1, 0.7), (0.7, 0.85)):
            r, g, b = colorsys.hsv_to_rgb(hue / 72, saturation, value)
            candidates.append((int(r * 255), int(g * 255), int(b * 255)))
    lab = _lab(candidates)
    avoid = _lab([HIGHLIGHT_COLOUR, (255, 255, 255)])
    usable = (np.sqrt(((lab[:, None] - avoid[None]) ** 2).sum(-1)).min(1) >
              35) & (lab[:, 0] >= 45)
    chosen = [0]
    distance = np.sqrt(((lab - lab[0]) ** 2).sum(-1))
    distance[~usable] = -1
    while len(chosen) < num_regions:
        pick = int(distance.argmax())
        chosen.append(pick)
        distance = np.minimum(distance,
                              np.sqrt(((lab - lab[pick]) ** 2).sum(-1)))
        distance[~usable] = -1
    return [candidates[i] for i in chosen[:num_regions]]


def regions_from_records(records: Sequence[dict]) -> InstanceData:
    """``pred_regions`` from the region dicts of an inferencer prediction.

    Args:
        records (Sequence[dict]): One dict per region, in region order, with
            ``bbox`` [x1, y1, x2, y2], ``score``, ``detected``,
            ``selection_score``, ``selected`` and ``sentence`` (the
            ``regions`` of ``ReportInferencer``'s predictions).

    Returns:
        InstanceData: ``bboxes`` (N, 4), ``scores`` (N,), ``detected`` (N,),
        ``selection_scores`` (N,), ``selected`` (N,), ``sentences`` (list of
        N str).
    """
    regions = InstanceData()
    regions.bboxes = torch.tensor([r['bbox'] for r in records],
                                  dtype=torch.float32).reshape(-1, 4)
    regions.scores = torch.tensor([float(r['score']) for r in records])
    regions.detected = torch.tensor([bool(r['detected']) for r in records])
    regions.selection_scores = torch.tensor(
        [float(r['selection_score']) for r in records])
    regions.selected = torch.tensor([bool(r['selected']) for r in records])
    regions.sentences = [r['sentence'] for r in records]
    return regions


@VISUALIZERS.register_module()
class RegionReportVisualizer(DetLocalVisualizer):
    """Draw the regions a region-guided generator selected, and its sentences.

    The prediction is read from ``data_sample.pred_regions`` (29 rows:
    ``bboxes`` (29, 4) xyxy in the pixels of the drawn image, ``detected``
    (29,), ``selected`` (29,), ``sentences`` list of 29 str, and optionally
    ``scores``/``selection_scores`` (29,) and ``abnormal`` (29,) bool) and
    ``data_sample.pred_report``. Each selected region gets a solid box and a
    label with its name in the region's colour; abnormal regions are also
    tinted with that colour and marked ``(!)``; detected but unselected
    regions are drawn dashed and thin when ``draw_unselected`` is True. A side
    panel to the right of the image lists the selected regions' sentences in
    the same colours.

    Args:
        name (str): Name of the instance. Defaults to 'visualizer'.
        image (np.ndarray, optional): The image to draw, RGB. Defaults to None.
        vis_backends (list[dict], optional): Visual backend configs.
            Defaults to None.
        save_dir (str, optional): Save directory of the backends.
            Defaults to None.
        region_names (Sequence[str]): Name of each region, indexed like the
            rows of ``pred_regions``. Defaults to the 29 Chest ImaGenome
            regions.
        line_width (int | float): Line width of selected regions' boxes on a
            512-pixel image, scaled with the image's longer side (mmengine
            caps widths at a quarter of its default font size); unselected
            ones are half as wide. Defaults to 2.
        alpha (float): Opacity of boxes. Defaults to 0.9.
        draw_unselected (bool): Whether to draw detected regions that were
            not selected (dashed). Defaults to False.
        with_panel (bool): Whether to add the sentence panel to the right of
            the image. Defaults to True.
        panel_ratio (float): Panel width as a fraction of the image height.
            Defaults to 0.9.
        font_size (int, optional): Font size of labels and panel text in
            points; None scales it with the image height. Defaults to None.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: np.ndarray | None = None,
                 vis_backends: list[dict] | None = None,
                 save_dir: str | None = None,
                 region_names: Sequence[str] = ANATOMICAL_REGIONS,
                 line_width: float = 2,
                 alpha: float = 0.9,
                 draw_unselected: bool = False,
                 with_panel: bool = True,
                 panel_ratio: float = 0.9,
                 font_size: int | None = None) -> None:
        super().__init__(
            name=name,
            image=image,
            vis_backends=vis_backends,
            save_dir=save_dir,
            line_width=line_width,
            alpha=alpha)
        self.region_names = tuple(region_names)
        self.palette = region_palette(len(self.region_names))
        self.draw_unselected = draw_unselected
        self.with_panel = with_panel
        self.panel_ratio = panel_ratio
        self.font_size = font_size

    def _font_size(self, height: int) -> int:
        """Font size in points for an image ``height`` pixels high."""
        if self.font_size is not None:
            return self.font_size
        return int(min(max(height / 60, 6), 48))

    def _points_to_pixels(self, points: float) -> float:
        """Height in pixels of text drawn at ``points``."""
        return points * self.dpi / 72

    def _draw_regions(self, image: np.ndarray,
                      regions: InstanceData) -> np.ndarray:
        """Draw the region boxes and labels on ``image``.

        Args:
            image (np.ndarray): (H, W, 3) RGB uint8 image.
            regions (InstanceData): ``pred_regions`` of 29 rows.

        Returns:
            np.ndarray: (H, W, 3) RGB uint8 image with the boxes drawn.
        """
        self.set_image(image)
        bboxes = np.asarray(regions.bboxes, dtype=np.float32).reshape(-1, 4)
        selected = np.asarray(regions.selected, dtype=bool)
        detected = np.asarray(regions.detected, dtype=bool)
        abnormal = (
            np.asarray(regions.abnormal, dtype=bool)
            if 'abnormal' in regions else np.zeros_like(selected))
        font_size = self._font_size(image.shape[0])
        height, width = image.shape[:2]
        line_width = self.line_width * max(1.0, max(height, width) / 512)
        bboxes[:, 0::2] = bboxes[:, 0::2].clip(0, width - 1)
        bboxes[:, 1::2] = bboxes[:, 1::2].clip(0, height - 1)
        bboxes[:, 2:] = np.maximum(bboxes[:, 2:], bboxes[:, :2])

        if self.draw_unselected:
            rows = np.flatnonzero(detected & ~selected)
            if rows.size:
                self.draw_bboxes(
                    bboxes[rows],
                    edge_colors=[self.palette[i] for i in rows],
                    line_styles='--',
                    line_widths=line_width / 2,
                    alpha=self.alpha * 0.7)

        rows = np.flatnonzero(selected)
        if rows.size == 0:
            return self.get_image()
        tinted = rows[abnormal[rows]]
        if tinted.size:
            self.draw_bboxes(
                bboxes[tinted],
                edge_colors='none',
                face_colors=[self.palette[i] for i in tinted],
                alpha=0.3)
        self.draw_bboxes(
            bboxes[rows],
            edge_colors=[self.palette[i] for i in rows],
            line_widths=line_width,
            alpha=self.alpha)
        labels = [
            self.region_names[i] + (' (!)' if abnormal[i] else '')
            for i in rows
        ]
        positions = self._label_positions(labels, bboxes[rows], font_size,
                                          line_width, (height, width))
        self.draw_texts(
            labels,
            positions,
            font_sizes=font_size,
            colors='black',
            bboxes=[{
                'facecolor': [c / 255 for c in self.palette[i]],
                'alpha': 0.8,
                'pad': 0.7,
                'edgecolor': 'none'
            } for i in rows])
        return self.get_image()

    def _label_positions(self, labels: list, boxes: np.ndarray,
                         font_size: int, line_width: float,
                         shape: tuple) -> np.ndarray:
        """Top-left corners of the labels: inside each box's top-left
        corner, moved left / up so that the whole label stays inside the
        picture (its width estimated from the character count)."""
        height, width = shape
        char = self._points_to_pixels(font_size) * 0.62
        text_h = self._points_to_pixels(font_size) * 1.4
        positions = boxes[:, :2] + line_width
        for k, label in enumerate(labels):
            text_w = len(label) * char + 2 * text_h * 0.35
            positions[k, 0] = min(positions[k, 0], width - text_w - 2)
            positions[k, 1] = min(positions[k, 1], height - text_h - 2)
        return positions.clip(min=1)

    def _draw_panel(self, height: int, regions: InstanceData,
                    report: str) -> np.ndarray:
        """Render the selected regions' sentences on a black panel.

        Args:
            height (int): Panel height in pixels (the image height).
            regions (InstanceData): ``pred_regions`` of 29 rows.
            report (str): The generated report, shown when no region is
                selected so that the panel is never silently empty.

        Returns:
            np.ndarray: (height, panel width, 3) RGB uint8 panel.
        """
        width = max(int(height * self.panel_ratio), 64)
        self.set_image(np.zeros((height, width, 3), dtype=np.uint8))
        font_size = self._font_size(height)
        line_height = self._points_to_pixels(font_size) * 1.35
        chars_per_line = max(int(width / (self._points_to_pixels(font_size) *
                                          0.62)), 10)
        margin = line_height / 2

        texts, colours = [], []
        for i in np.flatnonzero(np.asarray(regions.selected, dtype=bool)):
            texts.append(self.region_names[i])
            colours.append(self.palette[i])
            for line in textwrap.wrap(regions.sentences[i] or '(no sentence)',
                                      chars_per_line - 2):
                texts.append('  ' + line)
                colours.append((235, 235, 235))
        if not texts:
            texts = ['no region selected'] + textwrap.wrap(
                report, chars_per_line)
            colours = [(235, 235, 235)] * len(texts)
        max_lines = max(int((height - 2 * margin) // line_height), 1)
        if len(texts) > max_lines:
            texts = texts[:max_lines - 1] + ['...']
            colours = colours[:max_lines - 1] + [(235, 235, 235)]
        positions = np.array([[margin, margin + k * line_height]
                              for k in range(len(texts))])
        self.draw_texts(
            texts,
            positions,
            font_sizes=font_size,
            colors=colours,
            font_families='monospace')
        return self.get_image()

    def draw_prediction(self,
                        image: np.ndarray,
                        regions: InstanceData,
                        highlight: int | None = None) -> np.ndarray:
        """Draw the regions on ``image`` and return the drawing (no panel).

        For interactive viewers (``tools/demo_app.py``): nothing is saved or
        sent to the backends.

        Args:
            image (np.ndarray): (H, W, 3) RGB or (H, W) grey image, in the
                pixels ``regions.bboxes`` refer to.
            regions (InstanceData): ``pred_regions`` of 29 rows (see the
                class docstring).
            highlight (int, optional): Index of a region to outline (the
                region a user picked), drawn whether or not it is selected:
                a band of :data:`HIGHLIGHT_COLOUR` just inside its box,
                at least 3 pixels wide, with the region's colour on its
                edge. Defaults to None.

        Returns:
            np.ndarray: (H, W, 3) RGB uint8 drawing.
        """
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = image.clip(0, 255).astype(np.uint8)
        drawn = self._draw_regions(image, regions)
        if highlight is None:
            return drawn
        height, width = image.shape[:2]
        band = int(max(3, round(self.line_width * max(height, width) / 256)))
        x1, y1, x2, y2 = np.asarray(regions.bboxes[highlight],
                                    dtype=np.float32).reshape(4)
        x1, x2 = (int(round(min(max(v, 0), width - 1))) for v in (x1, x2))
        y1, y2 = (int(round(min(max(v, 0), height - 1))) for v in (y1, y2))
        drawn = np.ascontiguousarray(drawn.copy())
        # a solid band of the highlight colour inside the box (cv2: exact
        # colours, no anti-aliasing), the region's colour on its outer edge
        inset = band // 2 + 1
        cv2.rectangle(drawn, (x1 + inset, y1 + inset),
                      (max(x2 - inset, x1 + inset), max(y2 - inset,
                                                        y1 + inset)),
                      HIGHLIGHT_COLOUR, band)
        cv2.rectangle(drawn, (x1, y1), (x2, y2),
                      tuple(int(c) for c in self.palette[highlight]), 1)
        return drawn

    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: DetDataSample | None = None,
                       draw_gt: bool = False,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: str | None = None,
                       pred_score_thr: float = 0.3,
                       step: int = 0) -> None:
        """Draw a region-guided prediction and save it to a file or backends.

        Samples without ``pred_regions`` (e.g. a plain detector's) fall back
        to :class:`DetLocalVisualizer`.

        Args:
            name (str): The image identifier.
            image (np.ndarray): (H, W, 3) RGB or (H, W) grey image, in the
                pixels ``pred_regions.bboxes`` refer to.
            data_sample (DetDataSample, optional): Sample carrying
                ``pred_regions`` and ``pred_report``. Defaults to None.
            draw_gt (bool): Passed to :class:`DetLocalVisualizer` for samples
                without ``pred_regions``. Defaults to False.
            draw_pred (bool): Whether to draw the prediction. Defaults to True.
            show (bool): Whether to display the drawing in a window.
                Defaults to False.
            wait_time (float): Display time in seconds. Defaults to 0.
            out_file (str, optional): Where to write the drawing (PNG/JPEG by
                extension); None sends it to the visual backends.
                Defaults to None.
            pred_score_thr (float): Score threshold for the fallback.
                Defaults to 0.3.
            step (int): Global step recorded by the backends. Defaults to 0.
        """
        if data_sample is None or 'pred_regions' not in data_sample:
            super().add_datasample(name, image, data_sample, draw_gt,
                                   draw_pred, show, wait_time, out_file,
                                   pred_score_thr, step)
            return
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = image.clip(0, 255).astype(np.uint8)
        data_sample = data_sample.cpu()
        regions = data_sample.pred_regions
        drawn = image
        if draw_pred:
            drawn = self._draw_regions(image, regions)
            if self.with_panel:
                panel = self._draw_panel(image.shape[0], regions,
                                         data_sample.get('pred_report', ''))
                drawn = np.concatenate((drawn, panel), axis=1)
        self.set_image(drawn)

        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(drawn[..., ::-1], out_file)
        else:
            self.add_image(name, drawn, step)
