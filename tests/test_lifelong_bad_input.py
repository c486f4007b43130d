"""Life-long benchmark on user data: a fabricated SAYCam folder end to end, and bad input that fails before
training with one clear error naming the file or value, and no results file."""
from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from compose import make_lifelong_cfg
from test_saycam import write_saycam

from lifelong.cli.errors import USER_ERRORS
from lifelong.life_long.benchmark import run_lifelong


def test_saycam_layout_end_to_end(tmp_path):
    frames, counts, chunks = write_saycam(tmp_path / "saycam")
    cfg = make_lifelong_cfg(tmp_path / "out", [
        "frames=saycam", f"frames.root={frames}", f"frames.num_frames_meta={counts}", f"frames.chunk_meta={chunks}",
    ])
    res = run_lifelong(cfg)
    assert res.evals["chunk"].tolist() == [-1, 0, 1]                     # two chunks in the fabricated meta
    np.testing.assert_allclose(res.evals["hours"], np.array([0, 12, 24]) / 25 / 3600)
    # ages from the names: S_20130417_0600 (6 months 0 days) ... S_20130501_0614 (6 months 14 days)
    assert 6.0 < res.evals["age_months"][1] < res.evals["age_months"][2] < 6.6
    assert (tmp_path / "out" / "results.h5").is_file()


def _bad_store(path, dtype="uint8", shape=(4, 3, 32, 32)):
    with h5py.File(path, "w") as f:
        f["frames"] = np.zeros(shape, dtype=dtype)
    return path


@pytest.mark.parametrize("case", [
    "saycam_root_unset", "saycam_missing_meta", "saycam_meta_names_missing_video", "hdf5_missing_file",
    "hdf5_truncated", "hdf5_wrong_dtype", "videos_empty_folder", "videos_corrupt_file",
    "imagenet_malformed_line", "image_size_mismatch", "stream_knob_out_of_range",
])
def test_bad_lifelong_inputs(tmp_path, case):
    out = tmp_path / "out"
    frames, counts, chunks = write_saycam(tmp_path / "saycam")
    expect = None
    if case == "saycam_root_unset":
        ov, expect = ["frames=saycam"], "frames.root is not set"
    elif case == "saycam_missing_meta":
        ov = ["frames=saycam", f"frames.root={frames}", f"frames.num_frames_meta={tmp_path / 'nope.txt'}",
              f"frames.chunk_meta={chunks}"]
        expect = "nope.txt"
    elif case == "saycam_meta_names_missing_video":
        chunks.write_text(chunks.read_text().replace("S_20130501_0614_01", "S_20130502_0615_01"))
        ov = ["frames=saycam", f"frames.root={frames}", f"frames.num_frames_meta={counts}", f"frames.chunk_meta={chunks}"]
        expect = "S_20130502_0615_01"
    elif case == "hdf5_missing_file":
        ov, expect = ["frames=hdf5", f"frames.path={tmp_path / 'none.h5'}"], "none.h5"
    elif case == "hdf5_truncated":
        good = _bad_store(tmp_path / "t.h5")
        data = good.read_bytes()
        good.write_bytes(data[: len(data) // 3])
        ov, expect = ["frames=hdf5", f"frames.path={good}"], "t.h5"
    elif case == "hdf5_wrong_dtype":
        ov, expect = ["frames=hdf5", f"frames.path={_bad_store(tmp_path / 'f.h5', dtype='float32')}"], "f.h5"
    elif case == "videos_empty_folder":
        (tmp_path / "vids").mkdir()
        ov, expect = ["frames=videos", f"frames.folder={tmp_path / 'vids'}"], "vids"
    elif case == "videos_corrupt_file":
        (tmp_path / "vids").mkdir()
        (tmp_path / "vids" / "a.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
        ov, expect = ["frames=videos", f"frames.folder={tmp_path / 'vids'}"], "a.mp4"
    elif case == "imagenet_malformed_line":
        lst = tmp_path / "list.txt"
        lst.write_text("train/n01443537/x.JPEG one\n")
        ov = ["readout_set=imagenet_subset", f"readout_set.root={tmp_path}", f"readout_set.list_file={lst}"]
        expect = "list.txt"
    elif case == "stream_knob_out_of_range":
        ov, expect = ["frames.objects_per_day=9"], "frames: objects_per_day must be an integer in [0, 4]"
    else:
        ov, expect = ["image_size=48"], None
    cfg = make_lifelong_cfg(out, ov)
    if case == "image_size_mismatch":                          # frames rendered at 32 px, config says 48
        cfg.frames.image_size = 32
    with pytest.raises(USER_ERRORS) as exc:
        run_lifelong(cfg)
    msg = str(exc.value)
    assert (expect or "image_size=48") in msg
    assert "\n" not in msg.strip() or case.startswith("saycam_root")
    assert not (out / "results.h5").exists()


def test_cli_reports_a_bad_lifelong_value_in_one_line(tmp_path):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    r = subprocess.run(
        [sys.executable, "-m", "lifelong.cli.run", f"hydra.run.dir={tmp_path}", "benchmark=lifelong",
         "benchmark.memory.mode=fifo", "frames.n_days=2", "frames.frames_per_day=400"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert r.returncode == 2
    lines = [line for line in r.stderr.strip().splitlines() if line.startswith("error:")]
    assert lines == ["error: benchmark: memory mode 'fifo': expected one of original, causal, strict, reservoir"]
    assert not (tmp_path / "results.h5").exists()
