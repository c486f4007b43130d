"""The exposure learning rate: the algorithm's realtime_lr, an override, and the lr x steps scaling."""
from __future__ import annotations

import pytest

from lifelong.components import algorithm_parts
from lifelong.realtime.benchmark import realtime_settings
from tests.compose import make_cfg


def test_cpu_preset_keeps_lr_times_steps_of_the_paper(tmp_path):
    cfg = make_cfg(tmp_path)                                   # TINY: 18 steps, CPU preset: reference 1350
    assert cfg.benchmark.lr_reference_steps == 1350
    s = realtime_settings(cfg, algorithm_parts(cfg))
    assert s.num_steps == 18
    assert s.lr == pytest.approx(0.1 * 1350 / 18)              # SimCLR's realtime_lr 0.1


def test_override_and_paper_scale(tmp_path):
    cfg = make_cfg(tmp_path, ["benchmark.lr=0.05", "benchmark.lr_reference_steps=null"])
    assert realtime_settings(cfg, algorithm_parts(cfg)).lr == pytest.approx(0.05)
    cfg = make_cfg(tmp_path, ["preset=paper", "benchmark.num_steps=1350"])
    assert cfg.benchmark.lr_reference_steps is None
    assert realtime_settings(cfg, algorithm_parts(cfg)).lr == pytest.approx(0.1)
