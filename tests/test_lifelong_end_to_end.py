"""The life-long benchmark end to end on a tiny procedural stream: results file, figure, collect, bad config."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from compose import make_lifelong_cfg

from lifelong.cli.collect import main as collect_main
from lifelong.cli.plot import main as plot_main
from lifelong.components import ConfigError
from lifelong.life_long.benchmark import lifelong_augment, run_lifelong
from lifelong.life_long.results import read_results


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lifelong")
    cfg = make_lifelong_cfg(out, ["benchmark.readout.knn=true"])
    return out, run_lifelong(cfg)


def test_tiny_run_writes_a_readout_before_training_and_after_every_chunk(tiny_run):
    out, res = tiny_run
    r = read_results(out / "results.h5")
    assert r.evals["chunk"].tolist() == [-1, 0, 1, 2]
    assert r.evals["step"].tolist() == [0, 8, 16, 24]               # 128 // 16 = 8 batches per chunk
    hours = r.evals["hours"]
    np.testing.assert_allclose(hours, np.array([0, 400, 800, 1200]) / 25 / 3600)
    assert np.all(np.diff(r.evals["age_months"]) > 0)               # simulated child gets older
    assert r.evals["test_acc"].shape == (4, 10) and r.alphas.shape == (10,)
    for k in ("svm_acc", "svm_perf_oracle", "knn_acc"):
        assert np.all((r.evals[k] >= 0) & (r.evals[k] <= 1))
    np.testing.assert_allclose(r.evals["chance"], 0.25)
    chosen = np.argmax(r.evals["heldout_acc"], axis=1)
    assert r.loss.shape == (24,) and np.isfinite(r.loss).all()
    assert r.chunk_seconds.shape == (3,)
    assert r.attrs["memory_mode"] == "original" and r.attrs["ratio"] == "1:3"
    assert r.attrs["window_frames"] == 300                           # 0.2 min at 25 fps (CPU preset)
    assert chosen.shape == (4,)
    assert (out / "learning_curve.png").is_file() and (out / "learning_curve.pdf").is_file()
    with h5py.File(out / "results.h5") as f:
        assert f.attrs["benchmark"] == "lifelong"
        assert f["summary"].attrs["initial_acc"] == pytest.approx(r.evals["svm_acc"][0])


def test_plot_and_collect_read_lifelong_results(tiny_run, tmp_path, capsys):
    out, _ = tiny_run
    assert plot_main([str(out / "results.h5"), "--out", str(tmp_path / "curve")]) == 0
    assert (tmp_path / "curve.png").is_file()
    assert collect_main([str(out), "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "simclr" in text and "acc_end" in text
    rows = (tmp_path / "comparison_lifelong.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[0].startswith("run,algorithm,seed,W,R,memory")
    assert (tmp_path / "comparison_lifelong.png").is_file()


def test_lifelong_augment_is_the_pretraining_recipe_without_resize_center_pad(tmp_path):
    cfg = make_lifelong_cfg(tmp_path)
    aug = lifelong_augment(cfg)
    assert type(aug).__name__ == "SimCLRAugment"
    assert aug.resize_center_pad is None or aug.resize_center_pad.p == 0.0


@pytest.mark.parametrize("override, match", [
    ("benchmark.window_minutes=0", "window_minutes=0"),
    ("benchmark.window_minutes=0.0001", "needs >= 2 frames"),
    ("benchmark.ratio=1/3", "malformed ratio"),
    ("benchmark.memory.mode=fifo", "memory mode 'fifo'"),
    ("benchmark.chunks=7", "only 3 chunks"),
    ("benchmark.readout.every_n_chunks=5", "longer than the run"),
    ("benchmark.accumulate_grad_batches=9", "exceeds the 8 batches"),
    ("benchmark.readout.val_fraction=1.5", "val_fraction"),
])
def test_bad_lifelong_settings_fail_before_training(tmp_path, override, match):
    cfg = make_lifelong_cfg(tmp_path, [override])
    with pytest.raises(ConfigError, match=match):
        run_lifelong(cfg)
    assert not (tmp_path / "results.h5").exists()


@pytest.mark.parametrize("name, dim", [("simclr", 128), ("simclr_r50", 256), ("mae", 4 * 64), ("dino", 4 * 64)])
def test_readout_features_are_the_spec_pooled_features(tmp_path, name, dim):
    """ResNets: pooled backbone output; MAE: LN(mean token) and DINO: LN(CLS) of each of the last 4 blocks."""
    import torch

    from lifelong.components import algorithm_parts

    algo = algorithm_parts(make_lifelong_cfg(tmp_path, [f"algorithm={name}"])).make().eval()
    with torch.no_grad():
        f = algo.features(torch.randn(3, 3, 32, 32))
    assert f.shape == (3, dim) and torch.isfinite(f).all()


def test_trainer_reads_a_converted_hdf5_frame_store_with_the_same_plan(tmp_path):
    """frames=hdf5: the converter's store of the procedural stream trains exactly like the in-memory stream."""
    import torch
    from hydra.utils import instantiate

    from lifelong.life_long.chunk_data import ChunkBatches
    from streams.curriculum import Curriculum, CurriculumSettings
    from streams.frame_store import HDF5FrameStore, convert_to_store

    cfg = make_lifelong_cfg(tmp_path / "mem")
    frames = instantiate(cfg.frames)
    store_path = convert_to_store(frames, tmp_path / "stream.h5", progress=False)
    store = HDF5FrameStore(store_path)
    assert store.timeline.n_frames == frames.timeline.n_frames
    assert np.array_equal(store.timeline.chunk_offsets, frames.timeline.chunk_offsets)
    cur = CurriculumSettings(window_frames=300, ratio="1:3", batch_pairs=16, pairs_per_epoch=64)
    plan = Curriculum(frames.timeline, cur).plan_epoch(1)
    a, b = ChunkBatches(frames, plan)[2], ChunkBatches(store, plan)[2]
    assert torch.equal(a["stream1"], b["stream1"]) and torch.equal(a["stream2"], b["stream2"])

    cfg = make_lifelong_cfg(tmp_path / "h5", ["frames=hdf5", f"frames.path={store_path}", "benchmark.chunks=2"])
    res = run_lifelong(cfg)
    assert res.evals["chunk"].tolist() == [-1, 0, 1]
    assert res.attrs["frames_source"] == store.source


@pytest.mark.parametrize("name", ["byol", "mae", "mocov2"])
def test_other_algorithms_train_with_gradient_accumulation(tmp_path, name):
    """Any registered algorithm runs the life-long loop; accumulation 2 halves the optimizer steps."""
    cfg = make_lifelong_cfg(tmp_path, [f"algorithm={name}", "benchmark.chunks=1", "benchmark.accumulate_grad_batches=2"])
    res = run_lifelong(cfg)
    assert res.evals["step"].tolist() == [0, 4]                 # 8 batches per chunk / 2
    assert res.loss.shape == (8,) and np.isfinite(res.loss).all()
    assert res.attrs["algorithm"] == name


def test_lifelong_learning_rates_follow_the_spec(tmp_path):
    """The paper's LRs (SimCLR: LARS 4.8, not its 0.6 pretraining LR; MoCo v2: LARS 4.8 instead of SGD 0.03) at the
    paper's pairs per optimizer step, scaled linearly at other batches; benchmark.lr is used as given."""
    import torch

    from algorithms.lars import LARS
    from lifelong.components import algorithm_parts
    from lifelong.life_long.benchmark import lifelong_optimizer
    from lifelong.life_long.settings import lifelong_settings
    from streams.frame_timeline import FrameTimeline

    tl = FrameTimeline(("v",), np.array([0, 3000]), np.array([0, 1000, 2000, 3000]), 25.0)
    paper = ["benchmark.batch_pairs=512", "benchmark.accumulate_grad_batches=8", "benchmark.pairs_per_epoch=4096"]
    cases = [
        ("simclr", paper, 4.8),                                         # 4,096 pairs per step: the paper's 4.8
        ("mocov2", paper, 4.8),
        ("simclr", ["benchmark.batch_pairs=64", "benchmark.pairs_per_epoch=128"], 4.8 * 64 / 4096),   # CPU: 0.075
        ("simclr", ["benchmark.batch_pairs=16", "benchmark.accumulate_grad_batches=2"], 4.8 * 32 / 4096),
        ("dino", ["benchmark.batch_pairs=64", "benchmark.pairs_per_epoch=128"], 1e-3 * 64 / 256),   # its own batch
        ("simsiam", ["benchmark.batch_pairs=64", "benchmark.pairs_per_epoch=128"], 0.1 * 64 / 1024),
        ("simclr", ["benchmark.batch_pairs=64", "benchmark.pairs_per_epoch=128", "benchmark.lr_scaling=none"], 4.8),
        ("simclr", ["benchmark.lr=0.5"], 0.5),                         # explicit: not scaled
    ]
    for name, overrides, lr in cases:
        cfg = make_lifelong_cfg(tmp_path, [f"algorithm={name}", *overrides])
        parts = algorithm_parts(cfg)
        factory, _, got = lifelong_optimizer(cfg, parts, lifelong_settings(cfg, tl))
        assert got == pytest.approx(lr, rel=1e-12), (name, overrides)
        if name in ("simclr", "mocov2"):
            assert isinstance(factory([{"params": [torch.nn.Parameter(torch.zeros(2))]}]), LARS)
    with pytest.raises(ConfigError, match="lr_scaling='sqrt'"):
        lifelong_settings(make_lifelong_cfg(tmp_path, ["benchmark.lr_scaling=sqrt"]), tl)


def test_collect_lists_a_damaged_lifelong_file_and_collects_the_rest(tiny_run, tmp_path, capsys):
    import shutil

    out, _ = tiny_run
    sweep = tmp_path / "sweep"
    for job in ("0_simclr", "1_simclr", "2_simclr"):
        (sweep / job / ".hydra").mkdir(parents=True)
    shutil.copy(out / "results.h5", sweep / "0_simclr" / "results.h5")
    shutil.copy(out / "results.h5", sweep / "1_simclr" / "results.h5")
    with h5py.File(sweep / "1_simclr" / "results.h5", "a") as f:   # a life-long file with its read-outs gone
        del f["eval/svm_acc"]
    assert collect_main([str(sweep)]) == 0
    text = capsys.readouterr().out
    assert "1 life-long runs" in text
    assert "1_simclr/results.h5: unreadable life-long results" in text
    assert "2_simclr: unfinished: no results.h5" in text
    assert len((sweep / "comparison_lifelong.csv").read_text().splitlines()) == 2
