"""SAYCam frame folders in the authors' layout: meta files, timeline, ages, decoding and flipping."""
from __future__ import annotations

import datetime
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import streams.saycam as saycam
from streams.errors import StimulusError
from streams.frame_source import FrameSource
from streams.frame_timeline import DAYS_PER_MONTH
from streams.saycam import (
    SAYCamFrames,
    age_days_from_name,
    parse_chunk_meta,
    parse_num_frames_meta,
    parse_saycam_name,
    saycam_timeline,
)

# key -> number of frames; chunk 0 = the first two videos, chunk 1 = the third
VIDEOS = {
    "Samcam/S_20130417_0600_01": 5,
    "Samcam/S_20130417_0600_02": 7,
    "Samcam/S_20130501_0614_01": 12,
}
CHUNKS = [["Samcam/S_20130417_0600_01", "Samcam/S_20130417_0600_02"], ["Samcam/S_20130501_0614_01"]]
H, W = 24, 32       # stored frame size (landscape, like the 427x320 originals)


def frame_gray(video: int, t: int) -> int:
    """The gray level of the lower part of frame t of video v (distinct per frame)."""
    return 20 + 40 * video + 8 * t


def write_frame(path: Path, gray: int) -> None:
    """A frame whose top third is white and the rest uniform ``gray``."""
    a = np.full((H, W, 3), gray, dtype=np.uint8)
    a[: H // 3] = 255
    Image.fromarray(a).save(path, quality=95)


def write_saycam(root: Path, videos: dict[str, int] = VIDEOS, chunks: list[list[str]] = CHUNKS) -> tuple[Path, Path, Path]:
    """Fabricate the authors' layout under ``root``: (frame root, num_frames_meta, chunk meta)."""
    frames = root / "frames"
    for v, (key, n) in enumerate(videos.items()):
        d = frames / key
        d.mkdir(parents=True)
        for t in range(n):
            write_frame(d / f"{t + 1:06d}.jpg", frame_gray(v, t))
    counts = root / "num_frames_meta.txt"
    lines = [f"{k}, {n}" for k, n in videos.items()]
    lines.insert(1, "Alicecam/A_20130420_0700_01, 1234")    # the other child, interleaved and unused
    counts.write_text("\n".join(lines) + "\n")
    chunk_meta = root / "meta_for_sam_cont_ep100_fx.txt"
    chunk_meta.write_text("".join(",".join(line) + "\n" for line in chunks))
    return frames, counts, chunk_meta


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    return write_saycam(tmp_path)


# ---------------------------------------------------------------------------------------------------
# names and meta files
def test_age_and_date_from_name() -> None:
    assert age_days_from_name("S_20130417_0604_01") == pytest.approx(6 * DAYS_PER_MONTH + 4)
    assert age_days_from_name("Samcam/S_20150419_3001_02.mp4") == pytest.approx(30 * DAYS_PER_MONTH + 1)
    name = parse_saycam_name("S_20130417_0604_12")
    assert (name.child, name.date, name.months, name.days, name.segment) == ("S", datetime.date(2013, 4, 17), 6, 4, 12)


@pytest.mark.parametrize("bad", ["S_2013041_0604_01", "S_20131345_0604_01", "S_20130417_0640_01", "S_20130417_0604", "video"])
def test_bad_names(bad: str) -> None:
    with pytest.raises(StimulusError, match=bad):
        age_days_from_name(bad)


def test_parse_meta_files(layout: tuple[Path, Path, Path]) -> None:
    _, counts_file, chunk_file = layout
    counts = parse_num_frames_meta(counts_file)
    assert counts == {**VIDEOS, "Alicecam/A_20130420_0700_01": 1234}
    assert parse_chunk_meta(chunk_file, counts) == CHUNKS


@pytest.mark.parametrize(
    "text, line",
    [
        ("Samcam/S_20130417_0600_01 5\n", 1),                                     # no comma
        ("Samcam/S_20130417_0600_01, 5\nSamcam/S_20130417_0600_02, five\n", 2),   # not a number
        ("Samcam/S_20130417_0600_01, 0\n", 1),                                    # empty video
        ("S_20130417_0600_01, 5\n", 1),                                           # no camera
        ("Samcam/S_20130417_0600_01, 5\n\nSamcam/S_20130417_0600_02, 7\n", 2),    # empty line in the middle
        ("Samcam/S_20130417_0600_01, 5\nSamcam/S_20130417_0600_01, 6\n", 2),     # duplicated key
    ],
)
def test_bad_num_frames_meta(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "num_frames_meta.txt"
    path.write_text(text)
    with pytest.raises(StimulusError, match=rf"num_frames_meta.txt line {line}\b"):
        parse_num_frames_meta(path)


@pytest.mark.parametrize(
    "text, line, what",
    [
        ("Samcam/S_20130417_0600_01, Samcam/S_20130417_0600_02\n", 1, "not a"),   # a space
        ("Samcam/S_20130417_0600_01,,Samcam/S_20130417_0600_02\n", 1, "not a"),   # empty entry
        ("Samcam/S_20130417_0600_01\nSamcam/S_20130417_0600_01\n", 2, "twice"),   # video in two chunks
        ("Samcam/S_20130417_0600_01\nSamcam/S_20991231_0600_01\n", 2, "not in the frame-count"),
        ("Samcam/S_20130417_0600_01\n\nSamcam/S_20130417_0600_02\n", 2, "empty line"),
    ],
)
def test_bad_chunk_meta(tmp_path: Path, text: str, line: int, what: str) -> None:
    path = tmp_path / "chunks.txt"
    path.write_text(text)
    with pytest.raises(StimulusError, match=rf"chunks.txt line {line}\b.*{what}"):
        parse_chunk_meta(path, VIDEOS)


# ---------------------------------------------------------------------------------------------------
# timeline
def test_timeline(layout: tuple[Path, Path, Path]) -> None:
    tl = saycam_timeline(*layout)
    assert tl.video_names == tuple(VIDEOS)
    assert tl.video_offsets.tolist() == [0, 5, 12, 24]
    assert tl.chunk_offsets.tolist() == [0, 12, 24]
    assert tl.fps == 25
    assert tl.video_age_days.tolist() == pytest.approx([6 * DAYS_PER_MONTH] * 2 + [6 * DAYS_PER_MONTH + 14])
    short = saycam_timeline(*layout, chunks=1)
    assert (short.n_frames, short.n_chunks, short.n_videos) == (12, 1, 2)
    with pytest.raises(StimulusError, match="chunks must be between 1 and 2"):
        saycam_timeline(*layout, chunks=3)


def test_count_mismatch_is_reported_and_disk_counts_used(layout, caplog) -> None:
    root, counts_file, chunk_file = layout
    counts_file.write_text(counts_file.read_text().replace("Samcam/S_20130417_0600_02, 7", "Samcam/S_20130417_0600_02, 9"))
    with caplog.at_level(logging.WARNING, logger="streams.saycam"):
        tl = saycam_timeline(root, counts_file, chunk_file)
    assert tl.video_lengths().tolist() == [5, 7, 12]
    assert "Samcam/S_20130417_0600_02: meta 9, on disk 7" in caplog.text
    caplog.clear()
    trusted = saycam_timeline(root, counts_file, chunk_file, verify_counts=False)
    assert trusted.video_lengths().tolist() == [5, 9, 12]
    assert caplog.text == ""


def test_missing_video_folder(layout) -> None:
    root, counts_file, chunk_file = layout
    (root / "Samcam/S_20130501_0614_01").rename(root / "Samcam/elsewhere")
    with pytest.raises(StimulusError, match="S_20130501_0614_01.*not found"):
        saycam_timeline(root, counts_file, chunk_file)


def test_gap_in_frame_numbers(layout) -> None:
    root, counts_file, chunk_file = layout
    (root / "Samcam/S_20130417_0600_02/000003.jpg").unlink()
    with pytest.raises(StimulusError, match="S_20130417_0600_02.*000003.jpg is missing"):
        saycam_timeline(root, counts_file, chunk_file)


# ---------------------------------------------------------------------------------------------------
# decoding
def _lower_gray(img: torch.Tensor, flipped: bool) -> float:
    """Mean of the part of a decoded frame that holds the frame's gray level (away from the white band)."""
    s = img.shape[-1]
    rows = slice(0, s // 2) if flipped else slice(s - s // 2, s)
    return img[:, rows].float().mean().item()


def test_flip(layout) -> None:
    upright = SAYCamFrames(*layout, image_size=12, flip_vertical=False)
    flipped = SAYCamFrames(*layout, image_size=12)
    assert isinstance(flipped, FrameSource) and flipped.flip_vertical
    idx = torch.tensor([0, 13])
    a, b = upright.get(idx), flipped.get(idx)
    assert a.shape == (2, 3, 12, 12) and a.dtype == torch.uint8
    assert torch.equal(b, a.flip(-2))
    assert (a[:, :, 0] > 245).all() and (a[:, :, -1] < 200).all()   # white band on top as stored
    assert (b[:, :, -1] > 245).all() and (b[:, :, 0] < 200).all()


def test_get_order_and_duplicates(layout, monkeypatch) -> None:
    frames = SAYCamFrames(*layout, image_size=12, flip_vertical=False)
    decoded: list[int] = []
    real = saycam._decode_files
    monkeypatch.setattr(saycam, "_decode_files", lambda paths: decoded.append(len(paths)) or real(paths))
    idx = torch.tensor([7, 0, 7, 23, 5])
    out = frames.get(idx)
    assert decoded == [4]                                   # each distinct frame decoded once
    expected = [frame_gray(1, 2), frame_gray(0, 0), frame_gray(1, 2), frame_gray(2, 11), frame_gray(1, 0)]
    got = [_lower_gray(img, flipped=False) for img in out]
    assert got == pytest.approx(expected, abs=3)
    assert torch.equal(out[0], out[2])
    assert frames.get(torch.tensor([], dtype=torch.long)).shape == (0, 3, 12, 12)
    with pytest.raises(IndexError):
        frames.get(torch.tensor([24]))


def test_pillow_fallback_and_bad_files(layout, monkeypatch) -> None:
    root = layout[0]
    frames = SAYCamFrames(*layout, image_size=12, flip_vertical=False)
    idx = torch.arange(len(frames))
    with_torchvision = frames.get(idx)
    monkeypatch.setattr(saycam, "decode_jpeg", None)
    with_pillow = frames.get(idx)
    assert (with_torchvision.int() - with_pillow.int()).abs().max() <= 3
    monkeypatch.undo()
    # a PNG stored under a .jpg name still decodes (per-file Pillow fallback)
    png = root / "Samcam/S_20130417_0600_01/000002.jpg"
    Image.open(png).save(png, format="PNG")
    assert _lower_gray(frames.get(torch.tensor([1]))[0], flipped=False) == pytest.approx(frame_gray(0, 1), abs=3)
    png.write_bytes(b"not an image")
    with pytest.raises(StimulusError, match="cannot decode frame .*S_20130417_0600_01/000002.jpg"):
        frames.get(torch.tensor([0, 1]))
    (root / "Samcam/S_20130501_0614_01/000004.jpg").unlink()
    with pytest.raises(StimulusError, match="S_20130501_0614_01/000004.jpg is missing"):
        frames.get(torch.tensor([15]))
