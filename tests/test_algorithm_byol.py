"""BYOL and BYOL-More-MLPs (algorithms.md §5-6): heads, loss values, EMA target, state round trip, configs."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from algorithm_checks import (IdentityFeatures, assert_embed, assert_exact_ema_step, assert_loss_decreases,
                              assert_only_online_gets_gradients, assert_state_round_trip, mlp_layout,
                              one_thread_fixture, tiny_factory, tiny_views)
from algorithms.augment import BYOLAugment, TwoViewAugment
from algorithms.backbones import small_cnn
from algorithms.byol import BYOL, regression_loss
from algorithms.lars import LARS

_one_thread = one_thread_fixture()


def identity_byol(dim: int = 2, predictor: nn.Module | None = None) -> BYOL:
    """BYOL whose online and target networks are the identity: online(v) = target(v) = v."""
    algo = BYOL(IdentityFeatures(dim), hidden_dim=4, out_dim=dim)
    algo.projector, algo.target_projector = nn.Identity(), nn.Identity()
    algo.predictor = predictor if predictor is not None else nn.Identity()
    return algo


_byol = tiny_factory(BYOL, hidden_dim=64, out_dim=16)


# ---------------------------------------------------------------------------------------------------------------
# heads


def test_byol_heads_paper_widths():
    algo = BYOL(IdentityFeatures(512))
    assert mlp_layout(algo.projector) == [("fc", 512, 1024, True), ("bn", 1024), ("ReLU",), ("fc", 1024, 256, True)]
    assert mlp_layout(algo.predictor) == [("fc", 256, 1024, True), ("bn", 1024), ("ReLU",), ("fc", 1024, 256, True)]
    assert mlp_layout(algo.target_projector) == mlp_layout(algo.projector)
    assert algo.name == "byol" and algo.base_momentum == 0.99


def test_byol_more_mlps_heads_four_layers():
    algo = BYOL(IdentityFeatures(512), num_layers=4)
    hidden = [("bn", 1024), ("ReLU",), ("fc", 1024, 1024, True)]
    assert mlp_layout(algo.projector) == [("fc", 512, 1024, True), *hidden, *hidden, ("bn", 1024), ("ReLU",),
                                      ("fc", 1024, 256, True)]
    assert mlp_layout(algo.predictor) == [("fc", 256, 1024, True), *hidden, *hidden, ("bn", 1024), ("ReLU",),
                                      ("fc", 1024, 256, True)]


def test_target_starts_as_copy_of_online_and_is_frozen():
    torch.manual_seed(0)
    algo = BYOL(small_cnn(8), hidden_dim=32, out_dim=8)
    online = list(algo.backbone.parameters()) + list(algo.projector.parameters())
    target = list(algo.target_backbone.parameters()) + list(algo.target_projector.parameters())
    assert len(online) == len(target) > 0
    for o, t in zip(online, target):
        assert torch.equal(o, t) and o.data_ptr() != t.data_ptr()
        assert o.requires_grad and not t.requires_grad
    # the predictor has no target copy; target parameters are not handed to the optimizer
    grouped = {id(p) for g in algo.param_groups(1e-6) for p in g["params"]}
    assert grouped == {id(p) for p in online + list(algo.predictor.parameters())}


# ---------------------------------------------------------------------------------------------------------------
# loss: hand-computed cases


def test_loss_identical_is_zero_orthogonal_is_four():
    algo = identity_byol()
    e1 = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    assert algo.training_loss(e1, e1.clone()).item() == pytest.approx(0.0, abs=1e-6)
    e2 = torch.tensor([[0.0, 5.0], [-1.0, 0.0], [1.0, -1.0]])         # row-wise orthogonal to e1
    assert algo.training_loss(e1, e2).item() == pytest.approx(4.0, abs=1e-6)   # (2 - 0) + (2 - 0)
    assert algo.training_loss(e1, -e1).item() == pytest.approx(8.0, abs=1e-6)  # (2 + 2) + (2 + 2)


def test_loss_mean_over_batch_of_two_minus_two_cos():
    algo = identity_byol()
    v1 = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    v2 = torch.tensor([[0.6, 0.8], [2.0, 0.0]])    # cos 0.6 and 1
    per_direction = ((2 - 2 * 0.6) + (2 - 2 * 1.0)) / 2
    assert algo.training_loss(v1, v2).item() == pytest.approx(2 * per_direction, abs=1e-6)
    assert regression_loss(v1, v2).item() == pytest.approx(per_direction, abs=1e-6)


def test_predictor_acts_on_the_online_side_only():
    # predictor P = [[1, 1], [0, 0]]: any vector -> (x + y, 0)
    proj = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        proj.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    algo = identity_byol(predictor=proj)
    a, b = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])
    # one direction: P a = [1, 0] against target b = [1, 0] -> 0 (P on the target side would give 2 - 2cos(a, P b) = 2)
    assert algo.pair_loss(a, b).item() == pytest.approx(0.0, abs=1e-6)
    # other direction: P b = [1, 0] against a = [0, 1] -> 2
    assert algo.pair_loss(b, a).item() == pytest.approx(2.0, abs=1e-6)
    # training_loss = pair_loss(online(v1), target(v2)) + pair_loss(online(v2), target(v1))
    assert algo.training_loss(a, b).item() == pytest.approx(2.0, abs=1e-6)
    # identical views: P a = [1, 0] against a = [0, 1] twice -> 4 (0 if the predictor were skipped)
    assert algo.training_loss(a, a.clone()).item() == pytest.approx(4.0, abs=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# gradients, training


def test_target_gets_no_gradients_online_and_predictor_do():
    torch.manual_seed(0)
    algo = BYOL(small_cnn(8), hidden_dim=32, out_dim=8)
    assert_only_online_gets_gradients(algo, *tiny_views(8))
    assert any(p.grad.abs().sum() > 0 for p in algo.predictor.parameters())


def test_loss_finite_and_decreasing_with_lars():
    _, losses = assert_loss_decreases(_byol, lambda algo: LARS(algo.param_groups(weight_decay=1e-6), lr=0.3),
                                      *tiny_views(), steps=10, progress=lambda i: i / 10, last_ratio=0.5)
    assert 0.0 <= min(losses) and max(losses) <= 8.0


# ---------------------------------------------------------------------------------------------------------------
# EMA target


def test_momentum_ramp_values():
    algo = BYOL(IdentityFeatures(4), hidden_dim=8, out_dim=4)
    assert algo.momentum_at(None) == 0.99
    assert algo.momentum_at(0.0) == pytest.approx(0.99, abs=1e-12)
    assert algo.momentum_at(0.5) == pytest.approx(0.995, abs=1e-12)
    assert algo.momentum_at(0.25) == pytest.approx(1 - 0.01 * (math.cos(math.pi / 4) + 1) / 2, abs=1e-12)
    assert algo.momentum_at(1.0) == 1.0


@pytest.mark.parametrize("progress, m", [(None, 0.99), (0.0, 0.99), (0.5, 0.995)])
def test_ema_moves_target_by_exactly_m_t_plus_one_minus_m_o(progress, m):
    torch.manual_seed(0)
    algo = BYOL(small_cnn(4), hidden_dim=16, out_dim=8)
    predictor_before = [p.detach().clone() for p in algo.predictor.parameters()]
    assert_exact_ema_step(algo, [algo.backbone, algo.projector], [algo.target_backbone, algo.target_projector],
                          progress, m)
    for p, p0 in zip(algo.predictor.parameters(), predictor_before):
        assert torch.equal(p, p0)
    # BN running statistics are copied from the online network
    for tb, ob in zip(algo.target_backbone.buffers(), algo.backbone.buffers()):
        assert torch.equal(tb, ob)


def test_end_of_ramp_leaves_target_unchanged():
    torch.manual_seed(0)
    algo = BYOL(small_cnn(4), hidden_dim=16, out_dim=8)
    with torch.no_grad():
        for p in algo.projector.parameters():
            p.add_(1.0)
    before = [p.detach().clone() for p in algo.target_projector.parameters()]
    algo.after_optimizer_step(1.0)
    assert all(torch.equal(p, b) for p, b in zip(algo.target_projector.parameters(), before))


# ---------------------------------------------------------------------------------------------------------------
# read-out and state


def test_embed_is_unit_norm_online_projector_output():
    torch.manual_seed(0)
    algo = BYOL(small_cnn(8)).eval()
    assert_embed(algo, lambda x: F.normalize(algo.projector(algo.backbone(x)), dim=1), 256, unit_norm=True)


def test_state_round_trip_gives_identical_next_step():
    assert_state_round_trip(lambda seed: _byol(1 + seed, width=4, hidden_dim=32, out_dim=8),
                            lambda algo: LARS(algo.param_groups(1e-6), lr=0.5), *tiny_views(8),
                            warmup_progress=lambda i: i / 10, next_steps=2,
                            checkpoint_has=("target_backbone.", "target_projector."))


# ---------------------------------------------------------------------------------------------------------------
# configs


@pytest.mark.parametrize("name, layers", [("byol", 2), ("byol_mlp4", 4)])
def test_yaml_composes_and_builds(tmp_path, name, layers):
    from lifelong.components import algorithm_parts
    from tests.compose import make_cfg

    cfg = make_cfg(tmp_path, [f"algorithm={name}"])
    parts = algorithm_parts(cfg)
    assert parts.name == name and parts.realtime_lr == 0.3 and parts.weight_decay == 1e-6
    algo = parts.make()
    assert type(algo) is BYOL and algo.base_momentum == 0.99
    fcs = [m for m in algo.projector if isinstance(m, nn.Linear)]
    assert len(fcs) == layers and fcs[0].in_features == algo.backbone.out_dim and fcs[-1].out_features == 256
    assert len([m for m in algo.predictor if isinstance(m, nn.Linear)]) == layers
    opt = parts.optimizer_factory(algo.param_groups(parts.weight_decay))
    assert isinstance(opt, LARS) and opt.defaults["lr"] == 4.8
    pre, stream = parts.pretrain_augment, parts.stream_augment
    assert isinstance(pre, TwoViewAugment)
    assert isinstance(pre.view1, BYOLAugment) and pre.view1.view == 1
    assert isinstance(pre.view2, BYOLAugment) and pre.view2.view == 2
    assert pre.view1.resize_center_pad.p == pre.view2.resize_center_pad.p == 0.6
    assert isinstance(stream, BYOLAugment) and stream.view == 1 and stream.resize_center_pad.p == 0.0
    x = torch.rand(8, 3, 40, 40)
    torch.manual_seed(0)
    a1, a2 = pre.forward_pair(x, x)
    assert a1.shape == a2.shape == (8, 3, cfg.image_size, cfg.image_size)
    loss = algo.training_loss(a1, a2)
    assert torch.isfinite(loss) and 0.0 <= loss.item() <= 8.0
