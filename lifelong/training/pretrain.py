"""Pretraining: train an algorithm on the pretraining set and save a starting-point checkpoint.

The checkpoint holds weights and optimizer state (the real-time protocol restores both). A
checkpoint is cached under ``cache_dir`` by a hash of everything that determines it (the settings and the source of
the code that trains it), so a second run with the same settings and code starts from the cached file.
"""
from __future__ import annotations

import hashlib
import json
import time
from functools import lru_cache
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

import algorithms
import streams
from streams.image_store import ImageStore
from streams.stream_sampler import pretraining_order

from ..atomic_write import atomic_path
from ..components import algorithm_parts, backbone_node, compile_option, make_trainer
from .checkpoint_screening import CheckpointScreening
from .loader_augment import loader_dataset
from .ssl_module import SSLModule
from .step_batches import StepBatches

#: algorithm keys read only by the life-long benchmark (left out of the pretraining cache key)
LIFELONG_ONLY_KEYS = ("lifelong_lr", "lifelong_optimizer")
CACHE_KEYS = ("algorithm", "pretrain_data", "pretraining", "image_size", "seed", "blur_sigma", "stimuli")


def pretraining_sources() -> tuple[Path, list[Path]]:
    """The folder holding the harness's packages, and the Python sources a pretrained checkpoint depends on: the
    algorithms and their augmentation (``algorithms``), the images and samplers (``streams``), the training loop
    (``lifelong/training``) and the component builders (``lifelong/components.py``)."""
    here = Path(__file__).resolve().parent
    files = [*(f for pkg in (algorithms, streams) for f in Path(pkg.__file__).resolve().parent.rglob("*.py")),
             *here.rglob("*.py"), here.parent / "components.py"]
    return here.parent.parent, files


def sources_hash(root: Path, files: list[Path]) -> str:
    """A short hash of the files' paths below ``root`` and their contents, in the order of those paths."""
    digest = hashlib.sha256()
    for name, f in sorted((f.relative_to(root).as_posix(), f) for f in files):
        digest.update(f"{name}\0".encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def pretraining_code_hash() -> str:
    """Part of the cache key, so that a checkpoint made by other code (an upgrade, an edited recipe) is not reused
    as if it were equal: the settings alone do not say what a checkpoint is."""
    return sources_hash(*pretraining_sources())


def pretraining_key(cfg: DictConfig) -> str:
    parts = {k: OmegaConf.to_container(cfg[k], resolve=True) if isinstance(cfg[k], DictConfig) else cfg[k]
             for k in CACHE_KEYS if k in cfg}
    parts["backbone"] = OmegaConf.to_container(backbone_node(cfg), resolve=True)  # only the arch in use
    skip = ("checkpoint", "checkpoint_format", "cache")       # where a start comes from, not what it is
    parts["pretraining"] = {k: v for k, v in parts.get("pretraining", {}).items() if k not in skip}
    algo = parts.get("algorithm", {})                          # life-long-only settings do not change pretraining
    for k in LIFELONG_ONLY_KEYS:
        algo.pop(k, None)
    algo.get("augment", {}).pop("lifelong", None)
    parts["code"] = pretraining_code_hash()
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def pretrain(cfg: DictConfig, store: ImageStore, out_path: Path, embedder=None) -> Path:
    """Train from random initialisation for ``pretraining.steps`` steps; write ``out_path`` atomically.

    With ``embedder`` (the benchmark's d' read-out) and ``pretraining.screening.enabled``, the saved state is
    the one chosen by :class:`CheckpointScreening` (the authors' early-checkpoint selection, made explicit).
    """
    pcfg = cfg.pretraining
    parts = algorithm_parts(cfg)
    torch.manual_seed(int(cfg.seed))
    algorithm = parts.make()
    steps = int(pcfg.steps)
    order = pretraining_order(len(store), steps, int(pcfg.batch_pairs), seed=int(cfg.seed))
    module = SSLModule(
        algorithm,
        parts.optimizer_factory,
        parts.weight_decay,
        stream_augment=None,
        pretrain_augment=parts.pretrain_augment,
        warmup_steps=int(pcfg.warmup_steps),
        total_steps=steps,
        channels_last=bool(cfg.channels_last),
        compile_backbone=compile_option(cfg),
        base_lr=None if pcfg.get("lr") is None else float(pcfg.lr),
    )
    loader = DataLoader(loader_dataset(StepBatches(store, order, seed=int(cfg.seed)), module, bool(cfg.augment_in_loader)),
                        batch_size=None, num_workers=int(cfg.num_workers))
    scfg = pcfg.get("screening")
    screening = None
    if embedder is not None and scfg is not None and scfg.get("enabled", False):
        screening = CheckpointScreening(embedder, int(scfg.every_n_steps), tuple(scfg.dprime_range))
    trainer = make_trainer(cfg, max_steps=steps, callbacks=[screening] if screening else [])
    t0 = time.time()
    trainer.fit(module, loader)
    with atomic_path(out_path) as tmp:
        trainer.save_checkpoint(tmp)
        ckpt = torch.load(tmp, map_location="cpu", weights_only=False)
        screening_meta = screening.apply(ckpt) if screening else None
        ckpt["lifelong"] = {
            "screening": screening_meta,
            "algorithm": parts.name,
            "image_size": int(cfg.image_size),
            "pretraining": OmegaConf.to_container(pcfg, resolve=True),
            "pretraining_seconds": time.time() - t0,
            "final_loss": module.losses[-1] if module.losses else None,
            "losses": module.losses,
        }
        torch.save(ckpt, tmp)
    return out_path
