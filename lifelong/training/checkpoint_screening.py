"""Checkpoint screening during pretraining: keep a starting point whose face discrimination is human-like.

The paper's real-time checkpoints were deliberately taken early (epochs 10-210 of their schedules); the notes
beside them report the mean big-size d' over the 15 face pairs (1.6-2.7), and the selection rule is not
public (spec algorithms.md, "checkpoints were deliberately taken early"; plausibly chosen to match human initial
performance [I]). The harness makes that rule explicit and configurable (``pretraining.screening``): every
``every_n_steps`` pretraining steps it measures the mean big d' with the benchmark's own read-out and keeps a
copy of the weights and optimizer state; at the end the **latest** screened state whose d' lies in
``dprime_range`` becomes the starting checkpoint. When none does, the final state is kept and a warning says so.

The screening reads only the d' of the starting point (never a learning effect or the score), so it cannot fit
the model's learning to the human data.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field

import pytorch_lightning as pl

from ..components import ConfigError

log = logging.getLogger(__name__)


@dataclass
class Screened:
    step: int
    dprime_big: float
    dprime_small: float
    state_dict: dict = field(repr=False)
    optimizer_state: dict = field(repr=False)


class CheckpointScreening(pl.Callback):
    """Measure mean big d' every ``every_n_steps`` steps and remember states inside ``dprime_range``."""

    def __init__(self, embedder, every_n_steps: int, dprime_range: tuple[float, float]) -> None:
        if every_n_steps < 1:
            raise ConfigError(f"pretraining.screening.every_n_steps must be >= 1, got {every_n_steps}")
        lo, hi = (float(v) for v in dprime_range)
        if not lo < hi:
            raise ConfigError(f"pretraining.screening.dprime_range must be [low, high] with low < high, got {dprime_range}")
        self.embedder = embedder
        self.every_n_steps = int(every_n_steps)
        self.range = (lo, hi)
        self.history: list[tuple[int, float, float]] = []   # (step, big d', small d') of every screening
        self.selected: Screened | None = None

    def _screen(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        big, small = self.embedder.readout(pl_module.algorithm, pl_module.device)
        d_big, d_small = float(big.dprime.mean()), float(small.dprime.mean())
        step = int(trainer.global_step)
        self.history.append((step, d_big, d_small))
        if self.range[0] <= d_big <= self.range[1]:
            self.selected = Screened(
                step, d_big, d_small,
                {k: v.detach().clone() for k, v in pl_module.state_dict().items()},
                copy.deepcopy(trainer.optimizers[0].state_dict()),
            )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.every_n_steps == 0 or trainer.global_step >= trainer.max_steps:
            self._screen(trainer, pl_module)

    def apply(self, ckpt: dict) -> dict:
        """Put the selected state into a Lightning checkpoint dict (in place); returns the metadata."""
        meta = {"history": self.history, "dprime_range": list(self.range), "every_n_steps": self.every_n_steps}
        if self.selected is None:
            log.warning(
                "checkpoint screening: no screened state had a mean big d' in [%g, %g] (seen: %s); keeping the "
                "final state", *self.range, ", ".join(f"{s}:{d:.2f}" for s, d, _ in self.history),
            )
            meta["selected_step"] = None
            return meta
        sel = self.selected
        ckpt["state_dict"] = sel.state_dict
        ckpt["optimizer_states"] = [sel.optimizer_state]
        ckpt["global_step"] = sel.step
        meta.update(selected_step=sel.step, dprime_big=sel.dprime_big, dprime_small=sel.dprime_small)
        return meta
