"""BYOLNeg (algorithms.md §7): identity predictor, symmetric in-batch InfoNCE against the EMA target."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from algorithm_checks import (IdentityFeatures, assert_embed, assert_exact_ema_step, assert_loss_decreases,
                              assert_only_online_gets_gradients, assert_state_round_trip, one_thread_fixture,
                              tiny_factory, tiny_views)
from algorithms.augment import BYOLAugment, TwoViewAugment
from algorithms.backbones import small_cnn
from algorithms.byol import BYOL
from algorithms.byolneg import BYOLNeg
from algorithms.lars import LARS

_one_thread = one_thread_fixture()


def identity_byolneg(dim: int = 2, temperature: float = 0.1) -> BYOLNeg:
    """BYOLNeg whose online and target networks are the identity: online(v) = target(v) = v."""
    algo = BYOLNeg(IdentityFeatures(dim), hidden_dim=4, out_dim=dim, temperature=temperature)
    algo.projector, algo.target_projector = nn.Identity(), nn.Identity()
    return algo


_byolneg = tiny_factory(BYOLNeg, hidden_dim=64, out_dim=16)


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
    algo = _byolneg(hidden_dim=32, out_dim=8)
    assert_only_online_gets_gradients(algo, *tiny_views(8))
    assert list(algo.predictor.parameters()) == []


def test_loss_finite_and_decreasing_with_lars():
    assert_loss_decreases(_byolneg, lambda algo: LARS(algo.param_groups(weight_decay=1e-6), lr=0.3), *tiny_views(),
                          steps=10, progress=lambda i: i / 10, last_ratio=0.5)


@pytest.mark.parametrize("progress, m", [(None, 0.99), (0.5, 0.995), (1.0, 1.0)])
def test_ema_moves_target_by_exactly_m_t_plus_one_minus_m_o(progress, m):
    algo = _byolneg(width=4, hidden_dim=16, out_dim=8)
    assert_exact_ema_step(algo, [algo.backbone, algo.projector], [algo.target_backbone, algo.target_projector],
                          progress, m)


def test_embed_is_unit_norm_online_projector_output():
    torch.manual_seed(0)
    algo = BYOLNeg(small_cnn(8)).eval()
    assert_embed(algo, lambda x: F.normalize(algo.projector(algo.backbone(x)), dim=1), 256, unit_norm=True)


def test_state_round_trip_gives_identical_next_step():
    assert_state_round_trip(lambda seed: _byolneg(1 + seed, width=4, hidden_dim=32, out_dim=8),
                            lambda algo: LARS(algo.param_groups(1e-6), lr=0.5), *tiny_views(8),
                            warmup_progress=lambda i: i / 10, next_steps=2,
                            checkpoint_has=("target_backbone.", "target_projector."))


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
