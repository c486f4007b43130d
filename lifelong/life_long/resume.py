"""Exact resume of a life-long run at chunk boundaries.

After every chunk (and its read-out) :class:`ChunkCheckpoint` writes ``<output_dir>/checkpoints/last.ckpt``
atomically (temporary file + rename): weights, optimizer and LR schedule, Lightning's loop state, the
read-out record and the losses so far, and a key of the settings that shape the results. Rerunning the
same command finds it and continues with the next chunk. The epoch plans are recomputed from the epoch index
(streams/curriculum.py) and every batch seeds its augmentations from (seed, chunk, step, rank)
(chunk_data.batch_seed), so a run killed at any moment ends with the same results as an uninterrupted one
(on CPU, same thread count); the chunk that was interrupted is recomputed from its start. Under DDP rank 0
writes the file (the weights are the same on every rank) and the per-batch seeds include the rank, so a
resumed DDP run also continues as the uninterrupted one would.
"""
from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig

from ..atomic_write import atomic_path
from ..components import ConfigError
from ..provenance import results_key as settings_key

#: config entries that shape a life-long run's results (output paths, trainer display settings excluded)
RESULT_KEYS = ("benchmark", "algorithm", "backbone", "frames", "readout_set", "seed", "image_size", "blur_sigma",
               "channels_last")


def results_key(cfg: DictConfig, keys: tuple[str, ...] = RESULT_KEYS) -> str:
    """The life-long run's settings key (provenance.results_key over ``RESULT_KEYS``), leaving out the read-out's
    thread count, on which the results do not depend."""
    from omegaconf import open_dict

    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.benchmark.readout.pop("n_jobs", None)
    return settings_key(cfg, keys)


class ChunkCheckpoint(pl.Callback):
    """Saves ``path`` at the end of every chunk; on resume, refuses a checkpoint written under other settings."""

    def __init__(self, path: Path, key: str) -> None:
        self.path = Path(path)
        self.key = key

    @property
    def state_key(self) -> str:
        return "ChunkCheckpoint"

    def state_dict(self) -> dict:
        # no RNG state: every batch sets its own augmentation seed (chunk_data.batch_seed)
        return {"key": self.key}

    def load_state_dict(self, state: dict) -> None:
        if state.get("key") != self.key:
            raise ConfigError(
                f"{self.path} was written by a run with other settings (key {state.get('key')} != {self.key}); "
                "delete it, or use another output folder, or set benchmark.resume=false"
            )

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            with atomic_path(self.path) as tmp:
                trainer.save_checkpoint(tmp)
        else:
            trainer.save_checkpoint(self.path)     # writes nothing off rank 0; joins Lightning's barrier
