"""Interactive web demo of crrg's explainable chest X-ray reports (Gradio).

Upload a chest X-ray (JPEG, PNG or DICOM) or pick a sample; the page shows
the image with the detected regions, the report beside it and a table of the
29 regions. Clicking a box on the image (or a row of the table) shows that
region's box, detection and selection scores and its sentence. A toggle
switches between the selected regions and all detected ones. With an R-CLIP
config and checkpoint, the page also shows the zero-shot pneumonia
probability.

Everything runs on :class:`crrg.apis.ReportInferencer`. The page is served on
127.0.0.1 only; nothing is fetched from the internet (Gradio analytics are
off, no share link, the fonts are Gradio's bundled ones).

Example::

    python tools/demo_app.py            # the model tools/demo.sh trained
    python tools/demo_app.py configs/rrg/rrg-generator_tiny_synthetic.py \\
        work_dirs/demo/generator/epoch_4.pth \\
        --cfg-options model.generator.tokenizer=work_dirs/demo/generator/tokenizer \\
        --clip-config configs/rclip/rclip_tiny_synthetic.py \\
        --clip-checkpoint work_dirs/demo/rclip/epoch_10.pth --port 7860
"""
import os

# Before Gradio is imported: it reads these at import time.
os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
os.environ.setdefault('HF_HUB_OFFLINE', '1')

import argparse  # noqa: E402
import glob  # noqa: E402
import os.path as osp  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402

#: the model tools/demo.sh trains, used when no CONFIG / CHECKPOINT is given
DEFAULT_WORK_DIR = 'work_dirs/demo'
DEFAULT_CONFIG = 'configs/rrg/rrg-generator_tiny_synthetic.py'
DEFAULT_CLIP_CONFIG = 'configs/rclip/rclip_tiny_zero-shot_rsna_synthetic.py'
DEFAULT_SAMPLE_ROOT = 'data/synthetic'
#: the real radiograph of the pydicom-data wheel (crrg.testing.real_data)
REAL_SAMPLE = 'RG1_UNCR'
#: longer side of the image sent to the page, in pixels
DISPLAY_SIZE = 768
SHOW_SELECTED = 'selected regions'
SHOW_DETECTED = 'all detected regions'
TABLE_HEADERS = [
    'index', 'region', 'detected', 'score', 'selected', 'selection score',
    'sentence'
]
UPLOAD_TYPES = ['.jpg', '.jpeg', '.png', '.dcm', '.dicom']


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Serve the interactive report demo on 127.0.0.1')
    parser.add_argument(
        'config',
        nargs='?',
        help=f'report generator config (default: {DEFAULT_CONFIG} with the '
        f'tokenizer tools/demo.sh trained in {DEFAULT_WORK_DIR}/generator)')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='its checkpoint (default: the last one tools/demo.sh wrote)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    parser.add_argument(
        '--clip-config',
        help='zero-shot R-CLIP config (RCLIPZeroShot) for the pneumonia '
        'probability '
        f'(default with the default model: {DEFAULT_CLIP_CONFIG} when '
        f'tools/demo.sh trained it)')
    parser.add_argument('--clip-checkpoint', help='R-CLIP checkpoint')
    parser.add_argument(
        '--clip-cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the R-CLIP config, key=value')
    parser.add_argument(
        '--samples',
        nargs='*',
        help='sample images or glob patterns offered on the page (default: '
        f'three test images of the twin in {DEFAULT_SAMPLE_ROOT} and the '
        'real DICOM radiograph of the pydicom-data wheel)')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='load checkpoints whose keys do not match the model')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--host',
        default='127.0.0.1',
        help='address to serve on (default: this machine only)')
    parser.add_argument('--port', type=int, default=7860, help='port')
    return parser.parse_args(argv)


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint path mmengine recorded in ``work_dir/last_checkpoint``.

    Raises:
        FileNotFoundError: No training run wrote there; says what to run.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        raise FileNotFoundError(
            f'{record} not found: train the default model with '
            '`bash tools/demo.sh`, or pass CONFIG and CHECKPOINT')
    with open(record, encoding='utf-8') as f:
        return f.read().strip()


def resolve_models(args: argparse.Namespace) -> dict:
    """Config, checkpoint and option overrides of both models.

    Without CONFIG and CHECKPOINT the report generator (and, when trained,
    the R-CLIP) of ``tools/demo.sh`` are used, with the tokenizers it trained.

    Returns:
        dict: ``config``, ``checkpoint``, ``cfg_options`` and, or None,
        ``clip_config``, ``clip_checkpoint``, ``clip_cfg_options``.
    """
    if (args.config is None) != (args.checkpoint is None):
        raise SystemExit('give both CONFIG and CHECKPOINT, or neither')
    if (args.clip_config is None) != (args.clip_checkpoint is None):
        raise SystemExit('give both --clip-config and --clip-checkpoint, '
                         'or neither')
    models = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        cfg_options=dict(args.cfg_options or {}),
        clip_config=args.clip_config,
        clip_checkpoint=args.clip_checkpoint,
        clip_cfg_options=dict(args.clip_cfg_options or {}))
    if args.config is None:
        work = DEFAULT_WORK_DIR
        models['config'] = DEFAULT_CONFIG
        models['checkpoint'] = last_checkpoint(f'{work}/generator')
        models['cfg_options'].setdefault('model.generator.tokenizer',
                                         f'{work}/generator/tokenizer')
        if args.clip_config is None and osp.isfile(
                f'{work}/rclip/last_checkpoint'):
            models['clip_config'] = DEFAULT_CLIP_CONFIG
            models['clip_checkpoint'] = last_checkpoint(f'{work}/rclip')
            models['clip_cfg_options'].setdefault(
                'model.text_encoder.tokenizer', f'{work}/rclip/tokenizer')
    return models


def twin_test_images(root: str, count: int = 3) -> list[str]:
    """The first ``count`` test-split images of a synthetic (or real)
    MIMIC-CXR-JPG tree at ``root``; [] when there is none."""
    split = osp.join(root, 'mimic-cxr-jpg', 'mimic-cxr-2.0.0-split.csv.gz')
    if not osp.isfile(split):
        return []
    import pandas as pd
    table = pd.read_csv(split, dtype={'dicom_id': str})
    paths = []
    for row in table[table['split'] == 'test'].itertuples():
        subject = f'p{row.subject_id}'
        path = osp.join(root, 'mimic-cxr-jpg', 'files', subject[:3], subject,
                        f's{row.study_id}', f'{row.dicom_id}.jpg')
        if osp.isfile(path):
            paths.append(path)
        if len(paths) == count:
            break
    return paths


def real_dicom_sample(logger: MMLogger) -> str | None:
    """The real chest radiograph of the pydicom-data wheel, cached like
    :mod:`crrg.testing.real_data` caches wheel members; None (logged) when
    it is not cached and cannot be fetched."""
    from crrg.testing.real_data import fetch_real_data, real_data_file
    path = real_data_file(REAL_SAMPLE)
    if path is None:
        try:
            path = fetch_real_data([REAL_SAMPLE])[REAL_SAMPLE]
        except RuntimeError as exc:
            logger.warning(f'the real DICOM sample is not offered: {exc}')
            return None
    return path


def collect_samples(patterns: Sequence[str] | None,
                    logger: MMLogger) -> dict[str, str]:
    """Name -> path of the sample images offered on the page.

    Args:
        patterns (Sequence[str], optional): Files or glob patterns; None for
            the defaults (twin test images and the real DICOM).
        logger (MMLogger): Reports patterns that match nothing.
    """
    if patterns is None:
        paths = twin_test_images(DEFAULT_SAMPLE_ROOT)
        dicom = real_dicom_sample(logger)
        names = {f'synthetic twin: {Path(p).name}': p for p in paths}
        if dicom is not None:
            names['real radiograph (pydicom-data RG1_UNCR.dcm, DICOM)'] = dicom
        return names
    samples = {}
    for pattern in patterns:
        found = sorted(glob.glob(pattern, recursive=True)) \
            if glob.has_magic(pattern) else [pattern]
        found = [p for p in found if osp.isfile(p)]
        if not found:
            logger.warning(f'sample {pattern!r}: no such file')
        for path in found:
            samples[Path(path).name] = path
    return samples


class ZeroShotPneumonia:
    """R-CLIP's zero-shot pneumonia probability of one image.

    Runs the config's ``RCLIPZeroShot`` (CXR-CLIP's protocol: the softmax
    over the cosine similarities of the image with the config's prompts, on
    real data "No evidence of pneumonia" and "Findings suggesting
    pneumonia.") through its test
    pipeline, whose loader is replaced by crrg's X-ray loader (JPEG, PNG or
    DICOM).

    Args:
        config (str): A zero-shot R-CLIP config, e.g.
            ``configs/rclip/rclip_tiny_zero-shot_rsna_synthetic.py``.
        checkpoint (str): An R-CLIP checkpoint.
        cfg_options (dict, optional): Overrides of the config.
        device (str): Defaults to 'cpu'.
        allow_partial (bool): Load a checkpoint that does not match the
            model. Defaults to False.
    """

    def __init__(self,
                 config: str,
                 checkpoint: str,
                 cfg_options: dict | None = None,
                 device: str = 'cpu',
                 allow_partial: bool = False) -> None:
        from mmcv.transforms import Compose
        from mmengine.registry import init_default_scope

        from crrg.apis import test_pipeline_cfg
        from crrg.registry import MODELS
        from crrg.utils import load_model_checkpoint
        cfg = Config.fromfile(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        if cfg.model.get('type') != 'RCLIPZeroShot':
            raise ValueError(
                f'{config}: the zero-shot probability needs an RCLIPZeroShot '
                f'config (model type {cfg.model.get("type")!r}), e.g. '
                f'{DEFAULT_CLIP_CONFIG}')
        init_default_scope(cfg.get('default_scope', 'crrg'))
        self.model = MODELS.build(cfg.model)
        load_model_checkpoint(self.model, checkpoint,
                              allow_partial=allow_partial)
        self.model.to(device).eval()
        pipeline = [dict(t) for t in test_pipeline_cfg(cfg)]
        if 'Load' in str(pipeline[0].get('type', '')):
            pipeline[0] = dict(type='LoadXrayImageFromFile')
        self.pipeline = Compose(pipeline)

    def __call__(self, path: str) -> float:
        """Probability (0..1) that the image at ``path`` shows pneumonia."""
        import torch
        from mmengine.dataset import default_collate
        with torch.no_grad():
            sample = self.model.test_step(
                default_collate([self.pipeline(dict(img_path=path))]))[0]
        return float(sample.pred_score[1])


class DemoSession:
    """What the page shows, computed from the inferencer's predictions.

    Pure functions of a prediction (``ReportInferencer``'s per-image dict)
    and the display options; the Gradio callbacks in :func:`build_app` only
    route values, so this class is what the tests exercise directly.

    Args:
        inferencer (Callable): ``ReportInferencer`` (or any callable with its
            interface: ``inferencer(inputs=[path])['predictions'][0]``).
        zero_shot (Callable[[str], float], optional): Pneumonia probability
            of an image path. Defaults to None.
        display_size (int): Longer side of the image sent to the page.
    """

    def __init__(self,
                 inferencer: Callable,
                 zero_shot: Callable[[str], float] | None = None,
                 display_size: int = DISPLAY_SIZE) -> None:
        from crrg.registry import TRANSFORMS
        from crrg.visualization import RegionReportVisualizer
        self.inferencer = inferencer
        self.zero_shot = zero_shot
        self.display_size = display_size
        self.loader = TRANSFORMS.build(dict(type='LoadXrayImageFromFile'))
        self.visualizers = {
            show: RegionReportVisualizer(
                name=f'demo-app-{id(self)}-{i}',
                draw_unselected=show == SHOW_DETECTED,
                with_panel=False)
            for i, show in enumerate((SHOW_SELECTED, SHOW_DETECTED))
        }

    def analyse(self, path: str) -> dict:
        """Run the model on the image file at ``path``.

        Returns:
            dict: The page state: ``path``, ``image`` (h, w, 3) RGB uint8
            downscaled to ``display_size``, ``scale`` (display pixels per
            original pixel), ``prediction`` (the inferencer's dict, boxes in
            original pixels) and ``pneumonia`` (float or None).
        """
        prediction = self.inferencer(inputs=[path])['predictions'][0]
        image = self.loader(dict(img_path=path))['img']
        height, width = image.shape[:2]
        scale = min(1.0, self.display_size / max(height, width))
        if scale < 1.0:
            import mmcv
            image = mmcv.imrescale(image, scale, interpolation='area')
        pneumonia = self.zero_shot(path) if self.zero_shot else None
        return dict(path=path, image=np.ascontiguousarray(image),
                    scale=scale, prediction=prediction, pneumonia=pneumonia)

    @staticmethod
    def shown(state: dict, show: str) -> list[int]:
        """Indices of the regions shown: selected, or all detected."""
        regions = state['prediction']['regions']
        key = 'selected' if show == SHOW_SELECTED else 'detected'
        return [i for i, r in enumerate(regions) if r[key]]

    def render(self, state: dict, show: str,
               highlight: int | None = None) -> np.ndarray:
        """The display image with the shown regions (and ``highlight``)."""
        from crrg.visualization import regions_from_records
        records = state['prediction']['regions']
        regions = regions_from_records(records)
        regions.bboxes = regions.bboxes * state['scale']
        if show == SHOW_DETECTED:
            # all detected regions solid, so every shown box is clickable
            regions.selected = regions.selected | regions.detected
        return self.visualizers[show].draw_prediction(
            state['image'], regions, highlight=highlight)

    def table(self, state: dict, show: str) -> list[list]:
        """Rows of the region table (``TABLE_HEADERS``) for ``show``."""
        rows = []
        for i in self.shown(state, show):
            r = state['prediction']['regions'][i]
            rows.append([
                i, r['name'], 'yes' if r['detected'] else 'no',
                round(float(r['score']), 3), 'yes' if r['selected'] else 'no',
                round(float(r['selection_score']), 3), r['sentence']
            ])
        return rows

    def region_at(self, state: dict, show: str, x: float,
                  y: float) -> int | None:
        """The shown region whose box holds display pixel (x, y): the
        smallest such box; None if no shown box holds it."""
        px, py = x / state['scale'], y / state['scale']
        best, best_area = None, None
        for i in self.shown(state, show):
            x1, y1, x2, y2 = state['prediction']['regions'][i]['bbox']
            if x1 <= px <= x2 and y1 <= py <= y2:
                area = (x2 - x1) * (y2 - y1)
                if best_area is None or area < best_area:
                    best, best_area = i, area
        return best

    @staticmethod
    def detail(state: dict, index: int) -> str:
        """Markdown of one region: box, scores, sentence."""
        r = state['prediction']['regions'][index]
        box = ', '.join(f'{v:.1f}' for v in r['bbox'])
        selected = 'selected' if r['selected'] else 'not selected'
        detected = 'detected' if r['detected'] else 'not detected'
        sentence = r['sentence'] or '(no sentence: the region is not selected)'
        return (f'### {r["name"]} (region {r["index"]})\n\n'
                f'- box (original pixels): [{box}]\n'
                f'- detection score: {float(r["score"]):.3f} ({detected})\n'
                f'- selection score: {float(r["selection_score"]):+.3f} '
                f'({selected})\n\n'
                f'**sentence:** {sentence}')

    @staticmethod
    def pneumonia_text(state: dict) -> str:
        """Markdown of the zero-shot pneumonia probability."""
        if state['pneumonia'] is None:
            return ''
        return ('**R-CLIP zero-shot pneumonia probability:** '
                f'{state["pneumonia"]:.3f}')


HINT = ('Click a box on the image, or a row of the table, to see that '
        "region's box, scores and sentence.")


def build_app(session: DemoSession, samples: dict[str, str]):
    """The Gradio page of a :class:`DemoSession`.

    Args:
        session (DemoSession): Computes everything shown.
        samples (dict[str, str]): Name -> path of the sample images.

    Returns:
        gradio.Blocks: The page; serve it with :func:`launch`.
    """
    import gradio as gr

    def outputs_of(state: dict, show: str, highlight: int | None = None):
        detail = HINT if highlight is None else session.detail(
            state, highlight)
        return (session.render(state, show, highlight),
                state['prediction']['report'],
                session.table(state, show), detail,
                session.pneumonia_text(state))

    def analyse(path: str | None, show: str):
        if not path:
            raise gr.Error('no image given')
        try:
            state = session.analyse(path)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            raise gr.Error(f'{Path(path).name}: {type(exc).__name__}: '
                           f'{exc}') from exc
        return (state, *outputs_of(state, show))

    def analyse_upload(path: str | None, show: str):
        # the sample list no longer names the image shown
        return (*analyse(path, show), None)

    def analyse_sample(name: str | None, show: str):
        if not name:
            raise gr.Error('pick a sample')
        # the upload box no longer holds the image shown
        return (*analyse(samples[name], show), None)

    def click_image(state: dict | None, show: str, evt: gr.SelectData):
        if state is None:
            raise gr.Error('analyse an image first')
        x, y = evt.index
        index = session.region_at(state, show, x, y)
        if index is None:
            image, _, _, _, _ = outputs_of(state, show)
            return image, (f'No {show[:-1]} at ({x}, {y}): click inside a '
                           'box.')
        return session.render(state, show, index), session.detail(
            state, index)

    def click_table(state: dict | None, show: str, evt: gr.SelectData):
        if state is None:
            raise gr.Error('analyse an image first')
        row = evt.index[0]
        index = session.shown(state, show)[row]
        return session.render(state, show, index), session.detail(
            state, index)

    def change_show(state: dict | None, show: str):
        if state is None:
            return None, '', [], HINT, ''
        return outputs_of(state, show)

    with gr.Blocks(
            title='crrg: explainable chest X-ray reports',
            analytics_enabled=False) as app:
        gr.Markdown(
            '## crrg: region-guided chest X-ray report generation\n'
            'Every sentence of the report belongs to a detected anatomical '
            'region. ' + HINT)
        state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
                image = gr.Image(
                    label='X-ray with the regions (click a box)',
                    show_label=False,
                    type='numpy',
                    interactive=False,
                    elem_id='xray',
                    buttons=[])
                show = gr.Radio(
                    [SHOW_SELECTED, SHOW_DETECTED],
                    value=SHOW_SELECTED,
                    label='Show',
                    elem_id='show')
            with gr.Column(scale=2):
                upload = gr.File(
                    label='Upload a chest X-ray (JPEG, PNG or DICOM)',
                    file_types=UPLOAD_TYPES,
                    type='filepath',
                    elem_id='upload')
                sample = gr.Dropdown(
                    list(samples),
                    value=None,
                    label='... or pick a sample',
                    elem_id='sample')
                report = gr.Textbox(
                    label='Report',
                    lines=6,
                    interactive=False,
                    elem_id='report')
                detail = gr.Markdown(HINT, elem_id='region-detail')
                pneumonia = gr.Markdown('', elem_id='zero-shot')
        table = gr.Dataframe(
            headers=TABLE_HEADERS,
            interactive=False,
            wrap=True,
            elem_id='regions',
            label='Regions (click a row)')

        shown = [image, report, table, detail, pneumonia]
        upload.upload(analyse_upload, [upload, show],
                      [state, *shown, sample])
        sample.input(analyse_sample, [sample, show], [state, *shown, upload])
        show.change(change_show, [state, show], shown)
        image.select(click_image, [state, show], [image, detail])
        table.select(click_table, [state, show], [image, detail])
    return app


def launch(app, host: str, port: int, block: bool = True) -> None:
    """Serve ``app`` on ``host:port``: no share link, no footer links, client
    side rendering (no Node.js server), Gradio's default theme (its fonts
    are bundled, nothing is fetched from a CDN)."""
    app.queue(default_concurrency_limit=1).launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        show_error=True,
        footer_links=[],
        ssr_mode=False,
        prevent_thread_lock=not block)


def main(argv: list[str] | None = None) -> None:
    """Build the inferencer(s) and serve the page."""
    args = parse_args(argv)
    logger = MMLogger.get_instance('crrg-demo-app', log_level='INFO')
    models = resolve_models(args)

    from mmengine.registry import init_default_scope

    from crrg.apis import ReportInferencer
    from crrg.utils.setup_env import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(models['config'])
    if models['cfg_options']:
        cfg.merge_from_dict(models['cfg_options'])
    init_default_scope(cfg.get('default_scope', 'crrg'))
    inferencer = ReportInferencer(
        model=cfg,
        weights=models['checkpoint'],
        device=args.device,
        allow_partial=args.allow_partial)
    zero_shot = None
    if models['clip_config'] is not None:
        zero_shot = ZeroShotPneumonia(
            models['clip_config'],
            models['clip_checkpoint'],
            cfg_options=models['clip_cfg_options'],
            device=args.device,
            allow_partial=args.allow_partial)
    samples = collect_samples(args.samples, logger)
    logger.info(f'model: {models["config"]} + {models["checkpoint"]}; '
                f'R-CLIP: {models["clip_checkpoint"] or "not configured"}; '
                f'{len(samples)} sample image(s)')
    app = build_app(DemoSession(inferencer, zero_shot), samples)
    logger.info(f'open http://{args.host}:{args.port} in a browser '
                '(Ctrl+C stops the demo)')
    launch(app, args.host, args.port)


if __name__ == '__main__':
    sys.exit(main())
