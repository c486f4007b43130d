"""The pretraining cache key: equal settings and code give the cached checkpoint, a change of either does not."""
from __future__ import annotations

from lifelong.training import pretrain as P
from tests.compose import make_cfg


def test_key_follows_the_settings_that_shape_a_checkpoint(tmp_path):
    base = P.pretraining_key(make_cfg(tmp_path))
    assert base == P.pretraining_key(make_cfg(tmp_path))
    assert base != P.pretraining_key(make_cfg(tmp_path, ["pretraining.steps=13"]))
    assert base != P.pretraining_key(make_cfg(tmp_path, ["seed=1"]))
    # where a start comes from, and life-long-only settings, do not change what it is
    assert base == P.pretraining_key(make_cfg(tmp_path, ["pretraining.cache=true"]))
    assert base == P.pretraining_key(make_cfg(tmp_path, ["algorithm.lifelong_lr=0.5"]))


def test_key_follows_the_code(tmp_path, monkeypatch):
    cfg = make_cfg(tmp_path)
    base = P.pretraining_key(cfg)
    monkeypatch.setattr(P, "pretraining_code_hash", lambda: "0" * 16)
    assert P.pretraining_key(cfg) != base


def test_sources_cover_the_augmentation_sampling_and_training_code():
    root, files = P.pretraining_sources()
    names = {f.relative_to(root).as_posix() for f in files}
    assert {"algorithms/augment.py", "algorithms/photometric.py", "algorithms/simclr.py",
            "streams/stream_sampler.py", "lifelong/training/ssl_module.py", "lifelong/training/step_batches.py",
            "lifelong/components.py"} <= names


def test_sources_hash_changes_with_a_file_and_only_then(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    h = P.sources_hash(tmp_path, [a, b])
    assert h == P.sources_hash(tmp_path, [b, a])          # the order given does not matter
    b.write_text("y = 3\n")
    assert P.sources_hash(tmp_path, [a, b]) != h
    b.write_text("y = 2\n")
    assert P.sources_hash(tmp_path, [a, b]) == h
    assert isinstance(h, str) and len(h) == 16 and int(h, 16) >= 0
