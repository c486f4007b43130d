"""SimCLR (spec algorithms.md §1-3): backbone -> projection neck -> NT-Xent, tau 0.1.

* SimCLR: ResNet-18, neck 512 -> 2048 -> 128 (``num_layers=2``).
* SimCLR-More-MLPs: ``num_layers=4`` gives 512 -> 2048 -> 2048 -> 2048 -> 128.
* SimCLR-ResNet50: a ResNet-50 backbone gives 2048 -> 2048 -> 128.

Read-out (spec realtime.md §6.1): the L2-normalised neck output, 128-d.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Algorithm
from .heads import projection_mlp
from .losses import nt_xent


class SimCLR(Algorithm):
    name = "simclr"

    def __init__(
        self,
        backbone: nn.Module,
        hidden_dim: int = 2048,
        out_dim: int = 128,
        num_layers: int = 2,
        temperature: float = 0.1,
    ) -> None:
        super().__init__(backbone)
        self.neck = projection_mlp(backbone.out_dim, hidden_dim, out_dim, num_layers)
        self.temperature = temperature

    def project(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalised neck output [B, out_dim]."""
        return self.neck(self.backbone(images))

    def training_loss(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        # One forward over both views, so the BN statistics cover the 2B images, as with the
        # original's concatenated batch.
        z = self.project(torch.cat([view1, view2], dim=0))
        z1, z2 = z.chunk(2, dim=0)
        return nt_xent(z1, z2, self.temperature)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.project(images).float(), dim=1)
