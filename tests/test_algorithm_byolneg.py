"""BYOLNeg (algorithms.md §7): identity predictor, symmetric in-batch InfoNCE against the EMA target."""
from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from algorithms.augment import BYOLAugment, TwoViewAugment
from algorithms.backbones import small_cnn
from algorithms.byol import BYOL
from algorithms.byolneg import BYOLNeg
from algorithms.lars import LARS


class IdentityFeatures(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.out_dim = dim

    def forward(self, x):
        return x


def identity_byolneg(dim: int = 2, temperature: float = 0.1) -> BYOLNeg:
    """BYOLNeg whose online and target networks are the identity: online(v) = target(v) = v."""
    algo = BYOLNeg(IdentityFeatures(dim), hidden_dim=4, out_dim=dim, temperature=temperature)
    algo.projector, algo.target_projector = nn.Identity(), nn.Identity()
    return algo


def views(n: int = 16, size: int = 32):
    g = torch.Generator().manual_seed(0)
    base = torch.rand(n, 3, size, size, generator=g)
    v1 = (base + 0.1 * torch.randn(base.shape, generator=g) - 0.5) / 0.25
    v2 = (base.flip(-1) + 0.1 * torch.randn(base.shape, generator=g) - 0.5) / 0.25
    return v1, v2


def test_head_is_byol_projector_and_identity_predictor():
    algo = BYOLNeg(IdentityFeatures(512))
    fcs = [(m.in_features, m.out_features, m.bias is not None) for m in algo.projector if isinstance(m, nn.Linear)]
    assert fcs == [(512, 1024, True), (1024, 256, True)]
    assert [m.num_features for m in algo.projector if isinstance(m, nn.BatchNorm1d)] == [1024]
    assert isinstance(algo.predictor, nn.Identity)
    assert isinstance(algo, BYOL) and algo.name == "byolneg"
    assert algo.temperature == 0.1 and algo.base_momentum == 0.99


def test_loss_equals_hand_computed_info_nce_on_3x2_toy():
    v1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    v2 = torch.tensor([[0.8, 0.6], [-1.0, 0.0], [0.0, 2.0]])     # unit rows except the last (norm 2)
    # cosine tables s[i][j] = cos(query i, key j), worked out by hand
    s_12 = [[0.8, -1.0, 0.0],          # queries online(v1), keys target(v2)
            [0.6, 0.0, 1.0],
            [0.96, -0.6, 0.8]]
    s_21 = [[0.8, 0.6, 0.96],          # queries online(v2), keys target(v1)
            [-1.0, 0.0, -0.6],
            [0.0, 1.0, 0.8]]
    t = 0.1

    def info_nce(s):
        return sum(-math.log(math.exp(row[i] / t) / sum(math.exp(x / t) for x in row)) for i, row in enumerate(s)) / 3

    expected = info_nce(s_12) + info_nce(s_21)
    algo = identity_byolneg(temperature=t)
    assert algo.training_loss(v1, v2).item() == pytest.approx(expected, rel=1e-5)
    assert algo.pair_loss(v1, v2).item() == pytest.approx(info_nce(s_12), rel=1e-5)
    # the temperature is used: tau 0.5 changes the value as hand-computed
    t = 0.5
    algo = identity_byolneg(temperature=t)
    assert algo.training_loss(v1, v2).item() == pytest.approx(info_nce(s_12) + info_nce(s_21), rel=1e-5)


def test_target_gets_no_gradients_online_does():
    torch.manual_seed(0)
    algo = BYOLNeg(small_cnn(8), hidden_dim=32, out_dim=8)
    v1, v2 = views(8)
    algo.training_loss(v1, v2).backward()
    for p in list(algo.target_backbone.parameters()) + list(algo.target_projector.parameters()):
        assert p.grad is None and not p.requires_grad
    for name, p in algo.named_parameters():
        if not name.startswith("target_"):
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert list(algo.predictor.parameters()) == []


def test_loss_finite_and_decreasing_with_lars():
    torch.manual_seed(0)
    algo = BYOLNeg(small_cnn(8), hidden_dim=64, out_dim=16)
    opt = LARS(algo.param_groups(weight_decay=1e-6), lr=0.3)
    v1, v2 = views()
    losses = []
    for i in range(10):
        loss = algo.training_loss(v1, v2)
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        algo.after_optimizer_step(i / 10)
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    assert sum(losses[-3:]) < sum(losses[:3]), losses


@pytest.mark.parametrize("progress, m", [(None, 0.99), (0.5, 0.995), (1.0, 1.0)])
def test_ema_moves_target_by_exactly_m_t_plus_one_minus_m_o(progress, m):
    torch.manual_seed(0)
    algo = BYOLNeg(small_cnn(4), hidden_dim=16, out_dim=8)
    with torch.no_grad():
        for p in list(algo.backbone.parameters()) + list(algo.projector.parameters()):
            p.add_(torch.randn_like(p))
    pairs = list(zip(list(algo.target_backbone.parameters()) + list(algo.target_projector.parameters()),
                     list(algo.backbone.parameters()) + list(algo.projector.parameters())))
    expected = [m * t.detach().clone() + (1 - m) * o.detach().clone() for t, o in pairs]
    algo.after_optimizer_step(progress)
    for (t, _), e in zip(pairs, expected):
        torch.testing.assert_close(t, e, rtol=1e-6, atol=1e-7)


def test_embed_is_unit_norm_online_projector_output():
    torch.manual_seed(0)
    algo = BYOLNeg(small_cnn(8)).eval()
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        e = algo.embed(x)
        ref = F.normalize(algo.projector(algo.backbone(x)), dim=1)
    assert e.shape == (5, 256) and e.dtype == torch.float32
    torch.testing.assert_close(e.norm(dim=1), torch.ones(5))
    torch.testing.assert_close(e, ref)


def test_state_round_trip_gives_identical_next_step():
    v1, v2 = views(8)

    def build():
        torch.manual_seed(1)
        algo = BYOLNeg(small_cnn(4), hidden_dim=32, out_dim=8)
        return algo, LARS(algo.param_groups(1e-6), lr=0.5)

    def step(algo, opt, progress):
        loss = algo.training_loss(v1, v2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        algo.after_optimizer_step(progress)
        return loss.item()

    a, oa = build()
    for i in range(3):
        step(a, oa, i / 10)
    buf = io.BytesIO()
    torch.save({"model": a.state_dict(), "opt": oa.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf)
    b, ob = build()
    b.load_state_dict(ckpt["model"])
    ob.load_state_dict(ckpt["opt"])
    for _ in range(2):
        torch.manual_seed(7)
        la = step(a, oa, None)
        torch.manual_seed(7)
        lb = step(b, ob, None)
        assert la == lb
    for (na, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), na


def test_yaml_composes_and_builds(tmp_path):
    from lifelong.components import algorithm_parts
    from tests.compose import make_cfg

    cfg = make_cfg(tmp_path, ["algorithm=byolneg"])
    parts = algorithm_parts(cfg)
    assert parts.name == "byolneg" and parts.realtime_lr == 0.3 and parts.weight_decay == 1e-6
    algo = parts.make()
    assert type(algo) is BYOLNeg and algo.temperature == 0.1 and isinstance(algo.predictor, nn.Identity)
    opt = parts.optimizer_factory(algo.param_groups(parts.weight_decay))
    assert isinstance(opt, LARS) and opt.defaults["lr"] == 4.8
    pre, stream = parts.pretrain_augment, parts.stream_augment
    assert isinstance(pre, TwoViewAugment) and (pre.view1.view, pre.view2.view) == (1, 2)
    assert pre.view1.resize_center_pad.p == pre.view2.resize_center_pad.p == 0.6
    assert isinstance(stream, BYOLAugment) and stream.view == 1 and stream.resize_center_pad.p == 0.0
    x = torch.rand(8, 3, 40, 40)
    torch.manual_seed(0)
    a1, a2 = pre.forward_pair(x, x)
    assert a1.shape == a2.shape == (8, 3, cfg.image_size, cfg.image_size)
    assert torch.isfinite(algo.training_loss(a1, a2))
