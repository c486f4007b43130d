"""Image files on disk: decoding, and an ``ImageStore`` over a folder of pretraining images.

``read_image`` decodes one file (PIL: jpg/jpeg/png and whatever else Pillow reads), converts it to RGB
(grayscale, palette and alpha images included; alpha is dropped), resizes the short side to
``image_size`` (antialiased) and centre-crops to a square: uint8 [3, S, S].

``ImageFolderStore`` serves the real pretraining replay data (ImageNet-train + VGGFace2-train in the
paper) by integer index, either
  * a folder tree: every .jpg/.jpeg/.png below ``root`` (recursive, case-insensitive extensions),
    sorted by relative path for determinism, or
  * a list file like the authors' ``img_face_train.txt``: one path per line relative to ``root``,
    optionally followed by whitespace and an integer label (ignored); blank lines and lines starting
    with '#' are skipped. Paths may contain spaces (only a trailing integer is taken as a label).
Files are decoded on demand in ``get``; nothing is cached.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .errors import StimulusError

__all__ = ["IMAGE_EXTENSIONS", "read_image", "ImageFolderStore"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def read_image(path: str | Path, image_size: int) -> torch.Tensor:
    """Decode ``path`` to RGB, resize the short side to ``image_size`` and centre-crop: uint8 [3, S, S]."""
    path = Path(path)
    if not path.is_file():
        raise StimulusError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grayscale: scale to 8 bit
                arr = np.asarray(im, dtype=np.float64)
                top = 65535.0 if arr.max() > 255 else 255.0
                im = Image.fromarray((arr * (255.0 / top)).clip(0, 255).astype(np.uint8))
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA").convert("RGB")
            rgb = im.convert("RGB")
    except StimulusError:
        raise
    except Exception as err:  # noqa: BLE001 - any decoder failure is a data problem
        raise StimulusError(f"cannot decode image {path}: {err}") from err
    w, h = rgb.size
    if w < 1 or h < 1:
        raise StimulusError(f"image {path} is empty ({w}x{h})")
    scale = image_size / min(w, h)
    nw, nh = max(image_size, round(w * scale)), max(image_size, round(h * scale))
    if (nw, nh) != (w, h):
        rgb = rgb.resize((nw, nh), Image.BICUBIC)  # Pillow's resampling filters antialias on downscaling
    left, top = (nw - image_size) // 2, (nh - image_size) // 2
    rgb = rgb.crop((left, top, left + image_size, top + image_size))
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def _scan_folder(root: Path) -> list[Path]:
    found = [p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _parse_list_file(list_file: Path, root: Path) -> list[Path]:
    paths = []
    for line in list_file.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.rsplit(maxsplit=1)
        rel = parts[0] if len(parts) == 2 and parts[1].lstrip("-").isdigit() else line
        paths.append(root / rel)
    return paths


class ImageFolderStore:
    """An ``ImageStore`` over image files under ``root`` (a folder tree, or the entries of a list file).

    root:       folder the images (or the list file's relative paths) live under.
    image_size: side of the returned square images.
    list_file:  optional list of relative paths (absolute, or relative to the working directory).
    """

    def __init__(self, root: str | Path, image_size: int, list_file: str | Path | None = None) -> None:
        self.root = Path(root)
        self.image_size = int(image_size)
        if self.image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        if not self.root.is_dir():
            raise StimulusError(f"pretraining image root not found or not a folder: {self.root}")
        if list_file is None:
            self.paths = tuple(_scan_folder(self.root))
            if not self.paths:
                raise StimulusError(
                    f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {self.root} (searched recursively)"
                )
            self.source = f"image folder {self.root}"
        else:
            list_file = Path(list_file)
            if not list_file.is_file():
                raise StimulusError(f"image list file not found: {list_file}")
            self.paths = tuple(_parse_list_file(list_file, self.root))
            if not self.paths:
                raise StimulusError(f"image list file {list_file} lists no images")
            missing = [p for p in self.paths if not p.is_file()]
            if missing:
                shown = ", ".join(str(p) for p in missing[:5])
                more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                raise StimulusError(
                    f"{len(missing)} of {len(self.paths)} entries of {list_file} are missing under {self.root}: "
                    f"{shown}{more}"
                )
            self.source = f"image list {list_file} under {self.root}"

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, indices: torch.Tensor) -> torch.Tensor:
        idx = torch.as_tensor(indices).long().view(-1)
        n = len(self.paths)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise IndexError(f"ImageFolderStore has {n} images; got indices in [{int(idx.min())}, {int(idx.max())}]")
        out = torch.empty((idx.numel(), 3, self.image_size, self.image_size), dtype=torch.uint8)
        for k, i in enumerate(idx.tolist()):
            out[k] = read_image(self.paths[i], self.image_size)
        return out
