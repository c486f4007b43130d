"""Atomic outputs: all or nothing under the final name, with ordinary file permissions."""
from __future__ import annotations

import os
import stat

import pytest

from lifelong.atomic_write import atomic_path


def test_success_renames_with_umask_permissions(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    old = os.umask(0o022)
    try:
        with atomic_path(target) as tmp:
            tmp.write_text("done")
            assert not target.exists()
    finally:
        os.umask(old)
    assert target.read_text() == "done"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_error_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_unwritable_target_is_one_clear_error(tmp_path):
    from lifelong.atomic_write import OutputWriteError, check_writable

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(OutputWriteError, match=r"cannot write .*a_file/out/results.h5"):
        with atomic_path(blocker / "out" / "results.h5"):
            pass
    with pytest.raises(OutputWriteError, match="a_file"):
        check_writable(blocker / "run")


def test_full_disk_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    import errno

    from lifelong.atomic_write import OutputWriteError

    target = tmp_path / "results.h5"
    target.write_bytes(b"old results")
    with pytest.raises(OutputWriteError, match=r"writing .*results.h5 failed: No space left on device"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert target.read_bytes() == b"old results"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.h5"]


def test_lifelong_run_into_an_unwritable_folder_fails_before_training(tmp_path):
    from compose import make_lifelong_cfg

    from lifelong.atomic_write import OutputWriteError
    from lifelong.life_long.benchmark import run_lifelong

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    cfg = make_lifelong_cfg(blocker / "run")
    with pytest.raises(OutputWriteError, match="a_file"):
        run_lifelong(cfg)
