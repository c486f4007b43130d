"""MoCo v2 (algorithms.md §4): neck, queue, key encoder, loss, state round trip, config."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from algorithm_checks import (assert_embed, assert_loss_decreases, assert_realtime_smoke_run, assert_state_round_trip,
                              one_thread_fixture, tiny_factory, tiny_views)
from algorithms.backbones import small_cnn
from algorithms.losses import info_nce
from algorithms.moco import MoCoV2
from lifelong.components import algorithm_parts
from tests.compose import make_cfg

_one_thread = one_thread_fixture()


_algo = tiny_factory(MoCoV2, hidden_dim=32, out_dim=16, queue_size=64)


def _sgd(algo, lr=0.1):
    return torch.optim.SGD(algo.param_groups(1e-4), lr=lr, momentum=0.9)


def test_neck_is_fc_relu_fc_with_bias_and_no_bn():
    algo = MoCoV2(small_cnn(8))
    layout = [(type(m).__name__, getattr(m, "in_features", None), getattr(m, "out_features", None),
               getattr(m, "bias", None) is not None) for m in algo.neck]
    assert layout == [("Linear", 64, 2048, True), ("ReLU", None, None, False), ("Linear", 2048, 128, True)]
    assert algo.queue.shape == (65536, 128) and algo.queue_ptr.item() == 0
    torch.testing.assert_close(algo.queue.norm(dim=1), torch.ones(65536))
    assert algo.temperature == 0.2 and algo.momentum == 0.999 and algo.name == "mocov2"


def test_enqueue_wraps_and_writes_the_right_rows():
    algo = _algo(queue_size=10, out_dim=3)
    before = algo.queue.clone()
    k = [torch.full((4, 3), float(i)) for i in range(1, 4)]
    algo.enqueue(k[0])
    assert algo.queue_ptr.item() == 4
    assert torch.equal(algo.queue[:4], k[0]) and torch.equal(algo.queue[4:], before[4:])
    algo.enqueue(k[1])
    assert algo.queue_ptr.item() == 8 and torch.equal(algo.queue[4:8], k[1])
    algo.enqueue(k[2])                                   # rows 8, 9, then 0, 1
    assert algo.queue_ptr.item() == 2
    assert torch.equal(algo.queue[8:], k[2][:2]) and torch.equal(algo.queue[:2], k[2][2:])
    assert torch.equal(algo.queue[2:4], k[0][2:]) and torch.equal(algo.queue[4:8], k[1])
    # more keys than rows: key i still goes to row (ptr + i) % size, so the last 10 survive
    many = torch.arange(13 * 3, dtype=torch.float32).view(13, 3)
    algo.enqueue(many)
    assert algo.queue_ptr.item() == (2 + 13) % 10
    for i in range(3, 13):
        assert torch.equal(algo.queue[(2 + i) % 10], many[i])


def test_training_loss_is_info_nce_against_the_old_queue_then_enqueues_all_keys():
    algo = _algo(queue_size=40)
    v1, v2 = tiny_views(12)
    algo.queue_ptr.fill_(33)                             # the batch of 12 wraps: rows 33..39 and 0..4
    old = algo.queue.clone()
    torch.manual_seed(5)
    loss = algo.training_loss(v1, v2)
    # the same query and keys, recomputed (keys unpermuted: BN over the whole batch is permutation-invariant)
    q = algo.project(v1)
    algo.shuffle_bn = False
    k = algo.keys(v2)
    torch.testing.assert_close(loss, info_nce(q, k, old, 0.2), rtol=1e-5, atol=1e-6)
    rows = [(33 + i) % 40 for i in range(12)]
    torch.testing.assert_close(algo.queue[rows], k, rtol=1e-5, atol=1e-6)
    untouched = [r for r in range(40) if r not in rows]
    assert torch.equal(algo.queue[untouched], old[untouched])
    assert algo.queue_ptr.item() == 5
    torch.testing.assert_close(algo.queue.norm(dim=1), torch.ones(40))


def test_shuffle_bn_permutation_leaves_keys_unchanged_in_one_process():
    algo = _algo()
    _, v2 = tiny_views(16)
    torch.manual_seed(1)
    shuffled = algo.keys(v2)
    algo.shuffle_bn = False
    torch.testing.assert_close(shuffled, algo.keys(v2), rtol=1e-4, atol=1e-5)


def test_key_encoder_starts_equal_gets_no_gradient_and_moves_by_exact_ema():
    algo = _algo()
    query = list(algo.backbone.parameters()) + list(algo.neck.parameters())
    key = list(algo.key_backbone.parameters()) + list(algo.key_neck.parameters())
    assert len(query) == len(key)
    assert all(torch.equal(q, k) and not k.requires_grad for q, k in zip(query, key))
    opt = torch.optim.SGD(algo.param_groups(1e-4), lr=0.5, momentum=0.9)
    assert sum(len(g["params"]) for g in opt.param_groups) == len(query)   # key encoder not optimised
    v1, v2 = tiny_views(8)
    for progress in (None, 0.5):                          # base momentum whatever the progress: no ramp
        key_before = [k.detach().clone() for k in key]
        opt.zero_grad()
        algo.training_loss(v1, v2).backward()
        assert all(k.grad is None for k in key)
        opt.step()
        algo.after_optimizer_step(progress)
        moved = False
        for q, k, k0 in zip(query, key, key_before):
            torch.testing.assert_close(k, 0.999 * k0 + 0.001 * q.detach(), rtol=0, atol=1e-7)
            moved |= not torch.equal(k, k0)
        assert moved


def test_loss_finite_and_decreasing_once_the_queue_is_full():
    # The queue starts as random unit vectors; while it fills with real keys (here: older keys of the same 16
    # images) the loss rises, as in any MoCo run. Two batches fill this queue; from then on the loss falls.
    _, losses = assert_loss_decreases(lambda: _algo(queue_size=32), _sgd, *tiny_views(16), steps=12, skip=2,
                                      last_ratio=0.85)
    assert losses[1] > losses[0], losses


def test_state_round_trip_includes_key_encoder_and_queue():
    def on_restore(a, b, ckpt):
        assert a.queue_ptr.item() == 24 % 20
        assert torch.equal(a.queue, b.queue) and a.queue_ptr.item() == b.queue_ptr.item()

    # queue size 20 is not a multiple of the batch of 8: the pointer wraps mid-batch
    assert_state_round_trip(lambda seed: _algo(seed, queue_size=20), lambda algo: _sgd(algo, lr=0.03),
                            *tiny_views(8), checkpoint_has=("queue", "queue_ptr", "key_neck."), on_restore=on_restore)


def test_embed_is_unit_norm_query_neck_output():
    algo = _algo(hidden_dim=32, out_dim=128).eval()
    assert_embed(algo, lambda x: F.normalize(algo.neck(algo.backbone(x)), dim=1), 128, unit_norm=True)


def test_yaml_composes_and_builds(tmp_path):
    cfg = make_cfg(tmp_path, ["algorithm=mocov2"])
    parts = algorithm_parts(cfg)
    algo = parts.make()
    assert isinstance(algo, MoCoV2) and parts.name == "mocov2"
    assert algo.queue.shape == (65536, 128) and algo.temperature == 0.2 and algo.momentum == 0.999
    assert not any(isinstance(m, nn.BatchNorm1d) for m in algo.neck)
    opt = parts.optimizer_factory(algo.param_groups(parts.weight_decay))
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["lr"] == 0.03 and opt.defaults["momentum"] == 0.9
    assert parts.weight_decay == 1e-4
    assert parts.pretrain_augment.resize_center_pad.p == 0.6 and parts.stream_augment.resize_center_pad.p == 0.0
    assert parts.pretrain_augment.scale == (0.2, 1.0)
    torch.manual_seed(0)
    x = torch.rand(4, 3, cfg.image_size, cfg.image_size)
    v1, v2 = parts.pretrain_augment.forward_pair(x, x)
    assert v1.shape == (4, 3, cfg.image_size, cfg.image_size)
    loss = algo.training_loss(v1, v2)
    assert torch.isfinite(loss) and algo.queue_ptr.item() == 4


def test_realtime_smoke_run(tmp_path):
    assert_realtime_smoke_run(tmp_path, "mocov2")
