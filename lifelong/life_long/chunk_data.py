"""Batches of the life-long benchmark: one epoch per chunk, re-planned every epoch.

:class:`ChunkBatches` serves the batches of one epoch's :class:`streams.curriculum.EpochPlan` (item t = the
whole batch of step t, uint8, window pairs first, then memory pairs). :class:`LifelongStreamData` is the
Lightning data module: with ``reload_dataloaders_every_n_epochs=1`` Lightning asks it for a new loader at
the start of every epoch, and it plans that epoch's chunk. Each frame of a batch is decoded once, even
when it is both a sample and a partner.
"""
from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from streams.curriculum import Curriculum, EpochPlan
from streams.frame_source import FrameSource


class ChunkBatches(Dataset):
    def __init__(self, frames: FrameSource, plan: EpochPlan, first_step: int = 0) -> None:
        self.frames = frames
        self.plan = plan
        self.first_step = first_step
        self._v1 = torch.from_numpy(np.ascontiguousarray(plan.view1, dtype=np.int64))
        self._v2 = torch.from_numpy(np.ascontiguousarray(plan.view2, dtype=np.int64))

    def __len__(self) -> int:
        return self.plan.steps - self.first_step

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        step = index + self.first_step
        v1, v2 = self._v1[step], self._v2[step]
        unique, inverse = torch.unique(torch.cat([v1, v2]), return_inverse=True)
        images = self.frames.get(unique)
        n = len(v1)
        return {
            "stream1": images[inverse[:n]],
            "stream2": images[inverse[n:]],
            "pretrain": images.new_empty((0, *images.shape[1:])),
            "step": torch.tensor(step),
        }


class LifelongStreamData(pl.LightningDataModule):
    """Plans chunk e's pairs when Lightning starts epoch e."""

    def __init__(self, frames: FrameSource, curriculum: Curriculum, num_workers: int = 0) -> None:
        super().__init__()
        self.frames = frames
        self.curriculum = curriculum
        self.num_workers = num_workers

    def train_dataloader(self) -> DataLoader:
        epoch = int(self.trainer.current_epoch) if self.trainer is not None else 0
        plan = self.curriculum.plan_epoch(epoch)
        return DataLoader(ChunkBatches(self.frames, plan), batch_size=None, shuffle=False,
                          num_workers=self.num_workers)
