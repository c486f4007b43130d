"""Human targets of Jia, Hong & DiCarlo (2021): schema of the shipped HDF5 file and its loader.

The file ``human_data/data/jia2021.h5`` holds, unchanged, the arrays of
github.com/jiaxx/temporal_learning_paper, folder ``human_behavioral_data/`` (snapshot ``abffd5b``, files
added in ``769b751``, MIT licence). It is written by :func:`human_data.convert.convert_jia2021`.

Schema (``schema_version = 1``)
-------------------------------
Root attributes: ``name="jia2021"``, ``schema_version=1``, ``source_repository``, ``source_commit``,
``source_added_commit``, ``source_folder``, ``licence="MIT"``, ``licence_text`` (full MIT text),
``citation``, ``doi``, ``description``.

* ``/test_points``         int64 (5,)      0, 400, 800, 1200, 1600 exposures
* ``/bootstrap_index``     int64 (100,)    0 .. 99
* ``/conditions``          utf-8 (3,)      "build", "break", "switch"
* ``/<cond>/exposed_big``     float64 (5, 100)  from ``<cond>/<cond>_mb_b.npy``
* ``/<cond>/control_big``     float64 (5, 100)  from ``build/build_mb_b_other.npy``,
  ``break/break_mb_b_control.npy``, ``switch/switch_mb_b_other.npy`` (mean of the 2 control pairs)
* ``/<cond>/exposed_small``   float64 (5, 100)  from ``<cond>/<cond>_mb_s.npy``
* ``/<cond>/learning_effect`` float64 (100, 5)  from ``<cond>/<cond>_learning_effect.npy``
  (build: ``build/build_learning effect.npy``, with a space) = (exposed_big - control_big).T exactly
* ``/initial_dprime_dependency/initial_difficulty_800exposure`` float64 (3, 13), same path + ``.npy``;
  the meaning of its rows is undocumented in the source repository.

``(5, 100)`` = test point x bootstrap resample; values are delta-d' relative to test point 0 (row 0 is 0).
Every numeric dataset carries ``data_sha256`` = sha256 of its values as C-order little-endian bytes
(recomputed and compared at load time). Datasets copied from an original file also carry
``original_file`` (path relative to ``human_behavioral_data/``), ``sha256`` and ``md5`` of the original
``.npy`` file bytes, and ``description``.

Benchmark target (realtime.md section 8): effect = exposed_big - control_big; mean over the 100 bootstraps,
error bar = std over the bootstraps with ddof 0.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import h5py
import numpy as np


class HumanDataError(ValueError):
    """The human data file or a source folder is missing, corrupted or not what the schema expects."""


NAME = "jia2021"
SCHEMA_VERSION = 1
CONDITIONS = ("build", "break", "switch")
TEST_POINTS = (0, 400, 800, 1200, 1600)
N_BOOTSTRAP = 100

SOURCE_REPOSITORY = "https://github.com/jiaxx/temporal_learning_paper"
SOURCE_COMMIT = "abffd5b"
SOURCE_ADDED_COMMIT = "769b751"
SOURCE_FOLDER = "human_behavioral_data/"
LICENCE = "MIT"
DOI = "10.7554/eLife.60830"
CITATION = (
    "Jia X, Hong H, DiCarlo JJ (2021). Unsupervised changes in core object recognition behavior are "
    "predicted by neural plasticity in inferior temporal cortex. eLife 2021;10:e60830. "
    "doi:10.7554/eLife.60830"
)

DATA_DIR = Path(__file__).resolve().parent / "data"
KNOWN_DATASETS: Mapping[str, Path] = MappingProxyType({NAME: DATA_DIR / "jia2021.h5"})

INITIAL_DIFFICULTY = "initial_dprime_dependency/initial_difficulty_800exposure"
COMPONENTS = ("exposed_big", "control_big", "exposed_small", "learning_effect")


@dataclass(frozen=True)
class ArraySpec:
    """One float64 dataset copied verbatim from one original .npy file."""

    h5_path: str  # inside the HDF5 file, without leading "/"
    original_file: str  # relative to human_behavioral_data/
    md5: str  # of the original file bytes (data_sources.md section 3.2)
    shape: tuple[int, ...]
    description: str


_CONTROL_FILE = {"build": "build_mb_b_other.npy", "break": "break_mb_b_control.npy", "switch": "switch_mb_b_other.npy"}
_LEARNING_FILE = {"build": "build_learning effect.npy", "break": "break_learning_effect.npy",
                  "switch": "switch_learning_effect.npy"}
_MD5 = {
    "build/build_mb_b.npy": "a66bad655721c92efe7b9c92c9cdf23b",
    "build/build_mb_b_other.npy": "c5fd7431cb59da720deb5be0410f6e21",
    "build/build_mb_s.npy": "089962939c26d2863e8ca80915c3abf6",
    "build/build_learning effect.npy": "aa069f8e758f891544e731cfbacdbac7",
    "break/break_mb_b.npy": "c1d241bcfe50a40dcca1a9f2cf4ced49",
    "break/break_mb_b_control.npy": "d285bdad77f9f0900fec7b803949b7d6",
    "break/break_mb_s.npy": "8b4ea5c946cdf912e1a2b68d9662c352",
    "break/break_learning_effect.npy": "eb937d14348d7b91e0facc261af1d928",
    "switch/switch_mb_b.npy": "a2ee90776267d4c01718e1eba4c290d6",
    "switch/switch_mb_b_other.npy": "e5c097a49df00bf62cb54f8681a3b3a8",
    "switch/switch_mb_s.npy": "8cf7b73f35422c8ff84806cf1f4b942d",
    "switch/switch_learning_effect.npy": "6f63af8fd5f9ddf5869af53fdee1ff8a",
    INITIAL_DIFFICULTY + ".npy": "2afc2e881ba7964990203fb31ad45a96",
}
_DELTA = "delta-d' relative to test point 0, shape (test point, bootstrap)"


def _condition_specs(cond: str) -> tuple[ArraySpec, ...]:
    files = {
        "exposed_big": (f"{cond}/{cond}_mb_b.npy", (5, 100), f"exposed face pair, big test size; {_DELTA}"),
        "control_big": (f"{cond}/{_CONTROL_FILE[cond]}", (5, 100),
                        f"mean of the 2 control face pairs, big test size; {_DELTA}"),
        "exposed_small": (f"{cond}/{cond}_mb_s.npy", (5, 100), f"exposed face pair, small test size; {_DELTA}"),
        "learning_effect": (f"{cond}/{_LEARNING_FILE[cond]}", (100, 5),
                            "(exposed_big - control_big).T exactly, shape (bootstrap, test point)"),
    }
    return tuple(ArraySpec(f"{cond}/{k}", f, _MD5[f], s, d) for k, (f, s, d) in files.items())


ARRAYS: tuple[ArraySpec, ...] = tuple(s for c in CONDITIONS for s in _condition_specs(c)) + (
    ArraySpec(INITIAL_DIFFICULTY, INITIAL_DIFFICULTY + ".npy", _MD5[INITIAL_DIFFICULTY + ".npy"], (3, 13),
              "relates to the eLife finding that learning depends on initial difficulty; "
              "the meaning of its rows and columns is undocumented in the source repository [GAP]"),
)

AXES = {  # fixed axis datasets: expected values
    "test_points": np.asarray(TEST_POINTS, dtype=np.int64),
    "bootstrap_index": np.arange(N_BOOTSTRAP, dtype=np.int64),
}


def array_sha256(arr: np.ndarray) -> str:
    """sha256 of the array's values as C-order little-endian bytes (the ``data_sha256`` attribute)."""
    arr = np.asarray(arr)
    return hashlib.sha256(np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()).hexdigest()


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class HumanData:
    """Verified, read-only human data. Per-condition mappings are keyed by ``"build"``, ``"break"``, ``"switch"``."""

    name: str
    path: Path
    conditions: tuple[str, ...]
    test_points: np.ndarray  # (5,) exposures
    bootstrap_index: np.ndarray  # (100,)
    exposed_big: Mapping[str, np.ndarray]  # (5, 100)
    control_big: Mapping[str, np.ndarray]  # (5, 100)
    exposed_small: Mapping[str, np.ndarray]  # (5, 100)
    learning_effect: Mapping[str, np.ndarray]  # (100, 5), the original file
    effects: Mapping[str, np.ndarray]  # (5, 100) = exposed_big - control_big
    initial_difficulty_800exposure: np.ndarray  # (3, 13), row meaning undocumented
    source: Mapping[str, object]  # root attributes of the file (provenance)

    @property
    def n_bootstrap(self) -> int:
        return int(self.bootstrap_index.shape[0])

    @property
    def attrs(self) -> Mapping[str, object]:
        return self.source

    def _effect(self, cond: str) -> np.ndarray:
        if cond not in self.effects:
            raise KeyError(f"unknown condition {cond!r}; known: {', '.join(self.conditions)}")
        return self.effects[cond]

    def effect_mean(self, cond: str) -> np.ndarray:
        """(5,) mean effect over the bootstraps at each test point."""
        return self._effect(cond).mean(axis=1)

    def effect_std(self, cond: str) -> np.ndarray:
        """(5,) std of the effect over the bootstraps (ddof 0, the spec's error bar)."""
        return self._effect(cond).std(axis=1, ddof=0)

    def effect_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std), each (conditions x 4) at test points 400..1600 (the benchmark's 3 x 4 target)."""
        mean = np.stack([self.effect_mean(c)[1:] for c in self.conditions])
        std = np.stack([self.effect_std(c)[1:] for c in self.conditions])
        return mean, std


def resolve(name_or_path: str | os.PathLike = NAME) -> Path:
    """Map a known data set name (``"jia2021"``) or a path to an existing .h5 file."""
    if isinstance(name_or_path, str) and name_or_path in KNOWN_DATASETS:
        path = KNOWN_DATASETS[name_or_path]
        if not path.is_file():
            raise HumanDataError(f"built-in human data set {name_or_path!r}: file {path} is missing; reinstall "
                                 "the package or regenerate it with `lifelong-human-data convert`")
        return path
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"expected a data set name or a path, got {type(name_or_path).__name__}")
    path = Path(name_or_path)
    looks_like_path = isinstance(name_or_path, os.PathLike) or path.suffix or len(path.parts) > 1
    if not looks_like_path and not path.exists():
        raise HumanDataError(f"unknown human data set {str(name_or_path)!r}; known names: "
                             f"{', '.join(sorted(KNOWN_DATASETS))} (or pass a path to an .h5 file)")
    if not path.is_file():
        raise HumanDataError(f"{path}: no such file; expected an HDF5 file written by "
                             "`lifelong-human-data convert`")
    return path


def load(name_or_path: str | os.PathLike = NAME) -> HumanData:
    """Load and verify the human data (``"jia2021"`` = the file shipped with the package, or a path)."""
    path = resolve(name_or_path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise HumanDataError(f"{path}: cannot be opened as an HDF5 file ({exc})") from None
    with f:
        return _read(f, path)


def _root_attr(f: h5py.File, path: Path, key: str, expected: object) -> None:
    value = f.attrs.get(key)
    if value is None:
        raise HumanDataError(f"{path}: root attribute {key!r} is missing; expected {expected!r}")
    value = value.item() if isinstance(value, np.generic) else value
    if value != expected:
        raise HumanDataError(f"{path}: root attribute {key!r} is {value!r}; expected {expected!r}")


def _dataset(f: h5py.File, path: Path, name: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Read dataset ``name``, checking presence, dtype, shape and ``data_sha256``."""
    where = f"{path}: dataset '/{name}'"
    obj = f.get(name)
    if not isinstance(obj, h5py.Dataset):
        raise HumanDataError(f"{where} is missing; expected a {dtype} array of shape {shape} (schema v{SCHEMA_VERSION})")
    if obj.shape != shape or obj.dtype != np.dtype(dtype):
        raise HumanDataError(f"{where} has shape {obj.shape} and dtype {obj.dtype}; expected shape {shape}, "
                             f"dtype {dtype}")
    arr = obj[()]
    stored = obj.attrs.get("data_sha256")
    if stored is None:
        raise HumanDataError(f"{where} has no 'data_sha256' attribute; expected the sha256 of its values")
    stored = stored.decode() if isinstance(stored, bytes) else str(stored)
    actual = array_sha256(arr)
    if actual != stored:
        raise HumanDataError(f"{where} is corrupted or was modified: sha256 of its values is {actual}, expected "
                             f"{stored} (data_sha256); regenerate it with `lifelong-human-data convert`")
    return _frozen(arr)


def _read(f: h5py.File, path: Path) -> HumanData:
    _root_attr(f, path, "name", NAME)
    _root_attr(f, path, "schema_version", SCHEMA_VERSION)
    axes = {}
    for key, expected in AXES.items():
        axes[key] = _dataset(f, path, key, expected.shape, "int64")
        if not np.array_equal(axes[key], expected):
            raise HumanDataError(f"{path}: dataset '/{key}' is {axes[key].tolist()}; expected {expected.tolist()}")
    conds = f.get("conditions")
    found = tuple(conds.asstr()[()].tolist()) if isinstance(conds, h5py.Dataset) and conds.ndim == 1 else None
    if found != CONDITIONS:
        raise HumanDataError(f"{path}: dataset '/conditions' is {found!r}; expected {CONDITIONS!r}")
    arrays = {s.h5_path: _dataset(f, path, s.h5_path, s.shape, "float64") for s in ARRAYS}
    per = {k: MappingProxyType({c: arrays[f"{c}/{k}"] for c in CONDITIONS}) for k in COMPONENTS}
    effects = {c: _frozen(per["exposed_big"][c] - per["control_big"][c]) for c in CONDITIONS}
    source = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
    return HumanData(
        name=NAME, path=path, conditions=CONDITIONS, test_points=axes["test_points"],
        bootstrap_index=axes["bootstrap_index"], effects=MappingProxyType(effects),
        initial_difficulty_800exposure=arrays[INITIAL_DIFFICULTY], source=MappingProxyType(source), **per,
    )
