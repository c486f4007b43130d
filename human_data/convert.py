"""Converter: a folder in the original ``human_behavioral_data/`` .npy layout -> one verified HDF5 file.

Every source file is checked for presence, md5 (data_sources.md section 3.2), dtype and shape; the
``*learning*effect.npy`` files must equal ``(mb_b - control).T`` exactly. The output is written to a temporary
file beside ``out_path``, re-loaded with the verifying loader and only then moved into place with
``os.replace``: on any error no (partial) output is left behind and an existing ``out_path`` is untouched.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

import h5py
import numpy as np

from .jia2021 import (
    ARRAYS, AXES, CITATION, CONDITIONS, DATA_DIR, DOI, LICENCE, NAME, SCHEMA_VERSION, SOURCE_ADDED_COMMIT,
    SOURCE_COMMIT, SOURCE_FOLDER, SOURCE_REPOSITORY, ArraySpec, HumanDataError, array_sha256, load,
)

_COMPRESSION = {"compression": "gzip", "compression_opts": 9, "shuffle": True}


def _read_original(src: Path, spec: ArraySpec) -> tuple[np.ndarray, bytes]:
    file = src / spec.original_file
    if not file.is_file():
        raise HumanDataError(f"{file}: missing; expected the original file '{spec.original_file}' in {src}")
    raw = file.read_bytes()
    md5 = hashlib.md5(raw).hexdigest()
    if md5 != spec.md5:
        raise HumanDataError(f"{file}: md5 is {md5}, expected {spec.md5}; '{spec.original_file}' differs from "
                             f"the published snapshot {SOURCE_COMMIT} of {SOURCE_REPOSITORY}")
    try:
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
    except ValueError as exc:  # unreachable for the published bytes; kept for clarity
        raise HumanDataError(f"{file}: not a readable .npy file ({exc})") from None
    if arr.dtype != np.float64 or arr.shape != spec.shape:
        raise HumanDataError(f"{file}: shape {arr.shape}, dtype {arr.dtype}; expected {spec.shape}, float64")
    return arr, raw


def check_consistency(arrays: dict[str, np.ndarray], src: Path | str = "<arrays>") -> None:
    """Row 0 of every (5, 100) series is 0 and learning_effect == (exposed_big - control_big).T exactly."""
    for cond in CONDITIONS:
        for part in ("exposed_big", "control_big", "exposed_small"):
            if np.any(arrays[f"{cond}/{part}"][0] != 0):
                raise HumanDataError(f"{src}: {cond}/{part}: row 0 (test point 0) is not all zeros")
        diff_t = (arrays[f"{cond}/exposed_big"] - arrays[f"{cond}/control_big"]).T
        if not np.array_equal(arrays[f"{cond}/learning_effect"], diff_t):
            raise HumanDataError(f"{src}: {cond}: learning_effect is not exactly (mb_b - control).T")


def _licence_text(src: Path) -> str:
    for candidate in (src / "LICENSE", DATA_DIR / "LICENSE"):
        if candidate.is_file():
            text = candidate.read_text(encoding="utf-8")
            if "MIT License" in text and "jiaxx" in text:
                return text
    raise HumanDataError(f"{src}: no MIT LICENSE ('Copyright (c) 2021 jiaxx') found beside the data")


def _write(path: Path, arrays: dict[str, tuple[np.ndarray, bytes]], licence_text: str) -> None:
    with h5py.File(path, "w", libver="v110") as f:  # v110: compact chunk index (file readable by HDF5 >= 1.10)
        f.attrs.update({
            "name": NAME, "schema_version": np.int64(SCHEMA_VERSION), "source_repository": SOURCE_REPOSITORY,
            "source_commit": SOURCE_COMMIT, "source_added_commit": SOURCE_ADDED_COMMIT,
            "source_folder": SOURCE_FOLDER, "licence": LICENCE, "licence_text": licence_text,
            "citation": CITATION, "doi": DOI,
            "description": "Human delta-d' of Jia, Hong & DiCarlo (2021), copied verbatim from the original "
                           ".npy files; see human_data/data/PROVENANCE.md",
        })
        for key, values in AXES.items():
            ds = f.create_dataset(key, data=values)
            ds.attrs["data_sha256"] = array_sha256(values)
        f["test_points"].attrs["description"] = "number of exposures before each test point"
        f["bootstrap_index"].attrs["description"] = "index of the bootstrap resample (axis of the (5, 100) arrays)"
        f.create_dataset("conditions", data=np.array(CONDITIONS, dtype=h5py.string_dtype()))
        for spec in ARRAYS:
            arr, raw = arrays[spec.h5_path]
            ds = f.create_dataset(spec.h5_path, data=arr, **_COMPRESSION)
            ds.attrs.update({
                "original_file": spec.original_file, "md5": spec.md5,
                "sha256": hashlib.sha256(raw).hexdigest(), "data_sha256": array_sha256(arr),
                "description": spec.description,
            })


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def convert_jia2021(src_folder: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """Convert the original ``human_behavioral_data/`` folder to the HDF5 file at ``out_path``; returns it."""
    src, out = Path(src_folder), Path(out_path)
    if not src.is_dir():
        raise HumanDataError(f"{src}: source folder not found; expected the original '{SOURCE_FOLDER}' layout "
                             f"(build/, break/, switch/, initial_dprime_dependency/)")
    originals = {spec.h5_path: _read_original(src, spec) for spec in ARRAYS}
    check_consistency({k: arr for k, (arr, _) in originals.items()}, src)
    licence_text = _licence_text(src)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _write(tmp, originals, licence_text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        load(tmp)  # verify what was written before it replaces anything
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
