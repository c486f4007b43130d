"""Which pairs a model learns from at each training step of the real-time benchmark (realtime.md §3-§5).

The training clock maps step s to session time t = s * (session length / steps) (4 s per step
at paper scale). Each stream example of step s:

1. tau = t - U(0,1) * W, a moment of the trailing learning window of W minutes;
2. if tau < 0 (before the session) or tau > session end, the example is a pretraining image,
   used for both views; the file index comes from the same uniform draw c as the jitter;
3. otherwise view 1 = frame at tau and view 2 = frame at tau + (2c - 1) * jitter, clamped to
   the session.

The plan is precomputed for the whole run from a seed as integer arrays; nothing is decoded
here. The pretraining part of each batch walks a seeded shuffle of the pretraining set that
restarts identically for every face pair.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SESSION = 0
PRETRAIN = 1


@dataclass(frozen=True)
class StreamPlan:
    """Per-step stream examples: arrays of shape [steps, n_stream]."""

    source: np.ndarray      # SESSION or PRETRAIN
    view1: np.ndarray       # image id into the stimulus store, or pretraining index
    view2: np.ndarray
    tau: np.ndarray         # sampled window moment in seconds (before jitter)
    step_seconds: float

    @property
    def num_steps(self) -> int:
        return int(self.source.shape[0])


def step_time(step: int | np.ndarray, num_steps: int, session_seconds: float):
    """Session time (s) of training step ``step``: t = step * session_seconds / num_steps."""
    return np.asarray(step) * (session_seconds / num_steps)


def plan_stream(
    frames: np.ndarray,
    frame_seconds: float,
    num_steps: int,
    n_stream: int,
    n_pretrain_images: int,
    window_minutes: float,
    jitter_seconds: float,
    seed: int,
) -> StreamPlan:
    """Precompute every stream example of a run."""
    if window_minutes is None or not window_minutes > 0:
        raise ValueError(f"learning window W must be > 0 minutes, got {window_minutes!r}")
    if jitter_seconds < 0:
        raise ValueError(f"positive-pair jitter must be >= 0 s, got {jitter_seconds!r}")
    if num_steps <= 0:
        raise ValueError(f"number of steps must be > 0, got {num_steps}")
    if n_pretrain_images <= 0:
        raise ValueError("the stream needs a non-empty pretraining set for before-session samples")
    n_frames = len(frames)
    session_seconds = n_frames * frame_seconds
    rng = np.random.default_rng([seed, 1])
    t = step_time(np.arange(num_steps), num_steps, session_seconds)[:, None]
    u = rng.random((num_steps, n_stream))
    c = rng.random((num_steps, n_stream))
    tau = t - u * (window_minutes * 60.0)
    pre = (tau < 0) | (tau > session_seconds)
    last = session_seconds - frame_seconds
    tau1 = np.clip(tau, 0.0, last)
    tau2 = np.clip(tau + (2.0 * c - 1.0) * jitter_seconds, 0.0, last)
    f1 = np.minimum(np.floor(tau1 / frame_seconds + 1e-9).astype(np.int64), n_frames - 1)
    f2 = np.minimum(np.floor(tau2 / frame_seconds + 1e-9).astype(np.int64), n_frames - 1)
    pidx = np.minimum((c * n_pretrain_images).astype(np.int64), n_pretrain_images - 1)
    view1 = np.where(pre, pidx, frames[f1])
    view2 = np.where(pre, pidx, frames[f2])
    return StreamPlan(
        source=np.where(pre, PRETRAIN, SESSION).astype(np.int8),
        view1=view1,
        view2=view2,
        tau=tau,
        step_seconds=session_seconds / num_steps,
    )


def pretraining_order(n_images: int, num_steps: int, per_step: int, seed: int) -> np.ndarray:
    """[num_steps, per_step] indices walking seeded reshuffles of the pretraining set (epoch after epoch)."""
    if per_step == 0:
        return np.zeros((num_steps, 0), dtype=np.int64)
    if n_images <= 0:
        raise ValueError("the pretraining set is empty")
    need = num_steps * per_step
    rng = np.random.default_rng([seed, 2])
    epochs = -(-need // n_images)
    order = np.concatenate([rng.permutation(n_images) for _ in range(epochs)])[:need]
    return order.reshape(num_steps, per_step)
