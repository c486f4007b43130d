"""Run the real-time benchmark: pretrain (or load) a starting point, run every face pair under
every condition from it, read out d', align with the human test points, score and plot."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

import human_data
from algorithms.normalize import eval_transform
from streams.batch_ratio import split_batch
from streams.face_pairs import face_pairs
from streams.image_store import ImageStore, TensorImageStore
from streams.session import CONDITIONS, SessionProtocol, build_session
from streams.stimulus_set import StimulusSet
from streams.stream_sampler import plan_stream, pretraining_order

from ..atomic_write import check_writable
from ..components import (AlgorithmParts, ConfigError, algorithm_parts, build, compile_option, make_trainer,
                          requested_devices)
from ..provenance import results_key, run_provenance
from ..training.checkpoint import restore_algorithm
from ..training.openselfsup_checkpoint import checkpoint_format, open_starting_checkpoint
from ..training.pretrain import pretrain, pretraining_key
from ..training.loader_augment import loader_dataset
from ..training.ssl_module import SSLModule
from ..training.step_batches import StepBatches
from .effects import N_EVALUATIONS, align_five_points, mean_sem, run_effect
from .figure import save_figure
from .readout_callback import DPrimeReadout, PairEmbedder
from .results import ConditionResult, RealtimeResults, write_results
from .run_store import REALTIME_RESULT_KEYS, RunStore
from .score import score_effects

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RealtimeSettings:
    conditions: tuple[str, ...]
    pair_indices: tuple[int, ...]
    num_steps: int
    eval_every: int
    n_stream: int
    n_pretrain: int
    window_minutes: float
    jitter_seconds: float
    lr: float
    protocol: SessionProtocol
    seed: int


def realtime_settings(cfg: DictConfig, parts: AlgorithmParts | None = None) -> RealtimeSettings:
    """Validate the benchmark config; every error names the bad value."""
    b = cfg.benchmark
    conds = b.conditions
    conds = [conds] if isinstance(conds, str) else list(conds)
    if not conds:
        raise ConfigError("benchmark.conditions is empty; expected some of build, break, switch")
    for c in conds:
        if c not in CONDITIONS:
            raise ConfigError(f"unknown condition {c!r} in benchmark.conditions; expected some of {', '.join(CONDITIONS)}")
    if len(set(conds)) != len(conds):
        raise ConfigError(f"benchmark.conditions lists a condition twice: {conds}")
    n_pairs = len(face_pairs())
    pairs = b.pairs
    if pairs in (None, "all"):
        pairs = list(range(n_pairs))
    else:
        pairs = [pairs] if isinstance(pairs, int) else list(pairs)
        bad = [p for p in pairs if not isinstance(p, int) or not 0 <= p < n_pairs]
        if bad or not pairs:
            raise ConfigError(f"benchmark.pairs={pairs}: expected 'all' or pair indices in 0..{n_pairs - 1}")
    steps = int(b.num_steps)
    if steps <= 0 or steps % (N_EVALUATIONS - 1):
        raise ConfigError(
            f"benchmark.num_steps={steps}: must be a positive multiple of {N_EVALUATIONS - 1} so that the "
            f"{N_EVALUATIONS} evaluations fall every 5 session minutes"
        )
    w = b.window_minutes
    if not isinstance(w, (int, float)) or isinstance(w, bool) or not w > 0:
        raise ConfigError(f"benchmark.window_minutes={w!r}: the learning window W must be a number > 0 (minutes)")
    try:
        n_stream, n_pre = split_batch(int(b.batch_pairs), str(b.ratio))
    except ValueError as exc:
        raise ConfigError(f"benchmark.ratio / batch_pairs: {exc}") from None
    lr = b.lr if b.get("lr") is not None else (parts.realtime_lr if parts else None)
    if lr is None or not float(lr) > 0:
        raise ConfigError(f"benchmark.lr={lr!r}: the constant exposure learning rate must be > 0")
    ref = b.get("lr_reference_steps")
    if ref is not None:
        if not float(ref) > 0:
            raise ConfigError(f"benchmark.lr_reference_steps={ref!r}: must be > 0 (or null)")
        lr = float(lr) * float(ref) / steps             # same total update lr x steps as a run of `ref` steps
    try:
        protocol = SessionProtocol(**OmegaConf.to_container(b.session, resolve=True))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"benchmark.session: {exc}") from None
    return RealtimeSettings(
        conditions=tuple(conds),
        pair_indices=tuple(pairs),
        num_steps=steps,
        eval_every=steps // (N_EVALUATIONS - 1),
        n_stream=n_stream,
        n_pretrain=n_pre,
        window_minutes=float(w),
        jitter_seconds=float(b.jitter_seconds),
        lr=float(lr),
        protocol=protocol,
        seed=int(cfg.seed),
    )


def load_inputs(cfg: DictConfig) -> tuple[StimulusSet, ImageStore]:
    stim = build(cfg.stimuli, "stimuli")
    store = build(cfg.pretrain_data, "pretrain_data")
    if isinstance(store, torch.Tensor):
        store = TensorImageStore(store, source="procedural")
    if stim.image_size != int(cfg.image_size) or store.image_size != int(cfg.image_size):
        raise ConfigError(
            f"image_size={cfg.image_size} but stimuli are {stim.image_size} px and pretraining images "
            f"{store.image_size} px"
        )
    return stim, store


def obtain_checkpoint(cfg: DictConfig, store: ImageStore, embedder: PairEmbedder | None = None) -> Path:
    given = cfg.pretraining.get("checkpoint")
    if given:
        return Path(str(given))
    key = pretraining_key(cfg)
    name = f"{cfg.algorithm.name}-{key}.ckpt"
    if cfg.pretraining.get("cache", True):
        cached = Path(str(cfg.cache_dir)) / "pretrain" / name
        if cached.is_file():
            log.info("using cached pretraining checkpoint %s", cached)
            return cached
        out = cached
    else:
        out = Path(str(cfg.output_dir)) / name
        if out.is_file():                       # this run's own earlier pretraining (a resumed run)
            log.info("using this run's pretraining checkpoint %s", out)
            return out
    log.info("pretraining %s for %d steps -> %s", cfg.algorithm.name, cfg.pretraining.steps, out)
    return pretrain(cfg, store, out, embedder=embedder)


def run_exposure(
    cfg: DictConfig,
    parts: AlgorithmParts,
    settings: RealtimeSettings,
    stim: StimulusSet,
    store: ImageStore,
    ckpt: dict,
    embedder: PairEmbedder,
    condition: str,
    pair_index: int,
) -> dict[str, np.ndarray]:
    """One exposure run: restart from the checkpoint, train on the session stream, read out."""
    t0 = time.time()
    s = settings
    session = build_session(stim, pair_index, condition, s.protocol, seed=s.seed)
    plan = plan_stream(
        session.frames, s.protocol.frame_seconds, s.num_steps, s.n_stream, len(store),
        s.window_minutes, s.jitter_seconds, seed=s.seed * 1000 + pair_index,
    )
    # the pretraining sampler restarts identically for every face pair
    order = pretraining_order(len(store), s.num_steps, s.n_pretrain, seed=s.seed)
    stim_store = TensorImageStore(stim.images)
    torch.manual_seed(s.seed * 1000 + pair_index)
    algorithm = parts.make()
    restore_algorithm(algorithm, ckpt)
    module = SSLModule(
        algorithm,
        parts.optimizer_factory,
        parts.weight_decay,
        stream_augment=parts.stream_augment,
        pretrain_augment=parts.pretrain_augment,
        constant_lr=s.lr,
        optimizer_state=ckpt["optimizer_states"][0],
        channels_last=bool(cfg.channels_last),
        compile_backbone=compile_option(cfg),
    )
    readout = DPrimeReadout(embedder, s.eval_every)
    loader = DataLoader(
        loader_dataset(StepBatches(store, order, stim_store, plan, seed=s.seed * 1000 + pair_index), module,
                       bool(cfg.augment_in_loader)),
        batch_size=None, num_workers=int(cfg.num_workers),
    )
    trainer = make_trainer(cfg, max_steps=s.num_steps, callbacks=[readout])
    trainer.fit(module, loader)
    rl = readout.record
    if len(rl.steps) != N_EVALUATIONS:
        raise RuntimeError(f"expected {N_EVALUATIONS} evaluations, got {len(rl.steps)} at steps {rl.steps}")
    dbig = rl.array("big", "dprime")
    e = run_effect(dbig, pair_index, session.control_pair_index)
    return {
        "exposed_pair": np.int64(pair_index),
        "control_pair": np.int64(session.control_pair_index),
        "dprime_big": dbig,
        "dprime_small": rl.array("small", "dprime"),
        "confusion_big": rl.array("big", "confusion"),
        "confusion_small": rl.array("small", "confusion"),
        "margin_correct_big": rl.array("big", "margin_correct"),
        "margin_wrong_big": rl.array("big", "margin_wrong"),
        "loss": np.asarray(module.losses, dtype=np.float64),
        "wall_seconds": np.float64(time.time() - t0),
        "run_effect": e,
        "effect": align_five_points(e),
        "eval_steps": np.asarray(rl.steps),
    }


def run_realtime(cfg: DictConfig) -> RealtimeResults:
    t_start = time.time()
    n_devices = requested_devices(cfg.trainer.get("devices", 1))
    if n_devices > 1:
        raise ConfigError(
            f"trainer.devices={cfg.trainer.devices}: the real-time benchmark runs each exposure run (a few hundred "
            "steps of one face pair) on one device; spread the work with a sweep instead, e.g. "
            "lifelong-run -m hydra/launcher=local algorithm=simclr,byol seed=0,1")
    parts = algorithm_parts(cfg)
    settings = realtime_settings(cfg, parts)
    out_dir = Path(str(cfg.output_dir))
    check_writable(out_dir)                     # before any compute
    results_path = out_dir / str(cfg.results_file)
    stim, store = load_inputs(cfg)
    human = human_data.load(str(cfg.human_data))
    checkpoint_format(cfg)                      # a bad pretraining.checkpoint_format fails before pretraining
    pairs = face_pairs(stim.n_identities)
    embedder = PairEmbedder(stim, pairs, eval_transform)
    ckpt_path = obtain_checkpoint(cfg, store, embedder)
    ckpt = open_starting_checkpoint(cfg, parts, ckpt_path)   # ours, or the authors' OpenSelfSup files
    screening = (ckpt.get("lifelong") or {}).get("screening")
    if screening and screening.get("selected_step") is not None:
        print(f"checkpoint screening kept pretraining step {screening['selected_step']} "
              f"(mean big d' in {screening['dprime_range']})", flush=True)
    algorithm = parts.make()
    restore_algorithm(algorithm, ckpt, source=str(ckpt_path))
    init_big, init_small = embedder.readout(algorithm, torch.device("cpu"))
    print(
        f"initial d' of the starting checkpoint: big {init_big.dprime.mean():.3f} "
        f"(min {init_big.dprime.min():.2f}, max {init_big.dprime.max():.2f}), small {init_small.dprime.mean():.3f}",
        flush=True,
    )

    print(f"exposure runs: {len(settings.conditions)} conditions x {len(settings.pair_indices)} pairs, "
          f"{settings.num_steps} steps of {settings.n_stream} stream + {settings.n_pretrain} pretraining pairs, "
          f"constant lr {settings.lr:g}", flush=True)
    conditions: dict[str, ConditionResult] = {}
    eval_steps = None
    saved = RunStore(out_dir / "checkpoints" / "runs", results_key(cfg, REALTIME_RESULT_KEYS)) \
        if cfg.benchmark.get("resume", True) else None
    for cond in settings.conditions:
        runs = []
        for p in settings.pair_indices:
            r = saved.load(cond, p) if saved else None
            restored = r is not None
            if r is None:
                r = run_exposure(cfg, parts, settings, stim, store, ckpt, embedder, cond, p)
                if saved:
                    saved.save(cond, p, r)
            eval_steps = r.pop("eval_steps")
            runs.append(r)
            took = "restored" if restored else f"{float(r['wall_seconds']):.1f}s"
            print(f"[{cond} pair {p:2d} faces {pairs[p]} control {int(r['control_pair']):2d}] "
                  f"effect {np.array2string(r['effect'], precision=2)}  {took}", flush=True)
        arrays = {k: np.stack([r[k] for r in runs]) for k in runs[0]}
        m, sem = mean_sem(arrays["effect"])
        conditions[cond] = ConditionResult(cond, arrays, m, sem)

    conds = list(conditions)
    model = np.stack([conditions[c].effect_mean[1:] for c in conds])
    h_mean = np.stack([human.effect_mean(c) for c in conds])
    h_std = np.stack([human.effect_std(c) for c in conds])
    h_boot = np.stack([human.effects[c][1:] for c in conds])
    score = score_effects(conds, model, h_mean[:, 1:], h_boot)
    res = RealtimeResults(
        pairs=np.asarray(pairs),
        identities=list(stim.identities),
        eval_steps=eval_steps,
        eval_minutes=eval_steps * settings.protocol.total_seconds / settings.num_steps / 60.0,
        test_points=np.asarray(human.test_points),
        initial_dprime_big=init_big.dprime.numpy(),
        initial_dprime_small=init_small.dprime.numpy(),
        conditions=conditions,
        human_mean=h_mean,
        human_std=h_std,
        score=score,
        attrs={
            "algorithm": parts.name,
            **run_provenance(cfg),
            "stimuli_source": stim.source,
            "checkpoint": str(ckpt_path),
            "wall_seconds": time.time() - t_start,
        },
    )
    write_results(results_path, res)
    figs = save_figure(res, out_dir / str(cfg.figure_stem), title=f"{parts.name} vs humans")
    print("\nmodel effects (Δd' exposed − control) at 400/800/1200/1600 exposures:")
    for c in conds:
        ce = conditions[c]
        print(f"  {c:<7} " + "  ".join(f"{v:+.3f}±{s:.3f}" for v, s in zip(ce.effect_mean[1:], ce.effect_sem[1:])))
    print("\n" + score.as_table())
    print(f"\nresults: {results_path}\nfigure:  {', '.join(str(f) for f in figs)}")
    print(f"wall time {time.time() - t_start:.1f}s")
    return res
