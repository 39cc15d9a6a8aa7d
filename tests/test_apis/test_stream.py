"""BaseXrayInferencer.stream: a folder in batches, decoded by worker
processes ahead of the model, results yielded as each batch finishes."""
import copy
import multiprocessing as mp
import os

import cv2
import pytest
import torch
from fake_report_models import CONFIG, chest_like
from mmengine.config import Config

from crrg.apis import ReportInferencer


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp('studies')
    for i in range(5):
        height, width = 120 + 10 * i, 100
        cv2.imwrite(str(root / f'study{i}.png'), chest_like(height, width, i))
    (root / 'study2b.jpg').write_bytes(b'not a jpeg')
    return root


@pytest.fixture(scope='module')
def inferencer(tmp_path_factory):
    config = tmp_path_factory.mktemp('cfg') / 'fake.py'
    config.write_text(CONFIG)
    return ReportInferencer(model=copy.deepcopy(Config.fromfile(str(config))))


@pytest.mark.parametrize('num_workers', [0, 2])
def test_stream_yields_each_batch_in_order(inferencer, folder, num_workers):
    reference = inferencer(str(folder), skip_failed=True)
    parts = list(inferencer.stream(str(folder), batch_size=2,
                                   num_workers=num_workers))
    # 6 files in batches of 2; the broken one fails inside its batch
    assert [len(p['predictions']) + len(p['failures']) for p in parts] == [
        2, 2, 2]
    predictions = [pred for p in parts for pred in p['predictions']]
    assert predictions == reference['predictions']
    assert [pred['img_path'] for pred in predictions] == [
        str(folder / f'study{i}.png') for i in (0, 1, 2, 3, 4)]
    (failure, ) = [f for p in parts for f in p['failures']]
    assert failure['input'] == str(folder / 'study2b.jpg')
    assert failure['reason'].startswith('unreadable image: ImageDecodeError')
    assert failure['input'] == reference['failures'][0]['input']


def test_stream_workers_keep_images_for_drawings(inferencer, folder):
    (part, ) = inferencer.stream(
        [str(folder / 'study0.png'), str(folder / 'study4.png')],
        batch_size=2, num_workers=1, return_vis=True)
    assert [d.shape[0] for d in part['visualization']] == [120, 160]


def test_worker_failure_raises_without_skip(inferencer, folder):
    with pytest.raises(Exception, match='study2b.jpg'):
        inferencer([str(folder / 'study2b.jpg')], num_workers=1)


@pytest.mark.parametrize('batch_size', [1, 2])
def test_replicas_match_one_process_in_order(inferencer, folder, batch_size):
    """Two forked replicas give the batches of one process, in input order,
    the damaged file a counted failure in its batch."""
    alone = list(inferencer.stream(str(folder), batch_size=batch_size))
    parts = list(inferencer.stream(str(folder), batch_size=batch_size,
                                   num_replicas=2, return_vis=True))
    assert [(len(p['predictions']), len(p['failures'])) for p in parts] == [
        (len(p['predictions']), len(p['failures'])) for p in alone]
    predictions = [pred for p in parts for pred in p['predictions']]
    assert predictions == [pred for p in alone for pred in p['predictions']]
    assert [pred['img_path'] for pred in predictions] == [
        str(folder / f'study{i}.png') for i in (0, 1, 2, 3, 4)]
    (failure, ) = [f for p in parts for f in p['failures']]
    assert failure['input'] == str(folder / 'study2b.jpg')
    assert failure['reason'].startswith('unreadable image: ImageDecodeError')
    # the decoded images came back for the drawings
    assert [d.shape[0] for p in parts for d in p['visualization']] == [
        120, 130, 140, 150, 160]


def test_replica_failure_raises_in_order_without_skip(inferencer, folder):
    parts = inferencer.stream(
        [str(folder / 'study0.png'), str(folder / 'study2b.jpg')],
        batch_size=1, num_replicas=2, skip_failed=False)
    assert next(parts)['predictions'][0]['img_path'] == str(
        folder / 'study0.png')
    with pytest.raises(Exception, match='study2b.jpg'):
        next(parts)


def test_a_replica_that_dies_is_an_error(inferencer, folder, monkeypatch):
    """A replica killed mid-batch (as by the out-of-memory killer) stops
    the stream with an error instead of waiting for it forever."""
    parent = os.getpid()
    forward = inferencer.forward

    def dies_in_a_replica(*args, **kwargs):
        if os.getpid() != parent:
            os._exit(9)
        return forward(*args, **kwargs)

    monkeypatch.setattr(inferencer, 'forward', dies_in_a_replica)
    with pytest.raises(RuntimeError, match='replica process died'):
        list(inferencer.stream(str(folder), batch_size=2, num_replicas=2))


def test_replicas_end_when_the_caller_stops_early(inferencer, folder):
    parts = inferencer.stream(str(folder), batch_size=1, num_replicas=2)
    next(parts)
    parts.close()
    assert mp.active_children() == []


def test_replicas_run_one_thread_after_a_parallel_parent(
        inferencer, folder, monkeypatch):
    """A replica runs torch on one thread, whatever this process's count:
    torch's OpenMP hangs in a forked child that opens a parallel region
    once its parent has run one (with 2 threads each, this test's replicas
    would hang in the addition below)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(4)
    torch.ones(1 << 22).add_(1)  # a parallel region in this process
    parent, forward = os.getpid(), inferencer.forward

    def forward_on_one_thread(*args, **kwargs):
        if os.getpid() != parent:
            if torch.get_num_threads() != 1:
                os._exit(3)  # reported as a dead replica
            torch.ones(1 << 22).add_(1)
        return forward(*args, **kwargs)

    monkeypatch.setattr(inferencer, 'forward', forward_on_one_thread)
    try:
        parts = list(inferencer.stream(str(folder), batch_size=2,
                                       num_replicas=2))
    finally:
        torch.set_num_threads(threads)
    assert len([pred for p in parts for pred in p['predictions']]) == 5


@pytest.mark.parametrize('option', [
    dict(batch_size=0),
    dict(num_workers=-1),
    dict(num_replicas=0),
])
def test_bad_counts_are_named_errors(inferencer, folder, option):
    # batch_size=0 used to yield empty batches forever
    with pytest.raises(ValueError, match='batch_size must be >= 1'):
        next(inferencer.stream(str(folder), **option))
