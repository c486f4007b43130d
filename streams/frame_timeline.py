"""The chronological frame stream of the life-long benchmark, as integer indices (lifelong.md §2-§3).

Every frame source (SAYCam frame folders, video files, the HDF5 frame store, the procedural head-cam
stream) describes its frames with one :class:`FrameTimeline`:

* videos in chronological order, each a contiguous run of *global* frame indices
  ``[video_offsets[v], video_offsets[v + 1])``;
* chunks (= training epochs) as contiguous global ranges ``[chunk_offsets[e], chunk_offsets[e + 1])``.
  For SAYCam a chunk is a list of whole videos (the authors' chunk meta file); other sources may cut
  chunks inside a video (a positive partner never crosses a video boundary either way);
* the frame rate and, where known, the child's age at each video.

Samplers only ever handle these integers (no path lists; quirk 7 of lifelong.md §10); a frame store
turns a batch of global indices into uint8 images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class FrameTimeline:
    video_names: tuple[str, ...]
    video_offsets: np.ndarray            # int64 [V + 1]; video_offsets[0] = 0, [-1] = number of frames
    chunk_offsets: np.ndarray            # int64 [C + 1]; chunk_offsets[0] = 0, [-1] = number of frames
    fps: float
    video_age_days: np.ndarray | None = None   # float [V], the child's age at each video (NaN where unknown)

    def __post_init__(self) -> None:
        vo = np.asarray(self.video_offsets, dtype=np.int64)
        co = np.asarray(self.chunk_offsets, dtype=np.int64)
        object.__setattr__(self, "video_offsets", vo)
        object.__setattr__(self, "chunk_offsets", co)
        if len(vo) != len(self.video_names) + 1 or len(vo) < 2:
            raise ValueError(f"video_offsets needs {len(self.video_names) + 1} entries (one more than the videos), got {len(vo)}")
        if vo[0] != 0 or np.any(np.diff(vo) <= 0):
            raise ValueError("video_offsets must start at 0 and increase strictly (every video has >= 1 frame)")
        if len(co) < 2 or co[0] != 0 or co[-1] != vo[-1] or np.any(np.diff(co) <= 0):
            raise ValueError(
                f"chunk_offsets must run from 0 to the number of frames ({vo[-1]}) and increase strictly; got "
                f"{co[:3].tolist()}...{co[-2:].tolist()}"
            )
        if not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps!r}")
        if self.video_age_days is not None:
            ages = np.asarray(self.video_age_days, dtype=np.float64)
            if ages.shape != (len(self.video_names),):
                raise ValueError(f"video_age_days needs one value per video ({len(self.video_names)}), got {ages.shape}")
            object.__setattr__(self, "video_age_days", ages)

    # ------------------------------------------------------------------------------------------ sizes
    @property
    def n_frames(self) -> int:
        return int(self.video_offsets[-1])

    @property
    def n_videos(self) -> int:
        return len(self.video_names)

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_offsets) - 1

    def video_lengths(self) -> np.ndarray:
        return np.diff(self.video_offsets)

    def chunk_range(self, chunk: int) -> tuple[int, int]:
        """Global [lo, hi) of a chunk."""
        if not 0 <= chunk < self.n_chunks:
            raise IndexError(f"chunk {chunk} out of range 0..{self.n_chunks - 1}")
        return int(self.chunk_offsets[chunk]), int(self.chunk_offsets[chunk + 1])

    # ------------------------------------------------------------------------------------------ lookups
    def video_of(self, frames: np.ndarray) -> np.ndarray:
        """Video index of each global frame index."""
        return np.searchsorted(self.video_offsets, np.asarray(frames), side="right") - 1

    def video_bounds(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global [start, end) of the video holding each frame."""
        v = self.video_of(frames)
        return self.video_offsets[v], self.video_offsets[v + 1]

    def local_index(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(video index, 0-based frame index within the video) of each global frame index."""
        v = self.video_of(frames)
        return v, np.asarray(frames) - self.video_offsets[v]

    # ------------------------------------------------------------------------------------------ experience
    def hours_through(self, chunk: int) -> float:
        """Hours of video in chunks 0..chunk (chunk = -1: none)."""
        return float(self.chunk_offsets[chunk + 1]) / self.fps / 3600.0

    def age_months_at(self, frame: int) -> float:
        """The child's age in months at a global frame (NaN when the source has no ages)."""
        if self.video_age_days is None:
            return float("nan")
        v, t = self.local_index(np.asarray([frame]))
        return float((self.video_age_days[v[0]] + t[0] / self.fps / 86400.0) / DAYS_PER_MONTH)

    def age_months_after(self, chunk: int) -> float:
        """The child's age in months at the last frame of ``chunk`` (at the first frame for chunk = -1)."""
        frame = 0 if chunk < 0 else int(self.chunk_offsets[chunk + 1]) - 1
        return self.age_months_at(frame)


def chunks_by_frames(video_offsets: np.ndarray, n_chunks: int) -> np.ndarray:
    """Chunk offsets cutting the stream into ``n_chunks`` spans of (nearly) equal length.

    For sources without a chunk table (a folder of videos, the procedural stream). Cuts may fall inside
    a video."""
    total = int(np.asarray(video_offsets)[-1])
    if not 1 <= n_chunks <= total:
        raise ValueError(f"cannot cut {total} frames into {n_chunks} chunks; expected 1 <= chunks <= frames")
    return np.round(np.linspace(0, total, n_chunks + 1)).astype(np.int64)
