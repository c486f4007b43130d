"""SwAV (spec algorithms.md §8): swapped prediction of Sinkhorn cluster assignments over learned prototypes.

* Neck: SimCLR style 512 -> 2048 -> 128 (``projection_mlp(512, 2048, 128, 2)``), output L2-normalised = the
  embedding z. Prototypes: a bias-free ``Linear(128, 3000)`` whose rows are re-normalised to unit length at the
  start of every training forward (in place, without gradient, as the original), so scores = cosines z . c_k.
* Assignments (codes) for each of the two crops (``crops_for_assign`` = {0, 1}) by Sinkhorn-Knopp on
  ``exp(scores / epsilon)``, epsilon = 0.05, 3 iterations, without gradient (single-process form of the original's
  ``distributed_sinkhorn``: the total is normalised to 1, then rows (prototypes) are scaled to 1/K and columns
  (samples) to 1/N alternately, and finally each sample's column is normalised to sum to 1). The largest logit is
  subtracted first (the original's ``improve_numerical_stability``; mathematically a no-op).
* Swapped prediction: ``loss = -1/2 sum_{a} mean_i sum_k q_a[i, k] log softmax(scores_b[i] / t)_k``, b = the
  other crop, t = 0.1.
* Queue: per assigned crop, the last ``queue_length`` (3,840) embeddings, newest first (the original's
  shift-register), a registered buffer ``queue`` [2, L, D] with ``queue_count`` valid rows. Once full, the queue's
  scores against the current prototypes are prepended to the batch's scores before Sinkhorn, and only the batch's
  rows of the result are kept. The queue is filled after the assignments are computed, so a batch never sees its
  own embeddings in it. The spec starts the queue at epoch 15 of 300; here ``queue_start`` counts optimizer steps
  (``steps``, a buffer incremented in ``after_optimizer_step``): filling starts at that step and the queue is used
  once full. All keys of the batch enter it (stream and pretraining pairs alike).
* Read-out (realtime.md §6.1): the L2-normalised neck output, 128-d (prototypes unused).

Decisions on the spec's quirks [Q]:
* The prototype freeze the original declares (5,005 iterations) but never wires in is applied here:
  ``freeze_prototypes_steps`` optimizer steps of a scheduled pretraining run (``training_progress`` not None)
  compute the scores with detached prototypes, so they get no gradient (the original hook sets their gradient to
  None). Real-time runs (``training_progress`` None) never freeze: they continue a checkpoint past the freeze.
* Sinkhorn runs in one process over the whole batch, so its marginals are those of the batch it sees; the
  original's world-size mismatch (argument object says 1, all-reduce over 2 ranks) is not replicated.
* The life-long queue sizing quirk (sized for 64 items per GPU while 256 arrive) does not arise: the queue holds
  ``queue_length`` embeddings per crop whatever the batch size (of a batch larger than the queue, the first
  ``queue_length`` rows stay).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Algorithm
from .heads import projection_mlp


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    """SwAV assignments [N, K] from prototype scores [N, K] (N samples, K prototypes), float32.

    Q = exp(scores / epsilon)^T [K, N] normalised to total 1; each iteration scales every prototype row to sum 1/K,
    then every sample column to sum 1/N; the result is each sample's column normalised to sum 1, transposed. So
    every returned row (a sample's distribution over prototypes) sums to 1, and the prototype totals (column sums
    of the result) approach N/K as the iterations grow (equipartition).
    """
    with torch.autocast(device_type=scores.device.type, enabled=False):
        # Kept in the [N, K] layout (the original's Q^T), contiguous and updated in place: the same arithmetic.
        q = scores.float() / epsilon
        q = q.sub_(q.max()).exp_()
        q = q.div_(q.sum())
        n, k = q.shape
        tiny = torch.finfo(q.dtype).tiny
        for _ in range(iterations):
            q.div_(q.sum(dim=0, keepdim=True).clamp_min_(tiny).mul_(k))   # each prototype's total -> 1/K
            q.div_(q.sum(dim=1, keepdim=True).clamp_min_(tiny).mul_(n))   # each sample's total -> 1/N
        return q.div_(q.sum(dim=1, keepdim=True).clamp_min_(tiny))


class SwAV(Algorithm):
    name = "swav"

    #: crops whose assignments are computed (both views, as the spec's ``crops_for_assign`` {0, 1})
    crops_for_assign = (0, 1)

    def __init__(
        self,
        backbone: nn.Module,
        hidden_dim: int = 2048,
        out_dim: int = 128,
        num_layers: int = 2,
        num_prototypes: int = 3000,
        temperature: float = 0.1,
        epsilon: float = 0.05,
        sinkhorn_iterations: int = 3,
        queue_length: int = 3840,
        queue_start: int = 0,
        freeze_prototypes_steps: int = 0,
    ) -> None:
        super().__init__(backbone)
        if queue_length < 0 or queue_start < 0 or freeze_prototypes_steps < 0:
            raise ValueError("queue_length, queue_start and freeze_prototypes_steps must be >= 0")
        self.neck = projection_mlp(backbone.out_dim, hidden_dim, out_dim, num_layers)
        self.prototypes = nn.Linear(out_dim, num_prototypes, bias=False)
        self.temperature = float(temperature)
        self.epsilon = float(epsilon)
        self.sinkhorn_iterations = int(sinkhorn_iterations)
        self.queue_length = int(queue_length)
        self.queue_start = int(queue_start)
        self.freeze_prototypes_steps = int(freeze_prototypes_steps)
        self.register_buffer("queue", torch.zeros(len(self.crops_for_assign), self.queue_length, out_dim))
        self.register_buffer("queue_count", torch.zeros((), dtype=torch.long))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------------------------------------ pieces
    def embedding(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised neck output [B, out_dim]."""
        return F.normalize(self.neck(self.backbone(images)).float(), dim=1)

    @torch.no_grad()
    def normalize_prototypes(self) -> None:
        w = self.prototypes.weight
        w.copy_(F.normalize(w, dim=1))

    def prototypes_frozen(self) -> bool:
        return self.training_progress is not None and int(self.steps) < self.freeze_prototypes_steps

    def queue_full(self) -> bool:
        return self.queue_length > 0 and int(self.queue_count) >= self.queue_length

    @torch.no_grad()
    def push_queue(self, embeddings: list[torch.Tensor]) -> None:
        """Shift each crop's queue down by the batch and put the batch's embeddings first (newest first)."""
        length = self.queue_length
        for i, emb in enumerate(embeddings):
            self.queue[i] = torch.cat([emb.detach().to(self.queue.dtype), self.queue[i]], dim=0)[:length]
        self.queue_count.fill_(min(length, int(self.queue_count) + embeddings[0].shape[0]))

    # ------------------------------------------------------------------------------------------ training
    def training_loss(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        self.normalize_prototypes()
        b = view1.shape[0]
        z = self.embedding(torch.cat([view1, view2], dim=0))
        w = self.prototypes.weight
        if self.prototypes_frozen():
            w = w.detach()
        use_queue = self.queue_full()
        with torch.autocast(device_type=z.device.type, enabled=False):
            zf = z.float()
            scores = zf @ w.float().t()                     # [2B, K]
            crops = scores.split(b, dim=0)
            loss = scores.new_zeros(())
            for i, crop in enumerate(self.crops_for_assign):
                with torch.no_grad():
                    out = crops[crop].detach()
                    if use_queue:
                        out = torch.cat([self.queue[i] @ w.detach().float().t(), out], dim=0)
                    q = sinkhorn(out, self.epsilon, self.sinkhorn_iterations)[-b:]
                others = [v for v in range(len(crops)) if v != crop]
                sub = sum(-(q * F.log_softmax(crops[v] / self.temperature, dim=1)).sum(dim=1).mean() for v in others)
                loss = loss + sub / len(others)
            loss = loss / len(self.crops_for_assign)
        if self.queue_length > 0 and int(self.steps) >= self.queue_start:
            emb = zf.detach().split(b, dim=0)
            self.push_queue([emb[c] for c in self.crops_for_assign])
        return loss

    @torch.no_grad()
    def after_optimizer_step(self, progress: float | None = None) -> None:
        self.steps.add_(1)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.embedding(images)
