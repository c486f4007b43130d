"""SAYCam child S as extracted JPEG frames in the authors' layout (lifelong.md §1-§2, data_sources.md §1.1).

Layout: ``<root>/<camera>/<video dir>/000001.jpg …`` (1-based, 6 digits, 25 fps, height 320), plus the
authors' two meta files:

* ``num_frames_meta.txt``: one line ``<camera>/<video dir>, <count>`` per video (Samcam and Alicecam
  interleaved); the key is the text before the comma exactly (:func:`parse_num_frames_meta`);
* ``meta_for_sam_cont_ep100_fx.txt``: line e = chunk e, a comma-separated list (no spaces) of keys, in
  chronological order (:func:`parse_chunk_meta`).

:func:`saycam_timeline` turns them into a :class:`FrameTimeline` (videos in chunk-line order, chunks at
video boundaries, 25 fps, the child's age per video from the ``S_YYYYMMDD_AAAA_NN`` names). By default the
frame count of every used video is re-derived from the JPEG files on disk, and differences from the meta
file are logged (the original crashes on them; lifelong.md §2.1).

:class:`SAYCamFrames` is the :class:`~streams.frame_source.FrameSource` over those folders: it decodes a
batch of frames (torchvision's libjpeg-turbo decoder, Pillow as the fallback), resizes the short side to
``image_size`` and centre-crops a square, and flips the frames upright (the original frames are stored
upside-down; the flip is a property of the data, not an augmentation).

:func:`resize_center_crop` is the resize shared by the decoded frame sources.
"""
from __future__ import annotations

import datetime
import io
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image

from .errors import StimulusError
from .frame_timeline import DAYS_PER_MONTH, FrameTimeline

try:
    from torchvision.io import ImageReadMode, decode_jpeg
except ImportError:  # a torchvision without image decoding: every file goes through Pillow
    decode_jpeg = None

__all__ = [
    "SAYCAM_FPS",
    "SAYCAM_NAME",
    "SAYCamName",
    "SAYCamFrames",
    "age_days_from_name",
    "frame_file_name",
    "parse_chunk_meta",
    "parse_num_frames_meta",
    "parse_saycam_name",
    "resize_center_crop",
    "saycam_timeline",
]

logger = logging.getLogger(__name__)

SAYCAM_FPS = 25.0
# <child>_<YYYYMMDD>_<MM><DD>_<segment>, optionally with a file extension (S_20130417_0604_01.mp4)
SAYCAM_NAME = re.compile(
    r"^(?P<child>[A-Za-z]+)_(?P<date>\d{8})_(?P<months>\d{2})(?P<days>\d{2})_(?P<segment>\d+)(?:\.[A-Za-z0-9]+)?$"
)
_KEY = re.compile(r"^[^\s,/]+/[^\s,/]+$")              # <camera>/<video dir>
_FRAME_FILE = re.compile(r"^(\d{6})\.jpg$")
_COUNT = re.compile(r"^\s*[0-9]+\s*$")


# ---------------------------------------------------------------------------------------------------
# names and meta files
class SAYCamName(NamedTuple):
    child: str
    date: datetime.date      # recording date
    months: int              # the child's age: months …
    days: int                # … plus days
    segment: int

    @property
    def age_days(self) -> float:
        return self.months * DAYS_PER_MONTH + self.days


def parse_saycam_name(name: str) -> SAYCamName:
    """Parse ``S_YYYYMMDD_AAAA_NN`` (AAAA = age as months+days, ``0604`` = 6 months 4 days).

    A directory prefix (``Samcam/…``) and a file extension are ignored."""
    base = name.rsplit("/", 1)[-1]
    m = SAYCAM_NAME.match(base)
    if m is None:
        raise StimulusError(
            f"SAYCam video name {name!r} does not follow the pattern <child>_YYYYMMDD_AAAA_NN "
            f"(e.g. S_20130417_0604_01: recording date, age in months+days, segment)"
        )
    try:
        date = datetime.datetime.strptime(m["date"], "%Y%m%d").date()
    except ValueError:
        raise StimulusError(f"SAYCam video name {name!r}: {m['date']!r} is not a valid date YYYYMMDD") from None
    days = int(m["days"])
    if days > 31:
        raise StimulusError(f"SAYCam video name {name!r}: age {m['months']}{m['days']} has {days} days (expected 00-31)")
    return SAYCamName(m["child"], date, int(m["months"]), days, int(m["segment"]))


def age_days_from_name(name: str) -> float:
    """The child's age in days at a SAYCam video, from its name (months × 365.25/12 + days)."""
    return parse_saycam_name(name).age_days


def _meta_lines(path: Path, what: str) -> list[tuple[int, str]]:
    """(1-based line number, text) of the non-empty lines; empty lines are allowed only at the end."""
    if not path.is_file():
        raise StimulusError(f"{what} not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise StimulusError(f"cannot read {what} {path}: {err}") from err
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise StimulusError(f"{what} {path} is empty")
    for no, line in enumerate(lines, 1):
        if not line.strip():
            raise StimulusError(f"{path} line {no}: empty line (only the end of the file may hold empty lines)")
    return list(enumerate(lines, 1))


def parse_num_frames_meta(path: str | Path) -> dict[str, int]:
    """``num_frames_meta.txt``: {``<camera>/<video dir>``: frame count}, in file order.

    Every line must read ``<camera>/<video dir>, <count>`` (whitespace around the count is tolerated,
    like the original's ``int()``); a malformed line, a count < 1 or a repeated key is an error."""
    path = Path(path)
    counts: dict[str, int] = {}
    first_line: dict[str, int] = {}
    for no, line in _meta_lines(path, "frame-count meta file"):
        key, sep, rest = line.partition(",")
        if not sep or not _KEY.match(key) or not _COUNT.match(rest):
            raise StimulusError(
                f"{path} line {no}: expected '<camera>/<video dir>, <count>' (e.g. 'Samcam/S_20130417_0600_01, 45011'), "
                f"got {line!r}"
            )
        count = int(rest)
        if count < 1:
            raise StimulusError(f"{path} line {no}: video {key} has {count} frames (expected >= 1)")
        if key in counts:
            raise StimulusError(f"{path} line {no}: video {key} is listed again (first on line {first_line[key]})")
        counts[key] = count
        first_line[key] = no
    return counts


def parse_chunk_meta(path: str | Path, counts: Mapping[str, int] | None = None) -> list[list[str]]:
    """The chunk meta file (``meta_for_sam_cont_ep100_fx.txt``): line e = the video keys of chunk e.

    Each line is a comma-separated list of ``<camera>/<video dir>`` keys without spaces. A malformed or
    empty entry, a video listed twice (in one chunk or in two) and, when ``counts`` is given, a video
    absent from the frame-count meta file are errors naming the line."""
    path = Path(path)
    chunks: list[list[str]] = []
    seen: dict[str, int] = {}
    for no, line in _meta_lines(path, "chunk meta file"):
        keys = line.split(",")
        for key in keys:
            if not _KEY.match(key):
                raise StimulusError(
                    f"{path} line {no}: entry {key!r} is not a '<camera>/<video dir>' key (expected comma-separated "
                    f"keys without spaces, e.g. 'Samcam/S_20130417_0600_01,Samcam/S_20130417_0600_02')"
                )
            if key in seen:
                where = "earlier on this line" if seen[key] == no else f"on line {seen[key]}"
                raise StimulusError(f"{path} line {no}: video {key} is listed twice (also {where})")
            if counts is not None and key not in counts:
                raise StimulusError(f"{path} line {no}: video {key} is not in the frame-count meta file")
            seen[key] = no
        chunks.append(keys)
    return chunks


# ---------------------------------------------------------------------------------------------------
# timeline
def frame_file_name(t: int) -> str:
    """File name of 0-based frame ``t`` of a video folder (1-based, 6 digits: ``000001.jpg``)."""
    return f"{t + 1:06d}.jpg"


def _count_frames(video_dir: Path) -> int:
    """Number of frames in a video folder, checking they are numbered 000001.jpg … without gaps."""
    try:
        numbers = {int(m[1]) for e in os.scandir(video_dir) if (m := _FRAME_FILE.match(e.name))}
    except OSError as err:
        raise StimulusError(f"cannot list the frames of {video_dir}: {err}") from err
    if not numbers:
        raise StimulusError(f"video folder {video_dir} holds no frames (expected 000001.jpg, 000002.jpg, ...)")
    n = len(numbers)
    if max(numbers) != n or min(numbers) != 1:
        missing = next(k for k in range(1, n + 2) if k not in numbers)
        raise StimulusError(
            f"the frames of {video_dir} are not numbered 000001.jpg ... {n:06d}.jpg without gaps: "
            f"{missing:06d}.jpg is missing"
        )
    return n


def saycam_timeline(
    root: str | Path,
    num_frames_meta: str | Path,
    chunk_meta: str | Path,
    chunks: int | None = None,
    verify_counts: bool = True,
) -> FrameTimeline:
    """The chronological SAYCam stream: videos in chunk-line order, one chunk per meta line, 25 fps.

    chunks:        use only the first ``chunks`` chunks (short runs); None = all.
    verify_counts: count the JPEG files of every used video folder and use those counts; videos whose
                   count differs from ``num_frames_meta`` are logged as a warning. Without it the meta
                   counts are trusted (the folders must still exist).
    Video names are the meta keys (``Samcam/S_20130417_0600_01``); ages come from the names.
    """
    root = Path(root)
    if not root.is_dir():
        raise StimulusError(f"SAYCam root not found or not a folder: {root}")
    counts = parse_num_frames_meta(num_frames_meta)
    chunk_keys = parse_chunk_meta(chunk_meta, counts)
    if chunks is not None:
        if not 1 <= chunks <= len(chunk_keys):
            raise StimulusError(f"chunks must be between 1 and {len(chunk_keys)} (the lines of {chunk_meta}), got {chunks}")
        chunk_keys = chunk_keys[:chunks]
    keys = [k for line in chunk_keys for k in line]
    ages = np.array([age_days_from_name(k) for k in keys], dtype=np.float64)
    lengths = []
    mismatches = []
    for key in keys:
        video_dir = root / key
        if not video_dir.is_dir():
            raise StimulusError(f"video folder {video_dir} (listed in {chunk_meta}) not found")
        n = counts[key]
        if verify_counts:
            n = _count_frames(video_dir)
            if n != counts[key]:
                mismatches.append(f"{key}: meta {counts[key]}, on disk {n}")
        lengths.append(n)
    if mismatches:
        shown = "; ".join(mismatches[:10]) + (f"; ... ({len(mismatches) - 10} more)" if len(mismatches) > 10 else "")
        logger.warning(
            "%d of %d video folders under %s hold a different number of frames than %s says; using the counts "
            "on disk: %s", len(mismatches), len(keys), root, num_frames_meta, shown,
        )
    video_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    first_video = np.cumsum([0] + [len(line) for line in chunk_keys])
    return FrameTimeline(
        video_names=tuple(keys),
        video_offsets=video_offsets,
        chunk_offsets=video_offsets[first_video],
        fps=SAYCAM_FPS,
        video_age_days=ages,
    )


# ---------------------------------------------------------------------------------------------------
# decoding
def resize_center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [3, H, W] → [3, size, size]: short side to ``size`` (bilinear, antialiased), centre crop."""
    if min(image.shape[-2:]) != size:
        image = TF.resize(image, size, antialias=True)
    return TF.center_crop(image, [size, size])


def _decode_pil(data: bytes, path: Path) -> torch.Tensor:
    try:
        with Image.open(io.BytesIO(data)) as im:
            rgb = np.array(im.convert("RGB"), dtype=np.uint8)
    except Exception as err:  # noqa: BLE001 - any decoder failure is a data problem
        raise StimulusError(f"cannot decode frame {path}: {err}") from err
    return torch.from_numpy(rgb).permute(2, 0, 1)


def _decode_files(paths: list[Path]) -> list[torch.Tensor]:
    """Decode JPEG files to uint8 [3, H, W] RGB, in one batched call where possible."""
    blobs = []
    for p in paths:
        try:
            blobs.append(p.read_bytes())
        except OSError as err:
            raise StimulusError(f"frame file {p} is missing or unreadable: {err.strerror or err}") from err
    if decode_jpeg is None:
        return [_decode_pil(b, p) for b, p in zip(blobs, paths)]
    tensors = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in blobs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torchvision ≥ 0.29 announces moving to TorchCodec
        try:
            return list(decode_jpeg(tensors, mode=ImageReadMode.RGB))
        except RuntimeError:  # some file is not a JPEG libjpeg-turbo reads: decode one by one, Pillow for those
            out = []
            for t, b, p in zip(tensors, blobs, paths):
                try:
                    out.append(decode_jpeg(t, mode=ImageReadMode.RGB))
                except RuntimeError:
                    out.append(_decode_pil(b, p))
            return out


class SAYCamFrames:
    """A :class:`~streams.frame_source.FrameSource` over SAYCam frame folders in the authors' layout.

    root, num_frames_meta, chunk_meta, chunks, verify_counts: as :func:`saycam_timeline`.
    image_size:    side of the returned square frames (short side resized, centre crop).
    flip_vertical: turn every frame upside-down when decoding; True for the original SAYCam frames,
                   which are stored upside-down (lifelong.md §1).
    """

    def __init__(
        self,
        root: str | Path,
        num_frames_meta: str | Path,
        chunk_meta: str | Path,
        image_size: int,
        *,
        chunks: int | None = None,
        flip_vertical: bool = True,
        verify_counts: bool = True,
    ) -> None:
        if int(image_size) < 1:
            raise StimulusError(f"image_size must be >= 1, got {image_size}")
        self.root = Path(root).resolve()
        self.image_size = int(image_size)
        self.flip_vertical = bool(flip_vertical)
        self.timeline = saycam_timeline(self.root, num_frames_meta, chunk_meta, chunks, verify_counts)
        self.source = (
            f"SAYCam frames {self.root} (chunks 0..{self.timeline.n_chunks - 1} of {Path(chunk_meta).name}, "
            f"{self.timeline.n_videos} videos)"
        )

    def __len__(self) -> int:
        return self.timeline.n_frames

    def get(self, indices: torch.Tensor) -> torch.Tensor:
        idx = torch.as_tensor(indices).long().view(-1)
        n = len(self)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise IndexError(f"SAYCamFrames has {n} frames; got indices in [{int(idx.min())}, {int(idx.max())}]")
        if idx.numel() == 0:
            return torch.empty((0, 3, self.image_size, self.image_size), dtype=torch.uint8)
        unique, inverse = torch.unique(idx, return_inverse=True)
        videos, local = self.timeline.local_index(unique.numpy())
        paths = [
            self.root / self.timeline.video_names[v] / frame_file_name(t) for v, t in zip(videos.tolist(), local.tolist())
        ]
        out = torch.empty((len(paths), 3, self.image_size, self.image_size), dtype=torch.uint8)
        for k, img in enumerate(_decode_files(paths)):
            out[k] = resize_center_crop(img, self.image_size)
        if self.flip_vertical:
            out = out.flip(-2)
        return out[inverse]
