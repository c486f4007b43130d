"""Side-by-side performance benchmarks of the harness (outside the test suite).

    python -m benchmarks.suite                      # sections 1-5, CPU preset sizes (~12 min on 2 cores)
    python -m benchmarks.suite --only data store    # some sections
    python -m benchmarks.suite --only protocol      # section 6 (~17 min)
    python -m benchmarks.suite --quick              # smaller sizes, for a smoke check

Every ratio is measured in the same process, the two sides one after the other, on the same model, batch
and image size. Sections:

1. harness  Harness efficiency: seconds per training step of the real-time and of the life-long benchmark run
            through the harness (Lightning, stream sampling, device augmentation, the step, the read-outs
            amortised) vs a bare PyTorch loop of the same algorithm, optimizer and batch on pre-made tensors.
            Ratio = bare / harness (target >= 0.90).
2. data     Data path: our stream -> pairs -> batched augmentation (ChunkBatches + the algorithm's recipe on
            whole batches) vs a per-image pipeline of the paper's kind (every frame decoded from JPEG, PIL /
            torchvision transforms per image, DataLoader) at the same image size and worker count (target >= 5x).
3. eval     Evaluation cost: the 15-pair d' read-out and the life-long linear read-out as a share of training
            time (target <= 10 %).
4. store    Frame store: the curriculum's batches (window + memory frames and partners) read from the HDF5
            store vs the same frames decoded from SAYCam-layout JPEG folders, frames/s.
5. scaling  Wall time vs work: real-time vs steps and pairs, life-long vs stream length and memory size;
            cost per unit of work should stay constant (linear growth).
6. protocol Sections 1 and 3 at the protocol's step counts instead of the CPU preset's compressed ones, with
            the CPU model and batch: a real-time exposure run of the paper's 1,350 steps (the CPU preset runs
            54, with the same 19 evaluations) and one life-long chunk of the paper's 2,502 iterations (CPU
            preset 100), augmentation in 1 loader worker; and the bare loop beside a process doing the worker's
            augmentation (what sharing 2 cores costs any loop). Not part of the default run (~17 min).

Sections 2 and 4 live in benchmarks/data_path.py; this module runs the benchmarks themselves (1, 3, 5).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig, open_dict

from lifelong.components import algorithm_parts
from lifelong.plugins import store_algorithm_configs
from lifelong.training.ssl_module import SSLModule, make_views

from .data_path import section_data, section_store

SECTIONS = ("harness", "data", "eval", "store", "scaling", "protocol")
PAPER_ITERATIONS_PER_CHUNK = 2502      # lifelong.yaml: 1,281,166 pairs per chunk / 512 pairs per batch


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
def bare_step_seconds(cfg: DictConfig, n_pairs: int, steps: int, lifelong: bool) -> float:
    """Median seconds of ``algorithm.training_loss`` + backward + optimizer step (+ EMA update) on pre-made,
    already augmented tensors: the floor of any harness."""
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
    S = int(cfg.image_size)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    if cfg.channels_last:
        algorithm = algorithm.to(memory_format=torch.channels_last)
    v1 = torch.randn(n_pairs, 3, S, S).contiguous(memory_format=fmt)
    v2 = torch.randn(n_pairs, 3, S, S).contiguous(memory_format=fmt)
    algorithm.train()
    times = []
    for i in range(steps + 3):
        t0 = time.perf_counter()
        algorithm.training_progress = 0.5 if lifelong else None
        loss = algorithm.training_loss(v1, v2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        algorithm.after_optimizer_step(algorithm.training_progress)
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


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
    t0 = time.perf_counter()
    if int(cfg.benchmark.accumulate_grad_batches) != 1:     # optimizer_step would miss the accumulating batches
        raise ValueError("the life-long benchmark runs measure accumulate_grad_batches=1")
    with Stopwatch(SSLModule, "optimizer_step") as model:
        res = quiet(run_lifelong, cfg)
    wall = time.perf_counter() - t0
    train = float(res.chunk_seconds.sum())
    readout = float(res.evals["seconds"].sum())
    return {"train_seconds": train, "readout_seconds": readout, "wall": wall, "steps": len(res.loss),
            "model_seconds": model.seconds,
            "readouts": len(res.evals["seconds"]), "cfg": cfg}


MODES = (("augmentation on the device, 0 workers", []),
         ("augmentation in 1 loader worker", ["augment_in_loader=true", "num_workers=1"]))


def section_harness(tmp: Path, quick: bool, rows: list) -> dict:
    """Each harness run is bracketed by bare-loop measurements just before and after it (the speed of a shared
    machine drifts); the bare time is their mean. With ``repeats`` > 1 the ratios' median is reported."""
    runs = {}
    steps = 10 if quick else 20
    repeats = 1 if quick else 2
    ll_size = ["frames.n_days=4", "frames.n_chunks=2"] if quick else ["frames.n_days=8", "frames.n_chunks=4"]
    for i, (mode, over) in enumerate(MODES):
        for bench in ("real-time", "life-long"):
            ratios, harness_ms, bare_ms = [], [], []
            for _ in range(repeats):
                if bench == "real-time":
                    cfg = compose_cfg(tmp / "probe", ["benchmark.pairs=[0]"])
                    before = bare_step_seconds(cfg, int(cfg.benchmark.batch_pairs), steps, lifelong=False)
                    rt = realtime_run(tmp, ["benchmark.pairs=[0]", "benchmark.conditions=[build]", *over])
                    harness = rt["seconds"] / rt["steps"]
                    after = bare_step_seconds(cfg, int(cfg.benchmark.batch_pairs), steps, lifelong=False)
                    last = rt
                else:
                    cfg = compose_cfg(tmp / "probe", ["benchmark=lifelong"])
                    before = bare_step_seconds(cfg, int(cfg.benchmark.batch_pairs), steps, lifelong=True)
                    ll = lifelong_run(tmp, [*ll_size, *over])
                    harness = (ll["train_seconds"] + ll["readout_seconds"]) / ll["steps"]
                    after = bare_step_seconds(cfg, int(cfg.benchmark.batch_pairs), steps, lifelong=True)
                    last = ll
                bare = (before + after) / 2
                ratios.append(bare / harness)
                harness_ms.append(1e3 * harness)
                bare_ms.append(1e3 * bare)
            k = int(np.argsort(ratios)[len(ratios) // 2])
            what = ("real-time step (SimCLR, 48 pairs, 32 px, 19 d' read-outs amortised)" if bench == "real-time"
                    else "life-long step (SimCLR, 64 pairs, 32 px, read-outs amortised)")
            spread = f" [{min(ratios):.2f}-{max(ratios):.2f}]" if repeats > 1 else ""
            rows.append(("harness", f"{what}, {mode}{spread}", f"{harness_ms[k]:.1f} ms",
                         f"bare loop {bare_ms[k]:.1f} ms", ratios[k], ">= 0.90"))
            if i == 0:
                runs["rt" if bench == "real-time" else "ll"] = last
    return runs


def section_eval(tmp: Path, quick: bool, rows: list, runs: dict | None) -> None:
    runs = runs or {}
    rt = runs.get("rt") or realtime_run(tmp, ["benchmark.pairs=[0]", "benchmark.conditions=[build]"])
    # the 15-pair d' read-out of one exposure run: every evaluation embeds all 15 pairs' test images
    share = rt["readout_seconds"] / rt["seconds"]
    rows.append(("eval", f"real-time d' read-out, 15 pairs x {rt['readouts']} evaluations of {rt['runs']} run(s)",
                 f"{rt['readout_seconds']:.2f} s", f"of {rt['seconds']:.2f} s exposure", share, "<= 0.10"))
    ll = runs.get("ll") or lifelong_run(tmp, ["frames.n_days=4", "frames.n_chunks=2"])
    share_ll = ll["readout_seconds"] / (ll["train_seconds"] + ll["readout_seconds"])
    rows.append(("eval", f"life-long linear read-out, {ll['readouts']} read-outs (before + every chunk)",
                 f"{ll['readout_seconds']:.2f} s", f"of {ll['train_seconds'] + ll['readout_seconds']:.2f} s",
                 share_ll, "<= 0.10"))


def section_protocol(tmp: Path, quick: bool, rows: list) -> None:
    """Harness ratio and read-out share at the protocol's step counts (bracketed by bare loops)."""
    worker = ["augment_in_loader=true", "num_workers=1"]
    steps = 270 if quick else 1350
    cfg = compose_cfg(tmp / "probe", ["benchmark.pairs=[0]"])
    n = int(cfg.benchmark.batch_pairs)
    ratios, harness_ms, bare_ms, runs = [], [], [], []
    for i in range(1 if quick else 3):
        before = bare_step_seconds(cfg, n, 20, lifelong=False)
        rt = realtime_run(tmp, ["benchmark.pairs=[0]", "benchmark.conditions=[build]",
                                f"benchmark.num_steps={steps}", *worker],
                          warm=i == 0, warm_overrides=("benchmark.num_steps=54",))
        after = bare_step_seconds(cfg, n, 20, lifelong=False)
        harness, bare = rt["seconds"] / rt["steps"], (before + after) / 2
        ratios.append(bare / harness)
        harness_ms.append(1e3 * harness)
        bare_ms.append(1e3 * bare)
        runs.append(rt)
    k = int(np.argsort(ratios)[len(ratios) // 2])
    rt = runs[k]
    spread = f" [{min(ratios):.2f}-{max(ratios):.2f}]" if len(ratios) > 1 else ""
    rows.append(("protocol", f"real-time step, {steps} steps per exposure run (19 evaluations), 1 loader worker"
                 f"{spread}", f"{harness_ms[k]:.1f} ms", f"bare loop {bare_ms[k]:.1f} ms", ratios[k], ">= 0.90"))
    rows.append(("protocol", "share of that real-time run's wall time spent in the model's step (forward, "
                 "backward, optimizer: the bare loop's work), measured inside the run, free of drift",
                 f"{rt['model_seconds']:.1f} s", f"of {rt['seconds']:.1f} s", rt["model_seconds"] / rt["seconds"],
                 ">= 0.90"))
    alone, beside = bare_beside_augmentation(cfg, n, 20 if quick else 40)
    rows.append(("protocol", "bare loop beside a process augmenting the next batches (the loader worker's work), "
                 "share of the 2 cores' speed it keeps", f"{1e3 * beside:.1f} ms", f"alone {1e3 * alone:.1f} ms",
                 alone / beside, ""))
    rows.append(("protocol", f"real-time d' read-out share, {steps} steps, 15 pairs x {rt['readouts']} evaluations",
                 f"{rt['readout_seconds']:.2f} s", f"of {rt['seconds']:.2f} s exposure",
                 rt["readout_seconds"] / rt["seconds"], "<= 0.10"))
    # the paper's chunk: 1,281,166 pairs in batches of 512 = 2,502 iterations between read-outs; one chunk is
    # trained (benchmark.chunks=1), so 2 read-outs (before and after) are amortised over it, not the paper's ~1
    chunk = 100 if quick else PAPER_ITERATIONS_PER_CHUNK
    cfg = compose_cfg(tmp / "probe", ["benchmark=lifelong"])
    n = int(cfg.benchmark.batch_pairs)
    before = bare_step_seconds(cfg, n, 20, lifelong=True)
    ll = lifelong_run(tmp, ["frames.n_days=4", "frames.n_chunks=2", "benchmark.chunks=1",
                            f"benchmark.pairs_per_epoch={chunk * n}", *worker])
    after = bare_step_seconds(cfg, n, 20, lifelong=True)
    harness = (ll["train_seconds"] + ll["readout_seconds"]) / ll["steps"]
    bare = (before + after) / 2
    rows.append(("protocol", f"life-long step, chunks of {chunk} steps, read-outs amortised, 1 loader worker",
                 f"{1e3 * harness:.1f} ms", f"bare loop {1e3 * bare:.1f} ms", bare / harness, ">= 0.90"))
    rows.append(("protocol", f"life-long read-out share, {ll['readouts']} read-outs, chunks of {chunk} steps",
                 f"{ll['readout_seconds']:.2f} s", f"of {ll['train_seconds'] + ll['readout_seconds']:.2f} s",
                 ll["readout_seconds"] / (ll["train_seconds"] + ll["readout_seconds"]), "<= 0.10"))
    total = ll["train_seconds"] + ll["readout_seconds"]
    rows.append(("protocol", "share of that life-long run's time spent in the model's step, measured inside the run",
                 f"{ll['model_seconds']:.1f} s", f"of {total:.1f} s", ll["model_seconds"] / total, ">= 0.90"))


def _augment_forever(cfg: DictConfig, n_pairs: int, stop) -> None:
    torch.set_num_threads(1)
    parts = algorithm_parts(cfg)
    S = int(cfg.image_size)
    gen = torch.Generator().manual_seed(0)
    batch = {"stream1": torch.randint(0, 256, (n_pairs // 4, 3, S, S), dtype=torch.uint8, generator=gen),
             "stream2": torch.randint(0, 256, (n_pairs // 4, 3, S, S), dtype=torch.uint8, generator=gen),
             "pretrain": torch.randint(0, 256, (n_pairs - n_pairs // 4, 3, S, S), dtype=torch.uint8, generator=gen),
             "step": torch.tensor(0)}
    while not stop.is_set():
        make_views(batch, parts.stream_augment, parts.pretrain_augment)


def bare_beside_augmentation(cfg: DictConfig, n_pairs: int, steps: int) -> tuple[float, float]:
    """Bare-loop seconds per step alone (mean of before and after) and with a second process augmenting batches
    on the other core, as the loader worker does: what sharing the cores costs the step, harness or not."""
    import multiprocessing as mp

    before = bare_step_seconds(cfg, n_pairs, steps, lifelong=False)
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    proc = ctx.Process(target=_augment_forever, args=(cfg, n_pairs, stop), daemon=True)
    proc.start()
    try:
        time.sleep(2.0)                                # the neighbour's setup is not part of the measurement
        beside = bare_step_seconds(cfg, n_pairs, steps, lifelong=False)
    finally:
        stop.set()
        proc.join(timeout=30)
    after = bare_step_seconds(cfg, n_pairs, steps, lifelong=False)
    return (before + after) / 2, beside


# ------------------------------------------------------------------------------------------------- scaling
def section_scaling(tmp: Path, quick: bool, rows: list) -> None:
    base = ["benchmark.conditions=[build]"]
    a = realtime_run(tmp, [*base, "benchmark.pairs=[0]", "benchmark.num_steps=36"])
    b = realtime_run(tmp, [*base, "benchmark.pairs=[0]", "benchmark.num_steps=72"], warm=False)
    c = realtime_run(tmp, [*base, "benchmark.pairs=[0,1]", "benchmark.num_steps=36"], warm=False)
    per = lambda r: r["seconds"] / r["steps"]  # noqa: E731
    rows.append(("scaling", "real-time: 36 -> 72 steps per run (s/step)", f"{1e3 * per(a):.1f} ms",
                 f"{1e3 * per(b):.1f} ms", per(b) / per(a), "~1"))
    rows.append(("scaling", "real-time: 1 -> 2 face pairs (s/step)", f"{1e3 * per(a):.1f} ms",
                 f"{1e3 * per(c):.1f} ms", per(c) / per(a), "~1"))
    short = lifelong_run(tmp, ["frames.n_days=4", "frames.n_chunks=2"])
    long = lifelong_run(tmp, ["frames.n_days=8", "frames.n_chunks=4"])
    perl = lambda r: (r["train_seconds"] + r["readout_seconds"]) / r["steps"]  # noqa: E731
    rows.append(("scaling", "life-long: 4,000 -> 8,000-frame stream (s/step, read-outs incl.)",
                 f"{1e3 * perl(short):.1f} ms", f"{1e3 * perl(long):.1f} ms", perl(long) / perl(short), "~1"))
    small = lifelong_run(tmp, ["frames.n_days=4", "frames.n_chunks=2", "benchmark.memory.mode=reservoir",
                               "benchmark.memory.reservoir_size=500"])
    big = lifelong_run(tmp, ["frames.n_days=4", "frames.n_chunks=2", "benchmark.memory.mode=reservoir",
                             "benchmark.memory.reservoir_size=4000"])
    rows.append(("scaling", "life-long: reservoir memory 500 -> 4,000 frames (s/step)",
                 f"{1e3 * perl(small):.1f} ms", f"{1e3 * perl(big):.1f} ms", perl(big) / perl(small), "~1"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS[:-1]),
                   help="sections to run (default: all but 'protocol')")
    p.add_argument("--quick", action="store_true", help="smaller sizes (smoke check; ratios are noisier)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of the benchmark process (default 1: with a loader worker beside it, the "
                        "2 cores of the reference machine are used without oversubscription)")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows: list = []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lifelong-bench-") as d:
        tmp = Path(d)
        runs = None
        for section in args.only:
            t0 = time.perf_counter()
            if section == "harness":
                runs = section_harness(tmp, args.quick, rows)
            elif section == "eval":
                section_eval(tmp, args.quick, rows, runs)
            elif section == "data":
                section_data(tmp, args.quick, rows)
            elif section == "store":
                section_store(tmp, args.quick, rows)
            elif section == "scaling":
                section_scaling(tmp, args.quick, rows)
            elif section == "protocol":
                section_protocol(tmp, args.quick, rows)
            print(f"[{section}: {time.perf_counter() - t0:.0f} s]", flush=True)
    alloc = "tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "") else "glibc malloc"
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {alloc}, "
          f"{torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, python {platform.python_version()}; total {time.perf_counter() - t_all:.0f} s\n")
    print("| section | measurement | ours | reference | ratio | target |")
    print("|---|---|---|---|---|---|")
    for sec, what, ours, ref, ratio, target in rows:
        print(f"| {sec} | {what} | {ours} | {ref} | {'' if ratio is None else f'{ratio:.2f}'} | {target} |")
    return 0


if __name__ == "__main__":
    from lifelong.cli.tcmalloc import reexec_with_tcmalloc

    reexec_with_tcmalloc("benchmarks.suite")     # the allocator lifelong-run uses (LIFELONG_TCMALLOC=0: glibc's)
    raise SystemExit(main())
