"""A tiny hand-made StimulusSet for protocol tests (image content is irrelevant there)."""
from __future__ import annotations

import torch

from streams.stimulus_set import GRAY_VALUE, StimulusSet


def tiny_stimulus_set(n_id: int = 6, n_test: int = 20, size: int = 8) -> StimulusSet:
    """Image ids: 0 gray; then per identity i: choice, exposure_big, n_test big, n_test small."""
    per = 2 + 2 * n_test
    n = 1 + n_id * per
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    images[0] = GRAY_VALUE
    base = 1 + torch.arange(n_id) * per
    return StimulusSet(
        images=images,
        identities=tuple(f"face{i + 1:04d}" for i in range(n_id)),
        choice=base.clone(),
        exposure_big=base + 1,
        test_big=base[:, None] + 2 + torch.arange(n_test)[None],
        test_small=base[:, None] + 2 + n_test + torch.arange(n_test)[None],
        source="test fixture",
    )
