"""Which frame pairs the life-long benchmark trains on, chunk by chunk (lifelong.md §3-§8).

Chunk e of the timeline is training epoch e. Every epoch has the same pair budget (``pairs_per_epoch``,
paper: 1,281,166, about one ImageNet epoch), consumed in ``steps`` batches of ``batch_pairs`` pairs. Each
batch holds ``n_window`` pairs from the current window followed by ``n_memory`` pairs from the replay
memory, split exactly by R = window : memory (1:3 default, 1:1, 3:1); both parts go into one batch and one
loss (§8.1).

* **Window (§4).** Centred, sweeping linearly through the chunk: the epoch's window samples, in
  consumption order i = 0..N-1, have centre floor(i L / N) in the chunk of length L, half width
  min(W, L) // 2, bounds clipped at the chunk edges (not shifted), and a uniform draw inside.
* **Memory (§5)**, uniform with replacement over a pool that depends on ``memory_mode``:

  ========== ===================================================================================== =========
  original   chunks 0..e, all frames, including the part of chunk e the window has not reached        default
  causal     chunks 0..e-1 plus the frames of chunk e that have entered the window (index < hi)
  strict     chunks 0..e-1 (chunk 0 at e = 0), the code's ``strict_accu``
  reservoir  a bounded reservoir of ``reservoir_size`` frames (Vitter's algorithm R over the frames in
             the order they enter the window), causal
  ========== ===================================================================================== =========

  ``original`` is the default because it is the protocol behind the authors' numbers; it is not strictly
  online (it replays frames the window has not shown yet), so claims about online learning should use
  ``causal`` (unbounded) or ``reservoir`` (bounded memory). ``memory_chunks = k`` restricts original,
  causal and strict to the last k chunks (the code's ``accu_range``).
* **Partners (§7).** Every sampled frame at 0-based index i of a video of T frames gets a partner drawn
  uniformly from [max(0, i + lo), min(T, i + hi + 1)) with (lo, hi) = ``partner_offsets`` (paper: -4, +5).

All draws come from independent RNG streams derived from (seed, epoch, source), so an epoch's plan can
be recomputed from its index alone (the reservoir replays the frames seen before the epoch, vectorised).
Plans are integer arrays of global frame indices; nothing is decoded here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .batch_ratio import split_batch
from .frame_timeline import FrameTimeline

WINDOW = 0
MEMORY = 1
MEMORY_MODES = ("original", "causal", "strict", "reservoir")
_RESERVOIR_BLOCK = 1 << 16


@dataclass(frozen=True)
class CurriculumSettings:
    window_frames: int                      # W in frames (paper: 30,000 = 20 min or 750 = 0.5 min at 25 fps)
    ratio: str                              # R = window : memory
    batch_pairs: int                        # pairs per training batch (before gradient accumulation)
    pairs_per_epoch: int                    # pair budget of every chunk
    memory_mode: str = "original"
    memory_chunks: int | None = None        # keep only the last k chunks (None: all)
    reservoir_size: int = 100_000           # frames, reservoir mode only
    partner_offsets: tuple[int, int] = (-4, 5)
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.window_frames, (int, np.integer)) or self.window_frames < 2:
            raise ValueError(f"window W = {self.window_frames!r} frames: expected an integer >= 2 frames")
        if self.memory_mode not in MEMORY_MODES:
            raise ValueError(f"memory mode {self.memory_mode!r}: expected one of {', '.join(MEMORY_MODES)}")
        if self.memory_chunks is not None and (int(self.memory_chunks) < 1):
            raise ValueError(f"memory_chunks={self.memory_chunks!r}: expected an integer >= 1 or null (all chunks)")
        if self.memory_mode == "reservoir" and self.memory_chunks is not None:
            raise ValueError("memory_chunks does not apply to the reservoir memory (its size is reservoir_size)")
        if int(self.reservoir_size) < 1:
            raise ValueError(f"reservoir_size={self.reservoir_size!r}: expected >= 1 frame")
        lo, hi = self.partner_offsets
        if lo > 0 or hi < 0:
            raise ValueError(f"partner_offsets={self.partner_offsets!r}: expected (lo <= 0, hi >= 0) frames")
        split_batch(self.batch_pairs, self.ratio)           # raises on a malformed R or an inexact split
        if self.pairs_per_epoch < self.batch_pairs:
            raise ValueError(
                f"pairs_per_epoch={self.pairs_per_epoch} is smaller than one batch ({self.batch_pairs} pairs)"
            )

    @property
    def split(self) -> tuple[int, int]:
        """(window pairs, memory pairs) of every batch."""
        return split_batch(self.batch_pairs, self.ratio)

    @property
    def steps_per_epoch(self) -> int:
        """Batches per chunk (the last incomplete batch is dropped, as the original's ``drop_last``)."""
        return self.pairs_per_epoch // self.batch_pairs


@dataclass(frozen=True)
class EpochPlan:
    """Every pair of one epoch; arrays of shape [steps, batch_pairs], window pairs first in each row."""

    epoch: int
    view1: np.ndarray          # global frame index of the sampled frame
    view2: np.ndarray          # its partner
    source: np.ndarray         # WINDOW or MEMORY
    window_hi: np.ndarray      # [steps] end (exclusive, chunk-local) of the window at each step

    @property
    def steps(self) -> int:
        return int(self.view1.shape[0])


def window_indices(length: int, window: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Chunk-local indices of ``n`` window samples in consumption order, and each sample's window end."""
    half = min(window, length) // 2
    i = np.arange(n, dtype=np.int64)
    centre = (i * length) // max(n, 1)
    lo = np.maximum(0, centre - half)
    hi = np.minimum(length, centre + max(half, 1))
    idx = np.floor(lo + rng.random(n) * (hi - lo)).astype(np.int64)
    return np.minimum(idx, hi - 1), hi


def partners(timeline: FrameTimeline, frames: np.ndarray, offsets: tuple[int, int],
             rng: np.random.Generator) -> np.ndarray:
    """A partner for every global frame: uniform in [i + lo, i + hi] within the same video, clipped."""
    start, end = timeline.video_bounds(frames)
    lo = np.maximum(start, frames + offsets[0])
    hi = np.minimum(end, frames + offsets[1] + 1)
    return np.minimum(lo + np.floor(rng.random(frames.shape) * (hi - lo)).astype(np.int64), hi - 1)


class Curriculum:
    """Plans the pairs of every epoch of a timeline under :class:`CurriculumSettings`."""

    def __init__(self, timeline: FrameTimeline, settings: CurriculumSettings) -> None:
        self.timeline = timeline
        self.settings = settings

    @property
    def n_epochs(self) -> int:
        return self.timeline.n_chunks

    def memory_pool(self, epoch: int, window_hi: int) -> tuple[int, int]:
        """Global [lo, hi) range of the memory pool (original / causal / strict modes).

        ``window_hi``: chunk-local end of the window at the step (causal mode)."""
        co = self.timeline.chunk_offsets
        mode = self.settings.memory_mode
        k = self.settings.memory_chunks
        if mode == "strict":
            if epoch == 0:                                 # as the code's strict_accu: chunk 0 at e = 0
                return 0, int(co[1])
            first = 0 if k is None else max(0, epoch - int(k))
            return int(co[first]), int(co[epoch])
        first = 0 if k is None else max(0, epoch - int(k) + 1)
        if mode == "original":
            return int(co[first]), int(co[epoch + 1])
        if mode == "causal":
            return int(co[first]), int(co[epoch]) + int(window_hi)
        raise ValueError(f"memory mode {mode!r} has no contiguous pool")

    def plan_epoch(self, epoch: int) -> EpochPlan:
        s = self.settings
        if not 0 <= epoch < self.n_epochs:
            raise ValueError(f"epoch {epoch} out of range 0..{self.n_epochs - 1} (one epoch per chunk)")
        steps = s.steps_per_epoch
        n_w, n_m = s.split
        lo_chunk, hi_chunk = self.timeline.chunk_range(epoch)
        length = hi_chunk - lo_chunk
        rng_w = np.random.default_rng([s.seed, epoch, 0])
        rng_m = np.random.default_rng([s.seed, epoch, 1])
        rng_p = np.random.default_rng([s.seed, epoch, 2])

        if n_w:
            idx, hi = window_indices(length, s.window_frames, steps * n_w, rng_w)
            win = (idx + lo_chunk).reshape(steps, n_w)
            window_hi = hi.reshape(steps, n_w).max(axis=1)
        else:                                              # memory-only baseline: the sweep still advances
            win = np.zeros((steps, 0), dtype=np.int64)
            window_hi = np.maximum(1, ((np.arange(steps) + 1) * length) // steps)

        if s.memory_mode == "reservoir":
            mem = self._reservoir_samples(epoch, window_hi, n_m, rng_m)
        else:
            mem = np.empty((steps, n_m), dtype=np.int64)
            if s.memory_mode == "causal":
                for t in range(steps):                     # pool grows with the window
                    lo, hi = self.memory_pool(epoch, int(window_hi[t]))
                    mem[t] = rng_m.integers(lo, hi, n_m)
            else:
                lo, hi = self.memory_pool(epoch, length)
                mem[:] = rng_m.integers(lo, hi, (steps, n_m))

        view1 = np.concatenate([win, mem], axis=1)
        view2 = partners(self.timeline, view1, s.partner_offsets, rng_p)
        source = np.concatenate([np.full((steps, n_w), WINDOW, np.int8), np.full((steps, n_m), MEMORY, np.int8)], 1)
        return EpochPlan(epoch, view1, view2, source, np.asarray(window_hi, dtype=np.int64))

    # -------------------------------------------------------------------------------------- reservoir
    def _reservoir_draws(self, start: int, stop: int) -> np.ndarray:
        """r_f = floor(U_f (f + 1)) for frames f in [start, stop): the slot frame f would replace (algorithm R).

        U_f depends only on (seed, f), in fixed blocks, so the reservoir after any prefix is reproducible."""
        out = np.empty(stop - start, dtype=np.int64)
        b0, b1 = start // _RESERVOIR_BLOCK, (stop - 1) // _RESERVOIR_BLOCK if stop > start else -1
        for b in range(b0, b1 + 1):
            u = np.random.default_rng([self.settings.seed, 7, b]).random(_RESERVOIR_BLOCK)
            f0 = max(start, b * _RESERVOIR_BLOCK)
            f1 = min(stop, (b + 1) * _RESERVOIR_BLOCK)
            f = np.arange(f0, f1, dtype=np.int64)
            out[f0 - start:f1 - start] = np.floor(u[f0 - b * _RESERVOIR_BLOCK:f1 - b * _RESERVOIR_BLOCK] * (f + 1))
        return out

    def _feed(self, slots: np.ndarray, start: int, stop: int) -> None:
        """Pass frames [start, stop) through the reservoir ``slots`` (in place)."""
        size = len(slots)
        if stop <= start:
            return
        fill_end = min(stop, size)
        if start < fill_end:                                # the first `size` frames fill the slots in order
            slots[start:fill_end] = np.arange(start, fill_end)
        lo = max(start, size)
        if lo >= stop:
            return
        r = self._reservoir_draws(lo, stop)
        frames = np.arange(lo, stop, dtype=np.int64)
        keep = r < size
        r, frames = r[keep], frames[keep]
        # the last frame to hit a slot wins: unique over the reversed order gives last occurrences
        rev_slots, first_rev = np.unique(r[::-1], return_index=True)
        slots[rev_slots] = frames[::-1][first_rev]

    def reservoir_before(self, epoch: int) -> tuple[np.ndarray, int]:
        """The reservoir slots and number of frames seen at the start of ``epoch``."""
        size = int(self.settings.reservoir_size)
        slots = np.full(size, -1, dtype=np.int64)
        seen = int(self.timeline.chunk_offsets[epoch])
        self._feed(slots, 0, seen)
        return slots, seen

    def _reservoir_samples(self, epoch: int, window_hi: np.ndarray, n_m: int, rng: np.random.Generator) -> np.ndarray:
        slots, seen = self.reservoir_before(epoch)
        base = int(self.timeline.chunk_offsets[epoch])
        out = np.empty((len(window_hi), n_m), dtype=np.int64)
        for t, hi in enumerate(window_hi):
            now = base + int(hi)
            self._feed(slots, seen, now)
            seen = max(seen, now)
            filled = min(len(slots), seen)
            out[t] = slots[rng.integers(0, filled, n_m)]
        return out
