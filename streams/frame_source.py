"""Frame sources of the life-long benchmark: an image store over a chronological :class:`FrameTimeline`.

A frame source returns uint8 [n, 3, S, S] images for a batch of global frame indices (``get``), upright
(a source whose files are stored upside-down, like the original SAYCam frames, flips them when it
decodes), and carries the timeline that samplers plan over. Implementations: :class:`InMemoryFrames`
(procedural stream, decoded video folders), ``streams.saycam.SAYCamFrames`` (JPEG folders),
``streams.frame_store.HDF5FrameStore``.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from .frame_timeline import FrameTimeline
from .image_store import TensorImageStore


@runtime_checkable
class FrameSource(Protocol):
    timeline: FrameTimeline
    image_size: int
    source: str

    def __len__(self) -> int: ...

    def get(self, indices: torch.Tensor) -> torch.Tensor:
        """uint8 [len(indices), 3, image_size, image_size], in the order of ``indices``."""
        ...


class InMemoryFrames(TensorImageStore):
    """All frames held as one uint8 tensor [N, 3, S, S] in timeline order."""

    def __init__(self, images: torch.Tensor, timeline: FrameTimeline, source: str = "") -> None:
        super().__init__(images, source=source)
        if len(self) != timeline.n_frames:
            raise ValueError(f"{len(self)} frames but the timeline describes {timeline.n_frames}")
        self.timeline = timeline
