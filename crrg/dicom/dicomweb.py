"""A DICOMweb worker: reports for the chest radiographs of an archive.

:class:`DicomWebReportWorker` polls a DICOMweb server (QIDO-RS) for studies
with a projection radiograph (Modality CR / DX), skips the images that a
crrg SR already references (it reads the evidence of the study's SRs whose
Manufacturer is ``crrg``), checks each remaining image's header (WADO-RS
metadata) and refuses the ones that name another body part or modality,
retrieves the image (WADO-RS, in its stored transfer syntax), predicts its
report (one image at a time, or a chunk of images in batches on forked
replicas of the model: ``ReportInferencer.stream``) and stores the SR back
(STOW-RS). A failure on one image is logged with its study / series / SOP
instance UIDs and does not stop the others; network errors are retried at
the next poll, other failures are not retried by the same process. The SR's
UID is derived from the image and the model (:func:`crrg.dicom.sr.sr_uid`),
so even two workers racing on the same image store the same instance.

:class:`DicomWebSettings` holds the server's URL, credentials and TLS
verification, read from the environment (or given by the caller), never from
a file of the repository; its ``repr`` and the worker's logs never show the
password.
"""
import gc
import io
import logging
import multiprocessing as mp
import os
import os.path as osp
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional,
                    Set, Tuple, Union)
from urllib.parse import urlsplit

import pydicom
import requests
from dicomweb_client import DICOMwebClient
from mmengine.logging import print_log
from pydicom.dataset import Dataset

from crrg.datasets.transforms.loading import (RADIOGRAPH_MODALITIES,
                                              not_chest_reasons)
from .sr import MANUFACTURER, ModelInfo, build_sr

#: environment variables read by :meth:`DicomWebSettings.from_env`
ENV_URL = 'CRRG_DICOMWEB_URL'
ENV_USERNAME = 'CRRG_DICOMWEB_USERNAME'
ENV_PASSWORD = 'CRRG_DICOMWEB_PASSWORD'
ENV_CA_BUNDLE = 'CRRG_DICOMWEB_CA_BUNDLE'
ENV_VERIFY = 'CRRG_DICOMWEB_VERIFY'

#: Modality values searched for (DICOM's projection radiography modalities)
SEARCH_MODALITIES = tuple(m for m in RADIOGRAPH_MODALITIES if m in ('CR', 'DX'))
#: WADO-RS media type: the instance in the transfer syntax it is stored in
STORED_SYNTAX = (('application/dicom', '*'), )

_STUDY, _SERIES, _SOP = '0020000D', '0020000E', '00080018'
_LOOPBACK = ('localhost', '127.0.0.1', '::1')


@dataclass
class DicomWebSettings:
    """Where the DICOMweb server is and how to log in.

    Attributes:
        url (str): Base URL of the DICOMweb service, e.g.
            ``https://pacs.example.org/dicom-web`` (no credentials in it).
        username (str, optional): HTTP basic-auth user.
        password (str, optional): Its password (never shown by ``repr``).
        verify (bool | str): TLS verification: True (the system's CAs),
            False (off: a warning is logged) or a CA bundle file.
        timeout (float): Seconds per HTTP request. Defaults to 60.
    """

    url: str
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    verify: Union[bool, str] = True
    timeout: float = 60.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise ValueError(f'DICOMweb URL {self.safe_url!r} is not an '
                             'http(s) URL with a host')
        if parts.username or parts.password:
            raise ValueError(
                f'the DICOMweb URL {self.safe_url!r} carries credentials; '
                f'give them in {ENV_USERNAME} / {ENV_PASSWORD} (or a '
                'password file) so that they stay out of logs and shell '
                'history')
        if (self.password is None) != (self.username is None):
            raise ValueError('give both a DICOMweb username and a password, '
                             f'or neither ({ENV_USERNAME}, {ENV_PASSWORD})')
        if isinstance(self.verify, str) and not osp.isfile(self.verify):
            raise FileNotFoundError(
                f'CA bundle {self.verify} (TLS verification) does not exist')

    @property
    def safe_url(self) -> str:
        """The URL without any user information, for logs."""
        parts = urlsplit(self.url)
        host = parts.hostname or ''
        if parts.port:
            host = f'{host}:{parts.port}'
        return parts._replace(netloc=host).geturl()

    @classmethod
    def from_env(cls,
                 url: Optional[str] = None,
                 username: Optional[str] = None,
                 password_file: Optional[str] = None,
                 verify: Optional[Union[bool, str]] = None,
                 environ: Optional[Mapping[str, str]] = None,
                 timeout: float = 60.0) -> 'DicomWebSettings':
        """Settings from arguments, falling back on the environment.

        Args:
            url (str, optional): Base URL; else ``$CRRG_DICOMWEB_URL``.
            username (str, optional): Else ``$CRRG_DICOMWEB_USERNAME``.
            password_file (str, optional): A file whose first line is the
                password; else ``$CRRG_DICOMWEB_PASSWORD``.
            verify (bool | str, optional): TLS verification (see the class);
                else ``$CRRG_DICOMWEB_CA_BUNDLE`` (a CA file), or
                ``$CRRG_DICOMWEB_VERIFY=0`` to turn it off; default True.
            environ (Mapping, optional): Defaults to ``os.environ``.
            timeout (float): Seconds per request. Defaults to 60.

        Raises:
            ValueError: No URL, or only half of the credentials.
        """
        env = os.environ if environ is None else environ
        url = url or env.get(ENV_URL)
        if not url:
            raise ValueError(f'no DICOMweb URL: pass --url or set {ENV_URL}')
        username = username or env.get(ENV_USERNAME) or None
        if password_file:
            with open(password_file, encoding='utf-8') as f:
                password = f.readline().rstrip('\r\n')
        else:
            password = env.get(ENV_PASSWORD) or None
        if verify is None:
            if env.get(ENV_CA_BUNDLE):
                verify = env[ENV_CA_BUNDLE]
            else:
                verify = env.get(ENV_VERIFY, '1').strip().lower() not in (
                    '0', 'false', 'no', 'off')
        return cls(url=url, username=username, password=password,
                   verify=verify, timeout=timeout)

    def client(self, logger: Optional[logging.Logger] = None
               ) -> DICOMwebClient:
        """A ``dicomweb_client.DICOMwebClient`` for these settings.

        Logs a warning when TLS verification is off or when credentials would
        travel over plain HTTP to another machine.
        """
        session = requests.Session()
        if self.username is not None:
            session.auth = (self.username, self.password)
            host = urlsplit(self.url).hostname
            if urlsplit(self.url).scheme == 'http' and host not in _LOOPBACK:
                print_log(
                    f'sending DICOMweb credentials to {self.safe_url} over '
                    'unencrypted HTTP; use https', logger, logging.WARNING)
        session.verify = self.verify
        if self.verify is False:
            print_log(f'TLS certificate verification is off for '
                      f'{self.safe_url}', logger, logging.WARNING)
        return DICOMwebClient(self.url, session=session, timeout=self.timeout)


@dataclass
class WorkerStats:
    """What one poll did (counts of images)."""

    written: int = 0
    already_reported: int = 0
    refused: int = 0
    failed: int = 0


def _value(item: Mapping, tag: str) -> Optional[str]:
    values = item.get(tag, {}).get('Value') or [None]
    return None if values[0] is None else str(values[0])


def _where(uids: tuple) -> str:
    """An image's UIDs for the log."""
    return f'study {uids[0]} series {uids[1]} instance {uids[2]}'


def _sr_file(prediction: dict, path: str, model_info: ModelInfo) -> bytes:
    """The SR of a prediction (:func:`build_sr`) as its file's bytes: what a
    forked process sends back (the highdicom object pickles to ~7 times the
    size, and slowly)."""
    out = io.BytesIO()
    build_sr(prediction, path, model_info).save_as(out,
                                                   enforce_file_format=True)
    return out.getvalue()


def dataset_from_json(metadata: Mapping) -> Dataset:
    """A header from DICOM JSON, without its bulk data references."""
    kept = {
        tag: value
        for tag, value in metadata.items() if 'BulkDataURI' not in value
    }
    return Dataset.from_json(kept)


def referenced_instances(sr: Dataset) -> Set[str]:
    """SOP instance UIDs in an SR's evidence sequences."""
    uids = set()
    for key in ('CurrentRequestedProcedureEvidenceSequence',
                'PertinentOtherEvidenceSequence'):
        for study in sr.get(key, []):
            for series in study.get('ReferencedSeriesSequence', []):
                for sop in series.get('ReferencedSOPSequence', []):
                    uids.add(str(sop.ReferencedSOPInstanceUID))
    return uids


class DicomWebReportWorker:
    """Reports the chest radiographs of a DICOMweb archive as crrg SRs.

    Args:
        client (DICOMwebClient): The server (see
            :meth:`DicomWebSettings.client`).
        inferencer (Callable): Like :class:`crrg.apis.ReportInferencer`:
            with ``batch_size`` and ``num_replicas`` 1 it is called as
            ``inferencer([path])`` on one DICOM file and returns
            ``{'predictions': [prediction]}``; else its ``stream(paths,
            batch_size=..., num_replicas=..., skip_failed=True)`` yields per
            batch ``{'predictions': [...], 'failures': [{'input': path,
            'reason': str}]}`` (predictions found by their ``img_path``).
        model_info (ModelInfo): The model's identification for the SRs.
        logger (logging.Logger, optional): Where the log lines go (mmengine's
            ``print_log``).
        modalities (Iterable[str]): Modality values to search for. Defaults
            to :data:`SEARCH_MODALITIES`.
        batch_size (int): Images per forward pass of the model. Defaults to
            1 (one image at a time).
        num_replicas (int): Forked copies of the model that predict batches
            in parallel (``ReportInferencer.stream``), about one per core;
            each may take the model's memory again. Defaults to 1.

    The images of a poll that no SR references yet (of any study) are
    reported in chunks of ``batch_size * num_replicas``: each one's header
    checked and its pixels retrieved, the chunk predicted together, then
    each one's SR stored; the failures stay each image's own.
    """

    def __init__(self,
                 client: DICOMwebClient,
                 inferencer: Callable[[List[str]], Dict],
                 model_info: ModelInfo,
                 logger: Optional[logging.Logger] = None,
                 modalities: Iterable[str] = SEARCH_MODALITIES,
                 batch_size: int = 1,
                 num_replicas: int = 1) -> None:
        self.check_options(batch_size, num_replicas)
        self.client = client
        self.inferencer = inferencer
        self.model_info = model_info
        self.logger = logger
        self.modalities = tuple(modalities)
        self.batch_size = batch_size
        self.num_replicas = num_replicas
        # images refused or failed (not for a network error) in this process
        self._given_up: Set[str] = set()

    @staticmethod
    def check_options(batch_size: int, num_replicas: int) -> None:
        """Raise a ValueError naming the option that is not an int >= 1."""
        for name, value in (('batch_size', batch_size),
                            ('num_replicas', num_replicas)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be an integer >= 1, got '
                                 f'{value!r}')

    def log(self, msg: str, level: int = logging.INFO) -> None:
        print_log(msg, self.logger, level)

    def studies(self) -> List[str]:
        """UIDs of the studies holding a series of a searched modality."""
        uids = set()
        for modality in self.modalities:
            for series in self.client.search_for_series(
                    search_filters={'Modality': modality},
                    get_remaining=True):
                uid = _value(series, _STUDY)
                if uid:
                    uids.add(uid)
        return sorted(uids)

    def reported(self, study_uid: str) -> Set[str]:
        """SOP instance UIDs that a crrg SR of the study references."""
        uids: Set[str] = set()
        for series in self.client.search_for_series(
                study_uid, search_filters={'Modality': 'SR'},
                get_remaining=True):
            series_uid = _value(series, _SERIES)
            for metadata in self.client.retrieve_series_metadata(
                    study_uid, series_uid):
                sr = dataset_from_json(metadata)
                if str(sr.get('Manufacturer', '')) == MANUFACTURER:
                    uids |= referenced_instances(sr)
        return uids

    def images(self, study_uid: str) -> List[tuple]:
        """``(study, series, sop)`` UIDs of the study's radiographs."""
        found = set()
        for modality in self.modalities:
            for item in self.client.search_for_instances(
                    study_uid, search_filters={'Modality': modality},
                    get_remaining=True):
                found.add((study_uid, _value(item, _SERIES),
                           _value(item, _SOP)))
        return sorted(found)

    def run_once(self) -> WorkerStats:
        """One poll over the server (see the module docstring)."""
        stats = WorkerStats()
        try:
            studies = self.studies()
        except requests.RequestException as err:
            self.log(f'cannot search the DICOMweb server: '
                     f'{type(err).__name__}: {err}', logging.ERROR)
            stats.failed += 1
            return stats
        chunk_size = self.batch_size * self.num_replicas
        pending: List[tuple] = []
        for study_uid in studies:
            try:
                reported = self.reported(study_uid)
                images = self.images(study_uid)
            except requests.RequestException as err:
                self.log(f'study {study_uid}: cannot list its instances: '
                         f'{type(err).__name__}: {err}', logging.ERROR)
                stats.failed += 1
                continue
            for uids in images:
                if uids[2] in reported:
                    stats.already_reported += 1
                elif uids[2] not in self._given_up:
                    pending.append(uids)
                if len(pending) == chunk_size:
                    self._report_images(pending, stats)
                    pending = []
        if pending:
            self._report_images(pending, stats)
        self.log(f'poll done: {stats.written} SR(s) written, '
                 f'{stats.already_reported} image(s) already reported, '
                 f'{stats.refused} refused, {stats.failed} failed')
        return stats

    def run(self,
            poll_interval: Optional[float] = None,
            max_polls: Optional[int] = None) -> List[WorkerStats]:
        """Poll once (``poll_interval`` None) or every ``poll_interval`` s.

        Args:
            poll_interval (float, optional): Seconds between the starts of
                two polls; None polls once.
            max_polls (int, optional): Stop after this many polls.

        Returns:
            list[WorkerStats]: One per poll.
        """
        history = []
        while True:
            started = time.monotonic()
            history.append(self.run_once())
            if poll_interval is None or (max_polls is not None
                                         and len(history) >= max_polls):
                return history
            time.sleep(max(0.0, poll_interval -
                           (time.monotonic() - started)))

    def _report_images(self, chunk: List[tuple], stats: WorkerStats) -> None:
        """Report a chunk of images: their headers checked and pixels
        retrieved one by one, their predictions made together, their SRs
        stored one by one."""
        with tempfile.TemporaryDirectory(prefix='crrg-dicomweb-') as tmp:
            retrieved = []
            for uids in chunk:
                path = self._attempt(uids, stats, self._retrieve, uids, tmp,
                                     stats)
                if path is not None:
                    retrieved.append((uids, path))
            predictions = self._predictions([path for _, path in retrieved])
            reported = [
                (i, path, prediction) for i, ((_, path), prediction) in
                enumerate(zip(retrieved, predictions))
                if isinstance(prediction, dict)
                and prediction.get('status', 'ok') == 'ok'
            ]
            srs = dict(
                zip([i for i, _, _ in reported],
                    self._build_srs([(path, prediction)
                                     for _, path, prediction in reported])))
            for i, ((uids, _), prediction) in enumerate(
                    zip(retrieved, predictions)):
                if isinstance(prediction, str):
                    self._give_up(uids, prediction, stats)
                else:
                    self._attempt(uids, stats, self._store, uids, srs.get(i),
                                  prediction, stats)

    def _build_srs(
        self, items: List[Tuple[str, dict]]
    ) -> List[Union[Dataset, Exception]]:
        """The SRs (:func:`build_sr`) of ``(path, prediction)`` pairs, or
        the exception that stopped each one.

        With ``num_replicas`` > 1 they are built by as many forked processes:
        highdicom takes ~0.4 s of Python per SR of 28 regions, several times
        the model's time per image (``benchmarks/dicomweb_throughput.py``).
        This process's objects are frozen (:func:`gc.freeze`) meanwhile, so
        that the forked processes' garbage collections do not walk, and
        copy, the heap they share with it.
        """
        if (self.num_replicas == 1 or len(items) < 2
                or 'fork' not in mp.get_all_start_methods()):
            built: List[Union[Dataset, Exception]] = []
            for path, prediction in items:
                try:
                    built.append(build_sr(prediction, path, self.model_info))
                except Exception as err:  # noqa: BLE001 - this image's
                    built.append(err)
            return built
        gc.freeze()
        try:
            with ProcessPoolExecutor(
                    min(self.num_replicas, len(items)),
                    mp_context=mp.get_context('fork')) as pool:
                futures = [
                    pool.submit(_sr_file, prediction, path, self.model_info)
                    for path, prediction in items
                ]
                built = []
                for future in futures:
                    err = future.exception()  # e.g. a process killed
                    built.append(err if err is not None else pydicom.dcmread(
                        io.BytesIO(future.result())))
        finally:
            gc.unfreeze()
        return built

    def _retrieve(self, uids: tuple, folder: str,
                  stats: WorkerStats) -> Optional[str]:
        """The image saved as ``folder/<sop uid>.dcm``, or None when its
        header refuses it."""
        header = dataset_from_json(
            self.client.retrieve_instance_metadata(*uids))
        reasons = not_chest_reasons(header)
        if reasons:
            self._refuse(uids, '; '.join(reasons), stats)
            return None
        dataset = self.client.retrieve_instance(
            *uids, media_types=STORED_SYNTAX)
        path = osp.join(folder, f'{uids[2]}.dcm')
        dataset.save_as(path, enforce_file_format=True)
        return path

    def _predictions(self, paths: List[str]) -> List[Union[dict, str]]:
        """Per file, its prediction or why it has none.

        One at a time (``inferencer([path])``) with ``batch_size`` and
        ``num_replicas`` 1, else through ``inferencer.stream``.
        """
        if self.batch_size == 1 and self.num_replicas == 1:
            outcomes = []
            for path in paths:
                try:
                    outcomes.append(self.inferencer([path])['predictions'][0])
                except Exception as err:  # noqa: BLE001 - one image
                    outcomes.append(f'{type(err).__name__}: {err}')
            return outcomes
        found: Dict[str, Union[dict, str]] = {}
        try:
            for part in self.inferencer.stream(
                    paths,
                    batch_size=self.batch_size,
                    num_replicas=self.num_replicas,
                    skip_failed=True):
                for prediction in part['predictions']:
                    found[prediction['img_path']] = prediction
                for failure in part['failures']:
                    found[failure['input']] = failure['reason']
        except Exception as err:  # noqa: BLE001 - e.g. a replica killed
            reason = f'{type(err).__name__}: {err}'
            return [found.get(path, reason) for path in paths]
        return [found.get(path, 'the inferencer gave no prediction')
                for path in paths]

    def _store(self, uids: tuple, sr: Union[Dataset, Exception, None],
               prediction: dict, stats: WorkerStats) -> None:
        """Store the image's SR (:meth:`_build_srs`; raise the exception
        that stopped it), or refuse the image when its prediction is
        refused."""
        if prediction.get('status', 'ok') != 'ok':
            self._refuse(uids, str(prediction.get('refusal')), stats)
            return
        if isinstance(sr, Exception):
            raise sr
        response = self.client.store_instances([sr])
        failed = response.get('FailedSOPSequence')
        if failed:
            raise RuntimeError(
                f'the server refused the SR {sr.SOPInstanceUID} '
                f'(FailureReason {failed[0].get("FailureReason")})')
        stats.written += 1
        self.log(f'{_where(uids)}: stored SR {sr.SOPInstanceUID} '
                 f'({sum(r["selected"] for r in prediction["regions"])} '
                 'region finding(s))')

    def _attempt(self, uids: tuple, stats: WorkerStats, step: Callable,
                 *args) -> Any:
        """``step(*args)``, its failure the image's: a network error is
        counted and retried at the next poll, any other is counted and the
        image given up. Returns the step's result, None when it failed."""
        try:
            return step(*args)
        except requests.RequestException as err:
            stats.failed += 1
            self.log(f'{_where(uids)}: network error, retried at the next '
                     f'poll: {type(err).__name__}: {err}', logging.ERROR)
        except Exception as err:  # noqa: BLE001 - one image must not stop
            self._give_up(uids, f'{type(err).__name__}: {err}', stats)
        return None

    def _give_up(self, uids: tuple, reason: str, stats: WorkerStats) -> None:
        stats.failed += 1
        self._given_up.add(uids[2])
        self.log(f'{_where(uids)}: failed, skipped: {reason}', logging.ERROR)

    def _refuse(self, uids: tuple, reason: str, stats: WorkerStats) -> None:
        stats.refused += 1
        self._given_up.add(uids[2])
        self.log(f'{_where(uids)}: refused, not a chest radiograph: {reason}',
                 logging.WARNING)
