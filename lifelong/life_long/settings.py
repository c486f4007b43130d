"""The life-long benchmark's configuration, validated (lifelong.md; ``conf/benchmark/lifelong.yaml``)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from omegaconf import DictConfig, OmegaConf

from streams.curriculum import CurriculumSettings
from streams.frame_timeline import FrameTimeline

from ..components import ConfigError

#: how the algorithm's paper LR follows the pairs per optimizer step (``benchmark.lr_scaling``)
LR_SCALINGS = ("linear", "none")
#: pairs per optimizer step of the paper's life-long runs (lifelong.md §8.2), unless the algorithm's config
#: names its own (``algorithm.lifelong_pairs_per_step``: SimSiam and MAE 1,024, DINO 256)
PAPER_PAIRS_PER_STEP = 4096


@dataclass(frozen=True)
class LifelongSettings:
    curriculum: CurriculumSettings
    n_chunks: int                    # chunks trained on (the first n of the timeline)
    accumulate: int                  # gradient accumulation (micro-batches per optimizer step)
    warmup_epochs: float
    lr: float | None                 # peak LR; None = the algorithm's optimizer LR
    lr_scaling: str                  # "linear": the algorithm's paper LR x pairs per optimizer step / its paper's
    eval_every: int                  # evaluate after every k-th chunk (and before training, and after the last)
    window_minutes: float

    @property
    def pairs_per_step(self) -> int:
        """Pairs per optimizer step (all ranks together: ``batch_pairs`` is the global batch)."""
        return self.curriculum.batch_pairs * self.accumulate

    @property
    def optimizer_steps(self) -> int:
        return self.n_chunks * self.curriculum.steps_per_epoch // self.accumulate

    @property
    def warmup_steps(self) -> int:
        return int(round(self.warmup_epochs * self.curriculum.steps_per_epoch / self.accumulate))


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}={value!r}: expected an integer >= {minimum}")
    return value


def lifelong_settings(cfg: DictConfig, timeline: FrameTimeline) -> LifelongSettings:
    """Every error names the bad value and what was expected."""
    b = cfg.benchmark
    w = b.window_minutes
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
        raise ConfigError(f"benchmark.window_minutes={w!r}: the learning window W must be a number > 0 (minutes)")
    window_frames = int(round(float(w) * 60.0 * timeline.fps))
    if window_frames < 2:
        raise ConfigError(
            f"benchmark.window_minutes={w!r} is {window_frames} frame(s) at {timeline.fps:g} fps; W needs >= 2 frames"
        )
    chunks = b.get("chunks")
    n_chunks = timeline.n_chunks if chunks is None else _positive_int(chunks, "benchmark.chunks")
    if n_chunks > timeline.n_chunks:
        raise ConfigError(f"benchmark.chunks={chunks} but the frame source has only {timeline.n_chunks} chunks")
    m = b.memory
    offsets = list(b.partner_offsets)
    if len(offsets) != 2 or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets):
        raise ConfigError(f"benchmark.partner_offsets={offsets!r}: expected two integers [lo, hi], e.g. [-4, 5]")
    try:
        curriculum = CurriculumSettings(
            window_frames=window_frames,
            ratio=str(b.ratio),
            batch_pairs=_positive_int(b.batch_pairs, "benchmark.batch_pairs"),
            pairs_per_epoch=_positive_int(b.pairs_per_epoch, "benchmark.pairs_per_epoch"),
            memory_mode=str(m.mode),
            memory_chunks=None if m.get("chunks") is None else _positive_int(m.chunks, "benchmark.memory.chunks"),
            reservoir_size=_positive_int(m.reservoir_size, "benchmark.memory.reservoir_size"),
            partner_offsets=(offsets[0], offsets[1]),
            seed=int(cfg.seed),
        )
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"benchmark: {exc}") from None
    accumulate = _positive_int(b.accumulate_grad_batches, "benchmark.accumulate_grad_batches")
    if curriculum.steps_per_epoch < accumulate:
        raise ConfigError(
            f"benchmark.accumulate_grad_batches={accumulate} exceeds the {curriculum.steps_per_epoch} batches of an "
            "epoch (pairs_per_epoch // batch_pairs)"
        )
    warmup = b.warmup_epochs
    if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) or warmup < 0:
        raise ConfigError(f"benchmark.warmup_epochs={warmup!r}: expected a number >= 0")
    lr = b.get("lr")
    if lr is not None and not (isinstance(lr, (int, float)) and lr > 0):
        raise ConfigError(f"benchmark.lr={lr!r}: expected a number > 0 or null (the algorithm's life-long LR)")
    scaling = b.get("lr_scaling", "linear")
    if scaling not in LR_SCALINGS:
        raise ConfigError(f"benchmark.lr_scaling={scaling!r}: expected one of {', '.join(LR_SCALINGS)}")
    every = _positive_int(b.readout.every_n_chunks, "benchmark.readout.every_n_chunks")
    if every > n_chunks:
        raise ConfigError(
            f"benchmark.readout.every_n_chunks={every} is longer than the run ({n_chunks} chunks); "
            "expected 1..number of chunks"
        )
    return LifelongSettings(
        curriculum=curriculum,
        n_chunks=n_chunks,
        accumulate=accumulate,
        warmup_epochs=float(warmup),
        lr=None if lr is None else float(lr),
        lr_scaling=str(scaling),
        eval_every=every,
        window_minutes=float(w),
    )


def readout_options(cfg: DictConfig) -> dict:
    """Keyword arguments of ``linear_readout`` from ``benchmark.readout``."""
    r = OmegaConf.to_container(cfg.benchmark.readout, resolve=True)
    alphas = r.get("alphas")
    if not alphas or any(not isinstance(a, (int, float)) or a <= 0 for a in alphas):
        raise ConfigError(f"benchmark.readout.alphas={alphas!r}: expected a non-empty list of numbers > 0")
    vf = r.get("val_fraction")
    if not isinstance(vf, (int, float)) or not 0 < vf < 1:
        raise ConfigError(f"benchmark.readout.val_fraction={vf!r}: expected a fraction in (0, 1)")
    return {
        "alphas": tuple(float(a) for a in alphas),
        "val_fraction": float(vf),
        "max_iter": int(r.get("max_iter", 1000)),
        "knn": bool(r.get("knn", False)),
        "standardize": bool(r.get("standardize", False)),
        "n_jobs": readout_threads(r.get("n_jobs")),
    }


def readout_threads(value) -> int:
    """``benchmark.readout.n_jobs``: threads for the read-out's SVM fits; null = torch's intra-op threads (training
    waits while the read-out runs, so its cores are free)."""
    if value is None:
        return max(1, torch.get_num_threads())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"benchmark.readout.n_jobs={value!r}: expected an integer >= 1 or null (torch's threads)")
    return value
