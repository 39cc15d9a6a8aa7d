"""A local Orthanc with its DICOMweb plugin (Debian's ``orthanc`` and
``orthanc-dicomweb``): the PACS of the DICOMweb worker's test and of
``benchmarks/dicomweb_throughput.py``."""
import contextlib
import glob
import json
import os
import os.path as osp
import secrets
import socket
import subprocess
import time
from typing import Iterator, Optional, Tuple

import requests

#: where Debian's packages put Orthanc and its DICOMweb plugin
ORTHANC = '/usr/sbin/Orthanc'
PLUGIN_PATTERNS = ('/usr/share/orthanc/plugins/libOrthancDicomWeb.so*',
                   '/usr/lib/orthanc/libOrthancDicomWeb.so*')


def find_orthanc() -> Optional[Tuple[str, str]]:
    """``(binary, DICOMweb plugin)`` when both are installed, else None."""
    if not os.access(ORTHANC, os.X_OK):
        return None
    for pattern in PLUGIN_PATTERNS:
        found = sorted(glob.glob(pattern))
        if found:
            return ORTHANC, found[0]
    return None


@contextlib.contextmanager
def orthanc_server(binary: str, plugin: str, folder: str, username: str,
                   name: str = 'crrg') -> Iterator[dict]:
    """A fresh Orthanc on a free loopback port (storage, config and log in
    ``folder``) with DICOMweb and HTTP basic auth for ``username`` (a random
    password), stopped on exit.

    Yields:
        dict: ``url`` (the DICOMweb root), ``rest`` (Orthanc's REST root)
        and ``auth`` (user, password).

    Raises:
        RuntimeError: Orthanc exited, did not answer within 60 s or did not
            load the plugin (with its log's end).
    """
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    auth = (username, secrets.token_hex(8))
    config = {
        'Name': name,
        'StorageDirectory': osp.join(folder, 'db'),
        'IndexDirectory': osp.join(folder, 'db'),
        'HttpPort': port,
        'DicomServerEnabled': False,
        'RemoteAccessAllowed': False,  # loopback only
        'AuthenticationEnabled': True,
        'RegisteredUsers': {auth[0]: auth[1]},
        'Plugins': [plugin],
        'DicomWeb': {'Enable': True, 'Root': '/dicom-web/',
                     'EnableWado': False},
    }
    config_path = osp.join(folder, 'orthanc.json')
    with open(config_path, 'w') as f:
        json.dump(config, f)
    log_path = osp.join(folder, 'orthanc.log')

    def log_end() -> str:
        with open(log_path) as f:
            return f.read()[-3000:]

    with open(log_path, 'w') as out:
        proc = subprocess.Popen([binary, config_path], stdout=out,
                                stderr=subprocess.STDOUT, cwd=folder)
    rest = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f'Orthanc exited ({proc.returncode}):\n{log_end()}')
            try:
                answer = requests.get(f'{rest}/plugins', auth=auth, timeout=2)
                answer.raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise RuntimeError('Orthanc did not answer within 60 s:'
                                       f'\n{log_end()}')
                time.sleep(0.3)
        if 'dicom-web' not in answer.json():
            raise RuntimeError(f'Orthanc did not load {plugin}: plugins '
                               f'{answer.json()}')
        yield dict(url=f'{rest}/dicom-web', rest=rest, auth=auth)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
