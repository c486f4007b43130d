"""Distributed data parallel for the life-long benchmark: two CPU processes (gloo) each plan the epoch on their
own, keep disjoint slices of every global batch, and together see exactly the single-process batch; a real
2-process Lightning DDP run writes its results once, from rank 0."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from compose import TINY_LIFELONG, make_lifelong_cfg

from lifelong.components import ConfigError, requested_devices
from lifelong.life_long.benchmark import check_distributed, load_lifelong_inputs
from lifelong.life_long.chunk_data import ChunkBatches, LifelongStreamData, batch_seed
from lifelong.life_long.results import read_results
from lifelong.life_long.settings import lifelong_settings
from streams.curriculum import Curriculum

ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", LIFELONG_TCMALLOC="0")
# 3 chunks of 8 batches of 16 pairs, R = 1:3 -> 4 window + 12 memory pairs per batch
DDP_RUN = [*TINY_LIFELONG, "benchmark.pairs_per_epoch=128", "benchmark.batch_pairs=16"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _plan_inputs(tmp_path):
    cfg = make_lifelong_cfg(tmp_path, DDP_RUN[len(TINY_LIFELONG):])
    frames, _ = load_lifelong_inputs(cfg)
    settings = lifelong_settings(cfg, frames.timeline)
    return frames, Curriculum(frames.timeline, settings.curriculum), settings


def _rank_main(rank: int, world: int, port: int, tmp_path, out_file: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        # every rank builds the stream, the memory and the plan on its own, as under Lightning DDP
        frames, curriculum, settings = _plan_inputs(tmp_path)
        data = LifelongStreamData(frames, curriculum, seed=0)
        gathered = {}
        for epoch in range(settings.n_chunks):
            data.trainer = SimpleNamespace(current_epoch=epoch, global_rank=rank, world_size=world)
            for batch in data.train_dataloader():
                step = int(batch["step"])
                mine = torch.stack([batch["frames1"], batch["frames2"]])          # [2, pairs of this rank]
                parts = [torch.empty_like(mine) for _ in range(world)]
                dist.all_gather(parts, mine)
                seeds = [torch.zeros(1, dtype=torch.int64) for _ in range(world)]
                dist.all_gather(seeds, batch["seed"].view(1))
                gathered[(epoch, step)] = ([p.numpy() for p in parts], [int(s) for s in seeds])
        if rank == 0:
            torch.save(gathered, out_file)
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_see_disjoint_slices_whose_union_is_the_single_process_batch(tmp_path):
    out_file = str(tmp_path / "gathered.pt")
    mp.start_processes(_rank_main, args=(2, _free_port(), tmp_path / "ranks", out_file), nprocs=2, join=True,
                       start_method="spawn")
    gathered = torch.load(out_file, weights_only=False)

    frames, curriculum, settings = _plan_inputs(tmp_path / "single")
    n_w, n_m = settings.curriculum.split
    assert (n_w, n_m) == (4, 12)
    steps = 0
    for epoch in range(settings.n_chunks):
        plan = curriculum.plan_epoch(epoch)
        single = ChunkBatches(frames, plan)
        for step in range(plan.steps):
            ref = single[step]
            parts, seeds = gathered[(epoch, step)]
            r0, r1 = parts
            assert r0.shape == r1.shape == (2, 8)                     # 16 pairs -> 8 per rank
            # rank r holds pairs r, r+2, ...: interleaving the slices gives the single-process batch in order
            union = np.empty((2, 16), dtype=np.int64)
            union[:, 0::2], union[:, 1::2] = r0, r1
            np.testing.assert_array_equal(union[0], ref["frames1"].numpy())
            np.testing.assert_array_equal(union[1], ref["frames2"].numpy())
            # each rank keeps the R = 1:3 split: 2 of its 8 pairs come from the window (the batch's first 4)
            for rank, part in enumerate(parts):
                window_pairs = [i for i in range(rank, 16, 2) if i < n_w]
                assert len(window_pairs) == 2
                np.testing.assert_array_equal(part[0][:2], plan.view1[step][window_pairs])
            # independent augmentation seeds per rank, fixed by (seed, chunk, step, rank)
            assert seeds[0] != seeds[1]
            assert seeds == [batch_seed(0, epoch, step, r) for r in (0, 1)]
            steps += 1
    assert steps == settings.n_chunks * 8


def test_rank_slices_cover_each_batch_once_for_odd_sizes():
    plan = SimpleNamespace(steps=2, view1=np.arange(14).reshape(2, 7), view2=np.arange(14).reshape(2, 7) + 100)
    frames = SimpleNamespace(get=lambda idx: torch.zeros((len(idx), 3, 4, 4), dtype=torch.uint8))
    slices = [ChunkBatches(frames, plan, rank=r, world_size=3)[1]["frames1"].tolist() for r in range(3)]
    assert slices == [[7, 10, 13], [8, 11], [9, 12]]
    with pytest.raises(ValueError, match="cannot be shared by 8 ranks"):
        ChunkBatches(frames, plan, rank=0, world_size=8)
    with pytest.raises(ValueError, match="rank 3 is not in"):
        ChunkBatches(frames, plan, rank=3, world_size=3)


@pytest.mark.parametrize("devices, n", [(1, 1), (2, 2), ("2", 2), ("auto", 1), ([0, 1], 2), ("0,1", 2), ("-1", 1)])
def test_requested_devices(devices, n):
    assert requested_devices(devices) == n


def test_ddp_refused_in_a_local_multirun(tmp_path, monkeypatch):
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    cfg = make_lifelong_cfg(tmp_path, ["trainer.devices=2"])
    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: True))
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: SimpleNamespace(mode=RunMode.MULTIRUN)))
    with pytest.raises(ConfigError, match="trainer.devices=2 in a local multirun"):
        check_distributed(cfg)
    monkeypatch.setenv("SLURM_NTASKS", "2")          # on SLURM every task is a rank: allowed
    assert check_distributed(cfg) == 2


def test_realtime_benchmark_refuses_several_devices(tmp_path):
    from compose import make_cfg

    from lifelong.realtime.benchmark import run_realtime

    cfg = make_cfg(tmp_path, ["trainer.devices=2"])
    with pytest.raises(ConfigError, match="trainer.devices=2: the real-time benchmark"):
        run_realtime(cfg)
    assert not any(tmp_path.glob("*.h5"))


def test_lightning_ddp_run_with_two_cpu_processes_writes_results_once(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "lifelong.cli.run", f"hydra.run.dir={out}", *DDP_RUN,
           "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("read-out accuracy: before training") == 1      # rank 1 prints and writes nothing
    res = read_results(out / "results.h5")
    np.testing.assert_array_equal(res.evals["chunk"], [-1, 0, 1, 2])
    assert res.loss.shape == (3 * 8,)                # rank 0's loss on its half of each of the 24 global batches
    assert np.isfinite(res.loss).all()
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in out.glob("*.h5")) == ["results.h5"]
