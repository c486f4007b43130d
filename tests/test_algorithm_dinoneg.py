"""DINONeg (algorithms/dinoneg.py; spec algorithms.md §13): InfoNCE student vs EMA teacher, no centre, config."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from algorithm_checks import (assert_embed, assert_loss_decreases, assert_state_round_trip,
                              assert_teacher_ema_after_step, one_thread_fixture, tiny_factory, tiny_views)
from algorithms.augment import BYOLAugment, TwoViewAugment
from algorithms.dinoneg import DINONeg
from algorithms.vit import ViTBackbone
from lifelong.components import algorithm_parts
from tests.compose import make_cfg

_one_thread = one_thread_fixture()


_algo = tiny_factory(DINONeg, hidden_dim=32, bottleneck_dim=16, drop_path_rate=0.0)


def _adamw(algo, lr=1e-3):
    return torch.optim.AdamW(algo.param_groups(0.04), lr=lr)


def _exposure(algo, _step):
    algo.training_progress = None


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
    v1, v2 = tiny_views(4)
    with torch.no_grad():
        both = torch.cat([v1, v2])
        ref = algo.neg_loss(algo.head(algo.backbone(both)), algo.teacher_output(both), 4)
        assert algo.training_loss(v1, v2).item() == pytest.approx(ref.item(), rel=1e-6)
        assert algo.training_loss(v2, v1).item() == pytest.approx(ref.item(), rel=1e-5)


def test_teacher_ema_exact():
    for progress, m in [(None, 0.996), (0.5, 0.998)]:
        algo = _algo().train()
        assert_teacher_ema_after_step(algo, _adamw(algo, lr=1e-2), *tiny_views(8), progress, m)


def test_loss_finite_and_decreasing():
    assert_loss_decreases(lambda: _algo().train(), lambda algo: _adamw(algo, lr=3e-3), *tiny_views(8), steps=10,
                          before_loss=_exposure, sum3_ratio=0.8)


def test_state_round_trip():
    assert_state_round_trip(_algo, _adamw, *tiny_views(6, seed=1), next_steps=2)


def test_embed_is_unit_bottleneck():
    algo = _algo().eval()
    assert_embed(algo, lambda x: F.normalize(algo.head.mlp(algo.backbone(x)), dim=1), 16, x=tiny_views(5)[0],
                 unit_norm=True)


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
