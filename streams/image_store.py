"""Image stores: the compact sources a sampler gathers batches from.

A store returns uint8 [n, 3, S, S] tensors for a batch of integer indices. The sampler only
ever passes indices; images are decoded (if at all) once per use, in a batch.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class ImageStore(Protocol):
    image_size: int

    def __len__(self) -> int: ...

    def get(self, indices: torch.Tensor) -> torch.Tensor:
        """uint8 [len(indices), 3, image_size, image_size]."""
        ...


class TensorImageStore:
    """Images held in memory as one uint8 tensor [N, 3, S, S]."""

    def __init__(self, images: torch.Tensor, source: str = "") -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3]:
            raise ValueError(f"TensorImageStore needs uint8 [N, 3, S, S], got {images.dtype} {tuple(images.shape)}")
        if images.shape[0] == 0:
            raise ValueError("TensorImageStore got no images")
        self.images = images
        self.image_size = int(images.shape[-1])
        self.source = source

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def get(self, indices: torch.Tensor) -> torch.Tensor:
        return self.images.index_select(0, indices.long())
