"""Report the chest radiographs of a DICOMweb archive as DICOM SRs.

Finds the studies with a chest radiograph (QIDO-RS) whose images no crrg SR
references yet, retrieves each image (WADO-RS), generates its report with
:class:`crrg.apis.ReportInferencer` and stores a Comprehensive SR (TID 1500,
see :mod:`crrg.dicom.sr`) back into the study (STOW-RS). Images whose header
names another body part or modality are refused and logged; a failure on one
image is logged with its UIDs and does not stop the others (see
:mod:`crrg.dicom.dicomweb`). ``--batch-size`` images go through the model
at once and ``--replicas N`` forked copies of it predict batches in
parallel (``ReportInferencer.stream``), to use the whole machine. Runs
once, or every ``--poll`` seconds; the work is
:func:`crrg.apis.run_dicomweb_worker`'s.

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
        --url https://pacs.example.org/dicom-web --poll 60 \\
        --batch-size 4 --replicas 2
"""
import argparse
import sys

from mmengine.config import DictAction

from crrg.apis import run_dicomweb_worker


def parse_args() -> argparse.Namespace:
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
        '--batch-size', type=int, default=1, metavar='B',
        help='images per forward pass (a region-guided model generates the '
        "selected regions of a batch's images in one decoding batch); the "
        'images of a poll are reported in chunks of B x N')
    parser.add_argument(
        '--replicas', type=int, default=1, metavar='N',
        help='forked copies of the model that predict batches in parallel, '
        'each on one torch thread (about one per core); the SRs are those '
        'of one image at a time (up to the float rounding of 1 thread '
        'against several). Each replica shares the weights until it writes '
        'them but has its own activations: budget up to N times the '
        'model\'s memory (a full-size RGRG model is ~2.4 GB)')
    parser.add_argument(
        '--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    return run_dicomweb_worker(
        args.config,
        args.checkpoint,
        url=args.url,
        username=args.username,
        password_file=args.password_file,
        verify=False if args.insecure else args.ca_bundle,
        timeout=args.timeout,
        poll_interval=args.poll,
        max_polls=args.max_polls,
        device=args.device,
        cfg_options=args.cfg_options,
        log_file=args.log_file,
        batch_size=args.batch_size,
        num_replicas=args.replicas)


if __name__ == '__main__':
    sys.exit(main())
