"""Real-time stimuli from the HvM image set as Brain-Score ships it (stimulus set ``dicarlo.hvm``).

Input: a folder of the 256 x 256 PNG renders plus the stimulus set's metadata CSV.

What the CSV holds (looked up, not guessed):
  * Brain-Score / BrainIO: the BrainIO specification requires the columns ``image_id`` (unique id;
    newer ``brainscore_vision`` releases call it ``stimulus_id``) and ``filename`` (the file's name
    inside the stimulus set's ZIP, i.e. inside the unpacked folder). The brainio / Brain-Score tests
    of the HvM stimulus set (``dicarlo.hvm-public``, 3,200 images) assert the columns
    ``image_id, object_name, variation, category_name, image_file_name, background_id, ty, tz, size,
    id, s, rxz, ryz, ryz_semantic, rxy, rxy_semantic, rxz_semantic``; ``image_file_name`` is the
    original render name, e.g. ``face0006_rx+00.000_ry+00.000_rz+00.000_tx+00.000_ty+00.000_s+00.800_
    <background sha1>_256x256.png``.
  * The older HvM metadata (``meta_hvm.csv`` of jiaxx/temporal_learning_paper, the Jia et al. 2021
    repository) uses ``obj`` (face0001..face0008), ``var`` ("V0"/"V3"/"V6"), ``s``, ``bg_id``, ``id``
    (sha1) and ``filename`` (the full render path). It is accepted too, through the aliases below.

Column aliases (first present wins): id: image_id, stimulus_id, id; object: object_name, obj;
variation: variation, var ("V3" -> 3); scale: s; file: filename, image_file_name (each tried as a path
under the folder, then by its base name), finally ``<id>.png``.

Face-numbering rule. The authors' stimuli and HvM render names number faces from 1 (face0001 ..
face0008). Brain-Score's ``object_name`` appears to number them from 0 with the file names still
``faceNNNN`` (a ``face0003_...`` file with object_name ``face2``; data_sources.md section 1.4). So an
image's identity is
  1. the ``faceNNNN`` prefix (4 digits) of its ``image_file_name`` / ``filename`` base name, if any
     (authoritative: it is the render's own name);
  2. otherwise its object name: a zero-padded ``faceNNNN`` is taken literally; an unpadded ``face<k>``
     is read as zero-based (``face2`` -> ``face0003``) unless ``face_numbering="one_based"``.
Rows where rule 2 would disagree with rule 1 are counted in ``meta['numbering_conflicts']``.

Selection per identity (all seeded, deterministic):
  * candidates: renders with variation > 0 (natural backgrounds, varied position, pose and scale),
    ordered by ``s``; the lowest ``size_quantiles[0]`` of them by rank (a tercile by default) form the
    small pool, the highest ``1 - size_quantiles[1]`` the big pool.
  * exposure (big): the largest-``s`` image of the big pool; test big: ``n_test`` others from the big
    pool; test small: ``n_test`` from the small pool. Exposure images are never test images.
  * choice (medium): a variation-0 render (centred, canonical pose, s = 1), else the candidate with the
    median ``s``.
HvM has no clean-background renders (the authors' clean choice/exposure images are separate renders
that exist only in their data bundle), so by default choice and exposure images are natural-background
substitutes (``meta['backgrounds']`` says so). Pass ``clean_dir`` holding
``<identity>_choice.png`` and ``<identity>_exposure.png`` (or .jpg/.jpeg) to use clean renders instead.
Note that HvM's scale range is narrower than the authors' small/big sizes. The full ``dicarlo.hvm``
has 80 renders with variation > 0 per face (26 per tercile: enough for n_test = 20); ``hvm-public``
(variations 0 and 3) has 40, so use e.g. ``size_quantiles=(0.5, 0.5)`` with ``n_test <= 19`` there.
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import torch

from .errors import StimulusError
from .image_folder_store import read_image
from .stimulus_set import GRAY_VALUE, StimulusSet

__all__ = ["HVM_FACE_IDENTITIES", "load_hvm_stimulus_set", "hvm_identity"]

HVM_FACE_IDENTITIES = tuple(f"face{i:04d}" for i in range(1, 7))

_ID_COLUMNS = ("image_id", "stimulus_id", "id")
_OBJECT_COLUMNS = ("object_name", "obj")
_VARIATION_COLUMNS = ("variation", "var")
_FILE_COLUMNS = ("filename", "image_file_name")
_NAME_COLUMNS = ("image_file_name", "filename")  # for the faceNNNN prefix, in this order
_FACE_PREFIX = re.compile(r"^(face\d{4})", re.IGNORECASE)
_FACE_OBJECT = re.compile(r"^face(\d+)$", re.IGNORECASE)
_CLEAN_EXTENSIONS = (".png", ".jpg", ".jpeg")


def _basename(value: str) -> str:
    return value.replace("\\", "/").rsplit("/", 1)[-1]


def hvm_identity(row: dict[str, str], face_numbering: str = "auto") -> tuple[str | None, bool]:
    """(identity, conflict) of one metadata row by the face-numbering rule of the module docstring;
    identity is None for non-face rows; conflict is True when the object name disagrees with the
    file name."""
    from_file = None
    for col in _NAME_COLUMNS:
        m = _FACE_PREFIX.match(_basename(row.get(col) or ""))
        if m:
            from_file = m.group(1).lower()
            break
    from_object = None
    obj = next((row[c] for c in _OBJECT_COLUMNS if row.get(c)), "")
    m = _FACE_OBJECT.match(obj.strip())
    if m:
        digits = m.group(1)
        k = int(digits)
        if len(digits) >= 4:  # zero-padded faceNNNN: literal
            from_object = f"face{k:04d}"
        elif face_numbering == "one_based":
            from_object = f"face{k:04d}"
        else:  # "auto" and "zero_based": Brain-Score numbers unpadded face names from 0
            from_object = f"face{k + 1:04d}"
    if from_file is not None:
        return from_file, from_object is not None and from_object != from_file
    return from_object, False


def _find_csv(image_dir: Path) -> Path:
    candidates = sorted(image_dir.glob("*.csv"))
    if not candidates:
        beside = image_dir.parent / f"{image_dir.name}.csv"
        candidates = [beside] if beside.is_file() else []
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise StimulusError(
            f"no metadata CSV found in {image_dir} or beside it ({image_dir.parent / (image_dir.name + '.csv')}); "
            "pass csv_path (the dicarlo.hvm stimulus-set CSV)"
        )
    raise StimulusError(f"several CSV files in {image_dir} ({', '.join(c.name for c in candidates)}); pass csv_path")


def _pick_column(header: list[str], options: tuple[str, ...], what: str, path: Path) -> str:
    for c in options:
        if c in header:
            return c
    raise StimulusError(
        f"{path} has no {what} column; expected one of {', '.join(options)}, found {', '.join(header) or 'none'}"
    )


def _variation(value: str, path: Path, line: int) -> float:
    v = value.strip()
    if v[:1] in ("V", "v"):
        v = v[1:]
    try:
        return float(v)
    except ValueError:
        raise StimulusError(f"{path} line {line}: variation {value!r} is not a number (expected 0, 3, 6 or V0..V6)")


def _resolve_file(image_dir: Path, row: dict[str, str], image_id: str) -> Path | None:
    tried = []
    for col in _FILE_COLUMNS:
        value = (row.get(col) or "").strip()
        if value:
            tried += [image_dir / value, image_dir / _basename(value)]
    tried.append(image_dir / f"{image_id}.png")
    for p in tried:
        if p.is_file():
            return p
    return None


def load_hvm_stimulus_set(
    image_dir: str | Path,
    csv_path: str | Path | None = None,
    *,
    identities: tuple[str, ...] = HVM_FACE_IDENTITIES,
    n_test: int = 20,
    image_size: int = 64,
    seed: int = 0,
    size_quantiles: tuple[float, float] = (1 / 3, 2 / 3),
    clean_dir: str | Path | None = None,
    face_numbering: str = "auto",
) -> StimulusSet:
    """Build the real-time stimulus set from HvM renders (see the module docstring).

    image_dir:      folder with the PNGs (the unpacked stimulus-set ZIP).
    csv_path:       the metadata CSV (default: the only *.csv in image_dir, or ``<image_dir>.csv``).
    identities:     identity names to select (face0001..face0006).
    size_quantiles: rank quantiles of ``s`` that bound the small pool (below the first) and the big
                    pool (above the second) among an identity's variation > 0 renders.
    clean_dir:      optional folder of clean renders ``<identity>_choice.*`` / ``<identity>_exposure.*``.
    face_numbering: "auto" / "zero_based" (unpadded object names count from 0) or "one_based".
    """
    if face_numbering not in ("auto", "zero_based", "one_based"):
        raise ValueError(f"face_numbering must be 'auto', 'zero_based' or 'one_based', got {face_numbering!r}")
    q_lo, q_hi = (float(q) for q in size_quantiles)
    if not 0 < q_lo <= q_hi < 1:
        raise ValueError(f"size_quantiles must satisfy 0 < low <= high < 1, got {size_quantiles}")
    if n_test < 1:
        raise ValueError(f"n_test must be >= 1, got {n_test}")
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise StimulusError(f"HvM image folder not found or not a folder: {image_dir}")
    csv_path = Path(csv_path) if csv_path is not None else _find_csv(image_dir)
    if not csv_path.is_file():
        raise StimulusError(f"HvM metadata CSV not found: {csv_path}")

    with csv_path.open(newline="") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if not header:
            raise StimulusError(f"{csv_path} is empty: expected the dicarlo.hvm metadata CSV with a header row")
        rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in reader]
    if not rows:
        raise StimulusError(f"{csv_path} has a header but no rows")
    id_col = _pick_column(header, _ID_COLUMNS, "image id", csv_path)
    _pick_column(header, _OBJECT_COLUMNS, "object name", csv_path)
    var_col = _pick_column(header, _VARIATION_COLUMNS, "variation", csv_path)
    _pick_column(header, ("s",), "scale", csv_path)

    wanted = set(identities)
    per_id: dict[str, dict[str, list]] = {i: {"canonical": [], "varied": []} for i in identities}
    conflicts = 0
    for line, row in enumerate(rows, start=2):
        ident, conflict = hvm_identity(row, face_numbering)
        conflicts += conflict
        if ident not in wanted:
            continue
        try:
            s = float(row["s"])
        except ValueError:
            raise StimulusError(f"{csv_path} line {line}: scale s {row['s']!r} is not a number")
        entry = (s, row[id_col], line, row)
        per_id[ident]["varied" if _variation(row[var_col], csv_path, line) > 0 else "canonical"].append(entry)

    gen = torch.Generator().manual_seed(int(seed))
    plan = {}
    for ident in identities:
        cands = sorted(per_id[ident]["varied"], key=lambda e: (e[0], e[1]))
        n = len(cands)
        n_small = int(n * q_lo)
        n_big = n - math.ceil(n * q_hi)
        if n_small < n_test or n_big < n_test + 1:
            raise StimulusError(
                f"{csv_path}: identity {ident} has {n} renders with variation > 0, giving {n_small} small and "
                f"{n_big} big candidates (size_quantiles={size_quantiles}); need at least {n_test} small and "
                f"{n_test + 1} big (n_test={n_test} plus one exposure image). Use the full dicarlo.hvm set, "
                "a smaller n_test or wider size_quantiles"
            )
        small_pool, big_pool = cands[:n_small], cands[n - n_big :]
        exposure = big_pool[-1]
        rest = big_pool[:-1]
        big = sorted((rest[i] for i in torch.randperm(len(rest), generator=gen)[:n_test].tolist()), key=lambda e: e[0])
        small = sorted(
            (small_pool[i] for i in torch.randperm(len(small_pool), generator=gen)[:n_test].tolist()), key=lambda e: e[0]
        )
        canon = sorted(per_id[ident]["canonical"], key=lambda e: e[1])
        if canon:
            choice = canon[int(torch.randint(len(canon), (1,), generator=gen))]
        else:
            choice = cands[n // 2]
        plan[ident] = (choice, exposure, big, small)

    def path_of(entry) -> Path:
        s, image_id, line, row = entry
        p = _resolve_file(image_dir, row, image_id)
        if p is None:
            names = [row.get(c) for c in _FILE_COLUMNS if row.get(c)] + [f"{image_id}.png"]
            raise StimulusError(
                f"image of {csv_path} line {line} (id {image_id}) not found in {image_dir}; tried {', '.join(names)}"
            )
        return p

    clean = None
    if clean_dir is not None:
        clean_dir = Path(clean_dir)
        if not clean_dir.is_dir():
            raise StimulusError(f"clean-render folder not found or not a folder: {clean_dir}")
        clean = {}
        for ident in identities:
            for role in ("choice", "exposure"):
                found = [clean_dir / f"{ident}_{role}{ext}" for ext in _CLEAN_EXTENSIONS]
                found = [p for p in found if p.is_file()]
                if not found:
                    raise StimulusError(
                        f"clean render {clean_dir / (ident + '_' + role + '.png')} not found "
                        f"(expected <identity>_{role}.png/.jpg in {clean_dir})"
                    )
                clean[(ident, role)] = found[0]

    images = [torch.full((3, image_size, image_size), GRAY_VALUE, dtype=torch.uint8)]

    def add(path: Path) -> int:
        images.append(read_image(path, image_size))
        return len(images) - 1

    choice_ids, exposure_ids, big_ids, small_ids, chosen = [], [], [], [], {}
    for ident in identities:
        choice, exposure, big, small = plan[ident]
        if clean is not None:
            choice_ids.append(add(clean[(ident, "choice")]))
            exposure_ids.append(add(clean[(ident, "exposure")]))
        else:
            choice_ids.append(add(path_of(choice)))
            exposure_ids.append(add(path_of(exposure)))
        big_ids.append([add(path_of(e)) for e in big])
        small_ids.append([add(path_of(e)) for e in small])
        chosen[ident] = {
            "choice": None if clean is not None else choice[1],
            "exposure": None if clean is not None else exposure[1],
            "test_big": [e[1] for e in big],
            "test_small": [e[1] for e in small],
            "s_small_max": max(e[0] for e in small),
            "s_big_min": min(e[0] for e in big),
        }
    substitute = "natural (HvM render: no clean-background renders in HvM)"
    return StimulusSet(
        images=torch.stack(images),
        identities=tuple(identities),
        choice=torch.tensor(choice_ids),
        exposure_big=torch.tensor(exposure_ids),
        test_big=torch.tensor(big_ids),
        test_small=torch.tensor(small_ids),
        source=f"HvM {image_dir} ({csv_path.name})",
        meta={
            "csv": str(csv_path),
            "image_dir": str(image_dir),
            "selected": chosen,
            "size_quantiles": (q_lo, q_hi),
            "face_numbering": face_numbering,
            "numbering_conflicts": int(conflicts),
            "backgrounds": {
                "choice": "clean (clean_dir)" if clean is not None else substitute,
                "exposure": "clean (clean_dir)" if clean is not None else substitute,
                "test": "natural",
            },
            "seed": seed,
        },
    )
