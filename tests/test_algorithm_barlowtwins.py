"""Barlow Twins (algorithms.md §10): projector, cross-correlation loss, state round trip, config."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from algorithm_checks import (assert_embed, assert_loss_decreases, assert_realtime_smoke_run, assert_state_round_trip,
                              one_thread_fixture, tiny_factory, tiny_views)
from algorithms.backbones import small_cnn
from algorithms.barlow_twins import BarlowTwins, barlow_twins_loss, cross_correlation
from algorithms.lars import LARS
from lifelong.components import algorithm_parts
from tests.compose import make_cfg

_one_thread = one_thread_fixture()


_algo = tiny_factory(BarlowTwins, hidden_dim=32, out_dim=32)


def _lars(algo):
    return LARS(algo.param_groups(1e-6), lr=0.3)


def test_projector_is_four_layers_without_final_bn():
    algo = BarlowTwins(small_cnn(8))
    layout = [(type(m).__name__, getattr(m, "out_features", getattr(m, "num_features", None))) for m in algo.projector]
    assert layout == [("Linear", 2048), ("BatchNorm1d", 2048), ("ReLU", None), ("Linear", 2048), ("BatchNorm1d", 2048),
                      ("ReLU", None), ("Linear", 2048), ("BatchNorm1d", 2048), ("ReLU", None), ("Linear", 2048)]
    assert all(m.bias is None for m in algo.projector if isinstance(m, nn.Linear))
    assert algo.lambd == 0.0051 and algo.scale_loss == 0.024 and algo.name == "barlowtwins"


def test_identical_views_correlate_one_on_the_diagonal():
    torch.manual_seed(0)
    z = torch.randn(16, 8) * torch.linspace(0.5, 3.0, 8) + 2.0
    c = cross_correlation(z, z)
    torch.testing.assert_close(torch.diagonal(c), torch.ones(8), rtol=0, atol=1e-4)
    # the on-diagonal term vanishes: only lambda * off-diagonal remains
    off = (c.pow(2).sum() - torch.diagonal(c).pow(2).sum()).item()
    assert barlow_twins_loss(z, z).item() == pytest.approx(0.024 * 0.0051 * off, rel=1e-3)
    assert barlow_twins_loss(z, z, lambd=0.0).item() < 1e-9          # the on-diagonal term alone


def test_loss_by_hand_on_a_4x3_toy_embedding():
    # columns over the batch of 4: a = (1,-1,1,-1), b = (1,1,-1,-1), c = (1,-1,-1,1) (each mean 0, variance 1),
    # d = (1,1,1,-3) (mean 0, variance 3); z1 = [a, b, 2c + 5], z2 = [a, d, b]. After per-dimension batch
    # normalisation (eps 0): C = zn1^T zn2 / 4 =
    #   [[1, 1/sqrt3,  0],
    #    [0, 1/sqrt3,  1],
    #    [0, -1/sqrt3, 0]]
    a = [1.0, -1.0, 1.0, -1.0]
    b = [1.0, 1.0, -1.0, -1.0]
    c = [1.0, -1.0, -1.0, 1.0]
    d = [1.0, 1.0, 1.0, -3.0]
    z1 = torch.tensor([a, b, [2 * x + 5 for x in c]]).t()
    z2 = torch.tensor([a, d, b]).t()
    r = 1 / math.sqrt(3)
    expected_c = torch.tensor([[1, r, 0], [0, r, 1], [0, -r, 0]])
    torch.testing.assert_close(cross_correlation(z1, z2, eps=0.0), expected_c)
    on_diag = (1 - 1) ** 2 + (1 - r) ** 2 + (1 - 0) ** 2
    off_diag = r**2 + 0 + 0 + 1 + 0 + r**2
    expected = 0.024 * (on_diag + 0.0051 * off_diag)
    assert barlow_twins_loss(z1, z2, eps=0.0).item() == pytest.approx(expected, rel=1e-6)
    # with the default eps 1e-5 the columns are divided by sqrt(var + eps), as BatchNorm1d(affine=False) does
    bn = nn.BatchNorm1d(3, affine=False).train()
    ref = bn(z1).t() @ bn(z2) / 4
    torch.testing.assert_close(cross_correlation(z1, z2), ref)


def test_loss_under_bf16_autocast_is_float32():
    torch.manual_seed(0)
    z1, z2 = torch.randn(16, 32), torch.randn(16, 32)
    ref = barlow_twins_loss(z1, z2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = barlow_twins_loss(z1.bfloat16(), z2.bfloat16())
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(ref.item(), rel=0.05)


def test_loss_finite_and_decreasing_with_lars():
    assert_loss_decreases(_algo, _lars, *tiny_views(16), steps=10, last_ratio=0.7)


def test_state_round_trip_gives_identical_next_step():
    assert_state_round_trip(_algo, _lars, *tiny_views(8))


def test_embed_is_the_unnormalised_projector_output():
    algo = BarlowTwins(small_cnn(8)).eval()
    assert_embed(algo, lambda x: algo.projector(algo.backbone(x)), 2048, unit_norm=False)


def test_yaml_composes_and_builds(tmp_path):
    cfg = make_cfg(tmp_path, ["algorithm=barlowtwins"])
    parts = algorithm_parts(cfg)
    algo = parts.make()
    assert isinstance(algo, BarlowTwins) and parts.name == "barlowtwins"
    assert [m.out_features for m in algo.projector if isinstance(m, nn.Linear)] == [2048] * 4
    opt = parts.optimizer_factory(algo.param_groups(parts.weight_decay))
    assert isinstance(opt, LARS) and opt.defaults["lr"] == 4.8 and parts.weight_decay == 1e-6
    for aug, rcp in ((parts.pretrain_augment, 0.6), (parts.stream_augment, 0.0)):
        assert type(aug).__name__ == "SimCLRAugment" and aug.scale == (0.08, 1.0) and aug.resize_center_pad.p == rcp
    torch.manual_seed(0)
    x = torch.rand(4, 3, cfg.image_size, cfg.image_size)
    v1, v2 = parts.pretrain_augment.forward_pair(x, x)
    assert v1.shape == (4, 3, cfg.image_size, cfg.image_size)
    assert torch.isfinite(algo.training_loss(v1, v2))
    # the output width follows hidden_dim (one width throughout, as the paper's projector)
    narrow = make_cfg(tmp_path, ["algorithm=barlowtwins", "algorithm.model.hidden_dim=256"])
    assert narrow.algorithm.model.out_dim == 256


def test_realtime_smoke_run(tmp_path):
    assert_realtime_smoke_run(tmp_path, "barlowtwins")
