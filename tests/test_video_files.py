"""Video files decoded with PyAV: frame-rate conversion by timestamps, size, folders, damaged files."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from streams.errors import StimulusError
from streams.frame_timeline import DAYS_PER_MONTH
from streams.video_files import iter_video_frames, load_video_folder, video_folder_timeline, video_frame_count

SRC_FPS, SECONDS, W, H = 30, 2, 96, 64
SQUARE = 16


def square_x(i: int) -> int:
    """Left edge of the white square in source frame i (moves right at constant speed)."""
    return round(i * (W - SQUARE) / (SRC_FPS * SECONDS - 1))


def encode_clip(path: Path, faststart: bool = False) -> None:
    """2 s at 30 fps of a white square moving left to right over a dark background (H.264 where PyAV has
    it). ``faststart`` puts the index before the frames, so that a truncated file still opens."""
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as out:
        stream = out.add_stream(codec, rate=SRC_FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(SRC_FPS * SECONDS):
            a = np.full((H, W, 3), 30, dtype=np.uint8)
            a[(H - SQUARE) // 2:(H + SQUARE) // 2, square_x(i):square_x(i) + SQUARE] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(a, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    encode_clip(path)
    return path


def _square_centre(img: torch.Tensor) -> float:
    """Horizontal centre of the bright square in a frame decoded at size H (no resize, centre crop of
    the W - H extra columns), in source pixels."""
    cols = torch.nonzero((img.float().mean(0) > 140).any(0)).view(-1).float()
    return float(cols.mean()) + 0.5 + (W - H) / 2


def test_decode_at_25_fps(clip: Path) -> None:
    frames = list(iter_video_frames(clip, fps=25, size=H))
    assert len(frames) == video_frame_count(clip, 25) == 50
    assert all(img.shape == (3, H, H) and img.dtype == torch.uint8 for img, _ in frames)
    # output k shows the source frame with the latest time <= k / 25
    source = [math.floor(k / 25 * SRC_FPS + 1e-9) for k in range(50)]
    assert [t for _, t in frames] == pytest.approx([i / SRC_FPS for i in source])
    for k in (10, 25, 37):      # frames where the square lies inside the centre crop
        x = square_x(source[k]) + SQUARE / 2
        assert (W - H) / 2 + SQUARE / 2 <= x <= (W + H) / 2 - SQUARE / 2
        assert _square_centre(frames[k][0]) == pytest.approx(x, abs=1.0)
    # a higher target rate repeats frames, start skips frames
    assert len(list(iter_video_frames(clip, fps=60, size=8))) == video_frame_count(clip, 60) == 120
    tail = list(iter_video_frames(clip, fps=25, size=H, start=45))
    assert len(tail) == 5 and all(torch.equal(a[0], b[0]) for a, b in zip(tail, frames[45:]))


def test_downscaled_and_resampled_content(clip: Path) -> None:
    small = [img for img, _ in iter_video_frames(clip, fps=10, size=16)]
    assert len(small) == 20 and small[0].shape == (3, 16, 16)
    assert not torch.equal(small[0], small[10])     # the square moves


def test_expected_count_mismatch(clip: Path) -> None:
    with pytest.raises(StimulusError, match="gives 50 frames .* announced 51"):
        list(iter_video_frames(clip, fps=25, size=8, expected=51))
    with pytest.raises(StimulusError, match="more than the 49 frames"):
        list(iter_video_frames(clip, fps=25, size=8, expected=49))


def test_corrupt_and_truncated_files(tmp_path: Path, clip: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(StimulusError, match="garbage.mp4"):
        video_frame_count(garbage, 25)
    with pytest.raises(StimulusError, match="garbage.mp4"):
        list(iter_video_frames(garbage, 25, 16))
    truncated = tmp_path / "truncated.mp4"
    data = clip.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(StimulusError, match="truncated.mp4"):
        video_frame_count(truncated, 25)
    indexed_first = tmp_path / "faststart.mp4"
    encode_clip(indexed_first, faststart=True)
    data = indexed_first.read_bytes()
    indexed_first.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(StimulusError, match="faststart.mp4 is truncated: its index declares 60 frames"):
        video_frame_count(indexed_first, 25)
    with pytest.raises(StimulusError, match="not found"):
        video_frame_count(tmp_path / "absent.mp4", 25)


def test_video_folder(tmp_path: Path, clip: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(clip, folder / "S_20130417_0604_02.mp4")
    shutil.copy(clip, folder / "S_20130417_0604_01.MP4")
    (folder / "notes.txt").write_text("not a video")
    tl = video_folder_timeline(folder, fps=25, n_chunks=4)
    assert tl.video_names == ("S_20130417_0604_01.MP4", "S_20130417_0604_02.mp4")
    assert tl.video_offsets.tolist() == [0, 50, 100] and tl.chunk_offsets.tolist() == [0, 25, 50, 75, 100]
    assert tl.video_age_days.tolist() == pytest.approx([6 * DAYS_PER_MONTH + 4] * 2)
    frames = load_video_folder(folder, fps=25, image_size=16, n_chunks=4)
    assert frames.images.shape == (100, 3, 16, 16)
    assert torch.equal(frames.images[:50], frames.images[50:])      # the same clip twice
    assert torch.equal(frames.get(torch.tensor([3, 60])), frames.images[[3, 60]])
    shutil.copy(clip, folder / "home_video.mp4")                  # not a SAYCam name: age unknown
    ages = video_folder_timeline(folder, fps=25, n_chunks=1).video_age_days
    assert np.isnan(ages[2]) and not np.isnan(ages[:2]).any()
    (folder / "z_broken.avi").write_bytes(b"\x00" * 1000)
    with pytest.raises(StimulusError, match="z_broken.avi"):
        video_folder_timeline(folder, fps=25, n_chunks=1)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(StimulusError, match="no video files"):
        video_folder_timeline(tmp_path, fps=25, n_chunks=1)
    with pytest.raises(StimulusError, match="not found"):
        video_folder_timeline(tmp_path / "nowhere", fps=25, n_chunks=1)
    with pytest.raises(StimulusError, match="frame rate"):
        video_folder_timeline(tmp_path, fps=0, n_chunks=1)
