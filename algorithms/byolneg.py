"""BYOLNeg (spec algorithms.md §7): BYOL with in-batch negatives and no predictor ("MoCo-v3 without a predictor").

* Online backbone + BYOL projector (512 -> 1024 -> 256, bias, BN on the hidden layer only); the predictor is the
  identity.
* Target = EMA of the online backbone + projector, base momentum 0.99, cosine-ramped to 1 over a scheduled run,
  the base momentum in the real-time exposure runs (as BYOL, algorithms.byol).
* Loss: InfoNCE(online(v1), target(v2)) + InfoNCE(online(v2), target(v1)), tau 0.1, on L2-normalised projections;
  for item i the positive is the target projection of item i, the negatives the target projections of all other
  items of the batch (``in_batch_info_nce``: cross-entropy over the B x B similarity matrix, mean over the items).
  The two directions are summed, not averaged.

Each view has its own forward pass (per-view BatchNorm statistics), as in the original.

Read-out: the online projector output, 256-d, L2-normalised.
"""
from __future__ import annotations

import torch
from torch import nn

from .byol import BYOL
from .losses import in_batch_info_nce


class BYOLNeg(BYOL):
    name = "byolneg"

    def __init__(
        self,
        backbone: nn.Module,
        hidden_dim: int = 1024,
        out_dim: int = 256,
        num_layers: int = 2,
        temperature: float = 0.1,
        base_momentum: float = 0.99,
    ) -> None:
        super().__init__(backbone, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers,
                         base_momentum=base_momentum)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = float(temperature)

    def make_predictor(self, dim: int, hidden_dim: int, num_layers: int) -> nn.Module:
        return nn.Identity()

    def pair_loss(self, online: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return in_batch_info_nce(online, target.detach(), self.temperature)
