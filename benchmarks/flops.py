"""Measured FLOPs of one training step at paper scale, and the compute of the paper-scale benchmarks.

    OMP_NUM_THREADS=1 python -m benchmarks.flops            # 7 real-time + 2 life-long cases
    OMP_NUM_THREADS=1 python -m benchmarks.flops --all      # all 13 real-time algorithms (slower)

Each algorithm is built through the harness's own path: the Hydra config is composed from
``lifelong/conf`` with ``preset=paper`` (torchvision ResNet-18/50, timm ViT-S/16; real-time 224 px,
life-long 112 px via ``preset_benchmark/paper_lifelong.yaml``), then ``lifelong.components.algorithm_parts``
and ``parts.make()`` (random initialisation). One step = ``algorithm.training_loss(view1, view2)`` plus its
``backward()``, counted with ``torch.utils.flop_counter.FlopCounterMode`` on CPU in float32 (the count
does not depend on device or dtype). Attention runs through SDPA's math backend so that its matmuls are
counted (the fused CPU kernel is not in the counter's registry). The counter counts matmuls,
convolutions and attention only (the convention of MFU figures): normalisation, activations, the
optimizer update and EMA targets are left out, and so are the periodic read-outs (< 1 % of training).

Real-time steps run as the exposure runs do (``training_progress = None``: MAE masks 10 %, momenta at
base; SwAV's queue full, as restored from a checkpoint); life-long steps as a scheduled run
(``training_progress = 0.5``: MAE would mask 75 %). The step is measured at 2 and 4 pairs and
extrapolated linearly to the configured batch: F(B) = F(2) + (F(4) - F(2)) * (B - 2) / 2, which
also carries batch-independent terms (SwAV's queue and Sinkhorn); the ratio F(4)/F(2) is printed
as the linearity check. Terms quadratic in the batch (contrastive logits) are < 0.1 % at 256-512 pairs.

GPU-hours use ASSUMPTIONS, not measurements: one A100 at 312 TFLOP/s dense bf16 peak and a model
FLOP utilisation (MFU) of 35 % and 40 %.
"""
from __future__ import annotations

import argparse
import time

import torch
from hydra import compose, initialize_config_module
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from lifelong.components import algorithm_parts
from lifelong.plugins import store_algorithm_configs

#: the paper's 13 algorithms (lifelong/cli/collect.py PAPER_ORDER)
ALL = ("simclr", "simclr_mlp4", "simclr_r50", "mocov2", "byol", "byol_mlp4", "byolneg", "swav", "simsiam",
       "barlowtwins", "mae", "dino", "dinoneg")
REALTIME = ("simclr", "mocov2", "byol", "swav", "mae", "dino", "simclr_r50")
LIFELONG = ("simclr", "byol")
#: stand-in for an algorithm not measured by default: same backbone, heads differ (< 2 % of a step)
PROXY = {"simclr_mlp4": "simclr", "byol_mlp4": "byol", "byolneg": "byol", "simsiam": "simclr",
         "barlowtwins": "simclr", "dinoneg": "dino"}
PEAK = 312e12                       # ASSUMPTION: A100 dense bf16 peak, FLOP/s
MFUS = (0.35, 0.40)                 # ASSUMPTION: model FLOP utilisation
CONDITIONS, PAIRS, CHUNKS = 3, 15, 100


def compose_cfg(overrides: list[str]):
    """The run's config, composed as ``lifelong-run`` and tests/compose.py do."""
    store_algorithm_configs()
    with initialize_config_module(config_module="lifelong.conf", version_base="1.3"):
        return compose(config_name="config", overrides=["preset=paper", *overrides])


def step_flops(algo: torch.nn.Module, pairs: int, size: int, progress: float | None) -> int:
    """FLOPs of training_loss + backward on ``pairs`` random pairs of ``size`` px."""
    g = torch.Generator().manual_seed(pairs)
    v1, v2 = (torch.randn(pairs, 3, size, size, generator=g) for _ in range(2))
    algo.zero_grad(set_to_none=True)
    algo.training_progress = progress
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        algo.training_loss(v1, v2).backward()
    return counter.get_total_flops()


def measure(name: str, benchmark: str) -> dict:
    cfg = compose_cfg([f"algorithm={name}", f"benchmark={benchmark}"])
    size, batch = int(cfg.image_size), int(cfg.benchmark.batch_pairs)
    torch.manual_seed(0)
    algo = algorithm_parts(cfg).make().train()
    if hasattr(algo, "queue_count"):            # SwAV: exposure runs start from the checkpoint's full queue
        algo.queue_count.fill_(algo.queue_length)
    progress = None if benchmark == "realtime" else 0.5
    t0 = time.time()
    f2, f4 = (step_flops(algo, n, size, progress) for n in (2, 4))
    per_step = f2 + (f4 - f2) * (batch - 2) / 2
    if benchmark == "realtime":
        steps = CONDITIONS * PAIRS * int(cfg.benchmark.num_steps)
    else:                                       # batches per chunk x chunks (lifelong.md §8.2)
        steps = int(cfg.benchmark.pairs_per_epoch) // batch * CHUNKS
    return dict(algorithm=name, benchmark=benchmark, arch=str(cfg.algorithm.arch), px=size, batch=batch,
                f2=f2, f4=f4, step=per_step, steps=steps, total=per_step * steps, seconds=time.time() - t0)


def gpu_hours(flops: float, mfu: float) -> float:
    return flops / (PEAK * mfu) / 3600


def hours_cells(flops: float, sep: str = " | ", fmt: str = ",.1f") -> str:
    return sep.join(format(gpu_hours(flops, m), fmt) for m in MFUS)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--all", action="store_true", help="measure all 13 real-time algorithms (no stand-ins)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    realtime = ALL if args.all else REALTIME
    rows = [measure(a, "realtime") for a in realtime] + [measure(a, "lifelong") for a in LIFELONG]

    mfu_head = " | ".join(f"A100-h @{m:.0%} MFU" for m in MFUS)
    print(f"| algorithm | benchmark | backbone | px | pairs/step | GFLOP @2 pairs | GFLOP @4 pairs | @4/@2 "
          f"| GFLOP/step | steps | PFLOP total | {mfu_head} |")
    print("|---" * (11 + len(MFUS)) + "|")
    for r in rows:
        print(f"| {r['algorithm']} | {r['benchmark']} | {r['arch']} | {r['px']} | {r['batch']} | {r['f2'] / 1e9:.2f} "
              f"| {r['f4'] / 1e9:.2f} | {r['f4'] / r['f2']:.3f} | {r['step'] / 1e9:,.0f} | {r['steps']:,} "
              f"| {r['total'] / 1e15:,.1f} | {hours_cells(r['total'])} |")

    rt = {r["algorithm"]: r for r in rows if r["benchmark"] == "realtime"}
    total, lines = 0.0, []
    for a in ALL:
        src = a if a in rt else PROXY[a]
        total += rt[src]["total"]
        if src != a:
            lines.append(f"{a} <- {src}")
    print(f"\nreal-time, paper scale: {len(ALL)} algorithms x {CONDITIONS} conditions x {PAIRS} pairs x "
          f"{next(iter(rt.values()))['steps'] // (CONDITIONS * PAIRS)} steps")
    print(f"  measured: {', '.join(rt)}; stand-ins (same backbone): {', '.join(lines) or 'none'}")
    print(f"  total {total / 1e18:.2f} EFLOP = {hours_cells(total, ' / ', ',.1f')} "
          f"A100-hours at {' / '.join(f'{m:.0%}' for m in MFUS)} MFU")
    for r in rows:
        if r["benchmark"] == "lifelong":
            print(f"life-long, one {r['algorithm']} run ({r['steps'] // CHUNKS:,} batches of {r['batch']} pairs x "
                  f"{CHUNKS} chunks): {r['total'] / 1e18:.2f} EFLOP = "
                  f"{hours_cells(r['total'], ' / ', ',.1f')} A100-hours")
    print(f"ASSUMPTIONS (not measured): A100 {PEAK / 1e12:.0f} TFLOP/s dense bf16 peak, MFU "
          f"{' / '.join(f'{m:.0%}' for m in MFUS)}. FLOPs counted: matmul, conv, attention (fwd + bwd).")
    print(f"measurement time: {sum(r['seconds'] for r in rows):.0f} s, torch {torch.__version__}")


if __name__ == "__main__":
    main()
