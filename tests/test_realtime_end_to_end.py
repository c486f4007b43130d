"""A tiny real-time benchmark run end to end: pretraining, exposure runs, results file, figure, CLI."""
import h5py
import numpy as np
import pytest

from lifelong.cli.plot import main as plot_main
from lifelong.realtime.benchmark import run_realtime
from lifelong.realtime.results import read_results
from tests.compose import make_cfg


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = make_cfg(out)
    res = run_realtime(cfg)
    return out, res


def test_results_file_holds_the_protocol(tiny_run):
    out, res = tiny_run
    path = out / "results.h5"
    assert path.is_file()
    back = read_results(path)
    assert list(back.conditions) == ["build", "break", "switch"]
    # 18 steps -> an evaluation before training and every 1 step: 19 evaluations
    np.testing.assert_array_equal(back.eval_steps, np.arange(19))
    np.testing.assert_allclose(back.eval_minutes, np.arange(19) * 5.0)
    for name, c in back.conditions.items():
        a = c.arrays
        assert a["dprime_big"].shape == (2, 19, 15)
        assert a["confusion_big"].shape == (2, 19, 15, 2, 2)
        assert (a["confusion_big"].sum((-1, -2)) == 12).all()        # 6 + 6 big test images per pair
        assert a["loss"].shape == (2, 18) and np.isfinite(a["loss"]).all()
        assert a["effect"].shape == (2, 5) and (a["effect"][:, 0] == 0).all()
        np.testing.assert_array_equal(a["exposed_pair"], [0, 14])
        # the first evaluation is the checkpoint itself: identical in every run and condition
        np.testing.assert_allclose(a["dprime_big"][:, 0], np.broadcast_to(back.initial_dprime_big, (2, 15)))
        np.testing.assert_allclose(c.effect_mean, a["effect"].mean(0))
    # the three conditions of a pair share the control pair
    ctl = [c.arrays["control_pair"] for c in back.conditions.values()]
    assert all((x == ctl[0]).all() for x in ctl)
    assert back.score is not None and back.score.score.shape == (3,)
    assert 0.0 <= back.score.overall_score <= 1.0
    assert "image_size: 32" in back.attrs["config_yaml"]
    assert "torch" in back.attrs["versions_json"]
    np.testing.assert_allclose(back.human_mean[0, 1:], [0.44737, 0.61012, 0.84974, 0.85104], atol=1e-5)


def test_figure_written_and_redrawn_by_the_cli(tiny_run):
    out, _ = tiny_run
    assert (out / "realtime_vs_humans.png").stat().st_size > 10_000
    assert (out / "realtime_vs_humans.pdf").is_file()
    assert plot_main([str(out / "results.h5"), "--out", str(out / "again")]) == 0
    assert (out / "again.png").is_file() and (out / "again.pdf").is_file()


def test_plot_cli_rejects_a_file_that_is_not_results(tmp_path, capsys):
    bad = tmp_path / "x.h5"
    with h5py.File(bad, "w") as f:
        f["a"] = 1
    assert plot_main([str(bad)]) == 2
    assert "not a real-time benchmark results file" in capsys.readouterr().err
    assert not (tmp_path / "realtime_vs_humans.png").exists()


def test_cli_multirun_sweep_writes_one_results_file_per_job(tmp_path):
    """`lifelong-run -m` sweeps through Hydra's launcher; each job writes its own results and figure."""
    import os
    import subprocess
    import sys

    from tests.compose import TINY

    env = dict(os.environ, PYTHONWARNINGS="ignore", LIFELONG_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run(
        [sys.executable, "-m", "lifelong.cli.run", "-m", f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=${hydra.job.num}",
         *TINY, "stimuli.n_test=6", "benchmark.pairs=[3]", "benchmark.conditions=[break]", "benchmark.window_minutes=20,0.5"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    for job, w in ((0, 20.0), (1, 0.5)):
        res = read_results(tmp_path / str(job) / "results.h5")
        assert list(res.conditions) == ["break"]
        from omegaconf import OmegaConf

        assert float(OmegaConf.create(res.attrs["config_yaml"]).benchmark.window_minutes) == w
        assert (tmp_path / str(job) / "realtime_vs_humans.png").is_file()


def test_same_seed_gives_identical_results_on_cpu(tiny_run, tmp_path):
    """Determinism: a second run with the same seed (its own pretraining, no cache) reproduces every array."""
    _, first = tiny_run
    second = run_realtime(make_cfg(tmp_path, ["benchmark.conditions=[build]"]))
    a, b = first.conditions["build"].arrays, second.conditions["build"].arrays
    for k in ("dprime_big", "dprime_small", "confusion_big", "loss", "effect"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    np.testing.assert_array_equal(first.initial_dprime_big, second.initial_dprime_big)
