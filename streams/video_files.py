"""Video files as a frame source: decoding with PyAV at a target frame rate and size.

Frame-rate conversion works on presentation timestamps: output frame k (tick k / fps seconds after the
start of the video) is the source frame with the latest presentation time <= the tick (ticks before
the first frame take the first frame). A video lasts until its last frame's time plus one frame
interval (the median spacing of its frames), so a 2 s clip at 30 fps gives 50 frames at 25 fps. Each
output frame is resized (short side to ``size``, antialiased) and centre-cropped to a square with the
same function as the SAYCam frames. Only frames that are output are converted to RGB.

A folder of videos (:class:`VideoFolder`) is one chronological stream: the videos sorted by file name,
chunks of (nearly) equal length cut by :func:`~streams.frame_timeline.chunks_by_frames`, and the child's
age per video where the file names follow the SAYCam pattern ``S_YYYYMMDD_AAAA_NN`` (NaN elsewhere).
The folder's timeline is built from the container index (demuxing, no decoding) and every decoded video
is checked against it. :func:`load_video_folder` decodes a small folder into memory; the HDF5 converter
(``streams.frame_store.convert_to_store``) decodes it video by video.

Rotation side data (phone videos) is not applied; audio is ignored.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import av
import numpy as np
import torch

from .errors import StimulusError
from .frame_source import InMemoryFrames
from .frame_timeline import FrameTimeline, chunks_by_frames
from .saycam import SAYCAM_NAME, age_days_from_name, resize_center_crop

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoFolder",
    "iter_video_frames",
    "load_video_folder",
    "video_folder_timeline",
    "video_frame_count",
]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
_EPS = 1e-6  # seconds: timestamps closer than this count as equal


def _check_fps(fps: float) -> float:
    if not fps > 0:
        raise StimulusError(f"target frame rate must be > 0, got {fps!r}")
    return float(fps)


def _open_video(path: Path) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    if not path.is_file():
        raise StimulusError(f"video file not found: {path}")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as err:
        raise StimulusError(f"cannot open video {path} (corrupt, truncated or not a video?): {err}") from err
    if not container.streams.video:
        container.close()
        raise StimulusError(f"{path} holds no video stream")
    return container, container.streams.video[0]


def _origin(stream: av.video.stream.VideoStream) -> float | None:
    """The stream's start time in seconds (None when the container does not say)."""
    if stream.start_time is None:
        return None
    return float(stream.start_time * stream.time_base)


def _nominal_interval(stream: av.video.stream.VideoStream, fps: float) -> float:
    rate = stream.average_rate or stream.guessed_rate
    return 1.0 / float(rate) if rate else 1.0 / fps


def _n_ticks(times: list[float], fps: float, nominal_interval: float) -> int:
    """Number of output frames: ticks k / fps before the last frame's time plus one frame interval."""
    t = np.sort(np.asarray(times, dtype=np.float64))
    steps = np.diff(t)
    steps = steps[steps > _EPS]
    interval = float(np.median(steps)) if len(steps) else nominal_interval
    return max(1, int(np.ceil((t[-1] + interval) * fps - _EPS)))


def video_frame_count(path: str | Path, fps: float) -> int:
    """Number of frames :func:`iter_video_frames` yields at ``fps``, from the container index (no decoding).

    A file whose index declares more frames than it holds (truncated) is an error."""
    path, fps = Path(path), _check_fps(fps)
    container, stream = _open_video(path)
    with container:
        origin = _origin(stream)
        raw: list[float] = []
        n_packets = 0
        try:
            for packet in container.demux(stream):
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None:          # the flush packet at the end of the stream
                    continue
                n_packets += 1
                if packet.size:         # empty packets (AVI "drop" frames) repeat the previous frame
                    raw.append(float(ts * packet.time_base))
        except av.FFmpegError as err:
            raise StimulusError(f"cannot read video {path} (corrupt or truncated?): {err}") from err
        if not raw:
            raise StimulusError(f"video {path} holds no frames")
        if stream.frames and n_packets < stream.frames:
            raise StimulusError(
                f"video {path} is truncated: its index declares {stream.frames} frames but only {n_packets} can be read"
            )
        start = origin if origin is not None else min(raw)
        return _n_ticks([t - start for t in raw], fps, _nominal_interval(stream, fps))


def iter_video_frames(
    path: str | Path, fps: float, size: int, start: int = 0, expected: int | None = None
) -> Iterator[tuple[torch.Tensor, float]]:
    """Decode a video at ``fps``: yields (uint8 [3, size, size], presentation time in seconds of the
    source frame shown, counted from the start of the video) per output frame; a source frame shown
    at several ticks is yielded as the same tensor each time.

    start:    skip the first ``start`` output frames (decoded but not converted; resuming a conversion).
    expected: the number of output frames the caller planned for (e.g. :func:`video_frame_count`); a
              decode that gives another number is an error (a damaged file)."""
    path, fps = Path(path), _check_fps(fps)
    if size < 1:
        raise StimulusError(f"frame size must be >= 1, got {size}")
    container, stream = _open_video(path)
    with container:
        stream.thread_type = "AUTO"
        origin = _origin(stream)
        nominal = _nominal_interval(stream, fps)
        times: list[float] = []
        shown: tuple[av.VideoFrame, float] | None = None   # the frame on screen and its time
        image: torch.Tensor | None = None                  # its converted image, made when first needed
        k = 0

        def emit() -> Iterator[tuple[torch.Tensor, float]]:
            nonlocal k, image
            if expected is not None and k >= expected:
                raise StimulusError(f"decoding {path} gives more than the {expected} frames its index announced")
            if k >= start:
                if image is None:
                    rgb = torch.from_numpy(shown[0].to_ndarray(format="rgb24")).permute(2, 0, 1)
                    image = resize_center_crop(rgb, size).contiguous()
                yield image, shown[1]
            k += 1

        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    t = times[-1] + nominal if times else 0.0
                else:
                    if origin is None:
                        origin = float(frame.time)
                    t = float(frame.time) - origin
                if times:
                    t = max(t, times[-1])   # a non-monotonic timestamp does not move back in time
                    while k / fps < t - _EPS:
                        yield from emit()
                times.append(t)
                shown, image = (frame, t), None
        except av.FFmpegError as err:
            raise StimulusError(f"cannot decode video {path} (corrupt or truncated?): {err}") from err
        if shown is None:
            raise StimulusError(f"video {path} holds no decodable frames")
        for _ in range(k, _n_ticks(times, fps, nominal)):
            yield from emit()
        if expected is not None and k != expected:
            raise StimulusError(
                f"decoding {path} gives {k} frames at {fps:g} fps but its index announced {expected} "
                f"(the file is damaged)"
            )


class VideoFolder:
    """A folder of video files as one chronological stream (videos sorted by file name).

    folder:   the videos (``VIDEO_EXTENSIONS``, case-insensitive; not recursive).
    fps:      the target frame rate.
    n_chunks: number of chunks (epochs) the stream is cut into, of (nearly) equal length.
    """

    def __init__(self, folder: str | Path, fps: float, n_chunks: int) -> None:
        self.folder = Path(folder).resolve()
        self.fps = _check_fps(fps)
        if not self.folder.is_dir():
            raise StimulusError(f"video folder not found or not a folder: {self.folder}")
        self.paths = tuple(sorted(
            (p for p in self.folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS),
            key=lambda p: p.name,
        ))
        if not self.paths:
            raise StimulusError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) in {self.folder}")
        lengths = [video_frame_count(p, self.fps) for p in self.paths]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        try:
            chunk_offsets = chunks_by_frames(offsets, n_chunks)
        except ValueError as err:
            raise StimulusError(f"video folder {self.folder}: {err}") from err
        ages = np.array(
            [age_days_from_name(p.name) if SAYCAM_NAME.match(p.name) else np.nan for p in self.paths], dtype=np.float64
        )
        self.timeline = FrameTimeline(
            video_names=tuple(p.name for p in self.paths),
            video_offsets=offsets,
            chunk_offsets=chunk_offsets,
            fps=self.fps,
            video_age_days=None if np.isnan(ages).all() else ages,
        )
        self.source = f"video folder {self.folder} ({len(self.paths)} videos at {self.fps:g} fps)"

    def iter_video(self, video: int, size: int, start: int = 0) -> Iterator[tuple[torch.Tensor, float]]:
        """The frames of one video (from its ``start``-th frame), checked against the timeline."""
        n = int(self.timeline.video_lengths()[video])
        return iter_video_frames(self.paths[video], self.fps, size, start=start, expected=n)


def video_folder_timeline(folder: str | Path, fps: float, n_chunks: int) -> FrameTimeline:
    """The timeline of a folder of videos (see :class:`VideoFolder`), without decoding."""
    return VideoFolder(folder, fps, n_chunks).timeline


def load_video_folder(folder: str | Path, fps: float, image_size: int, n_chunks: int) -> InMemoryFrames:
    """Decode every video of a (small) folder into memory: uint8 [N, 3, S, S] in timeline order."""
    if int(image_size) < 1:
        raise StimulusError(f"image_size must be >= 1, got {image_size}")
    videos = VideoFolder(folder, fps, n_chunks)
    frames = torch.empty((videos.timeline.n_frames, 3, image_size, image_size), dtype=torch.uint8)
    for v in range(videos.timeline.n_videos):
        base = int(videos.timeline.video_offsets[v])
        for t, (image, _) in enumerate(videos.iter_video(v, image_size)):
            frames[base + t] = image
    return InMemoryFrames(frames, videos.timeline, source=videos.source)
