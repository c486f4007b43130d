"""Compose the project's Hydra config in tests (no Hydra app, no output folder of its own)."""
from __future__ import annotations

from hydra import compose, initialize_config_module
from omegaconf import DictConfig, open_dict

from lifelong.plugins import store_algorithm_configs

#: a run small enough for the test suite: 2 pairs, 18 steps, tiny sets, 32 px
TINY = [
    "benchmark.pairs=[0,14]",
    "benchmark.num_steps=18",
    "benchmark.batch_pairs=16",
    "pretraining.steps=12",
    "pretraining.batch_pairs=32",
    "pretraining.warmup_steps=2",
    "pretraining.cache=false",
    "pretrain_data.n_images=96",
    "trainer.enable_progress_bar=false",
]


def make_cfg(tmp_path, overrides=()) -> DictConfig:
    store_algorithm_configs()           # algorithm=<plugin> as on the command line (lifelong.cli.run)
    with initialize_config_module(config_module="lifelong.conf", version_base="1.3"):
        own_stimuli = any(o.startswith("stimuli=") for o in overrides)
        extra = [] if own_stimuli else ["stimuli.n_test=6"]
        cfg = compose(config_name="config", overrides=[*TINY, *extra, *overrides])
    with open_dict(cfg):
        cfg.output_dir = str(tmp_path)
        cfg.cache_dir = str(tmp_path / "cache")
    return cfg


#: a life-long run small enough for the test suite: 3 chunks of a 1,200-frame procedural stream, 8 batches each
TINY_LIFELONG = [
    "benchmark=lifelong",
    "frames.n_days=3",
    "frames.frames_per_day=400",
    "frames.n_chunks=3",
    "benchmark.pairs_per_epoch=128",
    "benchmark.batch_pairs=16",
    "readout_set.train_per_class=6",
    "readout_set.test_per_class=3",
    "readout_set.n_categories=4",
    "trainer.enable_progress_bar=false",
]


def make_lifelong_cfg(tmp_path, overrides=()) -> DictConfig:
    store_algorithm_configs()
    with initialize_config_module(config_module="lifelong.conf", version_base="1.3"):
        own = {g for g in ("frames", "readout_set") if any(o.startswith(f"{g}=") for o in overrides)}
        tiny = [o for o in TINY_LIFELONG if o.split(".")[0] not in own]
        cfg = compose(config_name="config", overrides=[*tiny, *overrides])
    with open_dict(cfg):
        cfg.output_dir = str(tmp_path)
        cfg.cache_dir = str(tmp_path / "cache")
    return cfg
