"""How the benchmark suite measures (benchmarks/suite.py reports): configs composed like ``lifelong-run``'s, the
bare PyTorch loop, timed runs of the real benchmarks, bare-loop brackets around them, and a neighbour process
doing a loader worker's augmentation."""
from __future__ import annotations

import contextlib
import io
import multiprocessing as mp
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig, open_dict

from lifelong.components import algorithm_parts, make_trainer
from lifelong.plugins import store_algorithm_configs
from lifelong.training.ssl_module import SSLModule, make_views
from streams.batch_ratio import split_batch


def compose_cfg(out: Path, overrides: list[str]) -> DictConfig:
    store_algorithm_configs()
    with initialize_config_module(config_module="lifelong.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["trainer.enable_progress_bar=false", *overrides])
    with open_dict(cfg):
        cfg.output_dir = str(out)
    return cfg


def quiet(fn, *args):
    """Run ``fn`` with its prints captured (the benchmark prints its own table)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


# ----------------------------------------------------------------------------------------------- bare loop
def premade_views(cfg: DictConfig, n_pairs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The two random views the bare loop feeds every step: [n_pairs, 3, S, S] at the config's image size, in its
    memory format (drawn from torch's global RNG)."""
    S = int(cfg.image_size)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    return tuple(torch.randn(n_pairs, 3, S, S).contiguous(memory_format=fmt) for _ in range(2))


def bare_step_seconds(cfg: DictConfig, n_pairs: int, steps: int, lifelong: bool) -> float:
    """Mean seconds of ``algorithm.training_loss`` + backward + optimizer step (+ EMA update) on pre-made,
    already augmented tensors, over ``steps`` steps after 3 warm-up steps: the floor of any harness. The mean,
    like the harness's wall time per step (the median ran 3-4 % below it: 82.6 vs 84.8 ms over 20 steps, 85.9 vs
    89.7 ms over 270, 2026-12-06)."""
    parts = algorithm_parts(cfg)
    torch.manual_seed(0)
    algorithm = parts.make()
    if lifelong:
        from lifelong.life_long.benchmark import lifelong_optimizer

        # lifelong_optimizer reads only these settings (benchmark.lr, its scaling, the pairs per step)
        b = cfg.benchmark
        settings = SimpleNamespace(lr=b.get("lr"), lr_scaling=b.get("lr_scaling", "linear"),
                                   pairs_per_step=int(b.batch_pairs) * int(b.accumulate_grad_batches))
        factory, wd, lr = lifelong_optimizer(cfg, parts, settings)
    else:
        factory, wd, lr = parts.optimizer_factory, parts.weight_decay, None
    opt = factory(algorithm.param_groups(wd))
    if lr is not None:
        for g in opt.param_groups:
            g["lr"] = lr
    if cfg.channels_last:
        algorithm = algorithm.to(memory_format=torch.channels_last)
    v1, v2 = premade_views(cfg, n_pairs)
    algorithm.train()
    for i in range(steps + 3):
        if i == 3:
            t0 = time.perf_counter()
        algorithm.training_progress = 0.5 if lifelong else None
        loss = algorithm.training_loss(v1, v2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        algorithm.after_optimizer_step(algorithm.training_progress)
    return (time.perf_counter() - t0) / steps


class _PremadeViews(torch.utils.data.Dataset):
    """``length`` steps of the same two pre-made views (what the bare loop feeds), as the module's batches."""

    def __init__(self, v1: torch.Tensor, v2: torch.Tensor, length: int) -> None:
        self.v1, self.v2, self.length = v1, v2, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        return {"view1": self.v1, "view2": self.v2, "step": torch.tensor(i)}


def lightning_step_seconds(cfg: DictConfig, n_pairs: int, steps: int) -> float:
    """Mean seconds per step of the harness's own Trainer (``make_trainer``) and ``SSLModule`` fed the bare loop's
    pre-made views: the bare loop's work plus Lightning's loop, hooks and logging, without sampling, augmentation or
    read-outs. Timed from the start of the 4th batch to the start of the last, like ``bare_step_seconds``'s
    3 warm-up steps (real-time settings: the optimizer's own learning rate, no schedule)."""
    parts = algorithm_parts(cfg)
    torch.manual_seed(0)
    module = SSLModule(parts.make(), parts.optimizer_factory, parts.weight_decay, parts.stream_augment,
                       parts.pretrain_augment, channels_last=bool(cfg.channels_last))
    v1, v2 = premade_views(cfg, n_pairs)
    starts: list[float] = []

    class BatchStarts(pl.Callback):
        def on_train_batch_start(self, *args) -> None:
            starts.append(time.perf_counter())

    trainer = make_trainer(cfg, max_steps=steps + 4, callbacks=[BatchStarts()])
    trainer.fit(module, torch.utils.data.DataLoader(_PremadeViews(v1, v2, steps + 4), batch_size=None))
    return (starts[-1] - starts[3]) / steps


def alternating(measure_a, measure_b, repeats: int) -> tuple[float, float, float]:
    """``repeats`` pairs of measurements in alternating order (a b, b a, a b, ...), so that a drift of the machine's
    speed falls on both sides alike. Returns the median of a, the median of b and the median of the per-pair
    ratios a / b."""
    a, b = [], []
    for i in range(repeats):
        if i % 2 == 0:
            a.append(measure_a()); b.append(measure_b())
        else:
            b.append(measure_b()); a.append(measure_a())
    return float(np.median(a)), float(np.median(b)), float(np.median(np.array(a) / np.array(b)))


# ------------------------------------------------------------------------------------------------- harness
class Stopwatch:
    """Accumulates the time spent in a wrapped method (used to time the read-outs inside a real run)."""

    def __init__(self, owner, name: str) -> None:
        self.owner, self.name, self.seconds, self.calls = owner, name, 0.0, 0
        self.original = getattr(owner, name)

    def __enter__(self):
        original = self.original

        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                self.seconds += time.perf_counter() - t0
                self.calls += 1

        setattr(self.owner, self.name, timed)
        return self

    def __exit__(self, *exc):
        setattr(self.owner, self.name, self.original)


def realtime_run(tmp: Path, overrides: list[str], warm: bool = True, warm_overrides: tuple[str, ...] = ()) -> dict:
    """One real-time benchmark run (cached short pretraining): exposure seconds, steps and read-out seconds.
    ``warm``: a first untimed run (with ``warm_overrides`` added) builds the pretraining cache and warms caches."""
    from lifelong.realtime.benchmark import run_realtime
    from lifelong.realtime.readout_callback import PairEmbedder

    cfg = compose_cfg(tmp / f"rt{len(list(tmp.glob('rt*')))}", [
        "pretraining.steps=50", "pretraining.screening.enabled=false", f"cache_dir={tmp / 'cache'}",
        "benchmark.resume=false", *overrides])
    if warm:
        warm_cfg = compose_cfg(Path(cfg.output_dir) / "warm", [
            "pretraining.steps=50", "pretraining.screening.enabled=false", f"cache_dir={tmp / 'cache'}",
            "benchmark.resume=false", *overrides, *warm_overrides])
        quiet(run_realtime, warm_cfg)              # pretraining (cached) and a first pass (warm caches)
    cfg.output_dir = str(Path(cfg.output_dir) / "timed")
    with Stopwatch(PairEmbedder, "readout") as sw, Stopwatch(SSLModule, "optimizer_step") as model:
        res = quiet(run_realtime, cfg)
    runs = [c.arrays for c in res.conditions.values()]
    seconds = float(sum(a["wall_seconds"].sum() for a in runs))
    n_runs = int(sum(len(a["wall_seconds"]) for a in runs))
    return {"seconds": seconds, "steps": n_runs * int(cfg.benchmark.num_steps), "runs": n_runs,
            "model_seconds": model.seconds,
            "readout_seconds": sw.seconds, "readouts": sw.calls, "cfg": cfg}


def lifelong_run(tmp: Path, overrides: list[str]) -> dict:
    from lifelong.life_long.benchmark import run_lifelong

    out = tmp / f"ll{len(list(tmp.glob('ll*')))}"
    cfg = compose_cfg(out, ["benchmark=lifelong", "benchmark.resume=false", *overrides])
    if int(cfg.benchmark.accumulate_grad_batches) != 1:     # optimizer_step would miss the accumulating batches
        raise ValueError("the life-long benchmark runs measure accumulate_grad_batches=1")
    t0 = time.perf_counter()
    with Stopwatch(SSLModule, "optimizer_step") as model:
        res = quiet(run_lifelong, cfg)
    wall = time.perf_counter() - t0
    train = float(res.chunk_seconds.sum())
    readout = float(res.evals["seconds"].sum())
    return {"train_seconds": train, "readout_seconds": readout, "wall": wall, "steps": len(res.loss),
            "model_seconds": model.seconds,
            "readouts": len(res.evals["seconds"]), "cfg": cfg}


def bracketed(measure_harness, measure_bare, repeats: int) -> tuple[dict, str, list[dict]]:
    """``repeats`` harness measurements, each bracketed by bare-loop measurements just before and after it (the
    speed of a shared machine drifts; the bare time is their mean). ``measure_harness`` returns a run dict and
    its seconds per step. Returns the median repeat (ratio, harness_ms, bare_ms, run), the spread as text (empty
    for one repeat) and all runs in order."""
    reps = []
    for i in range(repeats):
        before = measure_bare()
        run, harness = measure_harness(i)
        bare = (before + measure_bare()) / 2
        reps.append({"ratio": bare / harness, "harness_ms": 1e3 * harness, "bare_ms": 1e3 * bare, "run": run})
    ratios = [r["ratio"] for r in reps]
    median = reps[int(np.argsort(ratios)[len(ratios) // 2])]
    spread = f" [{min(ratios):.2f}-{max(ratios):.2f}]" if repeats > 1 else ""
    return median, spread, [r["run"] for r in reps]


def _augment_forever(cfg: DictConfig, n_pairs: int, stop, period: float) -> None:
    """Augment real-time batches until ``stop`` is set: without pause (``period`` 0), or one batch every
    ``period`` seconds, waiting for the rest of it, as a loader worker does once its prefetch queue is full."""
    torch.set_num_threads(1)
    parts = algorithm_parts(cfg)
    S = int(cfg.image_size)
    n_stream, n_pre = split_batch(n_pairs, str(cfg.benchmark.ratio))     # the real-time batch's R split
    gen = torch.Generator().manual_seed(0)
    images = lambda k: torch.randint(0, 256, (k, 3, S, S), dtype=torch.uint8, generator=gen)  # noqa: E731
    batch = {"stream1": images(n_stream), "stream2": images(n_stream), "pretrain": images(n_pre),
             "step": torch.tensor(0)}
    while not stop.is_set():
        t0 = time.perf_counter()
        make_views(batch, parts.stream_augment, parts.pretrain_augment)
        if period > 0:
            stop.wait(max(0.0, period - (time.perf_counter() - t0)))


def bare_beside_augmentation(cfg: DictConfig, n_pairs: int, steps: int, period: float = 0.0) -> tuple[float, float]:
    """Bare-loop seconds per step alone (mean of before and after) and with a second process augmenting batches
    on the other core: without pause (``period`` 0, the worst case), or one batch every ``period`` seconds, as the
    loader worker does when the step is the slower side. What sharing the cores costs the step, harness or not."""
    before = bare_step_seconds(cfg, n_pairs, steps, lifelong=False)
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    proc = ctx.Process(target=_augment_forever, args=(cfg, n_pairs, stop, period), daemon=True)
    proc.start()
    try:
        time.sleep(2.0)                                # the neighbour's setup is not part of the measurement
        beside = bare_step_seconds(cfg, n_pairs, steps, lifelong=False)
    finally:
        stop.set()
        proc.join(timeout=30)
    after = bare_step_seconds(cfg, n_pairs, steps, lifelong=False)
    return (before + after) / 2, beside
