"""The results file of a real-time benchmark run (HDF5, written atomically).

Schema (``schema_version`` 1):

/ attrs          benchmark="realtime", schema_version, algorithm, config_yaml (resolved Hydra
                 config), versions_json (package versions), git_commit, created (UTC ISO),
                 wall_seconds, stimuli_source, checkpoint
/pairs           int [P, 2]        identity indices of every face pair (experiment order)
/identities      str [n_id]
/eval_steps      int [E]           training step of every evaluation (0 = before training)
/eval_minutes    float [E]         session minute of every evaluation
/test_points     int [5]           human test points in exposures (0, 400, ..., 1600)
/initial/dprime_big, dprime_small  float [P]   read-out of the starting checkpoint
/<condition>/                      one group per condition that was run
    exposed_pair     int [R]         pair index of each run
    control_pair     int [R]         its control pair (drawn per run, realtime.md §1.5)
    dprime_big       float [R, E, P] d' of every pair at every evaluation, big size
    dprime_small     float [R, E, P]
    confusion_big    int [R, E, P, 2, 2]   CF[chosen, true]
    confusion_small  int [R, E, P, 2, 2]
    margin_correct_big, margin_wrong_big   float [R, E, P]
    loss             float [R, S]    training loss of every step
    wall_seconds     float [R]
    run_effect       float [R, E]    E_i[j] = exposed minus control d' change
    effect           float [R, 5]    five-point aligned F_i
    effect_mean      float [5]       mean over runs
    effect_sem       float [5]       SEM over runs (ddof 0)
/human/effect_mean, effect_std     float [C, 5]  for the conditions run, same order as /score
/score/ conditions, rmse, ceiling, null_rmse, score, sign_agreement [C]; attrs overall_*
"""
from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..atomic_write import atomic_path
from .score import Score

SCHEMA_VERSION = 1
RUN_ARRAYS = (
    "exposed_pair", "control_pair", "dprime_big", "dprime_small", "confusion_big", "confusion_small",
    "margin_correct_big", "margin_wrong_big", "loss", "wall_seconds", "run_effect", "effect",
)


@dataclass
class ConditionResult:
    condition: str
    arrays: dict[str, np.ndarray]            # RUN_ARRAYS
    effect_mean: np.ndarray
    effect_sem: np.ndarray


@dataclass
class RealtimeResults:
    pairs: np.ndarray
    identities: list[str]
    eval_steps: np.ndarray
    eval_minutes: np.ndarray
    test_points: np.ndarray
    initial_dprime_big: np.ndarray
    initial_dprime_small: np.ndarray
    conditions: dict[str, ConditionResult]
    human_mean: np.ndarray | None = None     # [C, 5]
    human_std: np.ndarray | None = None
    score: Score | None = None
    attrs: dict = field(default_factory=dict)

    def effect_matrix(self) -> np.ndarray:
        """Model effects [C, 4] at 400..1600 exposures, conditions in run order."""
        return np.stack([c.effect_mean[1:] for c in self.conditions.values()])


def write_results(path: str | Path, res: RealtimeResults) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            attrs = {
                "benchmark": "realtime",
                "schema_version": SCHEMA_VERSION,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                **res.attrs,
            }
            for k, v in attrs.items():
                f.attrs[k] = json.dumps(v) if isinstance(v, (dict, list)) else v
            f["pairs"] = res.pairs
            f["identities"] = np.array(res.identities, dtype=h5py.string_dtype())
            f["eval_steps"] = res.eval_steps
            f["eval_minutes"] = res.eval_minutes
            f["test_points"] = res.test_points
            f["initial/dprime_big"] = res.initial_dprime_big
            f["initial/dprime_small"] = res.initial_dprime_small
            for name, cond in res.conditions.items():
                g = f.create_group(name)
                for k in RUN_ARRAYS:
                    g.create_dataset(k, data=cond.arrays[k], compression="gzip" if cond.arrays[k].size > 4096 else None)
                g["effect_mean"] = cond.effect_mean
                g["effect_sem"] = cond.effect_sem
            if res.human_mean is not None:
                f["human/effect_mean"] = res.human_mean
                f["human/effect_std"] = res.human_std
            if res.score is not None:
                s = f.create_group("score")
                s["conditions"] = np.array(res.score.conditions, dtype=h5py.string_dtype())
                for k in ("rmse", "ceiling", "null_rmse", "score", "sign_agreement"):
                    s[k] = getattr(res.score, k)
                for k in ("rmse", "ceiling", "null_rmse", "score", "sign_agreement"):
                    s.attrs[f"overall_{k}"] = getattr(res.score, f"overall_{k}")
    return path


class ResultsFileError(ValueError):
    pass


def read_results(path: str | Path) -> RealtimeResults:
    path = Path(path)
    if not path.is_file():
        raise ResultsFileError(f"results file {path} does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ResultsFileError(f"{path} is not a readable HDF5 results file ({exc})") from None
    with f:
        if f.attrs.get("benchmark") != "realtime":
            raise ResultsFileError(f"{path} is not a real-time benchmark results file (attr benchmark={f.attrs.get('benchmark')!r})")
        if int(f.attrs.get("schema_version", -1)) != SCHEMA_VERSION:
            raise ResultsFileError(f"{path} has schema_version {f.attrs.get('schema_version')}, expected {SCHEMA_VERSION}")
        conditions = {}
        for name in ("build", "break", "switch"):
            if name in f:
                g = f[name]
                conditions[name] = ConditionResult(
                    name, {k: g[k][()] for k in RUN_ARRAYS}, g["effect_mean"][()], g["effect_sem"][()]
                )
        score = None
        if "score" in f:
            s = f["score"]
            score = Score(
                conditions=tuple(x.decode() if isinstance(x, bytes) else x for x in s["conditions"][()]),
                **{k: s[k][()] for k in ("rmse", "ceiling", "null_rmse", "score", "sign_agreement")},
                **{f"overall_{k}": float(s.attrs[f"overall_{k}"]) for k in ("rmse", "ceiling", "null_rmse", "score", "sign_agreement")},
            )
        return RealtimeResults(
            pairs=f["pairs"][()],
            identities=[x.decode() if isinstance(x, bytes) else x for x in f["identities"][()]],
            eval_steps=f["eval_steps"][()],
            eval_minutes=f["eval_minutes"][()],
            test_points=f["test_points"][()],
            initial_dprime_big=f["initial/dprime_big"][()],
            initial_dprime_small=f["initial/dprime_small"][()],
            conditions=conditions,
            human_mean=f["human/effect_mean"][()] if "human" in f else None,
            human_std=f["human/effect_std"][()] if "human" in f else None,
            score=score,
            attrs={k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()},
        )
