"""Barlow Twins (spec algorithms.md §10): the cross-correlation of the two views' embeddings is pushed to identity.

* Projector: 4 layers 512 -> 2048 -> 2048 -> 2048 -> 2048, no final BN (``projection_mlp(512, 2048, 2048, 4,
  last_bn=False)``, the SimCLR neck without biases).
* Loss (the authors' ``BarlowTwinsHead``, after the official Barlow Twins code): each view's embeddings [B, D] are
  batch-normalised per dimension (batch mean, biased batch variance, eps 1e-5, no affine: a ``BatchNorm1d(D,
  affine=False)`` in training mode), ``C = zn1^T zn2 / B`` (D x D), and

      loss = scale * ( sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2 ),   lambda = 0.0051, scale = 0.024.

  The original all-reduces C over GPUs (a sum of per-GPU correlations, each divided by the global batch size,
  each GPU normalising with its own batch statistics); in one process C and the statistics cover the whole batch.
  Computed in float32 without autocast.
* Read-out (realtime.md §6.1): the projector output, NOT normalised (2048-d at paper scale).
"""
from __future__ import annotations

import torch
from torch import nn

from .base import Algorithm
from .heads import projection_mlp


def barlow_twins_loss(
    z1: torch.Tensor, z2: torch.Tensor, lambd: float = 0.0051, scale: float = 0.024, eps: float = 1e-5
) -> torch.Tensor:
    """Barlow Twins loss of two [B, D] embeddings of the same B items (see the module docstring)."""
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(
            f"barlow_twins_loss needs two [B, D] tensors of one shape, got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    if z1.shape[0] < 2:
        raise ValueError("barlow_twins_loss needs a batch of at least 2 (per-dimension batch normalisation)")
    with torch.autocast(device_type=z1.device.type, enabled=False):
        c = cross_correlation(z1.float(), z2.float(), eps)
        on_diag = (torch.diagonal(c) - 1.0).pow(2).sum()
        off_diag = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
        return scale * (on_diag + lambd * off_diag)


def cross_correlation(z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """C = BN(z1)^T BN(z2) / B with per-dimension batch normalisation (biased variance, no affine), [D, D]."""
    b = z1.shape[0]
    return _batch_standardise(z1, eps).t() @ _batch_standardise(z2, eps) / b


def _batch_standardise(z: torch.Tensor, eps: float) -> torch.Tensor:
    """(z - batch mean) / sqrt(biased batch variance + eps) per dimension, as ``BatchNorm1d(affine=False)`` trains."""
    mean = z.mean(dim=0, keepdim=True)
    var = (z - mean).pow(2).mean(dim=0, keepdim=True)
    return (z - mean) / torch.sqrt(var + eps)


class BarlowTwins(Algorithm):
    name = "barlowtwins"

    def __init__(
        self,
        backbone: nn.Module,
        hidden_dim: int = 2048,
        out_dim: int = 2048,
        num_layers: int = 4,
        lambd: float = 0.0051,
        scale_loss: float = 0.024,
    ) -> None:
        super().__init__(backbone)
        self.projector = projection_mlp(backbone.out_dim, hidden_dim, out_dim, num_layers, last_bn=False)
        self.lambd = float(lambd)
        self.scale_loss = float(scale_loss)

    def project(self, images: torch.Tensor) -> torch.Tensor:
        """Projector output [B, out_dim]."""
        return self.projector(self.backbone(images))

    def training_loss(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        # One forward over both views (the original reshapes the pair batch into one batch of 2B).
        z = self.project(torch.cat([view1, view2], dim=0))
        z1, z2 = z.chunk(2, dim=0)
        return barlow_twins_loss(z1, z2, self.lambd, self.scale_loss)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.project(images).float()
