"""The geometric steps of the augmentation recipes, drawn per image: ResizeCenterPad (spec §15.1) and the
:class:`Geometry` of a batch (crop boxes, ResizeCenterPad edges, flips), which ``augment.ViewAugment`` turns into one
separable resampling per view (``resample.py``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .photometric import uniforms as draw_uniforms
from .resample import place, resample_weights

GRAY_FILL = 127.0 / 255.0


class ResizeCenterPad(nn.Module):
    """Spec §15.1 ("rdpd"), batched: with probability p per image, shrink to e x e and pad back, centred, with gray.

    For an input [B, C, S, S], e is drawn uniformly from the integers [min_edge_scaled, S), with
    ``min_edge_scaled = round(min_edge * S / reference)`` (clamped to [1, S - 1]); the image is resized to e x e
    (bilinear, antialiased as PIL's resize) and placed with floor((S - e) / 2) pixels of ``fill`` on the left and
    top, the rest on the right and bottom. At S = reference = 224 this is the spec exactly (e in 50..223); the
    proportional minimum edge is a CPU-size adaptation (about 7 at 32 px, 14 at 64 px, 25 at 112 px) that keeps
    the range of relative sizes. ``fill`` is in [0, 1] units, before normalisation (127 / 255).
    Images not drawn are returned unchanged (exactly).
    """

    def __init__(self, p: float = 0.6, min_edge: int = 50, reference: int = 224, fill: float = GRAY_FILL) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p, self.min_edge, self.reference, self.fill = float(p), int(min_edge), int(reference), float(fill)

    def min_edge_for(self, size: int) -> int:
        return min(max(1, round(self.min_edge * size / self.reference)), size - 1)

    def sample_edges(self, batch: int, size: int, uniforms: np.ndarray | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """int64 [B]: the drawn edge per image, ``size`` for images left unchanged. ``uniforms`` [B, 2] (given or
        drawn from torch's RNG): whether the image is shrunk, and to which edge."""
        if self.p == 0.0 or size < 2:
            return torch.full((batch,), size, dtype=torch.long)
        u = draw_uniforms(batch, 2, generator=generator) if uniforms is None else uniforms
        low = self.min_edge_for(size)
        edges = np.minimum(low + np.floor(u[:, 1] * (size - low)).astype(np.int64), size - 1)
        return torch.from_numpy(np.where(u[:, 0] < self.p, edges, size))

    def matrix(self, edges: torch.Tensor, size: int, device: torch.device | str | None = None) -> torch.Tensor:
        """[B, size, size]: the 1-d resize-and-place matrix (identity where edge == size); rows and columns alike."""
        full = torch.full_like(edges, size)
        return resample_weights(size, torch.zeros_like(edges), full, size, (size - edges) // 2, edges, "bilinear", device)

    def apply(self, x: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        m = self.matrix(edges, x.shape[-1], x.device)
        return place(x, m, m, self.fill)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"ResizeCenterPad needs square images, got {tuple(x.shape[-2:])}")
        if self.p == 0.0:
            return x
        return self.apply(x, self.sample_edges(x.shape[0], x.shape[-1], generator=generator))


@dataclass
class Geometry:
    """The geometric parameters of one augmented batch (shareable between the two views of a pair)."""

    boxes: torch.Tensor   # int64 [B, 4]: crop (top, left, height, width) in the input
    edges: torch.Tensor   # int64 [B]: ResizeCenterPad edge, ``size`` where not applied
    flip: torch.Tensor    # bool [B]: horizontal flip

    @staticmethod
    def cat(parts: Sequence["Geometry"]) -> "Geometry":
        return Geometry(torch.cat([g.boxes for g in parts]), torch.cat([g.edges for g in parts]),
                        torch.cat([g.flip for g in parts]))
