"""Checks shared by the per-algorithm tests (tests/test_algorithm*.py).

Tiny inputs and models, the "loss is finite and falls on a tiny fixed batch" check, the state round trip
(model and optimizer state saved, restored into a fresh model, the next steps identical), the read-out
embedding against a reference, exact EMA target/teacher updates and the real-time smoke run. Each check asserts
what every algorithm must satisfy and hands back what it built, so that a test adds its algorithm's own
assertions (queue, centre, prototypes, EMA target, ...).

Import as the tests import their other helpers: ``from algorithm_checks import ...`` (tests/ is on sys.path).
"""
from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from algorithms.backbones import small_cnn


def one_thread_fixture():
    """An autouse, module-scoped fixture that runs the module's tests with one intra-op thread.

    These tests use tiny tensors: one intra-op thread is as fast, and immune to the 10-50x slowdown of an
    oversubscribed OpenMP pool when another process holds one of the two cores. Restored afterwards.
    Use at module level: ``_one_thread = one_thread_fixture()``.
    """

    @pytest.fixture(autouse=True, scope="module")
    def _one_thread():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(threads)

    return _one_thread


# ---------------------------------------------------------------------------------------------------------------
# tiny inputs and models


def tiny_views(n: int = 16, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two normalised views of ``n`` random images: view 2 is view 1's base image mirrored, each with its own
    noise. A generator of its own: the global RNG is not touched."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, size, size, generator=g)
    v1 = (base + 0.1 * torch.randn(base.shape, generator=g) - 0.5) / 0.25
    v2 = (base.flip(-1) + 0.1 * torch.randn(base.shape, generator=g) - 0.5) / 0.25
    return v1, v2


def tiny_factory(cls: type[nn.Module], **defaults) -> Callable[..., nn.Module]:
    """A maker of tiny models of ``cls``: ``make(seed=0, width=8, **kw)`` seeds the global RNG with ``seed`` and
    returns ``cls(small_cnn(width), **defaults, **kw)`` (kw overriding the defaults)."""

    def make(seed: int = 0, width: int = 8, **kw) -> nn.Module:
        torch.manual_seed(seed)
        return cls(small_cnn(width), **{**defaults, **kw})

    return make


class IdentityFeatures(nn.Module):
    """A 'backbone' that passes [B, D] inputs through unchanged (for hand-computed losses)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.out_dim = dim

    def forward(self, x):
        return x


def mlp_layout(mlp: nn.Sequential) -> list:
    """A head as a list: ("fc", in, out, has_bias), ("bn", features) or (ModuleType,)."""
    out = []
    for m in mlp:
        if isinstance(m, nn.Linear):
            out.append(("fc", m.in_features, m.out_features, m.bias is not None))
        elif isinstance(m, nn.BatchNorm1d):
            out.append(("bn", m.num_features))
        else:
            out.append((type(m).__name__,))
    return out


def _at(progress, i: int):
    return progress(i) if callable(progress) else progress


# ---------------------------------------------------------------------------------------------------------------
# training


def train_step(algo, opt, v1, v2, progress=None, clip_grad_norm: float | None = None) -> float:
    """One optimizer step on the loss of (v1, v2), which must be finite, then ``after_optimizer_step(progress)``;
    the loss value."""
    loss = algo.training_loss(v1, v2)
    assert torch.isfinite(loss), loss
    opt.zero_grad()
    loss.backward()
    if clip_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(algo.parameters(), clip_grad_norm)
    opt.step()
    algo.after_optimizer_step(progress)
    return loss.item()


def train_losses(algo, opt, v1, v2, steps: int, *, progress=None,
                 before_loss: Callable[[nn.Module, int], None] | None = None,
                 clip_grad_norm: float | None = None) -> list[float]:
    """The losses of ``steps`` optimizer steps (``train_step``: each finite) on the fixed batch (v1, v2).

    progress: passed to ``after_optimizer_step``; a callable gets the step index and returns it.
    before_loss(algo, i): runs before each step's loss (sets ``training_progress``, seeds the masks, ...)."""
    losses = []
    for i in range(steps):
        if before_loss is not None:
            before_loss(algo, i)
        losses.append(train_step(algo, opt, v1, v2, _at(progress, i), clip_grad_norm))
    return losses


def assert_loss_decreases(make_algorithm: Callable[[], nn.Module], optimizer_factory: Callable[[nn.Module], object],
                          v1, v2, *, steps: int = 10, last_ratio: float | None = None,
                          sum3_ratio: float | None = 1.0, skip: int = 0, **train_kw) -> tuple[nn.Module, list[float]]:
    """Train a fresh ``make_algorithm()`` with ``optimizer_factory(algo)`` for ``steps`` steps on the fixed batch:
    every loss finite (``train_losses``), and over the losses after the first ``skip``:
    last < last_ratio * first (when given) and sum(last 3) < sum3_ratio * sum(first 3) (when given).
    Returns (algo, all losses) for the algorithm's own assertions."""
    assert last_ratio is not None or sum3_ratio is not None, "no decrease criterion"
    algo = make_algorithm()
    opt = optimizer_factory(algo)
    losses = train_losses(algo, opt, v1, v2, steps, **train_kw)
    tail = losses[skip:]
    assert len(tail) >= (6 if sum3_ratio is not None else 2), "too few steps to compare"
    if last_ratio is not None:
        assert tail[-1] < last_ratio * tail[0], losses
    if sum3_ratio is not None:
        assert sum(tail[-3:]) < sum3_ratio * sum(tail[:3]), losses
    return algo, losses


# ---------------------------------------------------------------------------------------------------------------
# state round trip


def save_and_load(obj) -> dict:
    """``obj`` through torch.save / torch.load in memory, as a checkpoint file would take it."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf)


def _assert_same_tree(a, b, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _assert_same_tree(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def assert_same_state(a: nn.Module, b: nn.Module) -> None:
    """Same state_dict entries, in the same order, bit for bit."""
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name, ta in sa.items():
        assert torch.equal(ta, sb[name]), name


def assert_state_round_trip(make_algorithm: Callable[[int], nn.Module],
                            optimizer_factory: Callable[[nn.Module], torch.optim.Optimizer], v1, v2, *,
                            warmup_steps: int = 3, warmup_progress=None, next_steps: int = 1, progress=None,
                            seed: int = 7, checkpoint_has: tuple[str, ...] = (),
                            on_restore: Callable[[nn.Module, nn.Module, dict], None] | None = None,
                            ) -> tuple[nn.Module, nn.Module]:
    """Save state_dict incl. the optimizer's, restore into a fresh model: the next steps' losses are identical.

    Model a = make_algorithm(0) trains ``warmup_steps`` steps (``after_optimizer_step(warmup_progress)``; a
    callable gets the step index, as ``progress`` in the next steps). Its state and its optimizer's go through
    torch.save / torch.load; the model state must hold each entry of ``checkpoint_has`` (a key, or a prefix when
    it ends in "."). A fresh b = make_algorithm(1), which differs from a in every trainable parameter and every
    weight matrix, loads them: model and optimizer state then equal a's, and ``on_restore(a, b, checkpoint)`` may
    check more (a is still as saved). Then ``next_steps`` steps on both, the global RNG seeded alike before each:
    every loss identical, and afterwards model and optimizer state identical bit for bit. Returns (a, b).
    """
    a = make_algorithm(0)
    oa = optimizer_factory(a)
    for i in range(warmup_steps):
        train_step(a, oa, v1, v2, _at(warmup_progress, i))
    ckpt = save_and_load({"model": a.state_dict(), "opt": oa.state_dict()})
    for key in checkpoint_has:
        found = any(k.startswith(key) for k in ckpt["model"]) if key.endswith(".") else key in ckpt["model"]
        assert found, f"{key} not in the saved state"
    b = make_algorithm(1)
    ob = optimizer_factory(b)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        if pa.requires_grad or pa.ndim >= 2:     # a frozen EMA copy of a BN scale may still be exactly 1
            assert not torch.equal(pa, pb), f"{name}: the fresh model already equals the trained one"
    b.load_state_dict(ckpt["model"])
    ob.load_state_dict(ckpt["opt"])
    assert_same_state(a, b)
    _assert_same_tree(oa.state_dict(), ob.state_dict(), "restored optimizer")
    if on_restore is not None:
        on_restore(a, b, ckpt)
    for i in range(next_steps):
        torch.manual_seed(seed + i)
        la = train_step(a, oa, v1, v2, _at(progress, i))
        torch.manual_seed(seed + i)
        lb = train_step(b, ob, v1, v2, _at(progress, i))
        assert la == lb, (i, la, lb)
    assert_same_state(a, b)
    _assert_same_tree(oa.state_dict(), ob.state_dict(), "optimizer")
    return a, b


# ---------------------------------------------------------------------------------------------------------------
# read-out, EMA targets, gradients


def assert_embed(algo: nn.Module, reference: Callable[[torch.Tensor], torch.Tensor], dim: int, *,
                 x: torch.Tensor | None = None, unit_norm: bool | None = None, **close_kw) -> torch.Tensor:
    """``algo.embed(x)`` (no grad) is float32 [B, dim] and equals ``reference(x)``; unit_norm True: rows of L2 norm
    1, False: not (norms off 1 by more than 1e-2). x defaults to torch.randn(5, 3, 32, 32). Returns the embedding."""
    if x is None:
        x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        e = algo.embed(x)
        ref = reference(x)
    assert e.shape == (x.shape[0], dim) and e.dtype == torch.float32
    ones = torch.ones(x.shape[0])
    if unit_norm:
        torch.testing.assert_close(e.norm(dim=1), ones)
    elif unit_norm is not None:
        assert not torch.allclose(e.norm(dim=1), ones, atol=1e-2)
    torch.testing.assert_close(e, ref, **close_kw)
    return e


def params_of(*modules: nn.Module) -> list[nn.Parameter]:
    return [p for m in modules for p in m.parameters()]


def assert_exact_ema_step(algo: nn.Module, online: list[nn.Module], target: list[nn.Module], progress, m: float):
    """Online and target made to differ, then ``after_optimizer_step(progress)`` moves each target parameter to
    exactly m * t + (1 - m) * o and leaves the online network as it was."""
    with torch.no_grad():
        for p in params_of(*online):
            p.add_(torch.randn_like(p))
    pairs = list(zip(params_of(*target), params_of(*online)))
    assert pairs and len(params_of(*target)) == len(params_of(*online))
    expected = [m * t.detach().clone() + (1 - m) * o.detach().clone() for t, o in pairs]
    online_before = [o.detach().clone() for _, o in pairs]
    algo.after_optimizer_step(progress)
    for (t, o), e, o0 in zip(pairs, expected, online_before):
        torch.testing.assert_close(t, e, rtol=1e-6, atol=1e-7)
        assert torch.equal(o, o0)              # the online network is not touched


def assert_teacher_ema_after_step(algo: nn.Module, opt, v1, v2, progress, m: float) -> None:
    """One optimizer step of a student/teacher method at ``progress``: the student moved, no gradient reached the
    teacher, and each teacher parameter is exactly m * t0 + (1 - m) * s (t0 before the step, s the new student)."""
    teacher = params_of(algo.teacher_backbone, algo.teacher_head)
    before = [p.clone() for p in teacher]
    student_before = [p.detach().clone() for p in params_of(algo.backbone, algo.head)]
    algo.training_progress = progress
    loss = algo.training_loss(v1, v2)
    opt.zero_grad()
    loss.backward()
    opt.step()
    algo.after_optimizer_step(progress)
    student = params_of(algo.backbone, algo.head)
    teacher = params_of(algo.teacher_backbone, algo.teacher_head)
    assert len(student) == len(teacher) > 0
    for t0, s, t in zip(before, student, teacher):
        torch.testing.assert_close(t, m * t0 + (1 - m) * s, rtol=0, atol=1e-7)
    assert all(p.grad is None for p in teacher)                                         # no gradient to the teacher
    assert not all(torch.equal(s0, s) for s0, s in zip(student_before, student))        # the student moved


def assert_only_online_gets_gradients(algo: nn.Module, v1, v2, target_prefix: str = "target_") -> None:
    """After backward of the loss: the frozen target (parameters named ``target_prefix``...) has no gradient, every
    other parameter a finite one."""
    algo.training_loss(v1, v2).backward()
    names = [name for name, _ in algo.named_parameters()]
    assert any(n.startswith(target_prefix) for n in names) and not all(n.startswith(target_prefix) for n in names)
    for name, p in algo.named_parameters():
        if name.startswith(target_prefix):
            assert p.grad is None and not p.requires_grad, name
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


# ---------------------------------------------------------------------------------------------------------------
# end to end


def assert_realtime_smoke_run(tmp_path, algorithm: str) -> None:
    """One real-time 'build' run of pair 0 with the tiny test config: a results file, 18 finite losses."""
    from lifelong.realtime.benchmark import run_realtime
    from tests.compose import make_cfg

    cfg = make_cfg(tmp_path, [f"algorithm={algorithm}", "benchmark.pairs=[0]", "benchmark.conditions=[build]"])
    res = run_realtime(cfg)
    assert (tmp_path / "results.h5").is_file()
    arrays = res.conditions["build"].arrays
    assert arrays["loss"].shape == (1, 18) and np.isfinite(arrays["loss"]).all()
