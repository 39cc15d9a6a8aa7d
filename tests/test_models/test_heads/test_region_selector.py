import torch
import torch.nn.functional as F

from crrg.models.heads import RegionSelector


def test_selector_loss_matches_hand_computation():
    torch.manual_seed(0)
    sel = RegionSelector(in_channels=8, hidden_channels=(4, ), pos_weight=2.,
                         loss_weight=5.)
    feats = torch.randn(2, 29, 8)
    detected = torch.rand(2, 29) > 0.3
    labels = torch.rand(2, 29) > 0.5
    logits = sel.predict(feats)
    assert logits.shape == (2, 29)
    x, y = logits[detected], labels[detected].float()
    p = torch.sigmoid(x)
    manual = -(2. * y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
    loss = sel.loss(feats, detected, labels)['loss_selection']
    torch.testing.assert_close(loss, 5. * manual)
    # undetected regions do not count
    logits_changed = labels.clone()
    logits_changed[~detected] = ~logits_changed[~detected]
    torch.testing.assert_close(
        sel.loss(feats, detected, logits_changed)['loss_selection'], loss)
    assert not torch.allclose(
        loss, 5. * F.binary_cross_entropy_with_logits(
            logits.flatten(), labels.float().flatten(),
            pos_weight=torch.tensor(2.)))


def test_select_threshold_and_detected():
    sel = RegionSelector(in_channels=4, threshold=-1.)
    logits = torch.tensor([[-2., -0.5, 3.]])
    detected = torch.tensor([[True, True, False]])
    assert sel.select(logits, detected).tolist() == [[False, True, False]]
