"""DINO (algorithms/dino.py; spec algorithms.md §12): head, loss, centre, EMA teacher, last-layer freeze, config."""
from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf
import torch.nn.functional as F
from timm.layers import DropPath
from torch import nn

from algorithm_checks import (assert_embed, assert_loss_decreases, assert_state_round_trip,
                              assert_teacher_ema_after_step, one_thread_fixture, tiny_factory, tiny_views)
from algorithms.augment import BYOLAugment, TwoViewAugment
from algorithms.backbones import small_cnn
from algorithms.dino import DINO, DINOHead
from algorithms.vit import ViTBackbone, vit_backbone
from lifelong.components import algorithm_parts
from tests.compose import make_cfg

_one_thread = one_thread_fixture()


_dino = tiny_factory(DINO, hidden_dim=32, bottleneck_dim=16, out_dim=64, drop_path_rate=0.0)


def _adamw(algo, lr=1e-3):
    return torch.optim.AdamW(algo.param_groups(0.04), lr=lr)


def _exposure(algo, _step):
    algo.training_progress = None


# ---------------------------------------------------------------------------------------------------------------
# head


def test_head_layout_and_fixed_weight_norm():
    torch.manual_seed(0)
    head = DINOHead(384, 2048, 256, 65536)
    layers = [(type(m).__name__, getattr(m, "in_features", None), getattr(m, "out_features", None)) for m in head.mlp]
    assert layers == [("Linear", 384, 2048), ("GELU", None, None), ("Linear", 2048, 2048), ("GELU", None, None),
                      ("Linear", 2048, 256)]
    assert head.last_layer_v.shape == (65536, 256) and head.out_dim == 65536
    # the weight norm g is fixed at 1: no parameter for it; rescaling a row of v changes nothing
    assert [n for n, _ in head.named_parameters() if "last" in n] == ["last_layer_v"]
    small = DINOHead(8, 16, 4, 10)
    x = torch.randn(3, 8)
    with torch.no_grad():
        z = F.normalize(small.mlp(x), dim=1)
        ref = z @ (small.last_layer_v / small.last_layer_v.norm(dim=1, keepdim=True)).t()
        torch.testing.assert_close(small(x), ref)
        torch.testing.assert_close(small.bottleneck(x).norm(dim=1), torch.ones(3))
        small.last_layer_v[3] *= 7.0
        torch.testing.assert_close(small(x), ref)
    assert DINOHead(8, 16, 4, None)(x).shape == (3, 4)


# ---------------------------------------------------------------------------------------------------------------
# loss and centre


def test_dino_loss_hand_computed():
    algo = _dino()
    # batch 1, 2 prototypes; teacher outputs of views a = 0, 1 and student outputs of views 0, 1
    t = torch.tensor([[0.2, -0.1], [0.0, 0.3]])
    s = torch.tensor([[0.5, 0.1], [-0.2, 0.4]])
    c = torch.tensor([[0.05, -0.05]])

    def softmax(v, tau):
        e = [math.exp(x / tau) for x in v]
        return [x / sum(e) for x in e]

    def ce(q, p):
        return -sum(qi * math.log(pi) for qi, pi in zip(q, p))

    q0 = softmax([0.2 - 0.05, -0.1 + 0.05], 0.04)
    q1 = softmax([0.0 - 0.05, 0.3 + 0.05], 0.04)
    expected = 0.5 * (ce(q0, softmax([-0.2, 0.4], 0.1)) + ce(q1, softmax([0.5, 0.1], 0.1)))
    assert algo.dino_loss(s, t, c, 1).item() == pytest.approx(expected, rel=1e-5)


def test_centre_update_is_exact():
    algo = _dino().train()
    v1, v2 = tiny_views(8)
    c0 = torch.randn(1, 64) * 0.1
    algo.center.copy_(c0)
    with torch.no_grad():
        teacher = algo.teacher_output(torch.cat([v1, v2]))
    algo.training_loss(v1, v2)
    torch.testing.assert_close(algo.center, 0.9 * c0 + 0.1 * teacher.mean(dim=0, keepdim=True), rtol=0, atol=1e-7)
    # in eval mode (read-out) the centre stays put
    c1 = algo.center.clone()
    with torch.no_grad():
        algo.eval().training_loss(v1, v2)
    assert torch.equal(algo.center, c1)


def test_teacher_ema_exact_base_and_cosine_ramp():
    for progress, m in [(None, 0.996), (0.0, 0.996), (0.5, 0.998), (1.0, 1.0)]:
        algo = _dino().train()
        assert_teacher_ema_after_step(algo, _adamw(algo, lr=1e-2), *tiny_views(8), progress, m)
        assert algo.momentum == pytest.approx(m, abs=1e-12)


def test_last_layer_frozen_early_in_pretraining_never_in_exposure():
    algo = _dino(freeze_last_layer_progress=0.01).train()
    v1, v2 = tiny_views(8)
    opt = _adamw(algo, lr=1e-2)
    for progress, frozen in [(0.0, True), (0.009, True), (0.01, False), (0.5, False), (None, False)]:
        algo.training_progress = progress
        assert algo.last_layer_frozen() == frozen
        before = algo.head.last_layer_v.clone()
        opt.zero_grad()
        algo.training_loss(v1, v2).backward()
        g = algo.head.last_layer_v.grad
        if frozen:
            assert g is None or not g.any()
            assert algo.head.mlp[0].weight.grad.abs().sum() > 0      # the rest of the head still learns
        else:
            assert g is not None and g.abs().sum() > 0
        opt.step()
        assert torch.equal(algo.head.last_layer_v, before) == frozen   # AdamW (and its weight decay) skip it


def test_loss_finite_and_decreasing():
    assert_loss_decreases(lambda: _dino().train(), lambda algo: _adamw(algo, lr=3e-3), *tiny_views(8), steps=12,
                          before_loss=_exposure, clip_grad_norm=DINO.grad_clip_norm, sum3_ratio=0.9)


def test_state_round_trip_includes_centre():
    def on_restore(a, b, ckpt):
        assert a.center.abs().sum() > 0
        assert torch.equal(a.center, b.center)

    a, b = assert_state_round_trip(_dino, _adamw, *tiny_views(6, seed=1), next_steps=2,
                                   checkpoint_has=("center", "teacher_head."), on_restore=on_restore)
    assert torch.equal(a.center, b.center)


def test_embed_is_softmax_of_student_output_over_tau_s():
    algo = _dino().eval()
    e = assert_embed(algo, lambda x: F.softmax(algo.head(algo.backbone(x)) / 0.1, dim=1), 64, x=tiny_views(5)[0])
    torch.testing.assert_close(e.sum(dim=1), torch.ones(5))
    assert (e >= 0).all()


def test_vit_student_gets_drop_path_teacher_does_not():
    torch.manual_seed(0)
    algo = DINO(vit_backbone(32, 4, 32, 4, 2), hidden_dim=32, bottleneck_dim=16, out_dim=64, drop_path_rate=0.1)
    probs = [b.drop_path1.drop_prob if isinstance(b.drop_path1, DropPath) else 0.0 for b in algo.backbone.blocks]
    assert probs == pytest.approx([0.0, 0.1 / 3, 0.2 / 3, 0.1])
    assert all(isinstance(b.drop_path1, nn.Identity) for b in algo.teacher_backbone.blocks)
    assert DINO.grad_clip_norm == 3.0
    with pytest.raises(TypeError):
        DINO(small_cnn(8), drop_path_rate=0.1)


# ---------------------------------------------------------------------------------------------------------------
# config


def test_yaml_composes_and_builds(tmp_path):
    cfg = make_cfg(tmp_path, ["algorithm=dino"])
    parts = algorithm_parts(cfg)
    algo = parts.make()
    assert isinstance(algo, DINO) and isinstance(algo.backbone, ViTBackbone) and parts.name == "dino"
    # CPU preset: 4,096 prototypes (preset_algorithm/cpu_dino.yaml); the paper's 65,536 under preset=paper
    assert algo.head.out_dim == 4096 and algo.center.shape == (1, 4096)
    paper = OmegaConf.to_container(make_cfg(tmp_path, ["algorithm=dino", "preset=paper"]).algorithm.model)
    assert paper["out_dim"] == 65536
    assert (algo.student_temp, algo.teacher_temp, algo.center_momentum, algo.base_momentum) == (0.1, 0.04, 0.9, 0.996)
    assert algo.freeze_last_layer_progress == 0.01 and algo.grad_clip_norm == 3.0
    assert parts.realtime_lr == pytest.approx(6.6e-4) and parts.weight_decay == pytest.approx(0.04)
    opt = parts.optimizer_factory(algo.param_groups(parts.weight_decay))
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["lr"] == pytest.approx(1e-3)
    pre = parts.pretrain_augment
    assert isinstance(pre, TwoViewAugment)
    assert (pre.view1.scale, pre.view2.scale) == ((0.14, 1.0), (0.05, 0.4))
    assert (pre.view1.view, pre.view2.view) == (1, 2) and pre.view2.resize_center_pad.p == 0.6
    assert isinstance(parts.stream_augment, BYOLAugment) and parts.stream_augment.view == 1
    assert parts.stream_augment.resize_center_pad.p == 0.0
    s = cfg.image_size
    x = torch.rand(4, 3, s, s)
    torch.manual_seed(0)
    v1, v2 = pre.forward_pair(x, x)
    algo.training_progress = 0.0
    loss = algo.training_loss(v1, v2)
    assert loss.ndim == 0 and torch.isfinite(loss)
    with torch.no_grad():
        assert algo.eval().embed(v1).shape == (4, 4096)
