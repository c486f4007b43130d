"""Build the run's objects from the Hydra config (``_target_`` instantiation)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

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


def build(node: DictConfig, what: str, **kwargs):
    """``instantiate`` with the target's own error surfaced (Hydra wraps it) and unset values named."""
    missing = [k for k in node if k != "_target_" and OmegaConf.is_missing(node, k)]
    if missing:
        raise ConfigError(f"{what}.{missing[0]} is not set (e.g. {what}.{missing[0]}=/path/to/data)")
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, ValueError):        # the project's input errors are ValueErrors
            raise cause from None
        raise


def backbone_node(cfg: DictConfig) -> DictConfig:
    """The ``backbone`` group's entry for the algorithm's ``arch`` (resnet18, resnet50, vit_s16, ...)."""
    arch = cfg.algorithm.get("arch")
    if arch is None:
        raise ConfigError(f"algorithm {cfg.algorithm.get('name')!r} names no `arch` (e.g. arch: resnet18)")
    if arch not in cfg.backbone:
        raise ConfigError(
            f"algorithm.arch={arch!r} has no entry in the backbone group; expected one of {sorted(cfg.backbone)}"
        )
    return cfg.backbone[arch]


#: keys every algorithm config has (lifelong/conf/algorithm/*.yaml, or a plugin's default config)
ALGORITHM_KEYS = (
    "name", "arch", "model._target_", "optimizer._target_", "realtime_lr", "augment.pretrain", "augment.stream",
)


def algorithm_parts(cfg: DictConfig) -> AlgorithmParts:
    acfg = cfg.algorithm
    missing = [k for k in ALGORITHM_KEYS if OmegaConf.select(acfg, k, default=None) is None]
    if missing:
        raise ConfigError(
            f"algorithm {acfg.get('name')!r}: its config lacks {', '.join('algorithm.' + k for k in missing)} "
            "(see lifelong/conf/algorithm/simclr.yaml and docs/add_an_algorithm.md)"
        )

    node = backbone_node(cfg)

    def make() -> Algorithm:
        backbone = instantiate(node)
        algorithm = instantiate(acfg.model, backbone=backbone)
        if not isinstance(algorithm, Algorithm):
            raise ConfigError(
                f"algorithm.model._target_={acfg.model.get('_target_')!r} built a "
                f"{type(algorithm).__module__}.{type(algorithm).__qualname__}, which is not an "
                "algorithms.base.Algorithm subclass (docs/add_an_algorithm.md)"
            )
        return algorithm

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
    """A Lightning Trainer from the ``trainer`` config group plus run-specific arguments.

    Lightning's per-Trainer banners (devices, precision, "fit stopped") are silenced: a benchmark
    builds one Trainer per exposure run and prints its own summary.
    """
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return instantiate(cfg.trainer, _partial_=True)(**kwargs)


def requested_devices(devices) -> int:
    """Number of devices a ``trainer.devices`` value asks for (1 for "auto": Lightning's count is not known yet)."""
    if isinstance(devices, (list, tuple)) or OmegaConf.is_list(devices):
        return len(devices)
    if isinstance(devices, str):
        text = devices.strip()
        if text in ("auto", "-1"):
            return 1
        if "," in text:
            return len([d for d in text.split(",") if d.strip()])
        return int(text) if text.isdigit() else 1
    return int(devices) if devices is not None else 1


def compile_option(cfg: DictConfig) -> bool | str:
    """``compile`` of the config: false, true (torch.compile's default backend) or a backend name."""
    value = cfg.get("compile", False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ConfigError(f"compile={value!r}: expected true, false or a torch.compile backend name (e.g. inductor)")
