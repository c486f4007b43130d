"""Image tensors as the models take them: uint8 to unit float, ImageNet normalisation, and the read-out transform
(no augmentation) of the real-time and life-long read-outs."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [0, 1]; floating input is returned as float32."""
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    return images.float()


class Normalize(nn.Module):
    """(x - mean) / std per channel; ImageNet statistics by default."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([float(m) for m in mean]).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([float(s) for s in std]).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.device)) / self.std.to(x.device)


_NORMALIZE = Normalize()


def eval_transform(images: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """Read-out transform (no augmentation): [0, 1] float (or uint8) -> ImageNet-normalised float32.

    With ``size``, images are first resized to size x size (bilinear, antialiased, aspect not kept), the
    real-time read-out's "resize to 224 x 224, centre-crop 224" (spec §15.2) at any size.
    """
    x = to_unit_float(images)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return _NORMALIZE(x)
