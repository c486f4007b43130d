"""d' read-out of all face pairs during training: before step 0 and every ``every_n_steps`` steps."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytorch_lightning as pl
import torch

from streams.stimulus_set import StimulusSet

from .dprime import PairReadout, pair_readout


@dataclass
class ReadoutLog:
    """Everything the read-out recorded, one entry per evaluation."""

    steps: list[int] = field(default_factory=list)
    big: list[PairReadout] = field(default_factory=list)
    small: list[PairReadout] = field(default_factory=list)

    def array(self, size: str, name: str) -> np.ndarray:
        return torch.stack([getattr(r, name) for r in getattr(self, size)]).numpy()


class PairEmbedder:
    """Embeds the choice and test images of a stimulus set once per evaluation, in one pass; the transformed
    images are computed once and reused (in the model's memory format)."""

    def __init__(self, stim: StimulusSet, pairs: list[tuple[int, int]], transform, batch_size: int = 512) -> None:
        self.stim = stim
        self.pairs = pairs
        self.transform = transform
        self.batch_size = batch_size
        n_id, n_test = stim.n_identities, stim.n_test
        self.ids = torch.cat([stim.choice, stim.test_big.reshape(-1), stim.test_small.reshape(-1)])
        self.split = (n_id, n_id * n_test, n_id * n_test)
        self.shape = (n_id, n_test)
        self._inputs: torch.Tensor | None = None
        self._inputs_key: tuple[str, bool] | None = None

    def inputs(self, device: torch.device, channels_last: bool = False) -> torch.Tensor:
        """The read-out images, transformed once and kept on ``device`` (they are the same at every evaluation)."""
        key = (str(device), channels_last)
        if self._inputs_key != key:
            x = self.transform(self.stim.images.index_select(0, self.ids).to(device))
            self._inputs = x.contiguous(memory_format=torch.channels_last) if channels_last else x
            self._inputs_key = key
        return self._inputs

    @torch.no_grad()
    def readout(self, algorithm: torch.nn.Module, device: torch.device,
                channels_last: bool = False) -> tuple[PairReadout, PairReadout]:
        was_training = algorithm.training
        algorithm.eval()
        try:
            emb = torch.cat([algorithm.embed(x).float().cpu()
                             for x in self.inputs(device, channels_last).split(self.batch_size)])
        finally:
            algorithm.train(was_training)
        templates, big, small = emb.split(self.split)
        big = big.reshape(*self.shape, -1)
        small = small.reshape(*self.shape, -1)
        return pair_readout(templates, big, self.pairs), pair_readout(templates, small, self.pairs)


class DPrimeReadout(pl.Callback):
    def __init__(self, embedder: PairEmbedder, every_n_steps: int) -> None:
        self.embedder = embedder
        self.every_n_steps = every_n_steps
        self.record = ReadoutLog()

    def _evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        big, small = self.embedder.readout(pl_module.algorithm, pl_module.device,
                                           bool(getattr(pl_module, "channels_last", False)))
        self.record.steps.append(int(trainer.global_step))
        self.record.big.append(big)
        self.record.small.append(small)

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.global_step == 0:
            self._evaluate(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.every_n_steps == 0:
            self._evaluate(trainer, pl_module)
