"""An example algorithm plugin: one file + one YAML beside it (docs/add_an_algorithm.md).

TinyInfoNCE: backbone -> linear projection (no hidden layer) -> symmetric in-batch InfoNCE between the two
views (key i is the positive of query i, the other keys its negatives; algorithms/losses.py). Read-out: the
L2-normalised projection. It is deliberately small; the test suite installs it through a temporary
``*.dist-info`` folder whose entry_points.txt declares::

    [lifelong.algorithms]
    tiny_infonce = tiny_infonce:TinyInfoNCE

and runs it with ``lifelong-run algorithm=tiny_infonce``. Its default config is ``tiny_infonce.yaml``
beside this file (found by the registry because it has the module's name).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from algorithms.base import Algorithm
from algorithms.losses import in_batch_info_nce


class TinyInfoNCE(Algorithm):
    name = "tiny_infonce"

    def __init__(self, backbone: nn.Module, out_dim: int = 32, temperature: float = 0.2) -> None:
        super().__init__(backbone)
        self.proj = nn.Linear(backbone.out_dim, out_dim)
        self.temperature = temperature

    def training_loss(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        z = self.proj(self.backbone(torch.cat([view1, view2])))
        z1, z2 = z.chunk(2)
        return 0.5 * (in_batch_info_nce(z1, z2, self.temperature) + in_batch_info_nce(z2, z1, self.temperature))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.proj(self.backbone(images)).float(), dim=1)
