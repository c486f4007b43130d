"""DINO (spec algorithms.md §12): self-distillation from an EMA teacher with a centred, sharpened target.

* Student: backbone (ViT-S/16, drop-path 0.1) -> ``DINOHead``: 3-layer MLP in -> 2048 -> 2048 -> 256 (GELU,
  no BN) -> L2 normalisation -> weight-normalised 256 -> 65,536 layer without bias whose norm is fixed
  (weight-norm g = 1, not trained: the layer multiplies by the row-normalised weight ``v / ||v||``).
* Teacher: an EMA copy of backbone and head (``momentum.make_target``), run without drop-path, updated after
  every optimizer step with m = 1 - (1 - 0.996) (cos(pi * progress) + 1) / 2 in scheduled runs and the base
  0.996 in the exposure runs (progress None, spec §0).
* Loss: for the two global views, the teacher output of view a is centred (minus the ``center`` buffer) and
  sharpened (softmax with tau_t 0.04); the student output of the other view b != a is log-softmaxed with
  tau_s 0.1; cross-entropy per image, mean over the batch, averaged over the two (a, b) terms. Computed in
  float32. After the loss, ``center <- 0.9 center + 0.1 mean(teacher outputs of both views)``.
* Gradient clipping at norm 3.0 (``grad_clip_norm``). The last layer is frozen (receives no gradient) while
  ``training_progress < freeze_last_layer_progress`` -- the original freezes it during the first of 100 epochs,
  hence the default 0.01; exposure runs (progress None) never freeze it. The original cancels the gradient
  after clipping; here the frozen layer takes no part in the backward pass, so its (zero) gradient is not in
  the clipped norm either.
* Read-out: softmax(student head output / 0.1), 65,536-d probabilities.

``DINOHead`` and ``SelfDistillation`` (student, EMA teacher, momentum schedule) are shared with DINONeg (§13).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Algorithm
from .momentum import cosine_momentum, ema_update, make_target


class DINOHead(nn.Module):
    """MLP in -> hidden -> ... -> bottleneck (GELU between, ``num_layers`` linear layers) -> L2 normalisation
    [-> weight-normalised bottleneck -> out_dim layer, no bias, weight norm fixed at 1].

    ``out_dim=None`` drops the last layer (DINONeg): the output is the L2-normalised bottleneck.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        out_dim: int | None = 65536,
        num_layers: int = 3,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [bottleneck_dim]
        layers: list[nn.Module] = []
        for i in range(num_layers):
            if i > 0:
                layers.append(nn.GELU())
            layers.append(nn.Linear(dims[i], dims[i + 1]))
        self.mlp = nn.Sequential(*layers)
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.out_dim = bottleneck_dim if out_dim is None else int(out_dim)
        if out_dim is None:
            self.last_layer_v = None
        else:
            # weight_norm's direction parameter v; the original initialises the Linear with PyTorch's default,
            # and with g fixed at 1 only the direction of each row matters.
            last = nn.Linear(bottleneck_dim, int(out_dim), bias=False)
            self.last_layer_v = nn.Parameter(last.weight.detach().clone())

    def bottleneck(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalised bottleneck output [B, bottleneck_dim], float32."""
        return F.normalize(self.mlp(x).float(), dim=-1)

    def last_layer(self, z: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        """z @ (v / ||v||_row)^T; with ``frozen`` the weight is detached (no gradient reaches it)."""
        v = self.last_layer_v.detach() if frozen else self.last_layer_v
        with torch.autocast(device_type=z.device.type, enabled=False):
            return F.linear(z.float(), F.normalize(v.float(), dim=1))

    def forward(self, x: torch.Tensor, freeze_last_layer: bool = False) -> torch.Tensor:
        z = self.bottleneck(x)
        if self.last_layer_v is None:
            return z
        return self.last_layer(z, freeze_last_layer)


class SelfDistillation(Algorithm):
    """Student backbone + head, EMA teacher copies, the DINO momentum schedule and drop-path setting."""

    def __init__(
        self,
        backbone: nn.Module,
        head: DINOHead,
        base_momentum: float = 0.996,
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__(backbone)
        if hasattr(backbone, "set_drop_path_rate"):
            backbone.set_drop_path_rate(drop_path_rate)      # the student's stochastic depth (overrides the backbone's)
        elif drop_path_rate:
            raise TypeError(
                f"drop_path_rate={drop_path_rate} needs a ViT backbone; {type(backbone).__name__} has no drop-path"
            )
        self.head = head
        self.base_momentum = float(base_momentum)
        self.teacher_backbone = make_target(backbone)
        self.teacher_head = make_target(head)
        if hasattr(self.teacher_backbone, "set_drop_path_rate"):
            self.teacher_backbone.set_drop_path_rate(0.0)    # the teacher is built without stochastic depth
        # (the ViT has no dropout and no BN, so the teacher's train/eval mode changes nothing else)
        self.momentum = self.base_momentum                  # informational: the momentum of the last EMA update

    def momentum_at(self, progress: float | None) -> float:
        """Base momentum in constant-LR runs; cosine ramp from base to 1 over a scheduled run."""
        if progress is None:
            return self.base_momentum
        return cosine_momentum(self.base_momentum, min(max(float(progress), 0.0), 1.0), 1)

    @torch.no_grad()
    def after_optimizer_step(self, progress: float | None = None) -> None:
        self.momentum = self.momentum_at(progress)
        ema_update(self.teacher_backbone, self.backbone, self.momentum)
        ema_update(self.teacher_head, self.head, self.momentum)

    def features(self, images: torch.Tensor, n_blocks: int = 4) -> torch.Tensor:
        """Life-long read-out: the LayerNorm'd CLS token of each of the student's last ``n_blocks`` blocks,
        concatenated (lifelong.md §9.1); the pooled output for a backbone without blocks."""
        if not hasattr(self.backbone, "block_outputs"):
            return self.backbone(images)
        n = min(n_blocks, len(self.backbone.blocks))
        return torch.cat([self.backbone.norm(x[:, 0]) for x in self.backbone.block_outputs(images, n)], dim=1).float()

    @torch.no_grad()
    def teacher_output(self, images: torch.Tensor) -> torch.Tensor:
        return self.teacher_head(self.teacher_backbone(images))


class DINO(SelfDistillation):
    name = "dino"
    grad_clip_norm = 3.0

    def __init__(
        self,
        backbone: nn.Module,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        out_dim: int = 65536,
        num_layers: int = 3,
        student_temp: float = 0.1,
        teacher_temp: float = 0.04,
        center_momentum: float = 0.9,
        base_momentum: float = 0.996,
        drop_path_rate: float = 0.1,
        freeze_last_layer_progress: float = 0.01,
    ) -> None:
        head = DINOHead(backbone.out_dim, hidden_dim, bottleneck_dim, out_dim, num_layers)
        super().__init__(backbone, head, base_momentum, drop_path_rate)
        self.student_temp = float(student_temp)
        self.teacher_temp = float(teacher_temp)
        self.center_momentum = float(center_momentum)
        self.freeze_last_layer_progress = float(freeze_last_layer_progress)
        self.register_buffer("center", torch.zeros(1, int(out_dim)))

    def last_layer_frozen(self) -> bool:
        """True early in a scheduled run (progress < freeze_last_layer_progress); never in exposure runs."""
        p = self.training_progress
        return p is not None and p < self.freeze_last_layer_progress

    def training_loss(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        b = view1.shape[0]
        images = torch.cat([view1, view2], dim=0)
        teacher = self.teacher_output(images).float()                                   # [2B, K]
        student = self.head(self.backbone(images), freeze_last_layer=self.last_layer_frozen())
        loss = self.dino_loss(student, teacher, self.center, b)
        if self.training:
            self.update_center(teacher)
        return loss

    def dino_loss(self, student: torch.Tensor, teacher: torch.Tensor, center: torch.Tensor, batch: int) -> torch.Tensor:
        """Mean over the terms (teacher view a, student view b != a) of the per-image cross-entropy
        -sum_k softmax((t_a - c) / tau_t)_k log softmax(s_b / tau_s)_k, averaged over the batch."""
        with torch.autocast(device_type=student.device.type, enabled=False):
            q = F.softmax((teacher.float() - center) / self.teacher_temp, dim=-1).detach().split(batch)
            log_p = F.log_softmax(student.float() / self.student_temp, dim=-1).split(batch)
            terms = [-(q[a] * log_p[1 - a]).sum(dim=-1).mean() for a in (0, 1)]
            return sum(terms) / len(terms)

    @torch.no_grad()
    def update_center(self, teacher: torch.Tensor) -> None:
        """center <- m * center + (1 - m) * mean over the batch of the teacher outputs (both views)."""
        batch_center = teacher.float().mean(dim=0, keepdim=True)
        self.center.mul_(self.center_momentum).add_(batch_center, alpha=1.0 - self.center_momentum)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """softmax(student head output / tau_s): [B, out_dim] probabilities."""
        return F.softmax(self.head(self.backbone(images)).float() / self.student_temp, dim=-1)
