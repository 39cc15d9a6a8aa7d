"""The compiled int8 decoding step against the Python int8 step and fp32."""
import logging
import sys
import threading
import time

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from crrg.models.decoding import fast_gpt2
from crrg.models.decoding.fast_gpt2 import (GPT2Decoder, native_int8_ops,
                                         quantize_int8)

LAYERS, HEADS, DIM, VOCAB = 2, 4, 16, 300


@pytest.fixture(scope='module')
def lm():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(
        vocab_size=VOCAB, n_layer=LAYERS, n_embd=HEADS * DIM, n_head=HEADS,
        n_positions=64)).eval()


@pytest.fixture(scope='module')
def ops():
    module = native_int8_ops()
    if module is None:
        pytest.skip('the int8 kernel could not be built here (see the log)')
    return module


def fresh_cache(decoder, prefix_keys, prefix_values, slots):
    """A zero-filled cache with the prefix in slot 0 (so caches compare)."""
    cache = decoder._new_cache(prefix_keys, prefix_values,
                               prefix_keys.size(1), slots)
    cache[:, :, :, :, 1:] = 0
    return cache


@pytest.fixture(scope='module')
def vnni(ops):
    if not ops.cpu_has_vnni():
        pytest.skip('this CPU has no AVX512-VNNI (the GEMM is fbgemm\'s)')
    return ops


@pytest.fixture(scope='module')
def avx2(ops):
    if ops.Int8Linear(quantize_int8(torch.randn(4, 4)), None,
                      'avx2').gemm != 'avx2':
        pytest.skip('this CPU has no AVX2 (the GEMM is fbgemm\'s)')
    return ops


@pytest.mark.parametrize('rows,k,n', [(10, 64, 96), (1, 7, 5), (12, 130, 33),
                                      (13, 64, 64), (40, 36, 310),
                                      (0, 8, 8)])
def test_int8_linear_matches_its_weights(vnni, rows, k, n):
    """crrg's VNNI GEMM on the int8 weights equals x @ dequantised W + b
    up to the per-row int8 rounding of x (error ~ 0.5 / 127 of max |x_r|
    per input; fbgemm's per-tensor 7-bit activations err ~4x more), for
    rows not a multiple of its 12-row chunks, inputs not a multiple of 4 and
    outputs not a multiple of its 32-column blocks."""
    torch.manual_seed(rows + k + n)
    weight = quantize_int8(torch.randn(n, k) * 0.1)
    bias = torch.randn(n)
    x = torch.randn(rows, k) * torch.linspace(0.1, 10, max(rows, 1))[:rows,
                                                                     None]
    ref = x @ weight.dequantize().t() + bias
    linear = vnni.Int8Linear(weight, bias, 'vnni')
    fbgemm = vnni.Int8Linear(weight, bias, 'fbgemm')
    assert linear.gemm == 'vnni' and fbgemm.gemm == 'fbgemm'
    out = linear(x)
    assert out.shape == (rows, n)
    if rows == 0:
        return
    # the rounding bound per row: sum_k |w_ck| * 0.5 * scale_r
    bound = weight.dequantize().abs().sum(1) * 0.5 * (
        x.abs().amax(1, keepdim=True) / 127)
    assert ((out - ref).abs() <= bound + 1e-4).all()
    assert (out - ref).abs().max() < (fbgemm(x) - ref).abs().max()
    torch.testing.assert_close(vnni.Int8Linear(weight, None, 'vnni')(x),
                               out - bias, rtol=0, atol=1e-5)


def avx2_reference(weight, bias, x):
    """crrg's AVX2 GEMM written in torch: x quantised per row to |q| <= 64
    (scale = max |x_r| / 64, rounded half away from zero), the exact integer
    products with the int8 weights, then fp32 (y * scale_r) * w_scale + b
    (fused multiply-add, here in fp64)."""
    top = x.abs().amax(1, keepdim=True)
    scale = torch.where(top > 0, top / 64, torch.ones_like(top))
    v = x * (1 / scale)
    q = torch.trunc(v + torch.where(v >= 0, 0.5, -0.5)).long()
    assert q.abs().max() <= 64
    y = (q @ weight.int_repr().long().t()).float() * scale
    w_scale = weight.q_per_channel_scales().float()
    return (y.double() * w_scale.double() + bias.double()).float()


@pytest.mark.parametrize('rows', [1, 3, 4, 5, 7, 12, 13, 40])
@pytest.mark.parametrize('k,n', [(64, 96), (7, 5), (130, 33), (36, 310)])
def test_avx2_int8_linear_is_its_integer_product(avx2, rows, k, n,
                                                 restore_threads):
    """crrg's AVX2 GEMM is the integer product of its 7-bit per-row
    activations with the int8 weights (no int16 saturation, also at the
    weights' extremes -128 and 127), for rows in one and several 5-row
    chunks, inputs not a multiple of 4 and outputs not a multiple of its
    16-column blocks; its error is within the 7-bit rounding bound and on
    average below fbgemm's (7 bits per call); 1 and 2 threads give the same
    bits."""
    torch.manual_seed(rows * k + n)
    weight = quantize_int8(torch.randn(n, k) * 0.1)
    # the extremes the u8 x s8 pairs must not saturate on
    ints = weight.int_repr()
    ints[:, :2] = -128
    ints[0, :] = 127
    weight = torch._make_per_channel_quantized_tensor(
        ints, weight.q_per_channel_scales(),
        weight.q_per_channel_zero_points(), 0)
    bias = torch.randn(n)
    x = torch.randn(rows, k) * torch.linspace(0.1, 10, rows)[:, None]
    x[:, :2] = x.abs().amax(1, keepdim=True)  # +64 against -128
    x[0, 2:4] = -x[0].abs().max()  # -64 against 127
    linear = avx2.Int8Linear(weight, bias, 'avx2')
    assert linear.gemm == 'avx2'
    torch.set_num_threads(1)
    out = linear(x)
    torch.testing.assert_close(out, avx2_reference(weight, bias, x),
                               rtol=1e-6, atol=1e-5)
    ref = x @ weight.dequantize().t() + bias
    bound = weight.dequantize().abs().sum(1) * 0.5 * (
        x.abs().amax(1, keepdim=True) / 64)
    assert ((out - ref).abs() <= bound + 1e-4).all()
    if rows > 1:  # the rows of smaller range are rounded finer
        fbgemm = avx2.Int8Linear(weight, bias, 'fbgemm')
        assert (out - ref).abs().mean() < (fbgemm(x) - ref).abs().mean()
    torch.set_num_threads(2)
    assert torch.equal(linear(x), out)


def test_forced_cpu_isa_chooses_the_gemm(ops, monkeypatch):
    """CRRG_FORCE_CPU_ISA caps the instruction set crrg's GEMM is chosen
    for, as on a CPU with only those: AVX2 -> the AVX2 kernel, GENERIC ->
    fbgemm's, also when a kernel is asked for by name."""
    weight = quantize_int8(torch.randn(8, 8))
    isa = ops.cpu_isa()
    monkeypatch.setenv('CRRG_FORCE_CPU_ISA', 'generic')
    assert ops.cpu_isa() == 'GENERIC' and not ops.cpu_has_vnni()
    for gemm in ('crrg', 'vnni', 'avx2', 'fbgemm'):
        assert ops.Int8Linear(weight, None, gemm).gemm == 'fbgemm'
    monkeypatch.setenv('CRRG_FORCE_CPU_ISA', 'AVX2')
    if isa in ('AVX2', 'AVX512', 'AVX512_VNNI'):
        assert ops.cpu_isa() == 'AVX2'
        for gemm in ('crrg', 'vnni', 'avx2'):
            assert ops.Int8Linear(weight, None, gemm).gemm == 'avx2'
    monkeypatch.setenv('CRRG_FORCE_CPU_ISA', 'AVX512')
    assert ops.cpu_isa() == isa
    monkeypatch.setenv('CRRG_FORCE_CPU_ISA', 'SSE9')
    with pytest.raises(RuntimeError, match='must be GENERIC, AVX2 or AVX512'):
        ops.Int8Linear(weight, None, 'crrg')
    monkeypatch.delenv('CRRG_FORCE_CPU_ISA')
    with pytest.raises(RuntimeError, match="gemm must be 'crrg'"):
        ops.Int8Linear(weight, None, 'mkl')


def test_forced_cpu_isa_loads_a_build_without_avx512(monkeypatch):
    """With CRRG_FORCE_CPU_ISA=AVX2 (GENERIC) native_int8_ops builds and
    loads the step without AVX-512 (AVX2) code, under its own name."""
    calls = []
    monkeypatch.setattr('torch.utils.cpp_extension.load',
                        lambda **kwargs: calls.append(kwargs) or 'module')
    for forced, name, flag in [('avx2', '_avx2', 2),
                               ('GENERIC', '_generic', 0), ('', '', 4)]:
        monkeypatch.setattr(fast_gpt2, '_NATIVE', {})
        monkeypatch.setenv('CRRG_FORCE_CPU_ISA', forced)
        assert native_int8_ops() == 'module'
        assert calls[-1]['name'] == 'crrg_gpt2_int8_decode' + name
        assert f'-DCRRG_MAX_ISA={flag}' in calls[-1]['extra_cflags']
    monkeypatch.setattr(fast_gpt2, '_NATIVE', {})
    monkeypatch.setenv('CRRG_FORCE_CPU_ISA', 'AVX3')
    with pytest.raises(ValueError, match='CRRG_FORCE_CPU_ISA must be'):
        native_int8_ops()


def test_int8_linear_refuses_other_weights(ops):
    with pytest.raises(RuntimeError, match='per-channel qint8'):
        ops.Int8Linear(torch.quantize_per_tensor(
            torch.randn(4, 4), 0.1, 0, torch.qint8), None, 'crrg')
    with pytest.raises(RuntimeError, match='zero points 0'):
        ops.Int8Linear(torch.quantize_per_channel(
            torch.randn(4, 4), torch.full((4, ), 0.1, dtype=torch.double),
            torch.tensor([0, 1, 0, 0]), 0, torch.qint8), None, 'crrg')
    linear = ops.Int8Linear(quantize_int8(torch.randn(4, 8)), None, 'crrg')
    with pytest.raises(RuntimeError, match=r'expected \(rows, 8\) fp32'):
        linear(torch.randn(2, 7))


@pytest.mark.parametrize('gemm', ['crrg', 'vnni', 'avx2', 'fbgemm'])
def test_native_step_matches_python_int8(lm, ops, gemm):
    native = GPT2Decoder(lm, 'int8', int8_gemm=gemm)
    python = GPT2Decoder(lm, 'int8', native=False)
    exact = GPT2Decoder(lm, 'fp32')
    assert native.native is not None and python.native is None
    # 'vnni' is the former name of 'crrg'; each falls back to what the CPU
    # has
    expected = ops.Int8Linear(quantize_int8(torch.randn(4, 4)), None,
                              gemm).gemm
    assert native.native.gemm == expected
    if gemm in ('crrg', 'vnni'):
        assert expected == ('vnni' if ops.cpu_has_vnni() else 'fbgemm'
                            if ops.cpu_isa() == 'GENERIC' else 'avx2')
    assert native.weight_bytes_per_step == python.weight_bytes_per_step
    torch.manual_seed(1)
    rows = 5
    keys = torch.randn(LAYERS, rows, HEADS, DIM)
    values = torch.randn(LAYERS, rows, HEADS, DIM)
    caches = [fresh_cache(d, keys, values, 9) for d in (native, python, exact)]
    ids = torch.randint(VOCAB, (rows, ))
    for pos in range(1, 9):
        out = [d.step(ids, pos, c)
               for d, c in zip((native, python, exact), caches)]
        # layer 0's new key/value in slot pos: the same int8 GEMM on the
        # same layer norm (its rounding may move an activation by one
        # quantisation step); a wrong slot or layout would differ by O(1)
        native_kv, python_kv = (c[0, :, :, :, pos] for c in caches[:2])
        assert python_kv.abs().max() > 0
        assert ((native_kv - python_kv).abs().max()
                <= 0.02 * python_kv.abs().max())
        scale = out[2].abs().max()
        native_err = (out[0] - out[2]).abs().max() / scale
        python_err = (out[1] - out[2]).abs().max() / scale
        # int8's error against fp32, not more than the Python step's
        assert native_err < 0.05
        assert native_err <= 2 * python_err + 1e-4
        assert (out[0] - out[1]).abs().max() / scale < 0.05
        ids = out[2].argmax(-1)


def test_native_generation_greedy_and_beam(lm, ops):
    native = GPT2Decoder(lm, 'int8')
    python = GPT2Decoder(lm, 'int8', native=False)
    torch.manual_seed(2)
    keys = torch.randn(LAYERS, 6, HEADS, DIM)
    values = torch.randn(LAYERS, 6, HEADS, DIM)
    for beams in (1, 3):
        a = native.generate(keys, values, 0, 1, 10, num_beams=beams)
        b = python.generate(keys, values, 0, 1, 10, num_beams=beams)
        assert len(a) == 6 and all(len(s) <= 10 for s in a)
        assert sum(x == y for x, y in zip(a, b)) >= 5
    # eos forbidden for the first 4 tokens
    out = native.generate(keys, values, 0, 1, 6, min_new_tokens=6)
    assert [len(s) for s in out] == [6] * 6


def test_argmax_rows_is_torch_argmax(ops):
    torch.manual_seed(3)
    logits = torch.randn(7, 1001)
    logits[2, 5] = logits[2, 700] = 50.  # tie: the first index
    logits[4, :] = -float('inf')
    logits[4, 999] = 0.
    logits[5, 0] = -float('inf')
    assert torch.equal(ops.argmax_rows(logits), logits.argmax(-1))


def test_native_step_refuses_a_wrong_cache(lm, ops):
    native = GPT2Decoder(lm, 'int8')
    ids = torch.zeros(2, dtype=torch.long)
    bf16 = dict(dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match='cache must be contiguous bf16'):
        native.step(ids, 1, torch.zeros(LAYERS, 2, 2, HEADS, 4, DIM + 1,
                                        **bf16))
    with pytest.raises(RuntimeError, match='cache must be contiguous bf16'):
        native.step(ids, 1, torch.zeros(LAYERS, 2, 2, HEADS, 4, DIM))
    with pytest.raises(RuntimeError, match='outside the cache'):
        native.step(ids, 4, torch.zeros(LAYERS, 2, 2, HEADS, 4, DIM, **bf16))
    table = torch.full((2, 4), 7)
    with pytest.raises(RuntimeError, match='table row outside the cache'):
        native.step(ids, 2, torch.zeros(LAYERS, 2, 2, HEADS, 4, DIM, **bf16),
                    table)
    with pytest.raises(RuntimeError, match='outside the vocabulary'):
        native.step(torch.tensor([0, VOCAB]), 1,
                    torch.zeros(LAYERS, 2, 2, HEADS, 4, DIM, **bf16))


def test_python_step_when_the_kernel_cannot_be_built(lm, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError('Error building extension: no g++')

    logged = []
    monkeypatch.setattr(fast_gpt2, '_NATIVE', {})
    monkeypatch.setattr('torch.utils.cpp_extension.load', broken)
    monkeypatch.setattr(fast_gpt2, 'print_log',
                        lambda msg, **kwargs: logged.append((msg, kwargs)))
    decoder = GPT2Decoder(lm, 'int8')
    log, level = logged[-1][0], logged[-1][1].get('level')
    assert level == logging.WARNING
    assert decoder.native is None
    assert 'could not be built' in log and 'no g++' in log
    keys = torch.randn(LAYERS, 2, HEADS, DIM)
    assert len(decoder.generate(keys, keys, 0, 1, 4)) == 2


def test_non_standard_gpt2_uses_the_python_step(ops):
    lm = GPT2LMHeadModel(GPT2Config(
        vocab_size=VOCAB, n_layer=1, n_embd=32, n_head=2,
        activation_function='relu')).eval()
    assert GPT2Decoder(lm, 'int8').native is None


def test_native_step_generic_head_dim(ops):
    """head_dim 12 (not a multiple of 16) takes the plain attention loop
    instead of the AVX-512 one: it agrees with the Python int8 step too."""
    torch.manual_seed(4)
    lm = GPT2LMHeadModel(GPT2Config(
        vocab_size=VOCAB, n_layer=2, n_embd=36, n_head=3,
        n_positions=16)).eval()
    native = GPT2Decoder(lm, 'int8')
    python = GPT2Decoder(lm, 'int8', native=False)
    exact = GPT2Decoder(lm, 'fp32')
    keys = torch.randn(2, 4, 3, 12)
    values = torch.randn(2, 4, 3, 12)
    caches = [fresh_cache(d, keys, values, 6) for d in (native, python, exact)]
    ids = torch.randint(VOCAB, (4, ))
    for pos in range(1, 6):
        out = [d.step(ids, pos, c)
               for d, c in zip((native, python, exact), caches)]
        scale = out[2].abs().max()
        native_err = (out[0] - out[2]).abs().max() / scale
        python_err = (out[1] - out[2]).abs().max() / scale
        assert native_err < 0.05
        assert native_err <= 2 * python_err + 1e-4
        ids = out[2].argmax(-1)


def test_unknown_int8_gemm(lm):
    with pytest.raises(ValueError, match='int8_gemm must be one of'):
        GPT2Decoder(lm, 'int8', int8_gemm='mkl')


@pytest.fixture
def restore_threads():
    """Restores torch's thread count after a test that changes it."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize('gemm', ['crrg', 'avx2', 'fbgemm'])
def test_native_step_same_at_any_thread_count(lm, ops, gemm,
                                              restore_threads):
    """The step splits GEMM columns and (row, head) pairs across torch's
    threads, each output computed as with one thread: logits and cache are
    bitwise equal with 1 and 2 threads. 40 rows (10 regions x 4 beams) so
    that the attention splits too."""
    decoder = GPT2Decoder(lm, 'int8', int8_gemm=gemm)
    torch.manual_seed(5)
    rows, slots = 40, 9
    keys = torch.randn(LAYERS, rows, HEADS, DIM)
    values = torch.randn(LAYERS, rows, HEADS, DIM)
    first = torch.randint(VOCAB, (rows, ))
    runs = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        cache = fresh_cache(decoder, keys, values, slots)
        ids, logits = first, []
        for pos in range(1, slots):
            logits.append(decoder.step(ids, pos, cache))
            ids = logits[-1].argmax(-1)
        runs.append((torch.stack(logits), cache))
    assert torch.equal(runs[0][0], runs[1][0])
    assert torch.equal(runs[0][1], runs[1][1])
    torch.set_num_threads(1)
    one = [decoder.generate(keys[:, :10], values[:, :10], 0, 1, 8,
                            num_beams=beams) for beams in (1, 4)]
    torch.set_num_threads(2)
    assert one == [decoder.generate(keys[:, :10], values[:, :10], 0, 1, 8,
                                    num_beams=beams) for beams in (1, 4)]


@pytest.mark.parametrize('gemm', ['crrg', 'fbgemm'])
@pytest.mark.parametrize('regions,beams,vocab,count',
                         [(10, 4, 5000, 8), (3, 1, 5, 2), (2, 3, 100, 6),
                          (1, 2, 3, 4)])
def test_beam_candidates_are_log_softmax_topk(lm, ops, gemm, regions, beams,
                                              vocab, count, restore_threads):
    """The compiled beam candidates are torch's log_softmax + beam score
    and topk over each region's beams x vocab (eos masked to -inf as before
    min_new_tokens; more candidates than a row's vocabulary), the same on 1
    and 2 threads."""
    decoder = GPT2Decoder(lm, 'int8', int8_gemm=gemm)
    torch.manual_seed(regions * vocab)
    logits = torch.randn(regions * beams, vocab) * 3
    logits[:, 1] = -float('inf')
    beam_scores = torch.randn(regions, beams) * 5
    ref = (torch.log_softmax(logits, -1).view(regions, beams, vocab) +
           beam_scores[..., None]).view(regions, -1)
    ref_scores, ref_index = ref.topk(count, dim=1)
    runs = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        runs.append(decoder.native.beam_candidates(logits, beam_scores,
                                                   count))
    scores, index = runs[0]
    assert torch.equal(scores, runs[1][0]) and torch.equal(index, runs[1][1])
    assert torch.equal(index, ref_index)
    torch.testing.assert_close(scores, ref_scores, rtol=0, atol=1e-5)
    with pytest.raises(RuntimeError, match='count must be'):
        decoder.native.beam_candidates(logits, beam_scores,
                                       beams * vocab + 1)


def test_native_step_releases_the_gil(lm, ops, restore_threads):
    """Another Python thread runs while steps run. The switch interval is
    set to 10 s, so a thread that keeps the GIL in C++ is not interrupted:
    the other thread would get no tick in while the steps run."""
    torch.set_num_threads(1)
    decoder = GPT2Decoder(lm, 'int8')
    rows, slots = 10, 9
    keys = torch.randn(LAYERS, rows, HEADS, DIM)
    cache = fresh_cache(decoder, keys, keys, slots)
    table = decoder.new_table(rows, slots)
    ids = torch.zeros(rows, dtype=torch.long)
    step = decoder.native.step
    ticks, stop = [], threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.0005)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(10.)
    ticker = threading.Thread(target=tick)
    try:
        ticker.start()
        time.sleep(0.01)
        start = time.perf_counter()
        for _ in range(100):
            for pos in range(1, slots):  # only the compiled call: torch's
                step(ids, pos, cache, table)  # own ops release the GIL
        end = time.perf_counter()
    finally:
        stop.set()
        ticker.join()
        sys.setswitchinterval(interval)
    inside = [t for t in ticks if start < t < end]
    assert len(inside) >= 5, (len(inside), end - start)


def test_native_gelu_of_very_negative_inputs(ops):
    """GELU(x) = 0 for x << 0. With c_fc's bias at -30 every MLP input is
    ~-30, and the exp(-2z) of its tanh form is past float's range: the
    compiled step's exp clamps it (unclamped, its exponent bits overflowed
    and GELU(-30) came out as -30). It agrees with the Python int8 step."""
    torch.manual_seed(7)
    lm = GPT2LMHeadModel(GPT2Config(
        vocab_size=VOCAB, n_layer=2, n_embd=32, n_head=2,
        n_positions=16)).eval()
    with torch.no_grad():
        for block in lm.transformer.h:
            block.mlp.c_fc.bias.fill_(-30.)
    native = GPT2Decoder(lm, 'int8')
    python = GPT2Decoder(lm, 'int8', native=False)
    keys = torch.randn(2, 3, 2, 16)
    caches = [fresh_cache(d, keys, keys, 4) for d in (native, python)]
    ids = torch.randint(VOCAB, (3, ))
    out = [d.step(ids, 1, c) for d, c in zip((native, python), caches)]
    assert (out[0] - out[1]).abs().max() < 0.05 * out[1].abs().max()


@pytest.mark.parametrize('rows', [[2, 0, 0, 1], [3, 3]])
def test_python_select_rows_moves_filled_slots(lm, rows):
    """The Python step's reorder: rows ``rows`` (their first ``filled``
    slots) become rows 0..len - 1; later slots and rows stay as they were."""
    decoder = GPT2Decoder(lm, 'fp32')
    torch.manual_seed(2)
    cache = torch.randn(LAYERS, 2, 4, HEADS, 6, DIM)
    before = cache.clone()
    rows = torch.tensor(rows)
    assert decoder.select_rows(cache, None, rows, 3) is None
    n = rows.numel()
    assert torch.equal(cache[:, :, :n, :, :3], before[:, :, rows, :, :3])
    assert torch.equal(cache[:, :, :, :, 3:], before[:, :, :, :, 3:])
    assert torch.equal(cache[:, :, n:], before[:, :, n:])


def test_gelu_new_inplace_is_transformers_bit_for_bit():
    from transformers.activations import ACT2FN
    torch.manual_seed(3)
    x = torch.randn(7, 300) * 4
    x[0, :9] = torch.tensor(
        [0., -0., 1e-30, -1e-30, 1e-40, 30., -30., 1e30, -1e30])
    before = x.clone()
    out = fast_gpt2.gelu_new_inplace(x)
    assert torch.equal(out, ACT2FN['gelu_new'](before))
    assert torch.equal(x, before)
