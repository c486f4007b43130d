"""The in-memory form of a real-time stimulus set.

A stimulus set is a compact uint8 image store plus index tables: identities x sizes
{small, medium, big}. Image id 0 is always the uniform gray frame (RGB 127), so a session
video is nothing but an integer array of image ids into ``images``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

GRAY_ID = 0
GRAY_VALUE = 127
SIZES = ("small", "medium", "big")


@dataclass(frozen=True)
class StimulusSet:
    """Images and their roles.

    images:       uint8 [N, 3, H, W]; images[GRAY_ID] is uniform gray (GRAY_VALUE).
    identities:   identity names; their order defines the identity index used everywhere.
    choice:       long [n_id]; the medium, clean-background choice image (2-AFC template)
                  of each identity. It is also the medium member of every exposure pair.
    exposure_big: long [n_id]; the big, clean-background exposure image of each identity.
    test_big:     long [n_id, n_test]; big test images on natural backgrounds.
    test_small:   long [n_id, n_test]; small test images on natural backgrounds.
    source:       a short human-readable provenance string (generator + seed, or a folder).
    """

    images: torch.Tensor
    identities: tuple[str, ...]
    choice: torch.Tensor
    exposure_big: torch.Tensor
    test_big: torch.Tensor
    test_small: torch.Tensor
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_id = len(self.identities)
        imgs = self.images
        if imgs.dtype != torch.uint8 or imgs.ndim != 4 or imgs.shape[1] != 3:
            raise ValueError(f"StimulusSet.images must be uint8 [N, 3, H, W], got {imgs.dtype} {tuple(imgs.shape)}")
        if not bool((imgs[GRAY_ID] == GRAY_VALUE).all()):
            raise ValueError(f"StimulusSet.images[{GRAY_ID}] must be uniform gray {GRAY_VALUE}")
        for name in ("choice", "exposure_big"):
            t = getattr(self, name)
            if tuple(t.shape) != (n_id,):
                raise ValueError(f"StimulusSet.{name} must have shape ({n_id},), got {tuple(t.shape)}")
        if self.test_big.ndim != 2 or self.test_big.shape[0] != n_id or self.test_big.shape != self.test_small.shape:
            raise ValueError(
                "StimulusSet.test_big and test_small must both be [n_identities, n_test]; got "
                f"{tuple(self.test_big.shape)} and {tuple(self.test_small.shape)} for {n_id} identities"
            )
        for name in ("choice", "exposure_big", "test_big", "test_small"):
            t = getattr(self, name)
            if t.numel() and (int(t.min()) < 1 or int(t.max()) >= imgs.shape[0]):
                raise ValueError(f"StimulusSet.{name} holds image ids outside 1..{imgs.shape[0] - 1}")

    @property
    def n_identities(self) -> int:
        return len(self.identities)

    @property
    def n_test(self) -> int:
        return int(self.test_big.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])
