"""The Lightning module that trains any :class:`algorithms.base.Algorithm` on step batches.

Batches arrive as uint8 and are augmented on the device in ``on_after_batch_transfer``: the
stream part with the algorithm's stream recipe, the pretraining part with its pretraining
recipe (which includes ResizeCenterPad). Stream pairs come first, then pretraining pairs,
concatenated into one batch and one loss (realtime.md §5 ``concat_batch``).
"""
from __future__ import annotations

import copy
import math
from typing import Callable

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from algorithms.augment import augment_pairs
from algorithms.base import Algorithm


class SSLModule(pl.LightningModule):
    def __init__(
        self,
        algorithm: Algorithm,
        optimizer_factory: Callable[[list[dict]], torch.optim.Optimizer],
        weight_decay: float,
        stream_augment: nn.Module | None,
        pretrain_augment: nn.Module,
        constant_lr: float | None = None,
        warmup_steps: int = 0,
        total_steps: int | None = None,
        optimizer_state: dict | None = None,
        channels_last: bool = False,
        base_lr: float | None = None,
        compile_backbone: bool | str = False,
    ) -> None:
        super().__init__()
        self.algorithm = algorithm
        self.optimizer_factory = optimizer_factory
        self.weight_decay = weight_decay
        self.stream_augment = stream_augment
        self.pretrain_augment = pretrain_augment
        self.constant_lr = constant_lr
        self.base_lr = base_lr            # replaces the optimizer config's lr in scheduled runs
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.optimizer_state = optimizer_state
        self.channels_last = channels_last
        self.losses: list[float] = []
        if channels_last:
            self.algorithm.to(memory_format=torch.channels_last)
        if compile_backbone:
            # in place (nn.Module.compile): parameter names and checkpoints stay as without compilation.
            # True = torch's default backend (inductor); a string names another backend (e.g. "aot_eager")
            backend = compile_backbone if isinstance(compile_backbone, str) else "inductor"
            self.algorithm.backbone.compile(backend=backend)

    # ---------------------------------------------------------------- data on the device
    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        if "view1" not in batch:       # not augmented in the loader (loader_augment.py): augment here, on the device
            batch = make_views(batch, self.stream_augment, self.pretrain_augment)
        if "seed" in batch:
            # the model's own random draws (masks, shuffles) for this step come from the batch's seed: the same
            # wherever the views were made, and the same after a resume
            torch.manual_seed(int(batch["seed"]))
        view1, view2 = batch["view1"], batch["view2"]
        if self.channels_last:
            view1 = view1.contiguous(memory_format=torch.channels_last)
            view2 = view2.contiguous(memory_format=torch.channels_last)
        return {"view1": view1, "view2": view2, "step": batch["step"]}

    # ---------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["losses"] = list(self.losses)        # a resumed run continues the loss record

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.losses = list(checkpoint.get("losses", []))

    # ---------------------------------------------------------------- training
    def _progress(self) -> float | None:
        """Fraction of a scheduled run done; None in constant-LR runs (momenta stay at base)."""
        if self.constant_lr is not None or not self.total_steps:
            return None
        return min(1.0, self.global_step / self.total_steps)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        self.algorithm.training_progress = self._progress()
        loss = self.algorithm.training_loss(batch["view1"], batch["view2"])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss {loss.item()} at step {int(batch['step'])}")
        self.losses.append(float(loss.detach()))
        self.log("loss", loss.detach(), prog_bar=True, on_step=True, logger=self.logger is not None)
        return loss

    def on_before_optimizer_step(self, optimizer) -> None:
        if self.algorithm.grad_clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.algorithm.parameters(), self.algorithm.grad_clip_norm)

    def optimizer_step(self, *args, **kwargs) -> None:
        progress = self._progress()
        super().optimizer_step(*args, **kwargs)
        self.algorithm.after_optimizer_step(progress)   # EMA targets / key encoders, once per step

    def configure_optimizers(self):
        groups = self.algorithm.param_groups(self.weight_decay)
        optimizer = self.optimizer_factory(groups)
        if self.optimizer_state is not None:
            try:
                # a deep copy: load_state_dict keeps the given tensors as the optimizer's buffers, so training would
                # otherwise change the checkpoint's momentum (and every later exposure run that starts from it)
                optimizer.load_state_dict(copy.deepcopy(self.optimizer_state))
            except (ValueError, KeyError) as exc:
                raise ValueError(f"checkpoint optimizer state does not fit this algorithm's parameter groups: {exc}")
        if self.constant_lr is not None:
            for g in optimizer.param_groups:
                g["lr"] = self.constant_lr
            return optimizer
        if self.base_lr is not None:
            for g in optimizer.param_groups:
                g["lr"] = self.base_lr
        if self.total_steps is None:
            return optimizer
        lr_lambda = warmup_cosine(self.warmup_steps, self.total_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def make_views(batch: dict, stream_augment: nn.Module | None, pretrain_augment: nn.Module) -> dict:
    """Two augmented views of a uint8 batch: the stream pairs (frame and partner) first, then the pretraining
    images (two views of one image). Views whose recipes allow it are augmented in one call
    (``algorithms.augment.augment_pairs``).

    A batch carrying a ``seed`` (step_batches.step_seed, chunk_data.batch_seed) is augmented with a generator of
    its own (``augment_generator``), so its views are a function of the batch alone: the same in the training
    process, a loader worker or a background thread; the seed is passed on for the model's draws
    (``SSLModule.on_after_batch_transfer``). Without one, the views draw from torch's global RNG."""
    generator = augment_generator(batch)
    parts = []
    if "stream1" in batch and batch["stream1"].shape[0]:
        if stream_augment is None:
            raise RuntimeError("stream batch given but the module has no stream augmentation")
        parts.append((stream_augment, _to_float(batch["stream1"]), _to_float(batch["stream2"])))
    pre = batch["pretrain"]
    if pre.shape[0]:
        x = _to_float(pre)
        parts.append((pretrain_augment, x, x))
    views = augment_pairs(parts, generator)
    out = {"view1": torch.cat([a for a, _ in views]), "view2": torch.cat([b for _, b in views]), "step": batch["step"]}
    if "seed" in batch:
        out["seed"] = batch["seed"]
    return out


def augment_generator(batch: dict) -> torch.Generator | None:
    """A CPU generator for the batch's augmentations, seeded from its ``seed`` (a stream apart from the model's,
    which is seeded with the seed itself); None without a seed."""
    if "seed" not in batch:
        return None
    seed = np.random.SeedSequence([int(batch["seed"]), 0x41554720]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(seed))


def warmup_cosine(warmup_steps: int, total_steps: int, warmup_start: float = 1e-4):
    """Linear warm-up from ``warmup_start`` x lr, then cosine to 0 (the "ep300" recipe shape)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return warmup_start + (1 - warmup_start) * step / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255.0)
