"""lifelong-collect: one table and the comparison figure from a sweep folder of results files."""
import csv
import math

import numpy as np
import pytest

from lifelong.cli.collect import main as collect_main
from lifelong.realtime.comparison_figure import column_from_results, draw_comparison, humans_from_results
from lifelong.realtime.results import ConditionResult, RealtimeResults, read_results, write_results
from lifelong.realtime.score import score_effects

TEST_POINTS = np.array([0, 400, 800, 1200, 1600])
HUMAN = {"build": [0.0, 0.45, 0.61, 0.85, 0.85], "break": [0.0, -0.3, -0.6, -0.9, -1.2], "switch": [0.0, 0.4, 0.6, 0.1, -0.3]}


def fake_results(algorithm: str, seed: int, effects: dict[str, np.ndarray], window: float = 20.0, wall: float = 12.5,
                 init: float = 1.5) -> RealtimeResults:
    """A results object with the given per-run effects [R, 5] per condition; everything else minimal."""
    conds = list(effects)
    conditions = {}
    for c, eff in effects.items():
        r = eff.shape[0]
        arrays = {
            "exposed_pair": np.arange(r), "control_pair": np.full(r, 14), "dprime_big": np.zeros((r, 3, 15)),
            "dprime_small": np.zeros((r, 3, 15)), "confusion_big": np.zeros((r, 3, 15, 2, 2), dtype=np.int64),
            "confusion_small": np.zeros((r, 3, 15, 2, 2), dtype=np.int64), "margin_correct_big": np.zeros((r, 3, 15)),
            "margin_wrong_big": np.zeros((r, 3, 15)), "loss": np.ones((r, 2)), "wall_seconds": np.ones(r),
            "run_effect": np.zeros((r, 3)), "effect": eff,
        }
        conditions[c] = ConditionResult(c, arrays, eff.mean(0), eff.std(0) / np.sqrt(r))
    h_mean = np.array([HUMAN[c] for c in conds])
    rng = np.random.default_rng(0)
    boot = h_mean[:, 1:, None] + 0.05 * rng.standard_normal((len(conds), 4, 100))
    model = np.stack([conditions[c].effect_mean[1:] for c in conds])
    config = f"seed: {seed}\nbenchmark:\n  window_minutes: {window}\n  ratio: '1:3'\n  lr: null\nalgorithm:\n  realtime_lr: 0.1\n"
    return RealtimeResults(
        pairs=np.array([[0, 1]] * 15), identities=[f"id{i}" for i in range(6)], eval_steps=np.array([0, 1, 2]),
        eval_minutes=np.array([0.0, 45.0, 90.0]), test_points=TEST_POINTS,
        initial_dprime_big=np.full(15, init), initial_dprime_small=np.full(15, init / 2),
        conditions=conditions, human_mean=h_mean, human_std=np.full_like(h_mean, 0.1),
        score=score_effects(conds, model, h_mean[:, 1:], boot),
        attrs={"algorithm": algorithm, "config_yaml": config, "wall_seconds": wall},
    )


def eff(*rows):
    return np.array([[0.0, *r] for r in rows])


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "multirun"
    a = fake_results("simclr", 0, {"build": eff([0.4, 0.6, 0.8, 1.0], [0.2, 0.2, 0.4, 0.6]),
                                   "break": eff([-0.2, -0.4, -0.6, -0.8], [0, 0, 0, 0]),
                                   "switch": eff([0.2, 0.4, 0.0, -0.2], [0.2, 0.4, 0.2, 0.0])})
    b = fake_results("byol", 0, {"build": eff([0.0, 0.1, 0.0, 0.1], [0.0, 0.1, 0.2, 0.1]),
                                 "break": eff([0.1, 0.0, 0.1, 0.0], [0.1, 0.2, 0.1, 0.0])}, wall=30.0, init=0.9)
    c = fake_results("simclr", 1, {"build": eff([1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]),
                                   "break": eff([0, 0, 0, 0], [0, 0, 0, 0]),
                                   "switch": eff([0, 0, 0, 0], [0, 0, 0, 0])})
    write_results(root / "1_algorithm=byol" / "results.h5", b)
    write_results(root / "0_algorithm=simclr" / "results.h5", a)
    write_results(root / "2_algorithm=simclr,seed=1" / "results.h5", c)
    bad = root / "3_algorithm=swav" / "results.h5"
    bad.parent.mkdir()
    bad.write_bytes(b"not an hdf5 file")                               # e.g. a copy cut short
    (root / "4_algorithm=mae" / ".hydra").mkdir(parents=True)          # a job that never wrote results
    (root / "4_algorithm=mae" / ".hydra" / "config.yaml").write_text("seed: 0\n")
    return root, a, b, c


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_table_rows_values_and_skipped_runs(sweep, tmp_path, capsys):
    root, a, b, c = sweep
    out = tmp_path / "collected"
    assert collect_main([str(root), "--out", str(out)]) == 0
    rows = read_csv(out / "comparison.csv")
    # paper order (SimCLR before BYOL), then seed
    assert [(r["algorithm"], r["seed"], r["run"]) for r in rows] == [
        ("simclr", "0", "0_algorithm=simclr"), ("simclr", "1", "2_algorithm=simclr,seed=1"), ("byol", "0", "1_algorithm=byol")]
    s0, s1, by = rows
    assert (s0["W"], s0["R"], s0["lr"], s0["pairs"]) == ("20.0", "1:3", "0.1", "2")
    # effects: mean over the two face-pair runs at 400..1600 exposures; SEM = std / sqrt(2)
    assert [float(s0[f"build_{t}"]) for t in (400, 800, 1200, 1600)] == pytest.approx([0.3, 0.4, 0.6, 0.8])
    assert [float(s0[f"switch_{t}"]) for t in (400, 800, 1200, 1600)] == pytest.approx([0.2, 0.4, 0.1, -0.1])
    assert float(s0["break_1600_sem"]) == pytest.approx(0.4 / math.sqrt(2))
    assert float(by["break_800"]) == pytest.approx(0.1) and by["switch_400"] == "" and by["score_switch"] == ""
    assert float(s0["initial_dprime_big"]) == 1.5 and float(by["initial_dprime_small"]) == pytest.approx(0.45)
    assert float(by["wall_seconds"]) == 30.0
    for row, res in ((s0, a), (s1, c), (by, b)):
        assert float(row["score_overall"]) == pytest.approx(res.score.overall_score)
        assert float(row["score_build"]) == pytest.approx(res.score.score[0])
    text = capsys.readouterr().out
    table = text.split("\n\n")[0].splitlines()
    assert table[0].split()[:6] == ["algorithm", "seed", "W", "R", "lr", "pairs"] and len(table) == 4
    assert table[3].split()[0] == "byol" and "+0.10" in table[3]
    assert "skipped 2:" in text
    assert "3_algorithm=swav/results.h5: unreadable" in text and "not a readable HDF5 results file" in text
    assert "4_algorithm=mae: unfinished: no results.h5" in text
    for ext in ("png", "pdf"):
        assert (out / f"comparison.{ext}").stat().st_size > 10_000
    assert not list(out.glob(".*tmp"))                                    # atomic writes leave no temporaries


def test_figure_columns_pool_seeds_and_name_varying_settings(sweep, tmp_path, capsys):
    root, a, b, c = sweep
    col = column_from_results("simclr", [a, c])
    m, s, n = col.curve("build")
    pooled = np.concatenate([a.conditions["build"].arrays["effect"], c.conditions["build"].arrays["effect"]])
    assert n == 4 and np.allclose(m, pooled.mean(0)) and np.allclose(s, pooled.std(0) / 2)
    assert col.scores["build"] == pytest.approx([a.score.score[0], c.score.score[0]])
    humans = humans_from_results([b, a])
    assert set(humans) == {"build", "break", "switch"} and np.allclose(humans["switch"][0], HUMAN["switch"])
    fig = draw_comparison([col, column_from_results("byol", [b])], humans, TEST_POINTS)
    axes = np.array(fig.axes).reshape(3, 2)                               # rows build/break/switch x 2 algorithms
    assert [ax.get_title() for ax in axes[0]] == ["simclr", "byol"]
    assert axes[2][1].texts[0].get_text() == "not run"                    # BYOL ran no switch condition
    assert axes[0][0].get_ylim()[1] >= 2.5                                # the paper's build range at least
    # a sweep that also varies W gets one column per (algorithm, W)
    write_results(root / "5_W=0.5" / "results.h5", fake_results("simclr", 0, {"build": eff([0.1, 0.1, 0.1, 0.1])}, window=0.5))
    out = tmp_path / "c2"
    assert collect_main([str(root), "--out", str(out), "--stem", "sweep"]) == 0
    labels = sorted({(r["algorithm"], r["W"]) for r in read_csv(out / "sweep.csv")})
    assert labels == [("byol", "20.0"), ("simclr", "0.5"), ("simclr", "20.0")]
    assert (out / "sweep.png").is_file() and (out / "sweep.pdf").is_file()


def test_nothing_to_collect_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert collect_main([str(tmp_path / "empty")]) == 2
    assert "no readable results.h5" in capsys.readouterr().err
    assert collect_main([str(tmp_path / "missing")]) == 2
    assert not list((tmp_path / "empty").iterdir())


def test_collected_files_are_the_benchmark_schema(sweep):
    root, a, _, _ = sweep
    back = read_results(root / "0_algorithm=simclr" / "results.h5")
    assert back.attrs["algorithm"] == "simclr" and np.allclose(back.conditions["build"].effect_mean, a.conditions["build"].effect_mean)


def test_pair_subsets_run_as_separate_jobs_pool_to_the_score_of_one_run(tmp_path, capsys):
    """Two jobs with disjoint face pairs, collected together, get the score of one run over both pairs."""
    from compose import make_cfg

    from lifelong.realtime.benchmark import run_realtime

    whole = run_realtime(make_cfg(tmp_path / "whole", ["benchmark.pairs=[0,14]"]))
    sweep = tmp_path / "sweep"
    for job, pairs in (("0_simclr", "[0]"), ("1_simclr", "[14]")):
        run_realtime(make_cfg(sweep / job, [f"benchmark.pairs={pairs}"]))
    assert collect_main([str(sweep)]) == 0
    text = capsys.readouterr().out
    assert "pooled simclr: 2 files, 2 distinct pairs" in text
    row = read_csv(sweep / "comparison_pooled.csv")[0]
    assert float(row["overall_score"]) == pytest.approx(whole.score.overall_score, abs=1e-12)
    assert float(row["overall_rmse"]) == pytest.approx(whole.score.overall_rmse, abs=1e-12)
    for i, cond in enumerate(whole.score.conditions):
        assert float(row[f"{cond}_score"]) == pytest.approx(float(whole.score.score[i]), abs=1e-12)
        assert row[f"{cond}_runs"] == "2"
    assert row["repeated_pairs"] == ""
