"""DINONeg (spec algorithms.md §13): DINO with in-batch negatives instead of centring and sharpening.

* Head: the DINO head without its last layer: 3-layer MLP in -> 2048 -> 2048 -> 256 (GELU), output the
  L2-normalised 256-d bottleneck (``DINOHead(out_dim=None)``).
* Teacher: EMA of backbone and head, 0.996 -> 1 (cosine) in scheduled runs, 0.996 in exposure runs; no
  drop-path in the teacher (student drop-path 0.1, as DINO).
* Loss: for each (teacher view a, student view b != a), InfoNCE with tau 0.1 between the student output of
  view b and the teacher output of view a of the same image; the negatives are the teacher outputs of view a of
  the other images in the batch (``losses.in_batch_info_nce``); the two terms averaged. No centring, sharpening,
  last-layer freeze or gradient clipping.
* Read-out: the 256-d bottleneck of the student, L2-normalised.
"""
from __future__ import annotations

import torch
from torch import nn

from .dino import DINOHead, SelfDistillation
from .losses import in_batch_info_nce


class DINONeg(SelfDistillation):
    name = "dinoneg"
    grad_clip_norm = None

    def __init__(
        self,
        backbone: nn.Module,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        num_layers: int = 3,
        temperature: float = 0.1,
        base_momentum: float = 0.996,
        drop_path_rate: float = 0.1,
    ) -> None:
        head = DINOHead(backbone.out_dim, hidden_dim, bottleneck_dim, None, num_layers)
        super().__init__(backbone, head, base_momentum, drop_path_rate)
        self.temperature = float(temperature)

    def training_loss(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        images = torch.cat([view1, view2], dim=0)
        teacher = self.teacher_output(images)
        student = self.head(self.backbone(images))
        return self.neg_loss(student, teacher, view1.shape[0])

    def neg_loss(self, student: torch.Tensor, teacher: torch.Tensor, batch: int) -> torch.Tensor:
        """Outputs [2B, D] (view 1 rows first): mean over (teacher view a, student view b != a) of the InfoNCE
        of student b against teacher a, the positive being the same image's teacher output."""
        s1, s2 = student.split(batch)
        t1, t2 = teacher.detach().split(batch)
        return 0.5 * (in_batch_info_nce(s2, t1, self.temperature) + in_batch_info_nce(s1, t2, self.temperature))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """The student's L2-normalised 256-d bottleneck."""
        return self.head(self.backbone(images)).float()
