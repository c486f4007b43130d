"""The harness's own stimulus-set format: a folder of images plus ``manifest.csv``.

Columns (header row required, any order, extra columns ignored):

    file        path of the image, relative to the folder
    identity    identity name (e.g. face0001); identities are ordered by name
    size        small | medium | big
    role        choice | exposure | test
    background  clean | natural

Rules (each violation raises one ``StimulusError`` naming the file, row or identity):
  * exactly one ``choice`` image per identity, of size ``medium``;
  * at least one ``exposure`` image per identity, all of size ``big`` (the first listed is used; the
    others are recorded in ``meta['unused_exposure_files']``);
  * ``test`` images of size ``small`` or ``big`` only, equally many small and big per identity, and
    the same number for every identity;
  * every listed file exists and decodes.
Backgrounds are recorded in ``meta['backgrounds']`` (the original uses clean choice/exposure images
and natural test backgrounds; other combinations are accepted).

``save_manifest_stimulus_set`` writes any ``StimulusSet`` in this format (PNG, lossless), e.g. to
freeze the procedural default or to hand-edit a set.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .errors import StimulusError
from .image_folder_store import read_image
from .stimulus_set import GRAY_VALUE, StimulusSet

__all__ = ["MANIFEST_NAME", "MANIFEST_COLUMNS", "load_manifest_stimulus_set", "save_manifest_stimulus_set"]

MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = ("file", "identity", "size", "role", "background")
_ALLOWED = {
    "size": ("small", "medium", "big"),
    "role": ("choice", "exposure", "test"),
    "background": ("clean", "natural"),
}


def _read_manifest(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            if not header:
                raise StimulusError(f"{path} is empty: expected a header row with columns {', '.join(MANIFEST_COLUMNS)}")
            missing = [c for c in MANIFEST_COLUMNS if c not in header]
            if missing:
                raise StimulusError(
                    f"{path} lacks column(s) {', '.join(missing)}; expected {', '.join(MANIFEST_COLUMNS)}, "
                    f"found {', '.join(header)}"
                )
            rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    except UnicodeDecodeError as err:
        raise StimulusError(f"{path} is not a text CSV file: {err}") from err
    if not rows:
        raise StimulusError(f"{path} has a header but no rows: expected one row per image")
    return rows


def load_manifest_stimulus_set(folder: str | Path, image_size: int = 64, manifest: str = MANIFEST_NAME) -> StimulusSet:
    """Load a stimulus set from ``folder/manifest`` (see the module docstring for the rules)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StimulusError(f"stimulus folder not found or not a folder: {folder}")
    path = folder / manifest
    if not path.is_file():
        raise StimulusError(f"manifest not found: {path} (expected columns {', '.join(MANIFEST_COLUMNS)})")
    rows = _read_manifest(path)

    by_id: dict[str, dict[str, list[tuple[int, dict]]]] = defaultdict(lambda: defaultdict(list))
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        for col, allowed in _ALLOWED.items():
            if row[col] not in allowed:
                raise StimulusError(
                    f"{path} line {line}: {col} is {row[col]!r}; expected one of {', '.join(allowed)}"
                )
        if not row["file"]:
            raise StimulusError(f"{path} line {line}: empty 'file'")
        if not row["identity"]:
            raise StimulusError(f"{path} line {line}: empty 'identity'")
        by_id[row["identity"]][row["role"]].append((line, row))

    identities = tuple(sorted(by_id))
    n_test = None
    plan: list[tuple[dict, dict, list[dict], list[dict]]] = []
    unused_exposure: dict[str, list[str]] = {}
    for ident in identities:
        roles = by_id[ident]
        choices = roles["choice"]
        if len(choices) != 1:
            raise StimulusError(f"{path}: identity {ident!r} has {len(choices)} choice images; expected exactly one")
        line, choice = choices[0]
        if choice["size"] != "medium":
            raise StimulusError(f"{path} line {line}: the choice image of {ident!r} has size {choice['size']!r}; "
                                "expected medium")
        exposures = roles["exposure"]
        if not exposures:
            raise StimulusError(f"{path}: identity {ident!r} has no exposure image; expected at least one of size big")
        for line, row in exposures:
            if row["size"] != "big":
                raise StimulusError(f"{path} line {line}: exposure image of {ident!r} has size {row['size']!r}; "
                                    "expected big")
        if len(exposures) > 1:
            unused_exposure[ident] = [row["file"] for _, row in exposures[1:]]
        small, big = [], []
        for line, row in roles["test"]:
            if row["size"] == "medium":
                raise StimulusError(f"{path} line {line}: test image of {ident!r} has size medium; "
                                    "expected small or big")
            (small if row["size"] == "small" else big).append(row)
        if len(small) != len(big) or not small:
            raise StimulusError(
                f"{path}: identity {ident!r} has {len(small)} small and {len(big)} big test images; "
                "expected equally many (at least one) of each"
            )
        if n_test is None:
            n_test = len(big)
        elif len(big) != n_test:
            raise StimulusError(
                f"{path}: identity {ident!r} has {len(big)} test images per size, {identities[0]!r} has {n_test}; "
                "expected the same number for every identity"
            )
        plan.append((choice, exposures[0][1], big, small))

    # decode each distinct file once; id 0 is the gray frame
    ids: dict[str, int] = {}
    images = [torch.full((3, image_size, image_size), GRAY_VALUE, dtype=torch.uint8)]

    def image_id(row: dict) -> int:
        f = row["file"]
        if f not in ids:
            images.append(read_image(folder / f, image_size))
            ids[f] = len(images) - 1
        return ids[f]

    choice_ids, exposure_ids, big_ids, small_ids = [], [], [], []
    for choice, exposure, big, small in plan:
        choice_ids.append(image_id(choice))
        exposure_ids.append(image_id(exposure))
        big_ids.append([image_id(r) for r in big])
        small_ids.append([image_id(r) for r in small])
    backgrounds = {
        ident: {role: sorted({row["background"] for _, row in by_id[ident][role]}) for role in _ALLOWED["role"]}
        for ident in identities
    }
    return StimulusSet(
        images=torch.stack(images),
        identities=identities,
        choice=torch.tensor(choice_ids),
        exposure_big=torch.tensor(exposure_ids),
        test_big=torch.tensor(big_ids),
        test_small=torch.tensor(small_ids),
        source=f"manifest {path}",
        meta={"backgrounds": backgrounds, "unused_exposure_files": unused_exposure, "folder": str(folder)},
    )


def save_manifest_stimulus_set(
    stimulus_set: StimulusSet,
    folder: str | Path,
    *,
    choice_background: str = "clean",
    exposure_background: str = "clean",
    test_background: str = "natural",
) -> Path:
    """Write ``stimulus_set`` as PNG files plus ``manifest.csv`` into ``folder`` (created if needed).
    Returns the manifest path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[int, str] = {}

    def save(image_id: int) -> str:
        if image_id not in written:
            name = f"img{image_id:05d}.png"
            arr = stimulus_set.images[image_id].permute(1, 2, 0).contiguous().numpy().astype(np.uint8)
            Image.fromarray(arr).save(folder / name)
            written[image_id] = name
        return written[image_id]

    rows = []
    for i, ident in enumerate(stimulus_set.identities):
        rows.append((save(int(stimulus_set.choice[i])), ident, "medium", "choice", choice_background))
        rows.append((save(int(stimulus_set.exposure_big[i])), ident, "big", "exposure", exposure_background))
        rows += [(save(int(j)), ident, "big", "test", test_background) for j in stimulus_set.test_big[i]]
        rows += [(save(int(j)), ident, "small", "test", test_background) for j in stimulus_set.test_small[i]]
    path = folder / MANIFEST_NAME
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(MANIFEST_COLUMNS)
        writer.writerows(rows)
    return path
