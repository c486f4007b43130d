"""Sections 2 and 4 of the benchmark suite (benchmarks/suite.py): the data path (our stream -> pairs -> batched
augmentation vs a per-image JPEG + PIL pipeline of the paper's kind) and the frame store (HDF5 vs JPEG folders)."""
from __future__ import annotations

import time
from itertools import islice
from pathlib import Path

import numpy as np
import torch

BLUR_SIGMA = (0.015, 0.3)          # the CPU preset's blur at 32 px (preset/cpu.yaml)


# ------------------------------------------------------------------------------------------------ data path
def _stream_and_plan(n_days: int, size: int):
    from streams.curriculum import Curriculum, CurriculumSettings
    from streams.procedural_headcam import make_headcam_stream

    frames = make_headcam_stream(n_days=n_days, frames_per_day=1000, image_size=size, seed=11, n_chunks=n_days)
    tl = frames.timeline
    cs = CurriculumSettings(window_frames=300, ratio="1:3", pairs_per_epoch=64 * 120, batch_pairs=64, seed=0)
    return frames, Curriculum(tl, cs)


def _write_jpeg_folder(images: torch.Tensor, root: Path, jpeg_size: int) -> list[Path]:
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    up = torch.nn.functional.interpolate(images.float(), size=jpeg_size, mode="bilinear", antialias=True)
    paths = []
    for i, im in enumerate(up.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()):
        p = root / f"{i + 1:06d}.jpg"
        Image.fromarray(im).save(p, quality=90)
        paths.append(p)
    return paths


class PerImagePairs(torch.utils.data.Dataset):
    """The paper's kind of pipeline: decode the frame and its partner from JPEG, transform each with PIL /
    torchvision per image (SimCLR recipe), collate in a DataLoader."""

    def __init__(self, paths: list[Path], view1: np.ndarray, view2: np.ndarray, size: int) -> None:
        from torchvision import transforms as T

        self.paths, self.view1, self.view2 = paths, view1, view2
        self.t = T.Compose([
            T.RandomResizedCrop(size, scale=(0.08, 1.0)), T.RandomHorizontalFlip(),
            T.RandomApply([T.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8), T.RandomGrayscale(0.2),
            T.RandomApply([T.GaussianBlur(3, BLUR_SIGMA)], p=0.5), T.ToTensor(),
            T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])

    def __len__(self) -> int:
        return len(self.view1)

    def __getitem__(self, i: int):
        from PIL import Image

        a = Image.open(self.paths[self.view1[i]]).convert("RGB")
        b = Image.open(self.paths[self.view2[i]]).convert("RGB")
        return self.t(a), self.t(b)


def _pairs_per_second(pairs_per_batch) -> float:
    """Pairs/s over an iterator of per-batch pair counts; the clock starts once the first batch is out, so that
    worker start-up is not counted."""
    it = iter(pairs_per_batch)
    next(it)
    t0 = time.perf_counter()
    n = sum(it)
    return n / (time.perf_counter() - t0)


def _our_pairs_per_second(batches, aug, n_batches: int, workers: int) -> float:
    """Our path: curriculum batches gathered from the compact store, augmented batch-wise; with workers the
    augmentation runs in them (``augment_in_loader``, the harness's CPU mode)."""
    from lifelong.training.loader_augment import AugmentedBatches
    from lifelong.training.ssl_module import make_views

    ds = batches if workers == 0 else AugmentedBatches(batches, aug, aug)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers)
    views = (lambda b: make_views(b, aug, aug)) if workers == 0 else (lambda b: b)
    return _pairs_per_second(views(b)["view1"].shape[0] for b in islice(loader, n_batches))


def _their_pairs_per_second(ds, batch_size: int, workers: int) -> float:
    dl = torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=workers, shuffle=False)
    return _pairs_per_second(a.shape[0] for a, _ in dl)


def section_data(tmp: Path, quick: bool, rows: list, size: int = 32) -> None:
    from algorithms.augment import SimCLRAugment
    from lifelong.life_long.chunk_data import ChunkBatches

    n_days = 2
    frames, curriculum = _stream_and_plan(n_days, size)
    plan = curriculum.plan_epoch(1)
    n_batches = 10 if quick else 120
    aug = SimCLRAugment(size, blur_sigma=BLUR_SIGMA)
    batches = ChunkBatches(frames, plan)
    # the same pairs, decoded from JPEG files (frames stored at 2x the training size, resized by the crop)
    paths = _write_jpeg_folder(frames.images, tmp / "jpeg_frames", 2 * size)
    v1i, v2i = plan.view1[:n_batches].reshape(-1), plan.view2[:n_batches].reshape(-1)
    for workers in (0, 2):
        ours = _our_pairs_per_second(batches, aug, n_batches, workers)
        theirs = _their_pairs_per_second(PerImagePairs(paths, v1i, v2i, size), plan.view1.shape[1], workers)
        rows.append(("data", f"pairs/s, batched stream path vs per-image JPEG+PIL, both with {workers} loader "
                     f"workers, {size} px", f"{ours:.0f} pairs/s", f"{theirs:.0f} pairs/s", ours / theirs, ">= 5x"))


# ---------------------------------------------------------------------------------------------- frame store
def section_store(tmp: Path, quick: bool, rows: list, size: int = 112) -> None:
    from lifelong.life_long.chunk_data import ChunkBatches
    from streams.curriculum import Curriculum, CurriculumSettings
    from streams.frame_store import HDF5FrameStore, convert_to_store
    from streams.procedural_headcam import make_headcam_stream
    from streams.saycam import SAYCamFrames

    n_days, per_day = 4, 500
    src = make_headcam_stream(n_days=n_days, frames_per_day=per_day, image_size=64, seed=3, n_chunks=2)
    root = tmp / "saycam" / "frames"
    keys = [f"Samcam/S_201304{17 + d:02d}_0600_01" for d in range(n_days)]
    for d, key in enumerate(keys):           # SAYCam layout: 25 fps JPEG frames, 320 px high in the original
        _write_jpeg_folder(src.images[d * per_day:(d + 1) * per_day], root / key, 160)
    (tmp / "saycam" / "num_frames_meta.txt").write_text("".join(f"{k}, {per_day}\n" for k in keys))
    (tmp / "saycam" / "chunks.txt").write_text(",".join(keys[:2]) + "\n" + ",".join(keys[2:]) + "\n")
    jpeg = SAYCamFrames(root, tmp / "saycam" / "num_frames_meta.txt", tmp / "saycam" / "chunks.txt", size)
    store_path = tmp / "saycam.h5"
    convert_to_store(jpeg, store_path, size, batch=256, progress=False)
    cs = CurriculumSettings(window_frames=300, ratio="1:3", pairs_per_epoch=64 * 20, batch_pairs=64, seed=0)
    plan = Curriculum(jpeg.timeline, cs).plan_epoch(1)
    n_batches = 5 if quick else 20
    fps = {}
    for name, source in (("HDF5 store (on disk)", HDF5FrameStore(store_path)),
                         ("HDF5 store (in RAM)", HDF5FrameStore(store_path, in_memory=True)),
                         ("JPEG folders", jpeg)):
        batches = ChunkBatches(source, plan)
        t0 = time.perf_counter()
        n = 0
        for i in range(n_batches):
            b = batches[i]
            n += int(torch.unique(torch.cat([b["frames1"], b["frames2"]])).numel())
        fps[name] = n / (time.perf_counter() - t0)
    jpeg_fps = fps.pop("JPEG folders")
    for name, store_fps in fps.items():
        rows.append(("store", f"{name} vs JPEG folders: curriculum batches (64 pairs), {size} px, frames/s",
                     f"{store_fps:.0f} frames/s", f"{jpeg_fps:.0f} frames/s", store_fps / jpeg_fps, ""))
