"""Each benchmark in benchmarks/ runs end to end at a tiny size."""
import importlib
import os.path as osp
import sys

import pytest
import torch

BENCHMARKS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                      'benchmarks')


@pytest.fixture
def benchmark(monkeypatch):
    """Imports a benchmark as its script would run (``benchmarks/`` on the
    path for ``timing`` and ``gpt2_medium``); restores torch's threads."""
    monkeypatch.syspath_prepend(BENCHMARKS)
    before = set(sys.modules), torch.get_num_threads()
    yield importlib.import_module
    for name in set(sys.modules) - before[0]:
        if osp.dirname(getattr(sys.modules[name], '__file__', None)
                       or '') == BENCHMARKS:
            del sys.modules[name]
    torch.set_num_threads(before[1])


def table(rows, columns):
    assert rows[1] == '|' + '---|' * columns
    return [row.strip('| ').split(' | ') for row in rows[2:]]


def test_timing(benchmark):
    timing = benchmark('timing')
    calls = []
    times = timing.interleaved({'a': lambda: calls.append('a'),
                                'b': lambda: calls.append('b')}, 2)
    assert calls == ['a', 'b'] * 3 and set(times) == {'a', 'b'}
    header = timing.machine_header(3)
    assert 'UTC' in header and '3 threads' in header
    assert 'AVX-512' in header and 'AMX' in header  # has or lacks each


def test_watched_leaves_out_the_warm_up(benchmark):
    timing = benchmark('timing')
    for warm_up, busy in ((True, '0.00'), (False, '1.00')):
        watched = timing.Watched(lambda: None, warm_up=warm_up)
        # (wall s, cores busy, others' cores): the first call the fastest
        watched.runs = [(0.1, 1.0, 0.5), (0.2, 0.0, 0.0)]
        assert watched.cores() == f'{busy} / {float(busy) / 2:.2f}'


def test_int8_gemm(benchmark):
    from crrg.models.decoding.fast_gpt2 import native_int8_ops
    ops = native_int8_ops()
    rows = benchmark('int8_gemm').main(
        ['--layers', '2', '--rows', '1', '13', '--repeats', '1'])
    if ops is None:
        assert rows == []
        return
    isa = ops.cpu_isa()
    gemms = ['fbgemm'] + (['crrg avx2'] if isa != 'GENERIC' else []) + (
        ['crrg vnni'] if isa == 'AVX512_VNNI' else [])
    cells = table(rows, 5)
    assert [(c[0], c[1]) for c in cells] == [(m, g) for m in ('1', '13')
                                             for g in gemms]


def test_generation_threads(benchmark):
    rows = benchmark('generation_threads').main(
        ['--layers', '1', '--tokens', '2', '--repeats', '1', '--threads',
         '2', '--regions', '3', '--gemm', 'vnni', 'fbgemm'])
    cells = table(rows, 7)
    # greedy and beam 4 x two GEMMs x 1 and 2 threads
    assert len(cells) == 8
    assert [c[2] for c in cells] == ['1', '2'] * 4
    assert all(c[4] == '1.00x' for c in cells[::2])
    # the other processes' cores during each minimum run (Linux)
    assert all(c[6] == 'n/a' or float(c[6]) >= 0 for c in cells)


def test_generation_ctranslate2(benchmark):
    pytest.importorskip('ctranslate2')
    rows = benchmark('generation_ctranslate2').main(
        ['--layers', '1', '--tokens', '3', '--repeats', '1', '--threads',
         '2', '--regions', '2'])
    cells = table(rows, 5)
    assert len(cells) == 8  # 2 searches x 2 thread counts x 2 contenders
    assert {c[2] for c in cells} >= {'CTranslate2 int8'}
    assert all(c[4] == '1.00x' for c in cells if c[2] == 'CTranslate2 int8')


@pytest.mark.slow
def test_gpt2_head(benchmark):
    rows = benchmark('gpt2_head').main(
        ['--layers', '1', '--tokens', '2', '--beams', '1', '--repeats', '1',
         '--regions', '2'])
    contenders = [row.split(' | ')[1] for row in rows]
    assert contenders[:2] == ['crrg fp32', 'crrg bf16']
    assert contenders[2].startswith('crrg int8 (')
    assert 'crrg int8 Python step' in contenders


def test_jpeg_decode(benchmark, monkeypatch):
    monkeypatch.chdir(osp.dirname(BENCHMARKS))  # reads the dataset config
    rows = benchmark('jpeg_decode').main(['--jpegs', '1', '--repeats', '1'])
    assert any('LoadResizedImage, no cache' in row for row in rows)
    assert any('training pipeline' in row for row in rows)


@pytest.mark.slow  # a tiny model through four contenders: ~20 s
def test_folder_throughput(benchmark):
    rows = benchmark('folder_throughput').main(
        ['--images', '4', '--batch-size', '2', '--max-new-tokens', '2',
         '--threads', '2', '--repeats', '1'])
    cells = table(rows, 6)
    assert [c[0] for c in cells] == [
        'one at a time, 2 threads', 'one at a time, 1 thread',
        'engine, batch 2, 1 workers', 'engine, batch 2, 2 replicas']
    assert cells[0][4] == '1.00x'


def test_rgrg_folder_throughput_folder(benchmark, tmp_path):
    # without an RGRG checkout (none in CI): the arguments and the folder
    folder = benchmark('rgrg_folder_throughput')
    args = folder.parse_args(['rgrg', '--images', '3', '--replicas', '4'])
    assert (args.images, args.replicas, args.batch_size, args.num_beams,
            args.max_length) == (3, 4, 1, 4, 20)
    images = folder.twin_folder(str(tmp_path), 3)
    assert len(images) == 3 and all(p.endswith('.jpg') for p in images)


def test_rgrg_end_to_end_published_checkpoint(benchmark, tmp_path):
    # --checkpoint: RGRG's model loads the published file (strictly, its
    # {'model': state_dict, ...} layout) instead of random weights
    e2e = benchmark('rgrg_end_to_end')
    args = e2e.parse_args(['rgrg', '--checkpoint', 'published.pt',
                           '--tokenizer', 'tok', '--max-length', '300'])
    assert (args.checkpoint, args.tokenizer, args.max_length) == (
        'published.pt', 'tok', 300)
    assert e2e.parse_args(['rgrg']).checkpoint is None

    def rgrg_like(new_torchvision):
        # the RPN conv: conv.0.0 in torchvision >= 0.13, conv in the file
        conv = torch.nn.Conv2d(2, 2, 3)
        if new_torchvision:
            conv = torch.nn.Sequential(torch.nn.Sequential(conv))
        head = torch.nn.Module()
        head.conv, head.cls = conv, torch.nn.Linear(3, 2)
        model = torch.nn.Module()
        model.object_detector = torch.nn.Module()
        model.object_detector.rpn = torch.nn.Module()
        model.object_detector.rpn.head = head
        return model

    torch.manual_seed(0)
    trained = rgrg_like(new_torchvision=False)
    path = str(tmp_path / 'published.pt')
    torch.save(dict(model=trained.state_dict(), current_epoch=7), path)
    model = rgrg_like(new_torchvision=True)
    e2e.load_published(model, path)
    assert not model.training
    for ours, theirs in zip(model.state_dict().values(),
                            trained.state_dict().values()):
        assert torch.equal(ours, theirs)
    state = trained.state_dict()
    del state['object_detector.rpn.head.cls.bias']
    torch.save(dict(model=state), path)
    with pytest.raises(RuntimeError, match='Missing key'):
        e2e.load_published(model, path)


@pytest.mark.slow  # Orthanc, and a tiny model through four contenders
def test_dicomweb_throughput(benchmark):
    dicomweb = benchmark('dicomweb_throughput')
    if dicomweb.find_orthanc() is None:
        pytest.skip('Orthanc or its DICOMweb plugin is not installed')
    rows = dicomweb.main(
        ['--images', '3', '--batch-size', '2', '--replicas', '2',
         '--max-new-tokens', '2', '--threads', '2', '--repeats', '1'])
    cells = table(rows, 7)
    assert [c[0] for c in cells] == [
        'worker, batch 1, 1 replica', 'worker, batch 2, 1 replica',
        'worker, batch 2, 2 replicas', 'folder engine, batch 2, 2 replicas']
    assert cells[0][4] == '1.00x'
    # the warm-up poll and the timed one each wrote an SR per image
    assert [c[5] for c in cells] == ['3, 3'] * 3 + ['-']
