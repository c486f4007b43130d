"""The life-long read-out's ImageNet subset: the authors' ``part_train_val_labeled.txt`` list (lifelong.md §2.3).

Format (strict): one ``<relative path> <label>`` per line, separated by exactly one space; blank lines are
skipped, nothing else is (no comments). Paths are relative to an ImageNet root and have exactly three parts,
``train/<wnid>/<file>`` (the training split) or ``val/<wnid>/<file>`` (the test split, with ImageNet's ``val/``
arranged in wnid folders). Labels are the standard 0-999 ImageNet indices; each wnid must carry one label and
each label one wnid. The original indices are remapped to 0..K-1 in sorted order; ``class_names`` are the wnids
in that order.

Preprocessing follows the original evaluation pipeline (torchvision ``Resize(R)`` + ``CenterCrop(S)`` on a PIL
image converted to RGB): resize the short side to R = int(256 * S / 224) (128 for S = 112; bilinear, which
antialiases when downscaling; long side int(R * long / short)), then centre-crop S x S (offsets rounded as
torchvision does). No flip. Images are decoded once, at load time.

Any defect in the list or the images raises ``StimulusError`` naming the list file and line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .errors import StimulusError
from .labelled_images import LabelledImages

__all__ = ["SPLIT_FOLDERS", "default_resize", "load_imagenet_subset", "read_resized_crop"]

SPLIT_FOLDERS = {"train": "train", "val": "test"}  # top folder in the list -> split of the read-out set
_MAX_IMAGENET_LABEL = 999


@dataclass(frozen=True)
class _Entry:
    line_no: int
    rel_path: str
    split: str      # "train" or "test"
    wnid: str
    label: int      # original ImageNet index


def default_resize(image_size: int) -> int:
    """The original's short-side resize for crop size ``image_size``: int(256 * S / 224) (128 for S = 112)."""
    return int(256 * image_size / 224)


def read_resized_crop(path: str | Path, resize_to: int, image_size: int) -> torch.Tensor:
    """Decode ``path`` to RGB, resize the short side to ``resize_to`` (bilinear), centre-crop: uint8 [3, S, S].

    The sizes and crop offsets are torchvision's ``Resize(resize_to)`` and ``CenterCrop(image_size)``.
    Raises ``StimulusError`` if the file is missing or cannot be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise StimulusError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
    except Exception as err:  # noqa: BLE001 - any decoder failure is a data problem
        raise StimulusError(f"cannot decode image {path}: {err}") from err
    w, h = rgb.size
    if w < 1 or h < 1:
        raise StimulusError(f"image {path} is empty ({w}x{h})")
    if w <= h:
        nw, nh = resize_to, int(resize_to * h / w)
    else:
        nw, nh = int(resize_to * w / h), resize_to
    if (nw, nh) != (w, h):
        rgb = rgb.resize((nw, nh), Image.BILINEAR)
    left, top = int(round((nw - image_size) / 2.0)), int(round((nh - image_size) / 2.0))
    rgb = rgb.crop((left, top, left + image_size, top + image_size))
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def _parse_line(line: str, line_no: int, list_file: Path) -> _Entry:
    where = f"{list_file}, line {line_no}"
    parts = line.split(" ")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise StimulusError(f"{where}: expected '<relative path> <label>' separated by one space, got {line!r}")
    rel, label_text = parts
    if not label_text.isdigit() or not label_text.isascii():
        raise StimulusError(f"{where}: label must be a non-negative integer, got {label_text!r}")
    label = int(label_text)
    if label > _MAX_IMAGENET_LABEL:
        raise StimulusError(f"{where}: label {label} is not an ImageNet index (0-{_MAX_IMAGENET_LABEL})")
    components = rel.split("/")
    if (
        len(components) != 3
        or components[0] not in SPLIT_FOLDERS
        or any(c in ("", ".", "..") for c in components)
    ):
        raise StimulusError(
            f"{where}: path {rel!r} must be 'train/<wnid>/<file>' or 'val/<wnid>/<file>' (relative, three parts)"
        )
    return _Entry(line_no, rel, SPLIT_FOLDERS[components[0]], components[1], label)


def _parse_list(list_file: Path) -> list[_Entry]:
    try:
        text = list_file.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise StimulusError(f"cannot read ImageNet subset list {list_file}: {err}") from err
    entries: list[_Entry] = []
    seen_path: dict[str, int] = {}
    label_of: dict[str, _Entry] = {}
    wnid_of: dict[int, _Entry] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        e = _parse_line(line, line_no, list_file)
        where = f"{list_file}, line {line_no}"
        if e.rel_path in seen_path:
            raise StimulusError(f"{where}: {e.rel_path} is listed twice (first on line {seen_path[e.rel_path]})")
        seen_path[e.rel_path] = line_no
        first = label_of.setdefault(e.wnid, e)
        if first.label != e.label:
            raise StimulusError(
                f"{where}: {e.rel_path} gives class {e.wnid} label {e.label}, "
                f"but line {first.line_no} gives it label {first.label}"
            )
        other = wnid_of.setdefault(e.label, e)
        if other.wnid != e.wnid:
            raise StimulusError(
                f"{where}: label {e.label} is given to class {e.wnid}, "
                f"but line {other.line_no} gives it to class {other.wnid}"
            )
        entries.append(e)
    return entries


def _limit(entries: list[_Entry], per_class: int | None) -> list[_Entry]:
    """The first ``per_class`` entries of each class, in list order (all of them when ``per_class`` is None)."""
    if per_class is None:
        return entries
    count: dict[str, int] = {}
    kept = []
    for e in entries:
        count[e.wnid] = count.get(e.wnid, 0) + 1
        if count[e.wnid] <= per_class:
            kept.append(e)
    return kept


def _decode(entries: list[_Entry], root: Path, list_file: Path, resize_to: int, image_size: int) -> torch.Tensor:
    out = torch.empty((len(entries), 3, image_size, image_size), dtype=torch.uint8)
    for k, e in enumerate(entries):
        try:
            out[k] = read_resized_crop(root / e.rel_path, resize_to, image_size)
        except StimulusError as err:
            raise StimulusError(f"{list_file}, line {e.line_no}: {err}") from err
    return out


def load_imagenet_subset(
    root: str | Path,
    list_file: str | Path,
    image_size: int = 112,
    resize_to: int | None = None,
    limit_per_class: int | None = None,
    limit_test_per_class: int | None = None,
) -> LabelledImages:
    """Load the ImageNet subset listed in ``list_file`` (paths relative to ``root``) as a ``LabelledImages``.

    image_size:           side S of the returned square images (112 in the paper).
    resize_to:            short side before the centre crop; None = int(256 * S / 224) as in the original.
    limit_per_class:      keep only the first n training lines of each class (quick runs); None = all.
    limit_test_per_class: the same for the test (``val/``) lines; None = all.

    Train split = the ``train/`` lines, test split = the ``val/`` lines, each in list order.
    """
    root, list_file = Path(root), Path(list_file)
    image_size = int(image_size)
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")
    resize_to = default_resize(image_size) if resize_to is None else int(resize_to)
    if resize_to < image_size:
        raise ValueError(f"resize_to ({resize_to}) must be >= image_size ({image_size})")
    for name, limit in (("limit_per_class", limit_per_class), ("limit_test_per_class", limit_test_per_class)):
        if limit is not None and int(limit) < 1:
            raise ValueError(f"{name} must be >= 1 or None, got {limit}")
    if not root.is_dir():
        raise StimulusError(f"ImageNet root not found or not a folder: {root}")
    if not list_file.is_file():
        raise StimulusError(f"ImageNet subset list not found: {list_file}")

    entries = _parse_list(list_file)
    train = _limit([e for e in entries if e.split == "train"], limit_per_class)
    test = _limit([e for e in entries if e.split == "test"], limit_test_per_class)
    for split, folder, items in (("training", "train/", train), ("test", "val/", test)):
        if not items:
            raise StimulusError(f"{list_file} lists no {split} images ({folder} lines)")
    train_classes = {e.wnid for e in train}
    for e in test:
        if e.wnid not in train_classes:
            raise StimulusError(
                f"{list_file}, line {e.line_no}: class {e.wnid} (label {e.label}) has test images but no "
                f"training images"
            )
    missing = [e for e in train + test if not (root / e.rel_path).is_file()]
    if missing:
        first = missing[0]
        raise StimulusError(
            f"{list_file}, line {first.line_no}: image file not found: {root / first.rel_path}"
            + (f" ({len(missing) - 1} more listed files are missing)" if len(missing) > 1 else "")
        )

    labels = sorted({e.label for e in train})
    if len(labels) < 2:
        raise StimulusError(f"{list_file} lists a single class ({train[0].wnid}); the read-out needs at least two")
    index = {label: k for k, label in enumerate(labels)}
    wnid = {e.label: e.wnid for e in train}
    return LabelledImages(
        train_images=_decode(train, root, list_file, resize_to, image_size),
        train_labels=np.array([index[e.label] for e in train], dtype=np.int64),
        test_images=_decode(test, root, list_file, resize_to, image_size),
        test_labels=np.array([index[e.label] for e in test], dtype=np.int64),
        class_names=tuple(wnid[label] for label in labels),
        source=f"ImageNet subset {list_file} under {root} ({resize_to} -> {image_size} px)",
    )
