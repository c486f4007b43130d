"""SimSiam (algorithms.md §9): real-time head, stop-gradient, loss values, state round trip, config."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from algorithms.backbones import small_cnn
from algorithms.simsiam import SimSiam, negative_cosine_loss
from lifelong.components import algorithm_parts
from tests.compose import make_cfg


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _views(n=16, size=32):
    g = torch.Generator().manual_seed(0)
    base = torch.rand(n, 3, size, size, generator=g)
    v1 = (base + 0.1 * torch.randn(base.shape, generator=g) - 0.5) / 0.25
    v2 = (base.flip(-1) + 0.1 * torch.randn(base.shape, generator=g) - 0.5) / 0.25
    return v1, v2


def _algo(seed=0, **kw):
    torch.manual_seed(seed)
    kw.setdefault("hidden_dim", 32)
    kw.setdefault("out_dim", 32)
    kw.setdefault("pred_hidden_dim", 16)
    return SimSiam(small_cnn(8), **kw)


def _layout(mlp: nn.Sequential) -> list:
    out = []
    for m in mlp:
        if isinstance(m, nn.Linear):
            out.append(("fc", m.in_features, m.out_features, m.bias is not None))
        elif isinstance(m, nn.BatchNorm1d):
            out.append(("bn", m.num_features))
        else:
            out.append((type(m).__name__,))
    return out


def test_realtime_head_layout():
    algo = SimSiam(small_cnn(8))
    assert _layout(algo.projector) == [
        ("fc", 64, 512, False), ("bn", 512), ("ReLU",), ("fc", 512, 512, False), ("bn", 512),
        ("ReLU",), ("fc", 512, 512, False)]
    assert _layout(algo.predictor) == [("fc", 512, 256, False), ("bn", 256), ("ReLU",), ("fc", 256, 512, False)]
    assert algo.name == "simsiam"


def test_negative_cosine_loss_by_hand():
    p = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    z = torch.tensor([[1.0, 1.0], [0.0, -3.0]])
    # cosines 1/sqrt(2) and -1
    expected = ((2 - 2 / math.sqrt(2)) + (2 + 2)) / 2
    assert negative_cosine_loss(p, z).item() == pytest.approx(expected, rel=1e-6)


def test_loss_is_symmetric_and_its_value_on_identical_views():
    algo = _algo()
    v1, v2 = _views(8)
    torch.testing.assert_close(algo.training_loss(v1, v2), algo.training_loss(v2, v1))
    # identical views: both directions are the same, mean_i 2 - 2 cos(h(z_i), z_i) over the 2B copies
    loss = algo.training_loss(v1, v1)
    with torch.no_grad():
        z = algo.project(torch.cat([v1, v1]))
        p = algo.predictor(z)
    per_item = [2 - 2 * torch.dot(p[i], z[i]).item() / (p[i].norm().item() * z[i].norm().item()) for i in range(16)]
    assert loss.item() == pytest.approx(sum(per_item) / 16, rel=1e-5)
    assert 0.0 <= loss.item() <= 4.0


def test_stop_gradient_no_gradient_through_the_target_branch():
    v1, v2 = _views(8)

    def grads(loss_fn):
        algo = _algo(seed=3)
        loss = loss_fn(algo)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in algo.parameters()]

    def manual(detach):
        def fn(algo):
            z = algo.project(torch.cat([v1, v2]))
            p = algo.predictor(z)
            z1, z2 = z.chunk(2)
            p1, p2 = p.chunk(2)
            t1, t2 = (z1.detach(), z2.detach()) if detach else (z1, z2)
            cos = lambda a, b: F.cosine_similarity(a, b, dim=1)  # noqa: E731
            return 0.5 * ((2 - 2 * cos(p1, t2)).mean() + (2 - 2 * cos(p2, t1)).mean())
        return fn

    loss, g = grads(lambda algo: algo.training_loss(v1, v2))
    loss_sg, g_sg = grads(manual(detach=True))
    loss_full, g_full = grads(manual(detach=False))
    torch.testing.assert_close(loss, loss_sg)
    torch.testing.assert_close(loss, loss_full)          # same value ...
    for a, b in zip(g, g_sg):                            # ... the gradient of the stop-gradient loss
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    differs = [not torch.allclose(a, b, rtol=1e-3, atol=1e-5) for a, b in zip(g, g_full)]
    assert sum(differs) > len(differs) // 2              # a gradient through the targets would change them


def test_loss_finite_and_decreasing():
    algo = _algo()
    opt = torch.optim.SGD(algo.param_groups(1e-4), lr=0.1, momentum=0.9)
    v1, v2 = _views(16)
    losses = []
    for _ in range(10):
        loss = algo.training_loss(v1, v2)
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        algo.after_optimizer_step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0] and sum(losses[-3:]) < sum(losses[:3]), losses


def test_state_round_trip_gives_identical_next_step():
    v1, v2 = _views(8)

    def build(seed):
        algo = _algo(seed)
        return algo, torch.optim.SGD(algo.param_groups(1e-4), lr=0.1, momentum=0.9)

    def step(algo, opt):
        opt.zero_grad()
        loss = algo.training_loss(v1, v2)
        loss.backward()
        opt.step()
        algo.after_optimizer_step()
        return loss.item()

    a, oa = build(0)
    for _ in range(3):
        step(a, oa)
    buf = io.BytesIO()
    torch.save({"model": a.state_dict(), "opt": oa.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf)
    b, ob = build(1)
    b.load_state_dict(ckpt["model"])
    ob.load_state_dict(ckpt["opt"])
    torch.manual_seed(7)
    la = step(a, oa)
    torch.manual_seed(7)
    lb = step(b, ob)
    assert la == lb
    for (na, ta), (nb, tb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(ta, tb), na


def test_embed_is_unit_norm_projector_output():
    algo = SimSiam(small_cnn(8)).eval()
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        e = algo.embed(x)
        ref = F.normalize(algo.projector(algo.backbone(x)), dim=1)
    assert e.shape == (5, 512) and e.dtype == torch.float32
    torch.testing.assert_close(e.norm(dim=1), torch.ones(5))
    torch.testing.assert_close(e, ref)


def test_yaml_composes_and_builds(tmp_path):
    cfg = make_cfg(tmp_path, ["algorithm=simsiam"])
    parts = algorithm_parts(cfg)
    algo = parts.make()
    assert isinstance(algo, SimSiam) and parts.name == "simsiam"
    assert [m.out_features for m in algo.projector if isinstance(m, nn.Linear)] == [512, 512, 512]
    assert [m.out_features for m in algo.predictor if isinstance(m, nn.Linear)] == [256, 512]
    opt = parts.optimizer_factory(algo.param_groups(parts.weight_decay))
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["lr"] == 0.1 and parts.weight_decay == 1e-4
    for aug, rcp in ((parts.pretrain_augment, 0.6), (parts.stream_augment, 0.0)):
        assert type(aug).__name__ == "BYOLAugment" and aug.view == 1 and aug.resize_center_pad.p == rcp
    torch.manual_seed(0)
    x = torch.rand(4, 3, cfg.image_size, cfg.image_size)
    v1, v2 = parts.pretrain_augment.forward_pair(x, x)
    assert v1.shape == (4, 3, cfg.image_size, cfg.image_size)
    assert torch.isfinite(algo.training_loss(v1, v2))


def test_realtime_smoke_run(tmp_path):
    from lifelong.realtime.benchmark import run_realtime

    cfg = make_cfg(tmp_path, ["algorithm=simsiam", "benchmark.pairs=[0]", "benchmark.conditions=[build]"])
    res = run_realtime(cfg)
    assert (tmp_path / "results.h5").is_file()
    arrays = res.conditions["build"].arrays
    assert arrays["loss"].shape == (1, 18) and np.isfinite(arrays["loss"]).all()
