"""DINONeg (algorithms/dinoneg.py; spec algorithms.md §13): InfoNCE student vs EMA teacher, no centre, config."""
from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F

from algorithms.augment import BYOLAugment, TwoViewAugment
from algorithms.backbones import small_cnn
from algorithms.dinoneg import DINONeg
from algorithms.vit import ViTBackbone
from lifelong.components import algorithm_parts
from tests.compose import make_cfg


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _algo(seed=0, **kw) -> DINONeg:
    torch.manual_seed(seed)
    args = dict(hidden_dim=32, bottleneck_dim=16, drop_path_rate=0.0)
    args.update(kw)
    return DINONeg(small_cnn(8), **args)


def _views(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 32, 32, generator=g)
    v1 = (base + 0.1 * torch.randn(base.shape, generator=g) - 0.5) / 0.25
    v2 = (base.flip(-1) + 0.1 * torch.randn(base.shape, generator=g) - 0.5) / 0.25
    return v1, v2


def _adamw(algo, lr=1e-3):
    return torch.optim.AdamW(algo.param_groups(0.04), lr=lr)


def test_head_has_no_last_layer_and_no_centre():
    algo = _algo()
    assert algo.head.last_layer_v is None and algo.head.out_dim == 16
    assert not hasattr(algo, "center") and "center" not in algo.state_dict()
    assert DINONeg.grad_clip_norm is None


def test_loss_hand_computed_two_items():
    algo = _algo().eval()
    # unit vectors (the head outputs are L2-normalised): student s_b, teacher t_a, batch of 2
    s1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    s2 = torch.tensor([[0.6, 0.8], [1.0, 0.0]])
    t1 = torch.tensor([[0.8, 0.6], [0.0, 1.0]])
    t2 = torch.tensor([[1.0, 0.0], [-0.6, 0.8]])

    def nce(q, k, tau=0.1):
        total = 0.0
        for i in range(2):
            sims = [sum(a * b for a, b in zip(q[i].tolist(), k[j].tolist())) / tau for j in range(2)]
            total += -(sims[i] - math.log(sum(math.exp(x) for x in sims)))
        return total / 2

    expected = 0.5 * (nce(s2, t1) + nce(s1, t2))
    loss = algo.neg_loss(torch.cat([s1, s2]), torch.cat([t1, t2]), 2)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # training_loss feeds view 1 rows first: swapping the views swaps the pairing but not the loss; matches neg_loss
    v1, v2 = _views(4)
    with torch.no_grad():
        both = torch.cat([v1, v2])
        ref = algo.neg_loss(algo.head(algo.backbone(both)), algo.teacher_output(both), 4)
        assert algo.training_loss(v1, v2).item() == pytest.approx(ref.item(), rel=1e-6)
        assert algo.training_loss(v2, v1).item() == pytest.approx(ref.item(), rel=1e-5)


def test_teacher_ema_exact():
    for progress, m in [(None, 0.996), (0.5, 0.998)]:
        algo = _algo().train()
        opt = _adamw(algo, lr=1e-2)
        before = [p.clone() for p in list(algo.teacher_backbone.parameters()) + list(algo.teacher_head.parameters())]
        algo.training_progress = progress
        loss = algo.training_loss(*_views())
        opt.zero_grad()
        loss.backward()
        opt.step()
        algo.after_optimizer_step(progress)
        student = list(algo.backbone.parameters()) + list(algo.head.parameters())
        teacher = list(algo.teacher_backbone.parameters()) + list(algo.teacher_head.parameters())
        for t0, s, t in zip(before, student, teacher):
            torch.testing.assert_close(t, m * t0 + (1 - m) * s, rtol=0, atol=1e-7)
        # no gradient reaches the teacher
        assert all(p.grad is None for p in teacher)


def test_loss_finite_and_decreasing():
    algo = _algo().train()
    opt = _adamw(algo, lr=3e-3)
    v1, v2 = _views()
    losses = []
    for _ in range(10):
        algo.training_progress = None
        loss = algo.training_loss(v1, v2)
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        algo.after_optimizer_step(None)
        losses.append(loss.item())
    assert sum(losses[-3:]) < 0.8 * sum(losses[:3]), losses


def test_state_round_trip():
    v1, v2 = _views(6, 1)

    def step(algo, opt):
        loss = algo.training_loss(v1, v2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        algo.after_optimizer_step(None)
        return loss.item()

    a = _algo()
    oa = _adamw(a)
    for _ in range(3):
        step(a, oa)
    buf = io.BytesIO()
    torch.save({"model": a.state_dict(), "opt": oa.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf)
    b = _algo(seed=9)
    b.load_state_dict(ckpt["model"])
    ob = _adamw(b)
    ob.load_state_dict(ckpt["opt"])
    for _ in range(2):
        assert step(a, oa) == step(b, ob)


def test_embed_is_unit_bottleneck():
    algo = _algo().eval()
    x = _views(5)[0]
    with torch.no_grad():
        e = algo.embed(x)
        ref = F.normalize(algo.head.mlp(algo.backbone(x)), dim=1)
    assert e.shape == (5, 16) and e.dtype == torch.float32
    torch.testing.assert_close(e, ref)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(5))


def test_yaml_composes_and_builds(tmp_path):
    cfg = make_cfg(tmp_path, ["algorithm=dinoneg"])
    parts = algorithm_parts(cfg)
    algo = parts.make()
    assert isinstance(algo, DINONeg) and isinstance(algo.backbone, ViTBackbone) and parts.name == "dinoneg"
    assert algo.head.out_dim == 256 and algo.temperature == 0.1 and algo.base_momentum == 0.996
    assert parts.realtime_lr == pytest.approx(6.6e-4) and parts.weight_decay == pytest.approx(0.04)
    opt = parts.optimizer_factory(algo.param_groups(parts.weight_decay))
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["lr"] == pytest.approx(1e-3)
    pre = parts.pretrain_augment
    assert isinstance(pre, TwoViewAugment) and (pre.view1.scale, pre.view2.scale) == ((0.14, 1.0), (0.05, 0.4))
    assert isinstance(parts.stream_augment, BYOLAugment) and parts.stream_augment.view == 1
    s = cfg.image_size
    x = torch.rand(4, 3, s, s)
    torch.manual_seed(0)
    v1, v2 = pre.forward_pair(x, x)
    loss = algo.training_loss(v1, v2)
    assert loss.ndim == 0 and torch.isfinite(loss)
    with torch.no_grad():
        e = algo.eval().embed(v1)
    assert e.shape == (4, 256)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(4))
