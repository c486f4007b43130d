"""Bad input: one clear error naming the value, a non-zero exit, and no results file."""
import os
import subprocess
import sys

import pytest

from lifelong.cli.errors import USER_ERRORS
from lifelong.cli.run import run_benchmark
from tests.compose import make_cfg


@pytest.mark.parametrize(
    "override,message",
    [
        ("benchmark.ratio=1/3", "malformed ratio R='1/3'"),
        ("benchmark.ratio=2:1", "does not split a batch of 16"),
        ("benchmark.window_minutes=0", "window_minutes=0"),
        ("benchmark.window_minutes=-5", "window_minutes=-5"),
        ("benchmark.conditions=[build,swap]", "unknown condition 'swap'"),
        ("benchmark.conditions=[]", "benchmark.conditions is empty"),
        ("benchmark.pairs=[0,15]", "pair indices in 0..14"),
        ("benchmark.num_steps=20", "multiple of 18"),
        ("benchmark.lr=0", "benchmark.lr=0"),
        ("benchmark.lr_reference_steps=-1", "benchmark.lr_reference_steps=-1"),
        ("pretraining.screening.dprime_range=[3.0,1.0]", "dprime_range"),
        ("human_data=nope", "nope"),
    ],
)
def test_bad_config_values(tmp_path, override, message):
    cfg = make_cfg(tmp_path, [override])
    with pytest.raises(USER_ERRORS) as exc:
        run_benchmark(cfg)
    assert message in str(exc.value)
    assert not (tmp_path / "results.h5").exists()


def test_missing_and_empty_stimulus_folders(tmp_path):
    for root in (tmp_path / "does-not-exist", tmp_path / "empty"):
        if root.name == "empty":
            root.mkdir()
        cfg = make_cfg(tmp_path, ["stimuli=manifest", f"stimuli.folder={root}"])
        with pytest.raises(USER_ERRORS) as exc:
            run_benchmark(cfg)
        assert str(root) in str(exc.value)
    assert not (tmp_path / "results.h5").exists()


def _cli(tmp_path, *overrides):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(
        [sys.executable, "-m", "lifelong.cli.run", f"hydra.run.dir={tmp_path}", *overrides],
        capture_output=True, text=True, env=env, timeout=300,
    )


def test_cli_exit_code_and_single_line_error(tmp_path):
    r = _cli(tmp_path, "benchmark.ratio=one:three")
    assert r.returncode == 2
    assert "error: benchmark.ratio / batch_pairs: malformed ratio R='one:three'" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "results.h5").exists()


def test_cli_unknown_algorithm(tmp_path):
    r = _cli(tmp_path, "algorithm=nope")
    assert r.returncode != 0
    assert "algorithm/nope" in r.stderr
    assert not (tmp_path / "results.h5").exists()
