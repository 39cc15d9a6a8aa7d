"""DICOMweb throughput: images/s of the DICOMweb worker's polls of a local
Orthanc, one image at a time against the folder engine in chunks.

A fresh Orthanc with its DICOMweb plugin (Debian's ``orthanc`` and
``orthanc-dicomweb``) is started on a free loopback port with HTTP basic
auth, and ``--images`` chest radiographs go in through STOW-RS, each in a
study of its own. Each contender is one complete poll
(:meth:`crrg.dicom.DicomWebReportWorker.run_once`: search, the SRs already
stored, each image's header and pixels, the model, one SR stored per
image). Before each poll, untimed, the SR series of the previous one are
deleted (Orthanc's REST API), so that every poll reports all the images;
the table says how many SRs each poll wrote (all of them, or it is an
error). The contenders, interleaved in every round, minimum over the
rounds:

- ``worker, batch 1, 1 replica`` (the baseline, the worker's default): each
  image predicted alone (``inferencer([path])``) on torch's threads;
- ``worker, batch B, 1 replica``: the images in chunks of B predicted by
  ``ReportInferencer.stream(paths, batch_size=B)`` in this process;
- ``worker, batch B, R replicas``: the same on R forked copies of the model,
  each on one torch thread (the worker's ``--batch-size B --replicas R``);
- ``folder engine, batch B, R replicas`` (the reference, no PACS): one
  ``stream`` call over the same images already on disk, what the worker's
  model step would cost without the archive and with one start-up of the
  replicas.

Beside each time, the cores this process and its replicas kept busy and
those the machine's other processes used meanwhile: there, mostly
Orthanc's work for the poll (QIDO, WADO, STOW) on the same cores.

The model is the tiny generator of ``folder_throughput.py`` (random weights,
every detected region selected, sentences of ``--max-new-tokens``). The
images (``--source``) are the twin's frontal studies written as 8-bit CR
DICOMs (``twin``, 380-460 x 420-520 px: the folder benchmark's pixels) or
copies of the real 1955 x 1841, 16-bit radiograph RG1 (``RG1_UNCR``, 7 MB
each; ``tools/fetch_real_data.py`` caches it), each with new UIDs.

Example::

    python benchmarks/dicomweb_throughput.py --images 32 --batch-size 8 \
        --replicas 2 --repeats 3
"""
import argparse
import glob
import logging
import os
import os.path as osp
import tempfile
from typing import Dict, List

import cv2
import pydicom
import requests
from folder_throughput import build_inferencer
from pydicom.uid import generate_uid
from timing import Watched, interleaved, log, machine_header, set_threads

from crrg.datasets.synthetic import make_synthetic_mimic
from crrg.datasets.synthetic.rsna import write_dicom
from crrg.dicom import DicomWebReportWorker, DicomWebSettings
from crrg.testing.orthanc import (ORTHANC, PLUGIN_PATTERNS, find_orthanc,
                                  orthanc_server)
from crrg.utils.real_data import real_data_file

USERNAME = 'crrg-benchmark'
SOURCES = ('twin', 'RG1_UNCR')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=32,
                        help='radiographs in the archive (one per study)')
    parser.add_argument('--source', choices=SOURCES, default='twin',
                        help='twin studies as 8-bit DICOMs, or copies of the '
                        'real 16-bit radiograph RG1')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--replicas', type=int, default=2)
    parser.add_argument('--max-new-tokens', type=int, default=12)
    parser.add_argument('--threads', type=int, default=None,
                        help="torch's threads (default: torch's choice)")
    parser.add_argument('--repeats', type=int, default=3)
    return parser.parse_args(argv)


def archive_images(work: str, source: str, count: int) -> List[str]:
    """``count`` chest DICOMs in ``work/dicom``, each in a new study (new
    study, series and SOP instance UIDs): the twin's frontal JPEGs as 8-bit
    CR, or copies of RG1."""
    folder = osp.join(work, 'dicom')
    os.makedirs(folder)
    if source == 'twin':
        jpegs = sorted(glob.glob(
            osp.join(work, 'mimic-cxr-jpg', '**', '*.jpg'), recursive=True))
    else:
        original = real_data_file(source)
        if original is None:
            raise SystemExit(f'{source} is not cached: run '
                             f'`python tools/fetch_real_data.py {source}`')
    paths = []
    for i in range(count):
        path = osp.join(folder, f'{i:05d}.dcm')
        if source == 'twin':
            write_dicom(path, cv2.imread(jpegs[i], cv2.IMREAD_GRAYSCALE),
                        patient_id=f'twin{i}')
            original = path
        ds = pydicom.dcmread(original)
        for key in ('PatientName', 'PatientBirthDate', 'PatientSex',
                    'StudyID', 'AccessionNumber', 'StudyDate', 'StudyTime',
                    'ReferringPhysicianName'):
            if key not in ds:  # the patient and study modules an SR copies
                setattr(ds, key, '')
        ds.StudyInstanceUID, ds.SeriesInstanceUID = (generate_uid(),
                                                     generate_uid())
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = 1
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def upload(client, paths: List[str], per_request: int = 8) -> None:
    """STOW-RS the files, ``per_request`` instances per request."""
    for start in range(0, len(paths), per_request):
        response = client.store_instances(
            [pydicom.dcmread(p) for p in paths[start:start + per_request]])
        if response.get('FailedSOPSequence'):
            raise RuntimeError(f'Orthanc refused an upload: {response}')


def delete_srs(server: dict) -> int:
    """Delete every SR series (Orthanc's REST API); returns how many."""
    found = requests.post(
        f'{server["rest"]}/tools/find', auth=server['auth'], timeout=60,
        json={'Level': 'Series', 'Query': {'Modality': 'SR'}})
    found.raise_for_status()
    for series in found.json():
        requests.delete(f'{server["rest"]}/series/{series}',
                        auth=server['auth'], timeout=60).raise_for_status()
    return len(found.json())


def fastest(watched: Watched) -> float:
    """Minimum wall time of a contender's calls after the warm-up, s."""
    return min(wall for wall, _, _ in watched.runs[1:])


def main(argv=None) -> List[str]:
    """Runs it; returns the table's rows."""
    args = parse_args(argv)
    found = find_orthanc()
    if found is None:
        raise SystemExit(
            f'Orthanc ({ORTHANC}) or its DICOMweb plugin '
            f'({" or ".join(PLUGIN_PATTERNS)}) is not installed: install '
            'Debian\'s "orthanc" and "orthanc-dicomweb" packages')
    set_threads(args.threads)
    log(machine_header(args.threads))
    quiet = logging.getLogger('dicomweb_throughput.worker')
    quiet.setLevel(logging.WARNING)  # each stored SR is an INFO line
    batch, replicas = args.batch_size, args.replicas
    with tempfile.TemporaryDirectory() as work, orthanc_server(
            *found, work, USERNAME, name='crrg-benchmark') as server:
        make_synthetic_mimic(work, num_train=0, num_validate=0,
                             num_test=args.images, seed=0,
                             lateral_fraction=0.)
        paths = archive_images(work, args.source, args.images)
        inferencer = build_inferencer(work, args.max_new_tokens, paths[0])
        client = DicomWebSettings(url=server['url'],
                                  username=server['auth'][0],
                                  password=server['auth'][1]).client()
        upload(client, paths)
        written: Dict[str, List[int]] = {}

        def poll(name, batch_size, num_replicas):
            worker = DicomWebReportWorker(
                client, inferencer, inferencer.model_info(), logger=quiet,
                batch_size=batch_size, num_replicas=num_replicas)
            written.setdefault(name, []).append(worker.run_once().written)

        def engine():
            for _ in inferencer.stream(paths, batch_size=batch,
                                       num_replicas=replicas):
                pass

        baseline = 'worker, batch 1, 1 replica'
        polls = {
            baseline: (1, 1),
            f'worker, batch {batch}, 1 replica': (batch, 1),
            f'worker, batch {batch}, {replicas} replicas': (batch, replicas)
        }
        watched = {
            name: Watched(lambda name=name, options=options: poll(
                name, *options))
            for name, options in polls.items()
        }
        watched[f'folder engine, batch {batch}, {replicas} replicas'] = \
            Watched(engine)
        # the SRs deleted before each call, outside Watched's time (and so
        # the times are Watched's, not interleaved's)
        interleaved({name: lambda fn=fn: (delete_srs(server), fn())
                     for name, fn in watched.items()}, args.repeats)
        times = {name: fastest(fn) for name, fn in watched.items()}
    base = len(paths) / times[baseline]
    log(f'{len(paths)} {args.source} images (one per study), '
        f'{args.max_new_tokens} new tokens per region; minimum of '
        f'{args.repeats}')
    rows = ['| contender | s | ms per image | images/s | vs batch 1 | '
            'SRs per poll | cores busy / others\' |',
            '|---|---|---|---|---|---|---|']
    for name, seconds in times.items():
        rate = len(paths) / seconds
        srs = ', '.join(map(str, written.get(name, []))) or '-'
        rows.append(f'| {name} | {seconds:.2f} | {1000 / rate:.1f} | '
                    f'{rate:.2f} | {rate / base:.2f}x | {srs} | '
                    f'{watched[name].cores()} |')
    for row in rows:
        log(row)
    wrong = {name: n for name, n in written.items()
             if any(count != len(paths) for count in n)}
    if wrong:
        raise RuntimeError(f'a poll did not write {len(paths)} SRs: {wrong}')
    return rows


if __name__ == '__main__':
    main()
