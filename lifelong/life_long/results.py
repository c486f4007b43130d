"""The results file of a life-long benchmark run (HDF5, written atomically).

Schema (``schema_version`` 1):

/ attrs          benchmark="lifelong", schema_version, algorithm, config_yaml (resolved Hydra config),
                 versions_json, git_commit, created (UTC ISO), wall_seconds, frames_source, readout_source,
                 memory_mode, window_frames, window_minutes, ratio, n_chunks, fps
/alphas          float [A]        the alpha grid of the linear SVM
/eval/chunk      int [E]          -1 = before training, else the chunk just trained on
/eval/step       int [E]          optimizer steps done at the evaluation
/eval/hours      float [E]        hours of video in the chunks trained on so far
/eval/age_months float [E]        the child's age at the last frame trained on (NaN without ages)
/eval/svm_acc    float [E]        test accuracy, alpha chosen on a held-out part of the training images (primary)
/eval/svm_perf_oracle float [E]   the original protocol: best test accuracy over the alpha grid (lifelong.md §9.2)
/eval/alpha      float [E]        the chosen alpha
/eval/heldout_acc, test_acc float [E, A]  per-alpha accuracies
/eval/knn_acc    float [E]        1-NN accuracy (NaN when off)
/eval/chance     float [E]
/eval/seconds    float [E]        wall time of each read-out
/train/loss      float [S]        training loss of every batch
/train/chunk_seconds float [C]    wall time of every chunk's training (read-outs excluded)
/summary attrs   initial_acc, final_acc, mean_acc (area under the svm_acc curve over hours / hours),
                 initial_oracle, final_oracle
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..atomic_write import atomic_path

SCHEMA_VERSION = 1
EVAL_ARRAYS = ("chunk", "step", "hours", "age_months", "svm_acc", "svm_perf_oracle", "alpha", "heldout_acc",
               "test_acc", "knn_acc", "chance", "seconds")


class LifelongResultsError(ValueError):
    """A life-long results file is missing, unreadable or not in this schema."""


@dataclass
class LifelongResults:
    alphas: np.ndarray
    evals: dict[str, np.ndarray]              # EVAL_ARRAYS
    loss: np.ndarray
    chunk_seconds: np.ndarray
    attrs: dict = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        acc = self.evals["svm_acc"]
        hours = self.evals["hours"]
        oracle = self.evals["svm_perf_oracle"]
        span = hours[-1] - hours[0]
        area = float(np.sum((acc[1:] + acc[:-1]) / 2 * np.diff(hours)))      # trapezoid rule
        mean_acc = area / span if len(acc) > 1 and span > 0 else float(acc[-1])
        return {
            "initial_acc": float(acc[0]),
            "final_acc": float(acc[-1]),
            "mean_acc": mean_acc,
            "initial_oracle": float(oracle[0]),
            "final_oracle": float(oracle[-1]),
        }


def write_results(path: str | Path, res: LifelongResults) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["benchmark"] = "lifelong"
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
            for k, v in res.attrs.items():
                f.attrs[k] = v
            f["alphas"] = np.asarray(res.alphas, dtype=np.float64)
            g = f.create_group("eval")
            for k in EVAL_ARRAYS:
                g[k] = np.asarray(res.evals[k])
            t = f.create_group("train")
            t["loss"] = np.asarray(res.loss, dtype=np.float64)
            t["chunk_seconds"] = np.asarray(res.chunk_seconds, dtype=np.float64)
            s = f.create_group("summary")
            for k, v in res.summary().items():
                s.attrs[k] = v
    return path


def read_results(path: str | Path) -> LifelongResults:
    path = Path(path)
    if not path.is_file():
        raise LifelongResultsError(f"results file not found: {path}")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("benchmark") != "lifelong":
                raise LifelongResultsError(
                    f"{path} is not a life-long results file (benchmark={f.attrs.get('benchmark')!r})"
                )
            if int(f.attrs.get("schema_version", -1)) != SCHEMA_VERSION:
                raise LifelongResultsError(
                    f"{path}: schema_version {f.attrs.get('schema_version')!r}, expected {SCHEMA_VERSION}"
                )
            missing = [k for k in EVAL_ARRAYS if f"eval/{k}" not in f]
            if missing:
                raise LifelongResultsError(f"{path} lacks eval/{missing[0]}")
            return LifelongResults(
                alphas=f["alphas"][()],
                evals={k: f[f"eval/{k}"][()] for k in EVAL_ARRAYS},
                loss=f["train/loss"][()],
                chunk_seconds=f["train/chunk_seconds"][()],
                attrs={k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()},
            )
    except OSError as exc:
        raise LifelongResultsError(f"cannot read {path} as HDF5: {exc}") from None


def is_lifelong_file(path: str | Path) -> bool:
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("benchmark") == "lifelong"
    except OSError:
        return False
