"""MoCo v2 (spec algorithms.md §4): InfoNCE of a query against its momentum-encoded key and a queue of keys.

* Query encoder = backbone + neck 512 -> 2048 -> 128 (fc-ReLU-fc with biases, no BN: OpenSelfSup's
  ``NonLinearNeckV1``, the MoCo v2 MLP head). Key encoder = a frozen copy of both, moved towards the query encoder
  by EMA with m = 0.999 after every optimizer step (``after_optimizer_step``), always with the base momentum: the
  real-time runs use m = 0.999 per step (§0, realtime.md §5.1) and MoCo has no momentum ramp in pretraining either.
  (``ema_update`` also copies the BN running statistics into the key encoder; the original leaves the key
  encoder's own. Neither is ever used: the key encoder only runs in train mode, on batch statistics.)
* Loss: one direction, as OpenSelfSup's MoCo: view 1 -> query q, view 2 -> key k (no gradient). With q, k and the
  queue rows L2-normalised, ``-log(exp(q.k / t) / (exp(q.k / t) + sum_j exp(q.queue_j / t)))``, t = 0.2, mean over
  the batch; the queue logits use the queue as it was before this batch's keys enter it.
* Queue: ``queue_size`` (65,536) x 128 L2-normalised keys, a registered buffer (rows = keys) initialised to random
  unit vectors as in the original, with a write pointer ``queue_ptr``. After the loss, ALL keys of the batch are
  written at the pointer, stream and pretraining pairs alike (realtime.md §5), wrapping around the end of the
  queue; the pointer advances by the batch size modulo the queue size. (The original asserts that the queue size
  is a multiple of the batch size; the harness's mixed batches need not be, so the write wraps instead.)
* Shuffle-BN: the original shuffles the key batch across GPUs so that a key's BatchNorm statistics come from a
  different sub-batch than its query's. Here, in a single process, the key batch is permuted before the key encoder
  and un-permuted after, as the original does on one GPU. With one BatchNorm over the whole batch this leaves the
  key statistics, and so the keys, unchanged up to float rounding: the per-GPU sub-batch split it guards against
  does not exist in one process. It is kept so that the key path matches the original's step for step.
* Read-out (realtime.md §6.1): the L2-normalised query-encoder neck output, 128-d.

Decisions on the spec's quirks [Q]: the life-long quirks of §4 (SGD replaced by LARS, key EMA every iteration under
gradient accumulation) are not replicated: the key update runs once per optimizer step with m = 0.999. Weight decay
follows ``Algorithm.param_groups`` (none on biases and BN parameters), as for every algorithm of the harness; the
original's SGD config has no parameter-wise options and so also decays biases and BN weights (by 1e-4).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Algorithm
from .losses import info_nce
from .momentum import ema_update, make_target


def moco_neck(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """MoCo v2 neck (``NonLinearNeckV1``): fc(in -> hidden, bias) -> ReLU -> fc(hidden -> out, bias); no BN."""
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim))


class MoCoV2(Algorithm):
    name = "mocov2"

    def __init__(
        self,
        backbone: nn.Module,
        hidden_dim: int = 2048,
        out_dim: int = 128,
        queue_size: int = 65536,
        temperature: float = 0.2,
        momentum: float = 0.999,
        shuffle_bn: bool = True,
    ) -> None:
        super().__init__(backbone)
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
        self.neck = moco_neck(backbone.out_dim, hidden_dim, out_dim)
        self.key_backbone = make_target(self.backbone)
        self.key_neck = make_target(self.neck)
        self.temperature = float(temperature)
        self.momentum = float(momentum)
        self.shuffle_bn = bool(shuffle_bn)
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, out_dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------------------------------------ encoders
    def project(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalised query-encoder neck output [B, out_dim]."""
        return self.neck(self.backbone(images))

    @torch.no_grad()
    def keys(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised key-encoder output [B, out_dim] (float32), with the Shuffle-BN permutation."""
        if self.shuffle_bn:
            perm = torch.randperm(images.shape[0], device=images.device)
            k = self.key_neck(self.key_backbone(images[perm]))
            k = k[torch.argsort(perm)]
        else:
            k = self.key_neck(self.key_backbone(images))
        return F.normalize(k.float(), dim=1)

    # ------------------------------------------------------------------------------------------ queue
    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Write ``keys`` [N, D] into the queue at the pointer (wrapping around) and advance it by N."""
        size = self.queue.shape[0]
        n = keys.shape[0]
        if n > size:                                  # only the last ``size`` keys can stay
            keys, start = keys[n - size:], (int(self.queue_ptr) + n - size) % size
        else:
            start = int(self.queue_ptr)
        rows = (start + torch.arange(keys.shape[0], device=self.queue.device)) % size
        self.queue[rows] = keys.detach().to(self.queue.dtype)
        self.queue_ptr.fill_((int(self.queue_ptr) + n) % size)

    # ------------------------------------------------------------------------------------------ training
    def training_loss(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        q = self.project(view1)
        k = self.keys(view2)
        # The queue is cloned: it is modified in place right after, and the logits need it for backward.
        loss = info_nce(q, k, self.queue.clone(), self.temperature)
        self.enqueue(k)
        return loss

    @torch.no_grad()
    def after_optimizer_step(self, progress: float | None = None) -> None:
        # Base momentum in every run: MoCo has no momentum ramp (spec §4, realtime.md §5.1).
        ema_update(self.key_backbone, self.backbone, self.momentum)
        ema_update(self.key_neck, self.neck, self.momentum)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.project(images).float(), dim=1)
