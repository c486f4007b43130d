"""BYOL (spec algorithms.md §5-6): online backbone -> projector -> predictor regresses an EMA target network.

* Projector: fc(with bias) -> BN -> ReLU -> fc, 512 -> 1024 -> 256 (``projection_mlp(..., bias=True,
  last_bn=False)``: BN on the hidden layers only); predictor 256 -> 1024 -> 256 in the same style.
* BYOL-More-MLPs (§6): ``num_layers=4`` gives 512 -> 1024 -> 1024 -> 1024 -> 256 and a 4-layer predictor.
* Target = EMA of the online backbone + projector (not the predictor), base momentum 0.99, cosine-ramped to 1 over
  a scheduled run (BYOLHook: m = 1 - (1 - m0) (cos(pi k / K) + 1) / 2, k = optimizer steps done); in the
  real-time exposure runs (``progress`` None) the base momentum, no ramp (§0, §5 "Real-time").
* Loss, per direction: mean over the batch of 2 - 2 cos(predictor(online(v_a)), target(v_b)); the two directions
  (a, b) = (1, 2) and (2, 1) are summed, so the loss lies in [0, 8].

As in the original (``openselfsup/models/byol.py``), each view goes through the networks in its own forward
pass, so BatchNorm statistics are per view (SimCLR, by contrast, concatenates the views). The target runs in
the algorithm's mode (train mode during training: batch statistics), without gradients.

Read-out (§5): the online projector output (not the predictor), 256-d, L2-normalised.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Algorithm
from .heads import projection_mlp
from .momentum import cosine_momentum, ema_update, make_target


def regression_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BYOL's 2 - 2 cos(prediction, target), mean over the batch (one direction).

    Both [B, D] inputs are L2-normalised in float32 with autocast disabled; ``target`` is detached.
    """
    if prediction.shape != target.shape or prediction.ndim != 2:
        raise ValueError(
            f"regression_loss needs two [B, D] tensors of one shape, got {tuple(prediction.shape)} and {tuple(target.shape)}"
        )
    with torch.autocast(device_type=prediction.device.type, enabled=False):
        p = F.normalize(prediction.float(), dim=1)
        z = F.normalize(target.detach().float(), dim=1)
        return (2.0 - 2.0 * (p * z).sum(dim=1)).mean()


class BYOL(Algorithm):
    name = "byol"

    def __init__(
        self,
        backbone: nn.Module,
        hidden_dim: int = 1024,
        out_dim: int = 256,
        num_layers: int = 2,
        predictor_hidden_dim: int | None = None,
        base_momentum: float = 0.99,
    ) -> None:
        """hidden_dim: projector hidden width (and the predictor's unless ``predictor_hidden_dim`` is given);
        num_layers: fc layers of the projector and of the predictor (2 for BYOL, 4 for BYOL-More-MLPs)."""
        super().__init__(backbone)
        if not 0.0 <= base_momentum <= 1.0:
            raise ValueError(f"base_momentum must lie in [0, 1], got {base_momentum}")
        self.projector = projection_mlp(backbone.out_dim, hidden_dim, out_dim, num_layers, bias=True, last_bn=False)
        self.predictor = self.make_predictor(out_dim, predictor_hidden_dim or hidden_dim, num_layers)
        self.target_backbone = make_target(self.backbone)
        self.target_projector = make_target(self.projector)
        self.base_momentum = float(base_momentum)

    def make_predictor(self, dim: int, hidden_dim: int, num_layers: int) -> nn.Module:
        """The predictor on top of the online projector (BYOLNeg: the identity)."""
        return projection_mlp(dim, hidden_dim, dim, num_layers, bias=True, last_bn=False)

    # ---------------------------------------------------------------- networks
    def online(self, images: torch.Tensor) -> torch.Tensor:
        """Online projector output [B, out_dim] (unnormalised)."""
        return self.projector(self.backbone(images))

    @torch.no_grad()
    def target(self, images: torch.Tensor) -> torch.Tensor:
        """Target projector output [B, out_dim], no gradients."""
        return self.target_projector(self.target_backbone(images)).detach()

    # ---------------------------------------------------------------- objective
    def pair_loss(self, online: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of one direction: online projections of view a against target projections of view b."""
        return regression_loss(self.predictor(online), target)

    def training_loss(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        z1, z2 = self.online(view1), self.online(view2)
        t1, t2 = self.target(view1), self.target(view2)
        return self.pair_loss(z1, t2) + self.pair_loss(z2, t1)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.online(images).float(), dim=1)

    # ---------------------------------------------------------------- target update
    def momentum_at(self, progress: float | None) -> float:
        """EMA momentum after an optimizer step taken at ``progress`` (fraction of the scheduled run done):
        the cosine ramp from the base momentum (progress 0) to 1 (progress 1); the base momentum when None."""
        if progress is None:
            return self.base_momentum
        return cosine_momentum(self.base_momentum, float(progress), 1)

    def after_optimizer_step(self, progress: float | None = None) -> None:
        m = self.momentum_at(progress)
        ema_update(self.target_backbone, self.backbone, m)
        ema_update(self.target_projector, self.projector, m)
