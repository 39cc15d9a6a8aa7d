import math
import os
import tempfile

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F

from crrg.models.losses import (ImageContrastiveLoss,
                                MultiViewSupervisedContrastiveLoss,
                                TextContrastiveLoss)


def _views(batch=4, dim=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {k: F.normalize(torch.randn(batch, dim, generator=gen), dim=-1)
            for k in ('I1', 'I2', 'T1', 'T2')}


def _ce_by_hand(logits, smoothing=0.0):
    """Mean over rows of the smoothed cross-entropy, written out."""
    n = len(logits)
    total = 0.0
    for i in range(n):
        row = [float(v) for v in logits[i]]
        log_z = math.log(sum(math.exp(v) for v in row))
        nll = [log_z - v for v in row]
        total += (1 - smoothing) * nll[i] + smoothing * sum(nll) / n
    return total / n


def _mat(a, b, s):
    return [[s * float(a[i] @ b[j]) for j in range(len(b))]
            for i in range(len(a))]


def test_mvs_matches_hand_computation_train_and_eval():
    views, s = _views(), 3.0
    loss = MultiViewSupervisedContrastiveLoss(label_smoothing=0.1)
    for training, eps in ((True, 0.1), (False, 0.0)):
        loss.train(training)
        i2t = sum(_ce_by_hand(_mat(views[a], views[b], s), eps)
                  for a in ('I1', 'I2') for b in ('T1', 'T2')) / 4
        t2i = sum(_ce_by_hand(_mat(views[b], views[a], s), eps)
                  for a in ('I1', 'I2') for b in ('T1', 'T2')) / 4
        got = loss(views, torch.tensor(s))
        assert float(got) == pytest.approx((i2t + t2i) / 2, rel=1e-5)


def test_icl_and_tcl_match_hand_computation():
    views, s = _views(seed=1), 5.0
    icl = ImageContrastiveLoss(loss_weight=1.0)(views, torch.tensor(s))
    tcl = TextContrastiveLoss(loss_weight=0.5)(views, torch.tensor(s))
    expected_icl = (_ce_by_hand(_mat(views['I1'], views['I2'], s)) +
                    _ce_by_hand(_mat(views['I2'], views['I1'], s))) / 2
    expected_tcl = (_ce_by_hand(_mat(views['T2'], views['T1'], s)) +
                    _ce_by_hand(_mat(views['T1'], views['T2'], s))) / 2
    assert float(icl) == pytest.approx(expected_icl, rel=1e-5)
    assert float(tcl) == pytest.approx(0.5 * expected_tcl, rel=1e-5)


def test_symmetry_under_view_swaps():
    views, s = _views(seed=2), torch.tensor(4.0)
    swapped = dict(views, I1=views['I2'], I2=views['I1'], T1=views['T2'],
                   T2=views['T1'])
    for loss in (MultiViewSupervisedContrastiveLoss(),
                 ImageContrastiveLoss(), TextContrastiveLoss()):
        assert float(loss(views, s)) == pytest.approx(
            float(loss(swapped, s)), rel=1e-6)


def test_temperature_behaviour():
    """Matched pairs: larger scale -> smaller loss, towards 0; scale 0 -> ln B."""
    batch = 6
    views = _views(batch=batch, seed=3)
    aligned = dict(I1=views['I1'], I2=views['I1'], T1=views['I1'],
                   T2=views['I1'])
    loss = MultiViewSupervisedContrastiveLoss()
    values = [float(loss(aligned, torch.tensor(s))) for s in (0., 1., 10., 100.)]
    assert values[0] == pytest.approx(math.log(batch), rel=1e-6)
    assert values[0] > values[1] > values[2] > values[3]
    assert values[3] < 1e-3


def _total_loss(views, scale):
    return (MultiViewSupervisedContrastiveLoss()(views, scale) +
            ImageContrastiveLoss()(views, scale) +
            TextContrastiveLoss()(views, scale))


def _project(inputs, weight):
    """A shared linear tower: (B, 6) inputs -> normalised (B, D) views."""
    return {k: F.normalize(v @ weight, dim=-1) for k, v in inputs.items()}


def _inputs(batch=8, seed=4):
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(batch, 6, generator=gen)
            for k in ('I1', 'I2', 'T1', 'T2')}


def _distributed_worker(rank, world_size, init_file, inputs, weight, scale,
                        out):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=world_size)
    per_rank = len(inputs['I1']) // world_size
    local = {k: v[rank * per_rank:(rank + 1) * per_rank]
             for k, v in inputs.items()}
    weight = weight.clone().requires_grad_(True)
    total = _total_loss(_project(local, weight), scale)
    total.backward()
    # what DDP applies: the mean over ranks of the parameter gradients
    grad = weight.grad.clone()
    dist.all_reduce(grad)
    out[rank] = (float(total), grad / world_size)
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_gloo_loss_and_gradient_equal_single_process():
    """The W-process update equals the 1-process one on the same batch."""
    inputs, scale = _inputs(), torch.tensor(7.0)
    weight = torch.randn(6, 8, generator=torch.Generator().manual_seed(5))
    single_weight = weight.clone().requires_grad_(True)
    single = _total_loss(_project(inputs, single_weight), scale)
    single.backward()
    with tempfile.TemporaryDirectory() as tmp:
        manager = mp.Manager()
        out = manager.dict()
        mp.spawn(_distributed_worker,
                 args=(2, os.path.join(tmp, 'init'), inputs, weight, scale,
                       out),
                 nprocs=2, join=True)
        for rank in (0, 1):
            loss, grad = out[rank]
            assert loss == pytest.approx(float(single.detach()), abs=1e-5)
            torch.testing.assert_close(grad, single_weight.grad, atol=1e-6,
                                       rtol=1e-5)
