"""The HDF5 frame store: decoded frames of a chronological stream, indexed by global frame number.

Layout (``schema_version`` 1), N frames of V videos cut into C chunks:

============================  =====================  ==========================================================
``frames``                    uint8 [N, 3, S, S]      RGB, upright; HDF5 chunks of one frame, uncompressed
``video_id``                  int32 [N]               video of each frame
``frame_index``               int32 [N]               0-based index of the frame within its video
``timestamp``                 float64 [N]             seconds from the start of the video (the source frame's
                                                      presentation time for decoded video files)
``video_names``               utf-8 strings [V]
``video_offsets``             int64 [V + 1]           video v = frames [offsets[v], offsets[v + 1])
``video_age_days``            float64 [V]             the child's age at each video (NaN where unknown)
``chunk_offsets``             int64 [C + 1]           chunk e = frames [offsets[e], offsets[e + 1])
attrs                                                 ``fps``, ``image_size``, ``source`` (description of the
                                                      input), ``flipped`` (an upside-down source was turned
                                                      upright when written), ``schema_version``,
                                                      ``frames_written``, ``complete``
============================  =====================  ==========================================================

One frame per HDF5 chunk: measured on 2 loaded CPU cores with 112 px frames in the page cache, random
batches of 256 read 12,500 frames/s with 1-frame chunks against 3,100 with 64-frame chunks (a chunk
is read whole for one frame), windowed batches (256 of 750 neighbouring frames) 16,800 vs 14,500, and
sequential reads are fast either way. gzip/lzf compress natural frames only 1.1-1.3x and cut random
reads ~8x, so frames are stored raw (SAYCam in full at 112 px: 18.2 M frames x 37.6 kB = 685 GB).
Reads go run by run (contiguous slices): h5py's fancy indexing with an index list was ~40x slower.
Through :class:`HDF5FrameStore` (same machine, 3,000 frames of 427x320 JPEGs stored at 112 px): 14,000
frames/s for random batches and 26,000 for windowed batches with their +-5-frame partners, against 640
and 870 frames/s decoding the JPEG folder with :class:`~streams.saycam.SAYCamFrames`; converting ran at
600 frames/s (JPEG decoding bound).

:class:`HDF5FrameStore` is a :class:`~streams.frame_source.FrameSource` over such a file (validated on
open; optionally loaded into RAM). :func:`convert_to_store` writes one from any frame source (e.g.
:class:`~streams.saycam.SAYCamFrames`) or, video by video, from a :class:`~streams.video_files.VideoFolder`.
A conversion writes ``<out>.partial``, records the frames written after every batch, resumes from
there when rerun with the same input, and renames the file to ``<out>`` when complete.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np
import torch
from tqdm import tqdm

from .errors import StimulusError
from .frame_source import FrameSource
from .frame_timeline import FrameTimeline
from .video_files import VideoFolder

__all__ = ["SCHEMA_VERSION", "HDF5FrameStore", "convert_to_store", "partial_path"]

SCHEMA_VERSION = 1
_INDEX_CHUNK = 1 << 16   # HDF5 chunk length of the per-frame index datasets
_PER_FRAME = {"video_id": np.int32, "frame_index": np.int32, "timestamp": np.float64}
_PER_VIDEO = ("video_names", "video_offsets", "video_age_days", "chunk_offsets")
_ATTRS = ("fps", "image_size", "source", "flipped", "schema_version", "frames_written", "complete")


def partial_path(out_path: str | Path) -> Path:
    """Where an unfinished conversion to ``out_path`` lives."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".partial")


# ---------------------------------------------------------------------------------------------------
# reading and validation
def _open_h5(path: Path, mode: str) -> h5py.File:
    try:
        return h5py.File(path, mode)
    except OSError as err:
        raise StimulusError(f"cannot open frame store {path}: not a readable HDF5 file (truncated or corrupt?): {err}") from err


def _read_layout(f: h5py.File, path: Path) -> tuple[FrameTimeline, int]:
    """Validate a store's datasets and attributes; the timeline and the image size."""
    missing = [name for name in ("frames", *_PER_FRAME, *_PER_VIDEO) if name not in f]
    missing_attrs = [name for name in _ATTRS if name not in f.attrs]
    if missing or missing_attrs:
        raise StimulusError(
            f"{path} is not a frame store written by convert_to_store: missing "
            + ", ".join([f"dataset '{m}'" for m in missing] + [f"attribute '{m}'" for m in missing_attrs])
        )
    version = int(f.attrs["schema_version"])
    if version != SCHEMA_VERSION:
        raise StimulusError(f"{path}: frame store schema version {version}, this code reads version {SCHEMA_VERSION}")
    size = int(f.attrs["image_size"])
    frames = f["frames"]
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != (3, size, size):
        raise StimulusError(
            f"{path}: dataset 'frames' is {frames.dtype} {frames.shape}, expected uint8 [N, 3, {size}, {size}]"
        )
    n = frames.shape[0]
    for name, dtype in _PER_FRAME.items():
        ds = f[name]
        if ds.dtype != dtype or ds.shape != (n,):
            raise StimulusError(f"{path}: dataset '{name}' is {ds.dtype} {ds.shape}, expected {np.dtype(dtype)} ({n},)")
    if h5py.check_string_dtype(f["video_names"].dtype) is None or f["video_names"].ndim != 1:
        raise StimulusError(f"{path}: dataset 'video_names' must be a 1-D array of strings")
    names = tuple(f["video_names"].asstr()[()])
    for name, shape in (("video_offsets", (len(names) + 1,)), ("video_age_days", (len(names),))):
        if f[name].shape != shape:
            raise StimulusError(f"{path}: dataset '{name}' has shape {f[name].shape}, expected {shape} for {len(names)} videos")
    video_offsets = f["video_offsets"][()]
    if len(video_offsets) and video_offsets[-1] != n:
        raise StimulusError(f"{path}: video_offsets ends at {video_offsets[-1]} but 'frames' holds {n} frames")
    ages = f["video_age_days"][()]
    try:
        timeline = FrameTimeline(
            video_names=names,
            video_offsets=video_offsets,
            chunk_offsets=f["chunk_offsets"][()],
            fps=float(f.attrs["fps"]),
            video_age_days=None if np.isnan(ages).all() else ages,
        )
    except ValueError as err:
        raise StimulusError(f"{path}: inconsistent frame store: {err}") from err
    return timeline, size


def _runs(sorted_unique: np.ndarray) -> Iterator[tuple[int, int, int]]:
    """(position in the index array, first frame, length) of every run of consecutive indices."""
    breaks = np.flatnonzero(np.diff(sorted_unique) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(sorted_unique)]])
    for a, b in zip(starts.tolist(), ends.tolist()):
        yield a, int(sorted_unique[a]), b - a


class HDF5FrameStore:
    """A :class:`~streams.frame_source.FrameSource` over an HDF5 frame store (validated on open).

    in_memory: read all frames into RAM at once (N x 3 x S x S bytes) instead of reading per batch.
    The file handle is reopened in a new process (DataLoader workers) and dropped when pickled.
    """

    def __init__(self, path: str | Path, in_memory: bool = False) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise StimulusError(f"frame store not found: {self.path}")
        f = _open_h5(self.path, "r")
        try:
            self.timeline, self.image_size = _read_layout(f, self.path)
            if not bool(f.attrs["complete"]):
                raise StimulusError(
                    f"{self.path} is an unfinished conversion ({int(f.attrs['frames_written'])} of "
                    f"{self.timeline.n_frames} frames written); rerun the conversion with the same arguments to finish it"
                )
            self.source = str(f.attrs["source"])
            self.flipped = bool(f.attrs["flipped"])
            self._memory = torch.from_numpy(self._read(f["frames"], slice(None))) if in_memory else None
        finally:
            f.close()
        self._file: h5py.File | None = None
        self._pid = -1

    def __len__(self) -> int:
        return self.timeline.n_frames

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"], state["_pid"] = None, -1
        return state

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _frames(self) -> h5py.Dataset:
        if self._file is None or self._pid != os.getpid():
            self._file = _open_h5(self.path, "r")
            self._pid = os.getpid()
        return self._file["frames"]

    def _read(self, ds: h5py.Dataset, sel: slice) -> np.ndarray:
        try:
            return ds[sel]
        except OSError as err:
            raise StimulusError(f"cannot read frames {sel.start}..{sel.stop} of {self.path} (corrupt file?): {err}") from err

    def get(self, indices: torch.Tensor) -> torch.Tensor:
        idx = torch.as_tensor(indices).long().view(-1)
        n = len(self)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise IndexError(f"HDF5FrameStore has {n} frames; got indices in [{int(idx.min())}, {int(idx.max())}]")
        if self._memory is not None:
            return self._memory.index_select(0, idx)
        if idx.numel() == 0:
            return torch.empty((0, 3, self.image_size, self.image_size), dtype=torch.uint8)
        unique, inverse = np.unique(idx.numpy(), return_inverse=True)
        out = np.empty((len(unique), 3, self.image_size, self.image_size), dtype=np.uint8)
        ds = self._frames()
        for pos, first, length in _runs(unique):
            out[pos:pos + length] = self._read(ds, slice(first, first + length))
        return torch.from_numpy(out[inverse.reshape(-1)])


# ---------------------------------------------------------------------------------------------------
# writing
def _create(path: Path, timeline: FrameTimeline, size: int, attrs: dict[str, Any]) -> None:
    n = timeline.n_frames
    with h5py.File(path, "w", libver="latest") as f:
        f.create_dataset("frames", (n, 3, size, size), dtype=np.uint8, chunks=(1, 3, size, size))
        for name, dtype in _PER_FRAME.items():
            f.create_dataset(name, (n,), dtype=dtype, chunks=(min(n, _INDEX_CHUNK),))
        f.create_dataset("video_names", data=list(timeline.video_names), dtype=h5py.string_dtype("utf-8"))
        f.create_dataset("video_offsets", data=timeline.video_offsets.astype(np.int64))
        ages = timeline.video_age_days if timeline.video_age_days is not None else np.full(timeline.n_videos, np.nan)
        f.create_dataset("video_age_days", data=np.asarray(ages, dtype=np.float64))
        f.create_dataset("chunk_offsets", data=timeline.chunk_offsets.astype(np.int64))
        f.attrs.update(attrs)
        f.attrs["frames_written"] = 0
        f.attrs["complete"] = False


def _same_timeline(a: FrameTimeline, b: FrameTimeline) -> bool:
    ages_a = a.video_age_days if a.video_age_days is not None else np.full(a.n_videos, np.nan)
    ages_b = b.video_age_days if b.video_age_days is not None else np.full(b.n_videos, np.nan)
    return (
        a.video_names == b.video_names
        and np.array_equal(a.video_offsets, b.video_offsets)
        and np.array_equal(a.chunk_offsets, b.chunk_offsets)
        and a.fps == b.fps
        and np.allclose(ages_a, ages_b, equal_nan=True)
    )


def _resume_point(path: Path, timeline: FrameTimeline, size: int, attrs: dict[str, Any]) -> int:
    """Frames already written to an unfinished conversion, after checking it converts the same input."""
    try:
        with _open_h5(path, "r") as f:
            found, found_size = _read_layout(f, path)
            differs = [k for k in ("source", "flipped") if f.attrs[k] != attrs[k]]
            written = int(f.attrs["frames_written"])
    except StimulusError as err:
        raise StimulusError(f"{err} (an unfinished conversion that cannot be resumed: delete it to start over)") from err
    if found_size != size:
        differs.append("image_size")
    if not _same_timeline(found, timeline):
        differs.append("timeline (videos, frame counts, chunks or fps)")
    if differs:
        raise StimulusError(
            f"{path} is an unfinished conversion of other input (different {', '.join(differs)}); delete it to start "
            f"over, or rerun with the arguments that made it"
        )
    if not 0 <= written <= timeline.n_frames:
        raise StimulusError(f"{path}: frames_written = {written} is outside 0..{timeline.n_frames}; delete it to start over")
    return written


def _batches(
    source: FrameSource | VideoFolder, size: int, start: int, batch: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(first global index, uint8 frames [b, 3, S, S], timestamps [b]) for the frames from ``start`` on."""
    timeline = source.timeline
    if isinstance(source, VideoFolder):
        frames: list[torch.Tensor] = []
        times: list[float] = []
        first = start
        v0, t0 = timeline.local_index(np.asarray([start]))
        for v in range(int(v0[0]), timeline.n_videos):
            for image, time in source.iter_video(v, size, start=int(t0[0]) if v == v0[0] else 0):
                frames.append(image)
                times.append(time)
                if len(frames) == batch:
                    yield first, torch.stack(frames).numpy(), np.asarray(times)
                    first += len(frames)
                    frames, times = [], []
        if frames:
            yield first, torch.stack(frames).numpy(), np.asarray(times)
        return
    for a in range(start, timeline.n_frames, batch):
        b = min(a + batch, timeline.n_frames)
        images = source.get(torch.arange(a, b))
        if images.dtype != torch.uint8 or tuple(images.shape) != (b - a, 3, size, size):
            raise StimulusError(
                f"{source.source} returned {images.dtype} {tuple(images.shape)} for frames {a}..{b - 1}, "
                f"expected uint8 [{b - a}, 3, {size}, {size}]"
            )
        _, local = timeline.local_index(np.arange(a, b))
        yield a, images.numpy(), local / timeline.fps


def convert_to_store(
    source: FrameSource | VideoFolder,
    out_path: str | Path,
    image_size: int | None = None,
    batch: int = 256,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write ``source`` to an HDF5 frame store at ``out_path``; resumable.

    source:     a frame source (all its frames, in timeline order) or a :class:`VideoFolder` (decoded
                video by video, never all in memory).
    image_size: frame side; required for a VideoFolder, must equal ``source.image_size`` otherwise.
    batch:      frames per write; the progress is recorded after each.
    overwrite:  replace an existing ``out_path`` (otherwise that is an error).
    An interrupted conversion leaves ``<out_path>.partial``; rerunning with the same input continues it.
    Returns ``out_path``.
    """
    out_path = Path(out_path)
    if isinstance(source, VideoFolder):
        if image_size is None or int(image_size) < 1:
            raise StimulusError(f"converting {source.source} needs image_size >= 1, got {image_size}")
        size, flipped = int(image_size), False
    else:
        size = int(source.image_size)
        if image_size is not None and int(image_size) != size:
            raise StimulusError(f"image_size {image_size} differs from the source's image size {size} ({source.source})")
        flipped = bool(getattr(source, "flip_vertical", getattr(source, "flipped", False)))
    if batch < 1:
        raise StimulusError(f"batch must be >= 1, got {batch}")
    if out_path.exists() and not overwrite:
        raise StimulusError(f"{out_path} already exists; delete it or choose another output file")
    timeline = source.timeline
    attrs = {"fps": float(timeline.fps), "image_size": size, "source": source.source, "flipped": flipped,
             "schema_version": SCHEMA_VERSION}
    partial = partial_path(out_path)
    if partial.exists():
        written = _resume_point(partial, timeline, size, attrs)
    else:
        try:
            out_path.parent.mkdir(parents=True, exist_ok=True)
            _create(partial, timeline, size, attrs)
        except BaseException as err:
            if partial.is_file():
                partial.unlink()
            if isinstance(err, OSError):
                raise StimulusError(f"cannot create the frame store {partial}: {err}") from err
            raise
        written = 0
    with _open_h5(partial, "r+") as f, tqdm(
        total=timeline.n_frames, initial=written, unit="frame", unit_scale=True, desc=out_path.name, disable=not progress
    ) as bar:
        for first, frames, times in _batches(source, size, written, batch):
            stop = first + len(frames)
            video, local = timeline.local_index(np.arange(first, stop))
            f["frames"][first:stop] = frames
            f["video_id"][first:stop] = video.astype(np.int32)
            f["frame_index"][first:stop] = local.astype(np.int32)
            f["timestamp"][first:stop] = times
            f.attrs["frames_written"] = stop
            f.flush()
            bar.update(len(frames))
        if int(f.attrs["frames_written"]) != timeline.n_frames:
            raise StimulusError(
                f"{source.source} gave {int(f.attrs['frames_written'])} frames, its timeline announced {timeline.n_frames}"
            )
        f.attrs["complete"] = True
    os.replace(partial, out_path)
    return out_path
