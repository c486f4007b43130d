"""Run the life-long benchmark: train an algorithm from random initialisation online on a chronological
frame stream, chunk by chunk (window W + replay memory at ratio R), with a linear read-out before training
and after every chunk; write the results file and the learning-curve figure."""
from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only

from streams.curriculum import Curriculum
from streams.errors import StimulusError
from streams.frame_source import FrameSource
from streams.labelled_images import LabelledImages

from ..atomic_write import check_writable
from ..components import (AlgorithmParts, ConfigError, algorithm_parts, build, compile_option, make_trainer,
                          requested_devices)
from ..provenance import run_provenance
from ..training.loader_augment import loader_dataset
from ..training.ssl_module import SSLModule
from .chunk_data import LifelongStreamData
from .figure import save_curve
from .readout_callback import LinearReadout
from .results import LifelongResults, write_results
from .resume import ChunkCheckpoint, results_key
from .settings import PAPER_PAIRS_PER_STEP, LifelongSettings, lifelong_settings, readout_options

log = logging.getLogger(__name__)

#: errors that already name the bad file or value
USER_INPUT_ERRORS = (ConfigError, StimulusError)


def _without_resize_center_pad(node):
    """The algorithm's pretraining recipe with ResizeCenterPad off (a real-time-only augmentation, §15.1)."""
    node = OmegaConf.create(OmegaConf.to_container(node, resolve=True))

    def walk(n):
        if isinstance(n, DictConfig):
            if "resize_center_pad_p" in n:
                n.resize_center_pad_p = 0.0
            for k in n:
                walk(n[k])

    walk(node)
    return node


def lifelong_augment(cfg: DictConfig) -> torch.nn.Module:
    """``algorithm.augment.lifelong`` when the algorithm gives one, else its pretraining recipe without
    ResizeCenterPad: algorithms.md §15 lists the life-long recipe as the pretraining one at 112 px."""
    aug = cfg.algorithm.augment
    node = aug.get("lifelong")
    return instantiate(node if node is not None else _without_resize_center_pad(aug.pretrain))


def lifelong_optimizer(cfg: DictConfig, parts: AlgorithmParts, settings: LifelongSettings):
    """(optimizer factory, weight decay, peak LR): ``algorithm.lifelong_optimizer`` if given (MoCo v2: LARS 4.8
    instead of its SGD, lifelong.md §8.2), else the algorithm's optimizer; the LR is ``benchmark.lr``, else
    ``algorithm.lifelong_lr``, else the optimizer's."""
    node = cfg.algorithm.get("lifelong_optimizer")
    factory, wd = parts.optimizer_factory, parts.weight_decay
    lr = cfg.algorithm.optimizer.get("lr")
    if node is not None:
        factory = instantiate(node, _partial_=True)
        wd = float(node.get("weight_decay", 0.0))
        lr = node.get("lr", lr)
    if cfg.algorithm.get("lifelong_lr") is not None:
        lr = cfg.algorithm.lifelong_lr
    if settings.lr is not None:
        return factory, wd, settings.lr          # an explicit peak LR is used as given
    if lr is None or not float(lr) > 0:
        raise ConfigError(f"no life-long learning rate for algorithm {parts.name!r}; set benchmark.lr")
    return factory, wd, scaled_lr(float(lr), settings, cfg.algorithm.get("lifelong_pairs_per_step"))


def scaled_lr(paper_lr: float, settings: LifelongSettings, paper_pairs: int | None) -> float:
    """The algorithm's paper LR for this run's pairs per optimizer step. ``lr_scaling=linear`` multiplies it
    by (pairs per step) / (the paper's pairs per step), the linear scaling rule the paper's recipes come from
    (SimCLR: lr = 0.3 x batch / 256, i.e. 4.8 at 4,096; MAE and DINO state theirs per 256). Identity at the
    paper's batch; the CPU preset's 64 pairs per step give SimCLR 4.8 x 64 / 4,096 = 0.075."""
    if settings.lr_scaling == "none":
        return paper_lr
    ref = PAPER_PAIRS_PER_STEP if paper_pairs is None else int(paper_pairs)
    return paper_lr * settings.pairs_per_step / ref


def _build_input(node: DictConfig, what: str):
    """Instantiate a data group; a generator's argument error (plain ValueError) becomes a ConfigError naming
    the group, data errors (StimulusError, ...) pass through as they are."""
    try:
        return build(node, what)
    except ValueError as exc:
        if isinstance(exc, USER_INPUT_ERRORS):
            raise
        raise ConfigError(f"{what}: {exc}") from None


def load_lifelong_inputs(cfg: DictConfig) -> tuple[FrameSource, LabelledImages]:
    frames = _build_input(cfg.frames, "frames")
    if not isinstance(frames, FrameSource):
        raise ConfigError(f"frames._target_={cfg.frames.get('_target_')!r} did not build a frame source")
    readout_set = _build_input(cfg.readout_set, "readout_set")
    if not isinstance(readout_set, LabelledImages):
        raise ConfigError(f"readout_set._target_={cfg.readout_set.get('_target_')!r} did not build a labelled set")
    size = int(cfg.image_size)
    if frames.image_size != size or readout_set.image_size != size:
        raise ConfigError(f"image_size={size} but the frames are {frames.image_size} px and the read-out images "
                          f"{readout_set.image_size} px")
    return frames, readout_set


def check_distributed(cfg: DictConfig) -> int:
    """Devices requested; refuses DDP inside a local Hydra multirun, where Lightning's launcher would restart the
    whole sweep in every child process (on SLURM each task is one rank and no child is launched)."""
    n = requested_devices(cfg.trainer.get("devices", 1))
    if n > 1 and "SLURM_NTASKS" not in os.environ:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            raise ConfigError(
                f"trainer.devices={cfg.trainer.devices} in a local multirun (-m): run DDP jobs one at a time "
                "(lifelong-run ... trainer.devices=N trainer.strategy=ddp) or on SLURM with "
                "hydra/launcher=slurm hydra.launcher.tasks_per_node=N")
    return n


def run_lifelong(cfg: DictConfig) -> LifelongResults | None:
    """Runs the benchmark; returns the results on the process that wrote them (rank 0), None on other ranks."""
    t_start = time.time()
    check_distributed(cfg)
    say = print if rank_zero_only.rank == 0 else (lambda *a, **k: None)
    parts = algorithm_parts(cfg)
    frames, readout_set = load_lifelong_inputs(cfg)
    timeline = frames.timeline
    settings = lifelong_settings(cfg, timeline)
    options = readout_options(cfg)
    out_dir = Path(str(cfg.output_dir))
    check_writable(out_dir)                     # before any compute
    results_path = out_dir / str(cfg.results_file)
    cs = settings.curriculum
    curriculum = Curriculum(timeline, cs)
    factory, wd, lr = lifelong_optimizer(cfg, parts, settings)
    augment = lifelong_augment(cfg)

    torch.manual_seed(int(cfg.seed))
    algorithm = parts.make()
    module = SSLModule(
        algorithm, factory, wd,
        stream_augment=augment,
        pretrain_augment=augment,                  # unused: life-long batches have no pretraining half
        warmup_steps=settings.warmup_steps,
        total_steps=settings.optimizer_steps,
        channels_last=bool(cfg.channels_last),
        compile_backbone=compile_option(cfg),
        base_lr=lr,
    )
    n_w, n_m = cs.split
    say(f"life-long: {parts.name} on {frames.source} ({timeline.n_frames} frames, {timeline.n_videos} videos, "
          f"{timeline.hours_through(settings.n_chunks - 1):.2f} h in {settings.n_chunks} chunks); W "
          f"{settings.window_minutes:g} min = {cs.window_frames} frames, R {cs.ratio} ({n_w} window + {n_m} memory "
          f"pairs per batch), memory {cs.memory_mode}; {cs.steps_per_epoch} batches per chunk, accumulation "
          f"{settings.accumulate}, {settings.optimizer_steps} optimizer steps, peak lr {lr:g}", flush=True)
    say(f"read-out set: {readout_set.source}, {readout_set.n_classes} classes, {len(readout_set.train_labels)} "
          f"train / {len(readout_set.test_labels)} test images", flush=True)

    readout = LinearReadout(readout_set, timeline, settings.n_chunks, settings.eval_every, options, int(cfg.seed))
    data = LifelongStreamData(frames, curriculum, num_workers=int(cfg.num_workers), seed=int(cfg.seed),
                              wrap=lambda batches: loader_dataset(batches, module, bool(cfg.augment_in_loader)))
    callbacks = [readout]                          # the read-out runs before the chunk's checkpoint is written
    resume_from = None
    if cfg.benchmark.get("resume", True):
        last = out_dir / "checkpoints" / "last.ckpt"
        callbacks.append(ChunkCheckpoint(last, results_key(cfg)))
        if last.is_file():
            resume_from = last
            say(f"resuming from {last}", flush=True)
    trainer = make_trainer(
        cfg,
        max_epochs=settings.n_chunks,
        reload_dataloaders_every_n_epochs=1,
        accumulate_grad_batches=settings.accumulate,
        callbacks=callbacks,
        use_distributed_sampler=False,             # LifelongStreamData shards every batch across ranks itself
    )
    with warnings.catch_warnings():
        # the module's on_after_batch_transfer (device augmentation) is meant to run; Lightning says so each epoch
        warnings.filterwarnings("ignore", message=".*overridden `on_after_batch_transfer`.*")
        # our own checkpoint (written above by this harness), so unpickling the read-out record is safe
        trainer.fit(module, datamodule=data, ckpt_path=resume_from, weights_only=False)
    if not trainer.is_global_zero:
        return None                                # rank 0 holds the read-outs and writes the outputs

    rec = readout.record
    chunks = np.asarray(rec.chunk, dtype=np.int64)
    rs = rec.results
    evals = {
        "chunk": chunks,
        "step": np.asarray(rec.step, dtype=np.int64),
        "hours": np.asarray([timeline.hours_through(int(c)) for c in chunks]),
        "age_months": np.asarray([timeline.age_months_after(int(c)) for c in chunks]),
        "svm_acc": np.asarray([r.svm_acc for r in rs]),
        "svm_perf_oracle": np.asarray([r.svm_perf_oracle for r in rs]),
        "alpha": np.asarray([r.alpha for r in rs]),
        "heldout_acc": np.stack([np.asarray(r.heldout_acc) for r in rs]),
        "test_acc": np.stack([np.asarray(r.test_acc) for r in rs]),
        "knn_acc": np.asarray([np.nan if r.knn_acc is None else r.knn_acc for r in rs], dtype=np.float64),
        "chance": np.asarray([r.chance for r in rs]),
        "seconds": np.asarray(rec.seconds),
    }
    res = LifelongResults(
        alphas=np.asarray(options["alphas"]),
        evals=evals,
        loss=np.asarray(module.losses, dtype=np.float64),
        chunk_seconds=np.asarray(rec.chunk_seconds),
        attrs={
            "algorithm": parts.name,
            **run_provenance(cfg),
            "frames_source": frames.source,
            "readout_source": readout_set.source,
            "memory_mode": cs.memory_mode,
            "window_frames": cs.window_frames,
            "window_minutes": settings.window_minutes,
            "ratio": cs.ratio,
            "n_chunks": settings.n_chunks,
            "fps": timeline.fps,
            "wall_seconds": time.time() - t_start,
        },
    )
    write_results(results_path, res)
    figs = save_curve(res, out_dir / str(cfg.lifelong_figure_stem))
    s = res.summary()
    print(f"\nread-out accuracy: before training {100 * s['initial_acc']:.1f}%, after the last chunk "
          f"{100 * s['final_acc']:.1f}%, mean over experience {100 * s['mean_acc']:.1f}% (chance "
          f"{100 * evals['chance'][0]:.1f}%); paper's oracle number {100 * s['initial_oracle']:.1f}% -> "
          f"{100 * s['final_oracle']:.1f}%")
    print(f"training {sum(rec.chunk_seconds):.1f}s, read-outs {sum(rec.seconds):.1f}s")
    print(f"results: {results_path}\nfigure:  {', '.join(str(f) for f in figs)}")
    print(f"wall time {time.time() - t_start:.1f}s")
    return res
