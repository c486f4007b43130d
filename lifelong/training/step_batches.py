"""Per-step uint8 batches gathered from compact image stores by precomputed indices.

Item ``s`` of :class:`StepBatches` is the whole batch of training step ``s``: the stream part
(pairs of session frames, or a pretraining image standing in for a before-session moment) and
the pretraining part (one image per pair; its two views come from augmentation). Images stay
uint8 until the device; augmentation happens there, batched. With a ``seed``, every batch carries its own
(``step_seed``): its augmentations and the model's random draws for that step are then a function of the batch,
wherever and whenever the views are made (ssl_module.make_views).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from streams.image_store import ImageStore
from streams.stream_sampler import PRETRAIN, StreamPlan


class StepBatches(Dataset):
    def __init__(
        self,
        pretrain_store: ImageStore,
        pretrain_order: np.ndarray,
        session_store: ImageStore | None = None,
        plan: StreamPlan | None = None,
        first_step: int = 0,
        seed: int | None = None,
    ) -> None:
        if plan is not None and session_store is None:
            raise ValueError("a stream plan needs the session's image store")
        if plan is not None and plan.num_steps != len(pretrain_order):
            raise ValueError(f"stream plan has {plan.num_steps} steps, pretraining order {len(pretrain_order)}")
        self.pretrain_store = pretrain_store
        self.pretrain_order = torch.from_numpy(np.ascontiguousarray(pretrain_order, dtype=np.int64))
        self.session_store = session_store
        self.plan = plan
        if plan is not None:
            self._src = torch.from_numpy(plan.source.astype(np.int64))
            self._v1 = torch.from_numpy(plan.view1.astype(np.int64))
            self._v2 = torch.from_numpy(plan.view2.astype(np.int64))
        self.first_step = first_step
        self.seed = seed

    def __len__(self) -> int:
        return len(self.pretrain_order) - self.first_step

    def _gather(self, source: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        size = self.pretrain_store.image_size
        out = torch.empty((len(ids), 3, size, size), dtype=torch.uint8)
        is_pre = source == PRETRAIN
        if is_pre.any():
            out[is_pre] = self.pretrain_store.get(ids[is_pre])
        if (~is_pre).any():
            out[~is_pre] = self.session_store.get(ids[~is_pre])
        return out

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        step = index + self.first_step
        batch = {"pretrain": self.pretrain_store.get(self.pretrain_order[step]), "step": torch.tensor(step)}
        if self.seed is not None:
            batch["seed"] = torch.tensor(step_seed(self.seed, step), dtype=torch.int64)
        if self.plan is not None:
            src = self._src[step]
            batch["stream1"] = self._gather(src, self._v1[step])
            batch["stream2"] = self._gather(src, self._v2[step])
        return batch


def step_seed(seed: int, step: int) -> int:
    """The seed of one step's batch (independent streams via numpy's SeedSequence)."""
    return int(np.random.SeedSequence([int(seed), int(step), 0x5354]).generate_state(1)[0])
