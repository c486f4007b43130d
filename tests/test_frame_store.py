"""The HDF5 frame store: conversion round trips, resuming an interrupted conversion, validation, CLI."""
from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import streams.frame_store as frame_store
from lifelong.cli.convert_frames import main as convert_main
from lifelong.cli.errors import EXIT_USER_ERROR
from streams.errors import StimulusError
from streams.frame_source import FrameSource, InMemoryFrames
from streams.frame_store import HDF5FrameStore, convert_to_store, partial_path
from streams.frame_timeline import FrameTimeline
from streams.saycam import SAYCamFrames
from streams.video_files import VideoFolder, iter_video_frames, load_video_folder
from test_saycam import write_saycam
from test_video_files import encode_clip

S = 8


def memory_source(n_frames: int = 23, seed: int = 0) -> InMemoryFrames:
    """Random frames of three videos (10 + 6 + 7 frames) in three chunks, with ages for two videos."""
    images = torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n_frames, 3, S, S), dtype=np.uint8))
    timeline = FrameTimeline(
        video_names=("a", "b", "ç"),
        video_offsets=np.array([0, 10, 16, n_frames]),
        chunk_offsets=np.array([0, 8, 16, n_frames]),
        fps=25.0,
        video_age_days=np.array([180.0, np.nan, 200.5]),
    )
    return InMemoryFrames(images, timeline, source=f"random frames, seed {seed}")


def assert_same_timeline(a: FrameTimeline, b: FrameTimeline) -> None:
    assert a.video_names == b.video_names and a.fps == b.fps
    assert np.array_equal(a.video_offsets, b.video_offsets) and np.array_equal(a.chunk_offsets, b.chunk_offsets)
    assert (a.video_age_days is None) == (b.video_age_days is None)
    if a.video_age_days is not None:
        assert np.array_equal(a.video_age_days, b.video_age_days, equal_nan=True)


def h5_contents(path: Path) -> dict[str, object]:
    with h5py.File(path, "r") as f:
        out: dict[str, object] = {name: f[name][()] for name in f}
        out.update({f"@{k}": v for k, v in f.attrs.items()})
    return out


def assert_same_file(a: Path, b: Path) -> None:
    ca, cb = h5_contents(a), h5_contents(b)
    assert ca.keys() == cb.keys()
    for key in ca:
        assert np.array_equal(ca[key], cb[key], equal_nan=np.asarray(ca[key]).dtype.kind == "f"), key


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    return convert_to_store(memory_source(), tmp_path / "frames.h5", progress=False)


# ---------------------------------------------------------------------------------------------------
# round trips
def test_round_trip_in_memory_source(stored: Path) -> None:
    source = memory_source()
    store = HDF5FrameStore(stored)
    assert isinstance(store, FrameSource)
    assert (len(store), store.image_size, store.source, store.flipped) == (23, S, source.source, False)
    assert_same_timeline(store.timeline, source.timeline)
    idx = torch.tensor([22, 3, 3, 9, 10, 11, 0, 22])
    assert torch.equal(store.get(idx), source.images[idx])
    assert torch.equal(store.get(torch.arange(23)), source.images)
    assert torch.equal(HDF5FrameStore(stored, in_memory=True).get(idx), source.images[idx])
    clone = pickle.loads(pickle.dumps(store))       # DataLoader workers reopen the file
    assert torch.equal(clone.get(idx), source.images[idx])
    with h5py.File(stored, "r") as f:
        assert f["video_id"][()].tolist() == [0] * 10 + [1] * 6 + [2] * 7
        assert f["frame_index"][()].tolist() == list(range(10)) + list(range(6)) + list(range(7))
        assert f["timestamp"][()][11] == pytest.approx(1 / 25)
        assert f["frames"].chunks == (1, 3, S, S)
    assert store.get(torch.tensor([], dtype=torch.long)).shape == (0, 3, S, S)
    with pytest.raises(IndexError):
        store.get(torch.tensor([23]))
    store.close()


def test_round_trip_saycam(tmp_path: Path) -> None:
    source = SAYCamFrames(*write_saycam(tmp_path), image_size=S)
    out = convert_to_store(source, tmp_path / "saycam.h5", S, batch=5, progress=False)
    store = HDF5FrameStore(out)
    assert store.flipped and store.source == source.source
    assert_same_timeline(store.timeline, source.timeline)
    assert torch.equal(store.get(torch.arange(len(source))), source.get(torch.arange(len(source))))
    with pytest.raises(StimulusError, match="image_size 16 differs"):
        convert_to_store(source, tmp_path / "other.h5", 16, progress=False)


def test_round_trip_video_folder(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    encode_clip(folder / "S_20130417_0604_01.mp4")
    shutil.copy(folder / "S_20130417_0604_01.mp4", folder / "S_20130417_0604_02.mp4")
    out = convert_to_store(VideoFolder(folder, 25, 3), tmp_path / "videos.h5", S, batch=16, progress=False)
    store = HDF5FrameStore(out)
    loaded = load_video_folder(folder, 25, S, 3)
    assert_same_timeline(store.timeline, loaded.timeline)
    assert torch.equal(store.get(torch.arange(100)), loaded.images)
    times = [t for _, t in iter_video_frames(folder / "S_20130417_0604_01.mp4", 25, S)]
    with h5py.File(out, "r") as f:
        assert f["timestamp"][()].tolist() == pytest.approx(times * 2)
    with pytest.raises(StimulusError, match="needs image_size"):
        convert_to_store(VideoFolder(folder, 25, 3), tmp_path / "x.h5", progress=False)


# ---------------------------------------------------------------------------------------------------
# resuming
class Interrupted(Exception):
    pass


def interrupt_after(monkeypatch: pytest.MonkeyPatch, n_batches: int) -> list[int]:
    """Make the converter fail after writing ``n_batches`` batches; returns the first index of every batch."""
    starts: list[int] = []
    real = frame_store._batches

    def batches(*args, **kwargs):
        for k, item in enumerate(real(*args, **kwargs)):
            if k == n_batches:
                raise Interrupted
            starts.append(item[0])
            yield item

    monkeypatch.setattr(frame_store, "_batches", batches)
    return starts


def test_resume_memory_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored: Path) -> None:
    out = tmp_path / "resumed.h5"
    starts = interrupt_after(monkeypatch, 2)
    with pytest.raises(Interrupted):
        convert_to_store(memory_source(), out, batch=4, progress=False)
    assert starts == [0, 4] and not out.exists() and partial_path(out).exists()
    with h5py.File(partial_path(out), "r") as f:
        assert (int(f.attrs["frames_written"]), bool(f.attrs["complete"])) == (8, False)
    with pytest.raises(StimulusError, match="unfinished conversion of other input .*source"):
        convert_to_store(memory_source(seed=1), out, batch=4, progress=False)
    monkeypatch.undo()
    resumed_starts = interrupt_after(monkeypatch, 100)
    convert_to_store(memory_source(), out, batch=4, progress=False)
    assert resumed_starts == [8, 12, 16, 20]
    assert not partial_path(out).exists()
    assert_same_file(out, stored)


def test_resume_video_folder_mid_video(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    encode_clip(folder / "a.mp4")
    shutil.copy(folder / "a.mp4", folder / "b.mp4")
    reference = convert_to_store(VideoFolder(folder, 25, 2), tmp_path / "reference.h5", S, batch=16, progress=False)
    out = tmp_path / "resumed.h5"
    starts = interrupt_after(monkeypatch, 3)
    with pytest.raises(Interrupted):
        convert_to_store(VideoFolder(folder, 25, 2), out, S, batch=16, progress=False)
    assert starts == [0, 16, 32] and not out.exists()
    monkeypatch.undo()
    resumed_starts = interrupt_after(monkeypatch, 100)
    convert_to_store(VideoFolder(folder, 25, 2), out, S, batch=16, progress=False)
    assert resumed_starts[0] == 48      # continued inside the first video (50 frames), not from 0
    assert_same_file(out, reference)


# ---------------------------------------------------------------------------------------------------
# validation
def test_existing_output_and_bad_partial(stored: Path, tmp_path: Path) -> None:
    with pytest.raises(StimulusError, match="already exists"):
        convert_to_store(memory_source(), stored, progress=False)
    convert_to_store(memory_source(seed=2), stored, progress=False, overwrite=True)
    assert HDF5FrameStore(stored).source == "random frames, seed 2"
    out = tmp_path / "new.h5"
    partial_path(out).write_bytes(b"half-written")
    with pytest.raises(StimulusError, match="new.h5.partial.*delete it to start over"):
        convert_to_store(memory_source(), out, progress=False)
    with pytest.raises(StimulusError, match="cannot create the frame store"):
        convert_to_store(memory_source(), stored / "inside_a_file.h5", progress=False)


def _edit(path: Path, edit) -> None:
    with h5py.File(path, "r+") as f:
        edit(f)


def _float_frames(f: h5py.File) -> None:
    data = f["frames"][()]
    del f["frames"]
    f.create_dataset("frames", data=data.astype(np.float32))


def _wrong_shape(f: h5py.File) -> None:
    data = f["frames"][()]
    del f["frames"]
    f.create_dataset("frames", data=data[:, :, :, :-1])


def _short_index(f: h5py.File) -> None:
    data = f["video_id"][()]
    del f["video_id"]
    f.create_dataset("video_id", data=data[:-1])


@pytest.mark.parametrize(
    "edit, message",
    [
        (_float_frames, "'frames' is float32 .* expected uint8"),
        (_wrong_shape, r"expected uint8 \[N, 3, 8, 8\]"),
        (_short_index, r"'video_id' is int32 \(22,\), expected int32 \(23,\)"),
        (lambda f: f.__delitem__("timestamp"), "missing dataset 'timestamp'"),
        (lambda f: f.attrs.__delitem__("fps"), "missing attribute 'fps'"),
        (lambda f: f.attrs.__setitem__("complete", False), "unfinished conversion"),
        (lambda f: f.attrs.__setitem__("schema_version", 7), "schema version 7"),
        (lambda f: f["chunk_offsets"].__setitem__(1, 40), "inconsistent frame store"),
    ],
)
def test_validation(stored: Path, edit, message: str) -> None:
    _edit(stored, edit)
    with pytest.raises(StimulusError, match=message) as err:
        HDF5FrameStore(stored)
    assert str(stored) in str(err.value)


def test_truncated_and_missing_files(stored: Path, tmp_path: Path) -> None:
    data = stored.read_bytes()
    stored.write_bytes(data[: len(data) // 2])
    with pytest.raises(StimulusError, match="frames.h5: not a readable HDF5 file"):
        HDF5FrameStore(stored)
    with pytest.raises(StimulusError, match="not found"):
        HDF5FrameStore(tmp_path / "absent.h5")


# ---------------------------------------------------------------------------------------------------
# command line
def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, counts, chunks = write_saycam(tmp_path / "saycam")
    out = tmp_path / "saycam.h5"
    args = ["saycam", "--root", str(root), "--num-frames-meta", str(counts), "--chunk-meta", str(chunks)]
    assert convert_main(args + ["--chunks", "1", "--size", str(S), "--quiet", str(out)]) == 0
    store = HDF5FrameStore(out)
    assert (len(store), store.flipped) == (12, True)
    assert convert_main(args + ["--size", str(S), "--quiet", str(out)]) == EXIT_USER_ERROR
    assert "already exists" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    code = convert_main(["videos", "--folder", str(empty), "--size", str(S), "--chunks", "2", str(tmp_path / "v.h5")])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_USER_ERROR and err.startswith("error: no video files") and "\n" not in err
    assert not (tmp_path / "v.h5").exists() and not partial_path(tmp_path / "v.h5").exists()
