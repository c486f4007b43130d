"""Build the run's objects from the Hydra config (``_target_`` instantiation)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from algorithms.base import Algorithm


class ConfigError(ValueError):
    """A configuration value is invalid; the message names it."""


@dataclass
class AlgorithmParts:
    """Everything a training run needs from the algorithm's config."""

    name: str
    make: Callable[[], Algorithm]                 # a fresh algorithm (random init)
    optimizer_factory: Callable[[list[dict]], torch.optim.Optimizer]
    weight_decay: float
    stream_augment: torch.nn.Module
    pretrain_augment: torch.nn.Module
    realtime_lr: float


def algorithm_parts(cfg: DictConfig) -> AlgorithmParts:
    acfg = cfg.algorithm

    def make() -> Algorithm:
        backbone = instantiate(cfg.backbone)
        return instantiate(acfg.model, backbone=backbone)

    opt_cfg = acfg.optimizer
    return AlgorithmParts(
        name=str(acfg.name),
        make=make,
        optimizer_factory=instantiate(opt_cfg, _partial_=True),
        weight_decay=float(opt_cfg.get("weight_decay", 0.0)),
        stream_augment=instantiate(acfg.augment.stream),
        pretrain_augment=instantiate(acfg.augment.pretrain),
        realtime_lr=float(acfg.realtime_lr),
    )


def make_trainer(cfg: DictConfig, **kwargs):
    """A Lightning Trainer from the ``trainer`` config group plus run-specific arguments."""
    return instantiate(cfg.trainer, _partial_=True)(**kwargs)
