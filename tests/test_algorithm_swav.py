"""SwAV (algorithms.md §8): Sinkhorn, prototypes, swapped prediction, queue, prototype freeze, state, config."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from algorithm_checks import (assert_embed, assert_loss_decreases, assert_realtime_smoke_run, assert_state_round_trip,
                              one_thread_fixture, tiny_factory, tiny_views)
from algorithms.lars import LARS
from algorithms.swav import SwAV, sinkhorn
from lifelong.components import algorithm_parts
from tests.compose import make_cfg


_one_thread = one_thread_fixture()


_algo = tiny_factory(SwAV, hidden_dim=32, out_dim=16, num_prototypes=30, queue_length=0)


def _lars(algo):
    return LARS(algo.param_groups(1e-6), lr=0.3)


def _reference_sinkhorn(scores, eps, iters):
    """The original's distributed_sinkhorn in one process, float64."""
    q = torch.exp(scores.double() / eps).t()
    q /= q.sum()
    k, n = q.shape
    r, c = torch.full((k,), 1.0 / k, dtype=torch.float64), torch.full((n,), 1.0 / n, dtype=torch.float64)
    for _ in range(iters):
        q *= (r / q.sum(dim=1)).unsqueeze(1)
        q *= (c / q.sum(dim=0)).unsqueeze(0)
    return (q / q.sum(dim=0, keepdim=True)).t()


def _manual_loss(algo, v1, v2, queue=None):
    """Swapped prediction recomputed from the pieces (prototypes already unit norm)."""
    b = v1.shape[0]
    z = F.normalize(algo.neck(algo.backbone(torch.cat([v1, v2]))), dim=1)
    w = algo.prototypes.weight
    scores = z @ w.t()
    total = 0.0
    for i, (a, other) in enumerate(((0, 1), (1, 0))):
        out = scores[a * b:(a + 1) * b].detach()
        if queue is not None:
            out = torch.cat([queue[i] @ w.detach().t(), out])
        q = _reference_sinkhorn(out, 0.05, 3)[-b:].float()
        total = total - (q * F.log_softmax(scores[other * b:(other + 1) * b] / 0.1, dim=1)).sum(1).mean()
    return total / 2


# ---------------------------------------------------------------------------------------------------------------
# Sinkhorn


def test_sinkhorn_matches_the_original_formula_and_has_the_right_marginals():
    torch.manual_seed(0)
    n, k = 24, 10
    scores = F.normalize(torch.randn(n, 8), dim=1) @ F.normalize(torch.randn(k, 8), dim=1).t()
    q = sinkhorn(scores, 0.05, 3)
    assert q.shape == (n, k) and q.dtype == torch.float32 and bool((q >= 0).all())
    torch.testing.assert_close(q.double(), _reference_sinkhorn(scores, 0.05, 3), rtol=1e-4, atol=1e-6)
    # rows: each sample's distribution over the prototypes sums to 1 after the final normalisation
    torch.testing.assert_close(q.sum(dim=1), torch.ones(n))
    # columns: the prototypes' totals approach equipartition n / k as the iterations grow
    dev = lambda qq: (qq.sum(dim=0) - n / k).abs().max().item()  # noqa: E731
    d0, d3, d200 = dev(sinkhorn(scores, 0.05, 0)), dev(q), dev(sinkhorn(scores, 0.05, 200))
    assert d3 < 0.5 * d0 and d200 < 1e-3, (d0, d3, d200)
    torch.testing.assert_close(sinkhorn(scores, 0.05, 200).sum(dim=0), torch.full((k,), n / k), rtol=1e-3, atol=1e-3)


def test_sinkhorn_of_equal_scores_is_uniform_and_large_logits_stay_finite():
    q = sinkhorn(torch.full((6, 4), 0.3), 0.05, 3)
    torch.testing.assert_close(q, torch.full((6, 4), 0.25))
    big = sinkhorn(torch.tensor([[1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]]), 0.001, 3)   # exp(2000) without the max shift
    assert torch.isfinite(big).all()
    torch.testing.assert_close(big.sum(dim=1), torch.ones(3))


# ---------------------------------------------------------------------------------------------------------------
# model


def test_prototypes_are_normalised_by_the_forward_and_the_loss_ignores_their_scale():
    algo = _algo()
    with torch.no_grad():
        algo.prototypes.weight.mul_(torch.linspace(0.2, 5.0, 30).unsqueeze(1))
    other = copy.deepcopy(algo)
    with torch.no_grad():
        other.prototypes.weight.copy_(F.normalize(other.prototypes.weight, dim=1))
    v1, v2 = tiny_views(8)
    loss = algo.training_loss(v1, v2)
    torch.testing.assert_close(algo.prototypes.weight.norm(dim=1), torch.ones(30))
    torch.testing.assert_close(loss, other.training_loss(v1, v2))
    torch.testing.assert_close(loss, _manual_loss(algo, v1, v2), rtol=1e-4, atol=1e-5)
    assert algo.prototypes.bias is None and algo.name == "swav"


def test_loss_finite_and_decreasing_with_lars():
    algo, _ = assert_loss_decreases(_algo, _lars, *tiny_views(16), steps=12, last_ratio=0.6)
    assert algo.steps.item() == 12


def test_queue_fills_newest_first_and_enters_the_assignments_once_full():
    algo = _algo(queue_length=24)
    batches = [tiny_views(8, seed=s) for s in range(4)]
    embeddings = []
    for step, (v1, v2) in enumerate(batches[:3]):
        with torch.no_grad():
            z = F.normalize(algo.neck(algo.backbone(torch.cat([v1, v2]))), dim=1)
        embeddings.append(z.chunk(2))
        assert not algo.queue_full()
        loss = algo.training_loss(v1, v2)                 # queue not full: plain batch assignments
        torch.testing.assert_close(loss, _manual_loss(algo, v1, v2), rtol=1e-4, atol=1e-5)
        assert algo.queue_count.item() == 8 * (step + 1)
        algo.after_optimizer_step()
    assert algo.queue_full()
    for crop in (0, 1):                                   # newest batch first
        expected = torch.cat([embeddings[2][crop], embeddings[1][crop], embeddings[0][crop]])
        torch.testing.assert_close(algo.queue[crop], expected, rtol=1e-5, atol=1e-6)
    v1, v2 = batches[3]
    queue_before = algo.queue.clone()
    no_queue = copy.deepcopy(algo)
    no_queue.queue_count.zero_()
    loss = algo.training_loss(v1, v2)
    torch.testing.assert_close(loss, _manual_loss(algo, v1, v2, queue_before), rtol=1e-4, atol=1e-5)
    assert abs(loss.item() - no_queue.training_loss(v1, v2).item()) > 1e-4
    torch.testing.assert_close(algo.queue[:, 8:], queue_before[:, :16])   # the oldest batch dropped out


def test_queue_start_counts_optimizer_steps():
    algo = _algo(queue_length=16, queue_start=2)
    v1, v2 = tiny_views(8)
    for step in range(3):
        algo.training_loss(v1, v2)
        assert algo.queue_count.item() == (8 if step == 2 else 0)
        algo.after_optimizer_step()
    assert algo.steps.item() == 3


def test_prototype_freeze_only_in_scheduled_pretraining_and_only_at_first():
    algo = _algo(freeze_prototypes_steps=2)
    v1, v2 = tiny_views(8)

    def proto_grad(progress):
        algo.zero_grad(set_to_none=True)
        algo.training_progress = progress
        algo.training_loss(v1, v2).backward()
        assert algo.neck[0].weight.grad is not None
        return algo.prototypes.weight.grad

    assert proto_grad(0.0) is None                        # step 0 of a scheduled run: frozen
    assert proto_grad(None) is not None                   # exposure runs never freeze
    algo.after_optimizer_step()
    assert proto_grad(0.1) is None                        # step 1
    algo.after_optimizer_step()
    g = proto_grad(0.2)                                   # step 2: free
    assert g is not None and g.abs().sum() > 0


def test_state_round_trip_includes_the_queue():
    def on_restore(a, b, ckpt):
        assert a.queue_full()
        assert torch.equal(a.queue, b.queue) and b.queue_full() and b.steps.item() == 3

    assert_state_round_trip(lambda seed: _algo(seed, queue_length=16), _lars, *tiny_views(8),
                            checkpoint_has=("queue", "queue_count", "steps"), on_restore=on_restore)


def test_embed_is_unit_norm_neck_output():
    algo = _algo(out_dim=128).eval()
    assert_embed(algo, lambda x: F.normalize(algo.neck(algo.backbone(x)), dim=1), 128, unit_norm=True)


def test_yaml_composes_and_builds(tmp_path):
    cfg = make_cfg(tmp_path, ["algorithm=swav"])
    parts = algorithm_parts(cfg)
    algo = parts.make()
    assert isinstance(algo, SwAV) and parts.name == "swav"
    assert algo.prototypes.weight.shape == (3000, 128) and algo.queue.shape == (2, 3840, 128)
    assert (algo.temperature, algo.epsilon, algo.sinkhorn_iterations) == (0.1, 0.05, 3)
    assert algo.queue_start == 0 and algo.freeze_prototypes_steps == 30
    opt = parts.optimizer_factory(algo.param_groups(parts.weight_decay))
    assert isinstance(opt, LARS) and opt.defaults["lr"] == 4.8 and parts.weight_decay == 1e-6
    assert parts.pretrain_augment.scale == (0.14, 1.0) and parts.pretrain_augment.resize_center_pad.p == 0.6
    assert parts.stream_augment.scale == (0.08, 1.0) and parts.stream_augment.resize_center_pad.p == 0.0
    torch.manual_seed(0)
    x = torch.rand(4, 3, cfg.image_size, cfg.image_size)
    v1, v2 = parts.pretrain_augment.forward_pair(x, x)
    assert v1.shape == (4, 3, cfg.image_size, cfg.image_size)
    assert torch.isfinite(algo.training_loss(v1, v2)) and algo.queue_count.item() == 4


def test_realtime_smoke_run(tmp_path):
    assert_realtime_smoke_run(tmp_path, "swav")
