"""Report the chest radiographs of a DICOMweb archive as DICOM SRs.

Finds the studies with a chest radiograph (QIDO-RS) whose images no crrg SR
references yet, retrieves each image (WADO-RS), generates its report with
:class:`crrg.apis.ReportInferencer` and stores a Comprehensive SR (TID 1500,
see :mod:`crrg.dicom.sr`) back into the study (STOW-RS). Images whose header
names another body part or modality are refused and logged; a failure on one
image is logged with its UIDs and does not stop the others (see
:mod:`crrg.dicom.dicomweb`). Runs once, or every ``--poll`` seconds.

The server's URL comes from ``--url`` or ``$CRRG_DICOMWEB_URL``; credentials
(HTTP basic auth) from ``--username`` / ``$CRRG_DICOMWEB_USERNAME`` and
``--password-file`` / ``$CRRG_DICOMWEB_PASSWORD``, never from the command
line or a file of the repository; TLS is verified against the system's CAs,
``--ca-bundle`` / ``$CRRG_DICOMWEB_CA_BUNDLE``, or turned off with
``--insecure`` / ``$CRRG_DICOMWEB_VERIFY=0``. Passwords never appear in the
log.

Exit code: 0 when every image was reported, refused or already reported;
1 when some image failed; 2 when the model or the settings cannot be set up.

Example::

    CRRG_DICOMWEB_USERNAME=crrg CRRG_DICOMWEB_PASSWORD=... \\
    python tools/dicomweb_worker.py \\
        configs/rrg/rrg-generator_tiny_synthetic.py work_dirs/rrg/epoch_1.pth \\
        --url https://pacs.example.org/dicom-web --poll 60
"""
import argparse
import sys
from datetime import datetime

from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger

from crrg.apis import ReportInferencer
from crrg.dicom import DicomWebReportWorker, DicomWebSettings
from crrg.utils import CheckpointMismatchError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Report the chest radiographs of a DICOMweb archive as '
        'DICOM SRs (QIDO-RS, WADO-RS, STOW-RS)')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--url',
        help='base URL of the DICOMweb service (default: '
        '$CRRG_DICOMWEB_URL), e.g. http://127.0.0.1:8042/dicom-web')
    parser.add_argument(
        '--username',
        help='HTTP basic-auth user (default: $CRRG_DICOMWEB_USERNAME)')
    parser.add_argument(
        '--password-file',
        help='file whose first line is the password (default: '
        '$CRRG_DICOMWEB_PASSWORD)')
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument(
        '--ca-bundle',
        help='CA certificates to verify the server with (default: '
        '$CRRG_DICOMWEB_CA_BUNDLE, else the system\'s)')
    tls.add_argument(
        '--insecure',
        action='store_true',
        help='do not verify the server\'s TLS certificate')
    parser.add_argument(
        '--poll',
        type=float,
        metavar='SECONDS',
        help='keep polling, every SECONDS (default: run once)')
    parser.add_argument(
        '--max-polls', type=int, help='stop after this many polls')
    parser.add_argument(
        '--timeout', type=float, default=60.0, help='seconds per request')
    parser.add_argument(
        '--log-file', help='also write the log to this file')
    parser.add_argument(
        '--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    args = parser.parse_args(argv)
    if args.poll is not None and args.poll <= 0:
        parser.error('--poll must be a positive number of seconds')
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the worker; returns the exit code (see the module docstring)."""
    args = parse_args(argv)
    logger = MMLogger.get_instance(
        f'crrg-dicomweb-{datetime.now():%Y%m%d_%H%M%S_%f}',
        logger_name='crrg-dicomweb',
        log_file=args.log_file,
        log_level='INFO')
    verify = False if args.insecure else args.ca_bundle
    try:
        settings = DicomWebSettings.from_env(
            url=args.url,
            username=args.username,
            password_file=args.password_file,
            verify=verify,
            timeout=args.timeout)
        cfg = Config.fromfile(args.config)
        if args.cfg_options is not None:
            cfg.merge_from_dict(args.cfg_options)
        inferencer = ReportInferencer(
            model=cfg, weights=args.checkpoint, device=args.device)
        # config name, checkpoint hash and the checkpoint's model card
        model_info = inferencer.model_info()
    except (ValueError, OSError, CheckpointMismatchError) as exc:
        logger.error(f'{type(exc).__name__}: {exc}')
        return 2
    logger.info(f'crrg DICOMweb worker on {settings.safe_url} with '
                f'{model_info.config_name} (checkpoint sha256 '
                f'{model_info.checkpoint_sha256[:12]}...)')
    worker = DicomWebReportWorker(
        settings.client(logger), inferencer, model_info, logger=logger)
    try:
        history = worker.run(poll_interval=args.poll, max_polls=args.max_polls)
    except KeyboardInterrupt:
        logger.info('stopped')
        return 0
    return 1 if any(stats.failed for stats in history) else 0


if __name__ == '__main__':
    sys.exit(main())
