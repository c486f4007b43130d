"""Exact resume of a real-time run, one exposure run at a time.

Every finished exposure run (one condition, one face pair) is saved atomically as
``<output_dir>/checkpoints/runs/<condition>_<pair>.npz`` together with a key of the settings that shape the
results. Rerunning the same command restores the finished runs and computes only the missing ones; each run
restarts from the same starting checkpoint with its own seed, so the results equal an uninterrupted run's.
The pretraining checkpoint is cached (or kept in the output folder) and is not recomputed either.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic_write import atomic_path
from ..components import ConfigError

#: config entries that shape a real-time run's results
REALTIME_RESULT_KEYS = ("benchmark", "algorithm", "backbone", "stimuli", "pretrain_data", "pretraining", "seed",
                        "image_size", "blur_sigma", "channels_last", "human_data")


class RunStore:
    def __init__(self, folder: Path, key: str) -> None:
        self.folder = Path(folder)
        self.key = key

    def path(self, condition: str, pair: int) -> Path:
        return self.folder / f"{condition}_{pair:02d}.npz"

    def load(self, condition: str, pair: int) -> dict[str, np.ndarray] | None:
        path = self.path(condition, pair)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path} is unreadable ({exc}); delete it to recompute that run") from None
        if str(data.pop("_key", "")) != self.key:
            raise ConfigError(
                f"{path} was written by a run with other settings; delete {self.folder}, use another output "
                "folder, or set benchmark.resume=false"
            )
        return data

    def save(self, condition: str, pair: int, run: dict[str, np.ndarray]) -> None:
        with atomic_path(self.path(condition, pair)) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, _key=np.asarray(self.key), **{k: np.asarray(v) for k, v in run.items()})
