"""auto_precision: bf16 only where the CPU has native bf16."""
from __future__ import annotations

from hydra import compose, initialize_config_module

from lifelong import cpu_precision


def _cpuinfo(tmp_path, flags: str):
    p = tmp_path / "cpuinfo"
    p.write_text(f"processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: {flags}\n\n")
    return str(p)


def test_native_bf16_read_from_cpu_flags(tmp_path):
    f = cpu_precision.native_cpu_bf16.__wrapped__
    assert f(_cpuinfo(tmp_path, "fpu sse avx2 avx512f avx512_bf16")) is True
    assert f(_cpuinfo(tmp_path, "fpu sse avx2 amx_bf16 amx_tile")) is True
    assert f(_cpuinfo(tmp_path, "fpu sse avx2 avx512f avx512bw")) is False
    assert f(str(tmp_path / "missing")) is False


def test_auto_precision_follows_the_cpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(cpu_precision, "native_cpu_bf16", lambda: True)
    assert cpu_precision.auto_precision() == "bf16-mixed"
    monkeypatch.setattr(cpu_precision, "native_cpu_bf16", lambda: False)
    assert cpu_precision.auto_precision() == "32-true"


def test_cpu_preset_resolves_precision_and_an_override_wins():
    with initialize_config_module("lifelong.conf", version_base="1.3"):
        cfg = compose("config")
        assert cfg.trainer.precision in ("bf16-mixed", "32-true")
        assert cfg.trainer.precision == cpu_precision.auto_precision()
        cfg = compose("config", overrides=["trainer.precision=64-true"])
        assert cfg.trainer.precision == "64-true"
