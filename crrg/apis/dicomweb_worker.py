"""Serve a report generator to a DICOMweb archive (``tools/dicomweb_worker.py``).

:func:`run_dicomweb_worker` sets up the settings (:class:`crrg.dicom.
DicomWebSettings`), a :class:`~crrg.apis.ReportInferencer` and a
:class:`crrg.dicom.DicomWebReportWorker`, runs the worker once or every
``poll_interval`` seconds (the images in batches of ``batch_size`` on
``num_replicas`` copies of the model) and turns the outcome into an exit
code.
"""
from datetime import datetime
from typing import Optional, Union

from mmengine.config import Config
from mmengine.logging import MMLogger

from crrg.dicom import DicomWebReportWorker, DicomWebSettings
from crrg.utils import CheckpointMismatchError
from .report_inferencer import ReportInferencer

#: exit codes of :func:`run_dicomweb_worker`
EXIT_OK, EXIT_IMAGE_FAILED, EXIT_SETUP_FAILED = 0, 1, 2


def run_dicomweb_worker(config: str,
                        checkpoint: str,
                        url: Optional[str] = None,
                        username: Optional[str] = None,
                        password_file: Optional[str] = None,
                        verify: Optional[Union[bool, str]] = None,
                        timeout: float = 60.0,
                        poll_interval: Optional[float] = None,
                        max_polls: Optional[int] = None,
                        device: str = 'cpu',
                        cfg_options: Optional[dict] = None,
                        log_file: Optional[str] = None,
                        batch_size: int = 1,
                        num_replicas: int = 1) -> int:
    """Report the chest radiographs of a DICOMweb archive as DICOM SRs.

    Every argument the server's settings leave out falls back on the
    environment (:meth:`crrg.dicom.DicomWebSettings.from_env`:
    ``$CRRG_DICOMWEB_URL``, ``_USERNAME``, ``_PASSWORD``, ``_CA_BUNDLE``,
    ``_VERIFY``). The log (never the password) goes to mmengine's logger
    ``crrg-dicomweb`` and, when given, to ``log_file``.

    Args:
        config (str): The report generator's config file.
        checkpoint (str): Its checkpoint, loaded strictly.
        url (str, optional): Base URL of the DICOMweb service.
        username (str, optional): HTTP basic-auth user.
        password_file (str, optional): A file whose first line is the
            password.
        verify (bool | str, optional): TLS verification: False turns it
            off, a path is a CA bundle; None reads the environment, else
            the system's CAs.
        timeout (float): Seconds per HTTP request. Defaults to 60.
        poll_interval (float, optional): Seconds between two polls (> 0);
            None polls once.
        max_polls (int, optional): Stop after this many polls.
        device (str): Torch device of the model. Defaults to ``'cpu'``.
        cfg_options (dict, optional): Config overrides, as mmengine's
            ``--cfg-options`` give them.
        log_file (str, optional): Also write the log to this file.
        batch_size (int): Images per forward pass of the model. Defaults
            to 1.
        num_replicas (int): Forked copies of the model that predict
            batches in parallel, each on one torch thread (about one per
            core; up to that many times the model's memory). Defaults to 1.

    Returns:
        int: :data:`EXIT_OK` (0) when every image was reported, refused or
        already reported (or on Ctrl-C), :data:`EXIT_IMAGE_FAILED` (1) when
        some image failed, :data:`EXIT_SETUP_FAILED` (2) when the settings
        or the model cannot be set up (the reason is logged).
    """
    logger = MMLogger.get_instance(
        f'crrg-dicomweb-{datetime.now():%Y%m%d_%H%M%S_%f}',
        logger_name='crrg-dicomweb',
        log_file=log_file,
        log_level='INFO')
    try:
        if poll_interval is not None and poll_interval <= 0:
            raise ValueError(f'the poll interval must be a positive number '
                             f'of seconds, got {poll_interval}')
        DicomWebReportWorker.check_options(batch_size, num_replicas)
        settings = DicomWebSettings.from_env(
            url=url,
            username=username,
            password_file=password_file,
            verify=verify,
            timeout=timeout)
        cfg = Config.fromfile(config)
        if cfg_options is not None:
            cfg.merge_from_dict(cfg_options)
        inferencer = ReportInferencer(
            model=cfg, weights=checkpoint, device=device)
        # config name, checkpoint hash and the checkpoint's model card
        model_info = inferencer.model_info()
    except (ValueError, OSError, CheckpointMismatchError) as exc:
        logger.error(f'{type(exc).__name__}: {exc}')
        return EXIT_SETUP_FAILED
    logger.info(f'crrg DICOMweb worker on {settings.safe_url} with '
                f'{model_info.config_name} (checkpoint sha256 '
                f'{model_info.checkpoint_sha256[:12]}...)')
    worker = DicomWebReportWorker(
        settings.client(logger),
        inferencer,
        model_info,
        logger=logger,
        batch_size=batch_size,
        num_replicas=num_replicas)
    try:
        history = worker.run(
            poll_interval=poll_interval, max_polls=max_polls)
    except KeyboardInterrupt:
        logger.info('stopped')
        return EXIT_OK
    failed = any(stats.failed for stats in history)
    return EXIT_IMAGE_FAILED if failed else EXIT_OK
