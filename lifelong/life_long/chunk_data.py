"""Batches of the life-long benchmark: one epoch per chunk, re-planned every epoch.

:class:`ChunkBatches` serves the batches of one epoch's :class:`streams.curriculum.EpochPlan` (item t = the
whole batch of step t, uint8, window pairs first, then memory pairs). :class:`LifelongStreamData` is the
Lightning data module: with ``reload_dataloaders_every_n_epochs=1`` Lightning asks it for a new loader at
the start of every epoch, and it plans that epoch's chunk. Each frame of a batch is decoded once, even
when it is both a sample and a partner.

Distributed data parallel (``trainer.devices=N trainer.strategy=ddp``): every rank plans the same epoch from
the epoch index alone (the window, the replay memory and the pair draws are functions of the seed and the
chunk, streams/curriculum.py), so all ranks hold the same memory without exchanging it, and rank r keeps the
pairs ``r, r + N, r + 2N, ...`` of every global batch: disjoint slices whose union is the single-process
batch. Strided slices keep the window : memory ratio on every rank (window pairs come first in a batch).
"""
from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from streams.curriculum import Curriculum, EpochPlan
from streams.frame_source import FrameSource


class ChunkBatches(Dataset):
    """Item t = rank ``rank``'s slice (pairs ``rank::world_size``) of global batch ``first_step + t``."""

    def __init__(self, frames: FrameSource, plan: EpochPlan, first_step: int = 0, rank: int = 0,
                 world_size: int = 1, seed: int | None = None) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        batch = int(plan.view1.shape[1])
        if batch < world_size:
            raise ValueError(f"a batch of {batch} pairs cannot be shared by {world_size} ranks; "
                             f"set benchmark.batch_pairs to at least the number of devices")
        self.frames = frames
        self.plan = plan
        self.first_step = first_step
        self.rank = rank
        self.seed = seed
        self._v1 = torch.from_numpy(np.ascontiguousarray(plan.view1[:, rank::world_size], dtype=np.int64))
        self._v2 = torch.from_numpy(np.ascontiguousarray(plan.view2[:, rank::world_size], dtype=np.int64))

    def __len__(self) -> int:
        return self.plan.steps - self.first_step

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        step = index + self.first_step
        v1, v2 = self._v1[step], self._v2[step]
        unique, inverse = torch.unique(torch.cat([v1, v2]), return_inverse=True)
        images = self.frames.get(unique)
        n = len(v1)
        extra = {} if self.seed is None else {
            "seed": torch.tensor(batch_seed(self.seed, self.plan.epoch, step, self.rank), dtype=torch.int64)}
        return {
            "stream1": images[inverse[:n]],
            "stream2": images[inverse[n:]],
            "pretrain": images.new_empty((0, *images.shape[1:])),
            "step": torch.tensor(step),
            "frames1": v1,                      # global frame indices of the slice (for checks and logs)
            "frames2": v2,
            **extra,
        }


class LifelongStreamData(pl.LightningDataModule):
    """Plans chunk e's pairs when Lightning starts epoch e and serves this rank's slice of every batch.

    With ``seed`` given, every batch carries the seed of its augmentations (``batch_seed``), which the module
    sets before augmenting: ranks draw independent augmentations, and a resumed run draws the same ones as an
    uninterrupted run on every rank, whatever Lightning did with the RNG in between.
    """

    def __init__(self, frames: FrameSource, curriculum: Curriculum, num_workers: int = 0,
                 seed: int | None = None, wrap=None) -> None:
        super().__init__()
        self.wrap = wrap                # e.g. loader_augment.loader_dataset: augmentation in the workers
        self.frames = frames
        self.curriculum = curriculum
        self.num_workers = num_workers
        self.seed = seed

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        epoch = int(trainer.current_epoch) if trainer is not None else 0
        rank = int(trainer.global_rank) if trainer is not None else 0
        world = int(trainer.world_size) if trainer is not None else 1
        plan = self.curriculum.plan_epoch(epoch)
        batches = ChunkBatches(self.frames, plan, rank=rank, world_size=world, seed=self.seed)
        return DataLoader(batches if self.wrap is None else self.wrap(batches), batch_size=None, shuffle=False,
                          num_workers=self.num_workers)


def batch_seed(seed: int, epoch: int, step: int, rank: int) -> int:
    """Seed of the torch RNG (augmentations, masks) for one batch on one rank (independent via SeedSequence)."""
    return int(np.random.SeedSequence([int(seed), int(epoch), int(step), int(rank), 0x4C4C]).generate_state(1)[0])
