"""Interactive web demo of crrg's explainable chest X-ray reports (Gradio).

Upload a chest X-ray (JPEG, PNG or DICOM) or pick a sample; the page shows
the image with the detected regions, the report beside it and a table of the
29 regions. Clicking a box on the image (or a row of the table) shows that
region's box, detection and selection scores and its sentence. A toggle
switches between the selected regions and all detected ones. With an R-CLIP
config and checkpoint, the page also shows the zero-shot pneumonia
probability.

Everything runs on :class:`crrg.apis.ReportInferencer` and
:class:`crrg.apis.CLIPInferencer` through :class:`crrg.apis.demo.DemoSession`
(each image is decoded once). Concurrent users' analyses wait in one queue
and those waiting when the models become free go through them together, in
one batched call (up to ``--max-batch-size``), each user getting the page an
analysis of their image alone gives; an image that is not a frontal chest
radiograph (e.g. a DICOM header naming another body part) is refused with
the reason shown. The page names the model (its card: training data,
config) with a research-use notice; a DICOM input's report can be
downloaded as a DICOM Structured Report. Uploads are limited in size
(``--max-upload-mb``, refused while they arrive) and deleted once analysed;
errors are told without server paths (the details go to the server log).
The page is served on 127.0.0.1 only; nothing is fetched
from the internet (Gradio analytics are off, no share link, the fonts are
Gradio's bundled ones, the real sample is offered only when the set-up
cached it).

Example::

    python tools/demo_app.py            # the model tools/demo.sh trained
    python tools/demo_app.py configs/rrg/rrg-generator_tiny_synthetic.py \\
        work_dirs/demo/generator/epoch_4.pth \\
        --cfg-options model.generator.tokenizer=work_dirs/demo/generator/tokenizer \\
        --clip-config configs/rclip/rclip_tiny_zero-shot_rsna_synthetic.py \\
        --clip-checkpoint work_dirs/demo/rclip/epoch_10.pth --port 7860
"""
import os

# Before Gradio is imported: it reads these at import time.
os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
os.environ.setdefault('HF_HUB_OFFLINE', '1')

import argparse  # noqa: E402
import os.path as osp  # noqa: E402
import sys  # noqa: E402

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402

#: the model tools/demo.sh trains, used when no CONFIG / CHECKPOINT is given
DEFAULT_WORK_DIR = 'work_dirs/demo'
DEFAULT_CONFIG = 'configs/rrg/rrg-generator_tiny_synthetic.py'
DEFAULT_CLIP_CONFIG = 'configs/rclip/rclip_tiny_zero-shot_rsna_synthetic.py'
DEFAULT_SAMPLE_ROOT = 'data/synthetic'
UPLOAD_TYPES = ['.jpg', '.jpeg', '.png', '.dcm', '.dicom']
#: default upload limit: a chest DICOM is ~5-30 MB (uncompressed 3000 x 3000
#: at 16 bits is 18 MB)
MAX_UPLOAD_MB = 50
#: Gradio's cached files (served images, SR downloads) older than this many
#: seconds are deleted, checked as often
CACHE_MAX_AGE = 600
#: default --max-batch-size: analyses of concurrent users in one batch
MAX_BATCH_SIZE = 4


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
        'real DICOM radiograph of the pydicom-data wheel when '
        'tools/fetch_real_data.py cached it)')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='load checkpoints whose keys do not match the model')
    parser.add_argument(
        '--allow-non-chest',
        action='store_true',
        help='analyse images that are not frontal chest radiographs (by '
        'default they are refused with the reason)')
    parser.add_argument(
        '--profile',
        choices=['exact', 'fast'],
        help='inference profile of the report generator: exact (fp32) or '
        'fast (detector bf16 + channels-last, generator int8); default: '
        "the config's switches")
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--host',
        default='127.0.0.1',
        help='address to serve on (default: this machine only)')
    parser.add_argument('--port', type=int, default=7860, help='port')
    parser.add_argument(
        '--max-upload-mb',
        type=float,
        default=MAX_UPLOAD_MB,
        help='largest upload in MB, refused while it arrives (default: '
        f'{MAX_UPLOAD_MB}, room for any chest DICOM)')
    parser.add_argument(
        '--max-batch-size',
        type=int,
        default=MAX_BATCH_SIZE,
        help='most analyses of concurrent users that go through the models '
        'together, in one batch (default: '
        f'{MAX_BATCH_SIZE}; 1: one at a time)')
    args = parser.parse_args(argv)
    if args.max_upload_mb <= 0:
        parser.error('--max-upload-mb must be positive')
    if args.max_batch_size < 1:
        parser.error('--max-batch-size must be at least 1')
    return args


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
        ``clip_config``, ``clip_checkpoint``, ``clip_cfg_options``, and
        ``clip_missing``: why there is no R-CLIP (or None).
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
        clip_cfg_options=dict(args.clip_cfg_options or {}),
        clip_missing=None if args.clip_config else
        'no R-CLIP given (--clip-config and --clip-checkpoint)')
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
            models['clip_missing'] = None
        elif args.clip_config is None:
            models['clip_missing'] = (
                f'tools/demo.sh has not trained an R-CLIP ({work}/rclip has '
                'no checkpoint)')
    return models


HINT = ('Click a box on the image, or a row of the table, to see that '
        "region's box, scores and sentence.")


def build_app(session, samples: dict[str, str]):
    """The Gradio page of a :class:`DemoSession`.

    Args:
        session (crrg.apis.demo.DemoSession): Computes everything shown.
        samples (dict[str, str]): Name -> path of the sample images.

    Returns:
        gradio.Blocks: The page; serve it with :func:`launch`.
    """
    import gradio as gr

    from crrg.apis.demo import (SCORES_NOTE, SHOW_DETECTED, SHOW_SELECTED,
                                TABLE_HEADERS)

    def outputs_of(state: dict, show: str, highlight: int | None = None):
        if highlight is not None:
            detail = session.detail(state, highlight)
        else:
            detail = session.refusal_text(state) or HINT
        return (session.render(state, show, highlight),
                state['prediction']['report'],
                session.table(state, show), detail,
                session.pneumonia_text(state), state.get('sr'),
                session.sr_text(state))

    def analyse(path: str | None, show: str, upload: bool):
        if not path:
            raise gr.Error('no image given')
        # waits in the session's queue; analysed with the others waiting
        state, message = session.submit(path, delete=upload)
        if state is None:
            raise gr.Error(message)
        return (state, *outputs_of(state, show))

    def analyse_upload(path: str | None, show: str):
        # the sample list no longer names the image shown
        return (*analyse(path, show, upload=True), None)

    def analyse_sample(name: str | None, show: str):
        if not name:
            raise gr.Error('pick a sample')
        # the upload box no longer holds the image shown
        return (*analyse(samples[name], show, upload=False), None)

    def click_image(state: dict | None, show: str, evt: gr.SelectData):
        if state is None:
            raise gr.Error('analyse an image first')
        x, y = evt.index
        index = session.region_at(state, show, x, y)
        if index is None:
            return session.render(state, show), (
                f'No {show[:-1]} at ({x}, {y}): click inside a box.')
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
            return (None, '', [], HINT, session.pneumonia_text(), None, '')
        return outputs_of(state, show)

    with gr.Blocks(
            title='crrg: explainable chest X-ray reports',
            analytics_enabled=False,
            delete_cache=(CACHE_MAX_AGE, CACHE_MAX_AGE)) as app:
        gr.Markdown(
            '## crrg: region-guided chest X-ray report generation\n'
            'Every sentence of the report belongs to a detected anatomical '
            'region. ' + HINT)
        gr.Markdown(session.model_card_text(), elem_id='model-card')
        state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
                image = gr.Image(
                    label='X-ray with the regions (click a box)',
                    show_label=False,
                    type='numpy',
                    format='png',  # lossless: the colours as drawn
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
                pneumonia = gr.Markdown(session.pneumonia_text(),
                                        elem_id='zero-shot')
                sr_file = gr.File(
                    label='DICOM Structured Report (DICOM inputs)',
                    interactive=False,
                    elem_id='sr')
                sr_note = gr.Markdown('', elem_id='sr-note')
        table = gr.Dataframe(
            headers=TABLE_HEADERS,
            interactive=False,
            wrap=True,
            elem_id='regions',
            label='Regions (click a row)')
        gr.Markdown(SCORES_NOTE, elem_id='scores-note')

        shown = [image, report, table, detail, pneumonia, sr_file, sr_note]
        # the analyses share one concurrency group, wide enough for a batch
        # in the models and a full one waiting in the session's queue (not
        # Gradio's batch=True: in Gradio 6 a batch writes every user's
        # gr.State into the first user's session)
        analyses = dict(concurrency_id='analysis',
                        concurrency_limit=2 * session.max_batch_size)
        upload.upload(analyse_upload, [upload, show],
                      [state, *shown, sample], **analyses)
        sample.input(analyse_sample, [sample, show], [state, *shown, upload],
                     **analyses)
        show.change(change_show, [state, show], shown)
        image.select(click_image, [state, show], [image, detail])
        table.select(click_table, [state, show], [image, detail])
    return app


def launch(app, host: str, port: int, block: bool = True,
           max_upload_mb: float = MAX_UPLOAD_MB) -> None:
    """Serve ``app`` on ``host:port``: no share link, no footer links, client
    side rendering (no Node.js server), Gradio's default theme (its fonts
    are bundled, nothing is fetched from a CDN), uploads over
    ``max_upload_mb`` refused while they arrive."""
    app.queue(default_concurrency_limit=1).launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        max_file_size=int(max_upload_mb * 1024 * 1024),
        # only the page's own messages (gr.Error, written for users) are
        # shown; another exception's text stays in the server log
        show_error=False,
        footer_links=[],
        ssr_mode=False,
        prevent_thread_lock=not block)


def main(argv: list[str] | None = None) -> None:
    """Build the inferencers and serve the page."""
    args = parse_args(argv)
    logger = MMLogger.get_instance('crrg-demo-app', log_level='INFO')
    try:
        models = resolve_models(args)
    except FileNotFoundError as exc:
        raise SystemExit(f'error: {exc}') from exc

    from crrg.apis import CLIPInferencer, ReportInferencer
    from crrg.apis.demo import DemoSession, collect_samples
    cfg = Config.fromfile(models['config'])
    if models['cfg_options']:
        cfg.merge_from_dict(models['cfg_options'])
    inferencer = ReportInferencer(
        model=cfg,
        weights=models['checkpoint'],
        device=args.device,
        allow_partial=args.allow_partial,
        profile=args.profile,
        allow_non_chest=args.allow_non_chest)
    clip = None
    if models['clip_config'] is not None:
        clip_cfg = Config.fromfile(models['clip_config'])
        if models['clip_cfg_options']:
            clip_cfg.merge_from_dict(models['clip_cfg_options'])
        clip = CLIPInferencer(
            clip_cfg,
            models['clip_checkpoint'],
            device=args.device,
            allow_partial=args.allow_partial,
            allow_non_chest=args.allow_non_chest)
        if len(clip.prompts) != 2:
            raise SystemExit(
                f'{models["clip_config"]}: the pneumonia probability needs a '
                'zero-shot R-CLIP config with two prompts [no pneumonia, '
                f'pneumonia] (RCLIPZeroShot), e.g. {DEFAULT_CLIP_CONFIG}')
    samples = collect_samples(args.samples, logger, DEFAULT_SAMPLE_ROOT)
    logger.info(f'model: {models["config"]} + {models["checkpoint"]}; '
                f'R-CLIP: {models["clip_checkpoint"] or "not configured"}; '
                f'{len(samples)} sample image(s)')
    session = DemoSession(inferencer, clip,
                          clip_missing=models['clip_missing'],
                          max_batch_size=args.max_batch_size, logger=logger)
    logger.info(f'model card: {inferencer.model_card["summary"]}')
    app = build_app(session, samples)
    logger.info(f'open http://{args.host}:{args.port} in a browser '
                '(Ctrl+C stops the demo)')
    launch(app, args.host, args.port, max_upload_mb=args.max_upload_mb)


if __name__ == '__main__':
    sys.exit(main())
