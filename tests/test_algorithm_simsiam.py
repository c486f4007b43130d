"""SimSiam (algorithms.md §9): real-time head, stop-gradient, loss values, state round trip, config."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from algorithm_checks import (assert_embed, assert_loss_decreases, assert_realtime_smoke_run, assert_state_round_trip,
                              mlp_layout, one_thread_fixture, tiny_factory, tiny_views)
from algorithms.backbones import small_cnn
from algorithms.simsiam import SimSiam, negative_cosine_loss
from lifelong.components import algorithm_parts
from tests.compose import make_cfg

_one_thread = one_thread_fixture()


_algo = tiny_factory(SimSiam, hidden_dim=32, out_dim=32, pred_hidden_dim=16)


def _sgd(algo):
    return torch.optim.SGD(algo.param_groups(1e-4), lr=0.1, momentum=0.9)


def test_realtime_head_layout():
    algo = SimSiam(small_cnn(8))
    assert mlp_layout(algo.projector) == [
        ("fc", 64, 512, False), ("bn", 512), ("ReLU",), ("fc", 512, 512, False), ("bn", 512),
        ("ReLU",), ("fc", 512, 512, False)]
    assert mlp_layout(algo.predictor) == [("fc", 512, 256, False), ("bn", 256), ("ReLU",), ("fc", 256, 512, False)]
    assert algo.name == "simsiam"


def test_negative_cosine_loss_by_hand():
    p = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    z = torch.tensor([[1.0, 1.0], [0.0, -3.0]])
    # cosines 1/sqrt(2) and -1
    expected = ((2 - 2 / math.sqrt(2)) + (2 + 2)) / 2
    assert negative_cosine_loss(p, z).item() == pytest.approx(expected, rel=1e-6)


def test_loss_is_symmetric_and_its_value_on_identical_views():
    algo = _algo()
    v1, v2 = tiny_views(8)
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
    v1, v2 = tiny_views(8)

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
    assert_loss_decreases(_algo, _sgd, *tiny_views(16), steps=10, last_ratio=0.7)


def test_state_round_trip_gives_identical_next_step():
    assert_state_round_trip(_algo, _sgd, *tiny_views(8))


def test_embed_is_unit_norm_projector_output():
    algo = SimSiam(small_cnn(8)).eval()
    assert_embed(algo, lambda x: F.normalize(algo.projector(algo.backbone(x)), dim=1), 512, unit_norm=True)


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
    assert_realtime_smoke_run(tmp_path, "simsiam")
