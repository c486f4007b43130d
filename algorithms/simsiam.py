"""SimSiam (spec algorithms.md §9): predictor output of one view against the stop-gradient projection of the other.

* Real-time head (§9): projector 512 -> 512 -> 512, fc-BN-ReLU-fc-BN-ReLU-fc with no final BN
  (``projection_mlp(512, 512, 512, 3, last_bn=False)``); predictor 512 -> 256 -> 512, fc-BN-ReLU-fc
  (``projection_mlp(512, 256, 512, 2, last_bn=False)``). The fc layers have no bias: §0 lists bias only for the
  life-long SimSiam head, which differs (3-layer 2048-wide projector with biases and a final BN, predictor
  2048 -> 512 -> 2048); ``bias=True``, ``hidden_dim=out_dim=2048``, ``pred_hidden_dim=512`` and ``last_bn=True``
  give that head.
* Loss: symmetric, ``mean over both directions of 2 - 2 cos(h(z_a), sg(z_b))``, z = projector output, h = predictor,
  sg = stop-gradient. The original computes the targets by a second forward of the same network under
  ``no_grad`` on the views in swapped order; since that batch holds the same 2B images, its BatchNorm statistics
  and so its outputs equal the first forward's, and detaching the one forward's projections is the same loss and
  gradient (the only difference: BN running statistics are updated once per step instead of twice).
* Both views go through the networks in one concatenated batch of 2B, as in the original.
* Read-out (realtime.md §6.1): the L2-normalised projector output, 512-d.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Algorithm
from .heads import projection_mlp


def negative_cosine_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``2 - 2 cos(p_i, z_i)``, in float32 without autocast; ``z`` is detached here."""
    with torch.autocast(device_type=p.device.type, enabled=False):
        p = F.normalize(p.float(), dim=1)
        z = F.normalize(z.detach().float(), dim=1)
        return (2.0 - 2.0 * (p * z).sum(dim=1)).mean()


class SimSiam(Algorithm):
    name = "simsiam"

    def __init__(
        self,
        backbone: nn.Module,
        hidden_dim: int = 512,
        out_dim: int = 512,
        pred_hidden_dim: int = 256,
        num_layers: int = 3,
        bias: bool = False,
        last_bn: bool = False,
    ) -> None:
        super().__init__(backbone)
        self.projector = projection_mlp(backbone.out_dim, hidden_dim, out_dim, num_layers, bias=bias, last_bn=last_bn)
        self.predictor = projection_mlp(out_dim, pred_hidden_dim, out_dim, 2, bias=bias, last_bn=False)

    def project(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalised projector output [B, out_dim]."""
        return self.projector(self.backbone(images))

    def training_loss(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        z = self.project(torch.cat([view1, view2], dim=0))
        p = self.predictor(z)
        z1, z2 = z.chunk(2, dim=0)
        p1, p2 = p.chunk(2, dim=0)
        return 0.5 * (negative_cosine_loss(p1, z2) + negative_cosine_loss(p2, z1))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.project(images).float(), dim=1)
