"""Augmentation in DataLoader workers (``augment_in_loader: true``), for CPU runs.

On a GPU the harness augments whole batches on the device, in the training process
(``SSLModule.on_after_batch_transfer``). On a CPU the device is the cores themselves: there the batch's
augmentation can run in a DataLoader worker (``num_workers >= 1``) while the training process computes the
previous step, so sampling and augmentation overlap the step instead of adding to it. The harness's batches
carry their own seed and ``ssl_module.make_views`` augments them with a generator of their own, so the views are
identical either way. (A background thread of the training process in place of a worker was tried: in two 270-step
real-time runs on 2 cores it slowed the model's step by 24-34 % against the bare loop, more than the worker.)
"""
from __future__ import annotations

from torch import nn
from torch.utils.data import Dataset

from .ssl_module import make_views


class AugmentedBatches(Dataset):
    """Item i = the two views of ``batches[i]`` (``{"view1", "view2", "step"[, "seed"]}``)."""

    def __init__(self, batches: Dataset, stream_augment: nn.Module | None, pretrain_augment: nn.Module) -> None:
        self.batches = batches
        self.stream_augment = stream_augment
        self.pretrain_augment = pretrain_augment

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict:
        return make_views(self.batches[index], self.stream_augment, self.pretrain_augment)


def loader_dataset(batches: Dataset, module, augment_in_loader: bool) -> Dataset:
    """``batches`` as the DataLoader should see it: augmented there, or raw for the device."""
    if not augment_in_loader:
        return batches
    return AugmentedBatches(batches, module.stream_augment, module.pretrain_augment)
