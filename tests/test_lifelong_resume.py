"""Exact resume of the life-long benchmark: a run killed with SIGKILL at random moments and restarted with the
same command ends with the same results as an uninterrupted run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from compose import TINY_LIFELONG, make_lifelong_cfg

from lifelong.components import ConfigError
from lifelong.life_long.benchmark import run_lifelong
from lifelong.life_long.results import read_results

ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", LIFELONG_TCMALLOC="0")
SCIENCE = ("chunk", "step", "hours", "age_months", "svm_acc", "svm_perf_oracle", "alpha", "heldout_acc", "test_acc",
           "knn_acc", "chance")


def _command(out):
    return [sys.executable, "-m", "lifelong.cli.run", f"hydra.run.dir={out}", *TINY_LIFELONG,
            "benchmark.pairs_per_epoch=512", "benchmark.readout.knn=true"]


def test_sigkill_at_random_moments_then_resume_gives_identical_results(tmp_path):
    ref_dir, run_dir = tmp_path / "uninterrupted", tmp_path / "killed"
    subprocess.run(_command(ref_dir), env=ENV, check=True, capture_output=True, timeout=600)
    ref = read_results(ref_dir / "results.h5")

    rng = np.random.default_rng(2)
    ckpt = run_dir / "checkpoints" / "last.ckpt"

    def mtime() -> float:
        return ckpt.stat().st_mtime_ns if ckpt.is_file() else 0.0

    # kill points: inside chunk 1 (after chunk 0's checkpoint), inside chunk 2 after resuming, and at a random
    # moment of a third start (start-up, resume or training)
    kills = 0
    for wait_for_new_checkpoint in (True, True, False):
        before = mtime()
        proc = subprocess.Popen(_command(run_dir), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.time()
        while wait_for_new_checkpoint and mtime() == before and proc.poll() is None and time.time() - t0 < 300:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0) if wait_for_new_checkpoint else rng.uniform(2.0, 8.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2                     # the third, random moment may come after a fast machine has finished
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()       # killed after at least one chunk's checkpoint
    done = subprocess.run(_command(run_dir), env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming from" in done.stdout
    got = read_results(run_dir / "results.h5")
    for k in SCIENCE:
        assert np.array_equal(ref.evals[k], got.evals[k], equal_nan=True), k
    assert np.array_equal(ref.loss, got.loss)
    assert len(got.chunk_seconds) == 3


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    run_lifelong(make_lifelong_cfg(tmp_path, ["benchmark.chunks=1"]))
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    with pytest.raises(ConfigError, match="last.ckpt was written by a run with other settings"):
        run_lifelong(make_lifelong_cfg(tmp_path, ["benchmark.chunks=1", "seed=1"]))


def test_realtime_run_killed_three_times_resumes_to_identical_results(tmp_path):
    """Real-time: finished exposure runs are kept; a killed run recomputes only the missing ones."""
    from compose import TINY

    from lifelong.realtime.results import read_results as read_realtime

    def command(out):
        return [sys.executable, "-m", "lifelong.cli.run", f"hydra.run.dir={out}", *TINY, "stimuli.n_test=6"]

    ref_dir, run_dir = tmp_path / "uninterrupted", tmp_path / "killed"
    subprocess.run(command(ref_dir), env=ENV, check=True, capture_output=True, timeout=600)
    ref = read_realtime(ref_dir / "results.h5")
    runs = run_dir / "checkpoints" / "runs"
    rng = np.random.default_rng(3)
    kills = 0
    for wanted in (1, 3, 5):                      # kill soon after the 1st, 3rd and 5th of 6 exposure runs is saved
        proc = subprocess.Popen(command(run_dir), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.time()
        while len(list(runs.glob("*.npz"))) < wanted and proc.poll() is None and time.time() - t0 < 300:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2
    done = subprocess.run(command(run_dir), env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("restored") >= 3
    got = read_realtime(run_dir / "results.h5")
    for cond in ref.conditions:
        for k in ("dprime_big", "dprime_small", "confusion_big", "loss", "effect", "control_pair"):
            np.testing.assert_array_equal(ref.conditions[cond].arrays[k], got.conditions[cond].arrays[k], err_msg=k)
    np.testing.assert_array_equal(ref.initial_dprime_big, got.initial_dprime_big)


def test_joblib_launcher_sweep_and_collect(tmp_path):
    """`-m hydra/launcher=local` runs sweep jobs in parallel processes; collect gathers them into one table."""
    from compose import TINY_LIFELONG

    from lifelong.cli.collect import main as collect_main

    sweep = tmp_path / "sweep"
    r = subprocess.run(
        [sys.executable, "-m", "lifelong.cli.run", "-m", "hydra/launcher=local", "hydra.launcher.n_jobs=2",
         f"hydra.sweep.dir={sweep}", *TINY_LIFELONG, "benchmark.chunks=1", "seed=0,1"],
        env=ENV, capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Joblib" in r.stdout + r.stderr
    assert sorted(p.parent.name for p in sweep.glob("*/results.h5")) == ["0_simclr", "1_simclr"]
    assert collect_main([str(sweep), "--out", str(tmp_path)]) == 0
    rows = (tmp_path / "comparison_lifelong.csv").read_text().splitlines()
    assert len(rows) == 3 and {row.split(",")[2] for row in rows[1:]} == {"0", "1"}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_termination_signal_stops_cleanly_and_the_rerun_continues(tmp_path, signum):
    out = tmp_path / "run"
    cmd = _command(out)
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpt = out / "checkpoints" / "last.ckpt"
    t0 = time.time()
    while not ckpt.is_file() and proc.poll() is None and time.time() - t0 < 300:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "stopped by a termination signal" in err and "Run the same command again" in err
    assert ckpt.is_file() and not (out / "results.h5").exists()
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "resuming from" in done.stdout
    assert read_results(out / "results.h5").evals["chunk"].tolist() == [-1, 0, 1, 2]
