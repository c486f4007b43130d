"""Tests of the human_data package: shipped HDF5 file, loader checks, converter and CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import human_data
from human_data import HumanDataError, convert_jia2021, load
from human_data.cli import main
from human_data.convert import check_consistency
from human_data.jia2021 import ARRAYS, CONDITIONS, KNOWN_DATASETS

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "jia2021_human_behavioral_data"
SHIPPED = REPO / "human_data" / "data" / "jia2021.h5"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} not available")

MEANS = {  # realtime.md section 8, test points 400..1600
    "build": [0.447, 0.610, 0.850, 0.851],
    "break": [-0.725, -1.299, -1.076, -1.094],
    "switch": [0.384, 0.847, 0.427, 0.107],
}
STDS = {
    "build": [0.258, 0.287, 0.297, 0.306],
    "break": [0.294, 0.276, 0.302, 0.282],
    "switch": [0.190, 0.217, 0.218, 0.247],
}


@pytest.fixture(scope="module")
def data():
    return load("jia2021")


def _original_arrays(folder: Path) -> dict[str, np.ndarray]:
    return {s.h5_path: np.load(folder / s.original_file) for s in ARRAYS}


def _loaded_arrays(d) -> dict[str, np.ndarray]:
    out = {f"{c}/{k}": getattr(d, k)[c] for c in CONDITIONS
           for k in ("exposed_big", "control_big", "exposed_small", "learning_effect")}
    out["initial_dprime_dependency/initial_difficulty_800exposure"] = d.initial_difficulty_800exposure
    return out


def _copy_source(dst: Path) -> Path:
    shutil.copytree(SHARED, dst, copy_function=shutil.copyfile)  # source files are read-only
    for p in [dst, *dst.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


# ---------------------------------------------------------------- shipped file (always runs)

def test_shipped_file_structure(data):
    assert SHIPPED.is_file() and KNOWN_DATASETS["jia2021"] == SHIPPED
    assert data.conditions == ("build", "break", "switch")
    assert data.test_points.tolist() == [0, 400, 800, 1200, 1600]
    assert data.n_bootstrap == 100
    for c in CONDITIONS:
        for part in ("exposed_big", "control_big", "exposed_small"):
            assert getattr(data, part)[c].shape == (5, 100)
            assert getattr(data, part)[c].dtype == np.float64
        assert data.learning_effect[c].shape == (100, 5)
        assert np.array_equal(data.effects[c], data.exposed_big[c] - data.control_big[c])
    assert data.initial_difficulty_800exposure.shape == (3, 13)
    assert data.source["source_repository"] == "https://github.com/jiaxx/temporal_learning_paper"
    assert data.source["source_commit"] == "abffd5b"
    assert data.source["licence"] == "MIT"
    assert data.source["schema_version"] == 1
    assert data.source["licence_text"] == (REPO / "human_data" / "data" / "LICENSE").read_text()
    assert "10.7554/eLife.60830" in data.source["citation"]


def test_shipped_attrs_name_original_files():
    with h5py.File(SHIPPED, "r") as f:
        assert f["build/learning_effect"].attrs["original_file"] == "build/build_learning effect.npy"
        assert f["break/control_big"].attrs["original_file"] == "break/break_mb_b_control.npy"
        assert f["switch/control_big"].attrs["original_file"] == "switch/switch_mb_b_other.npy"
        assert f["build/exposed_big"].attrs["md5"] == "a66bad655721c92efe7b9c92c9cdf23b"
        for spec in ARRAYS:
            assert len(f[spec.h5_path].attrs["sha256"]) == 64


def test_effect_means_and_stds_match_spec(data):
    for c in CONDITIONS:
        mean, std = data.effect_mean(c), data.effect_std(c)
        assert mean[0] == 0 and std[0] == 0
        np.testing.assert_allclose(mean[1:], MEANS[c], atol=5e-4)
        np.testing.assert_allclose(std[1:], STDS[c], atol=5e-4)
    assert round(float(data.effect_std("build")[1]), 3) == 0.258  # ddof 0 (ddof 1 would give 0.2591)
    mean, std = data.effect_matrix()
    np.testing.assert_allclose(mean, [MEANS[c] for c in CONDITIONS], atol=5e-4)
    assert std.shape == (3, 4)
    with pytest.raises(KeyError, match="build, break, switch"):
        data.effect_mean("nope")


def test_learning_effect_is_transposed_difference(data):
    for c in CONDITIONS:
        assert np.array_equal(data.learning_effect[c], (data.exposed_big[c] - data.control_big[c]).T)


def test_arrays_are_read_only(data):
    with pytest.raises(ValueError):
        data.effects["build"][1, 0] = 1.0
    with pytest.raises(TypeError):
        data.exposed_big["build"] = None


def test_load_accepts_path(data):
    d = load(SHIPPED)
    assert np.array_equal(d.effects["break"], data.effects["break"])
    assert np.array_equal(load(str(SHIPPED)).exposed_small["switch"], data.exposed_small["switch"])


def test_unknown_name_lists_known_names():
    with pytest.raises(HumanDataError, match="unknown human data set 'xyz'.*jia2021"):
        load("xyz")
    with pytest.raises(HumanDataError, match="no such file"):
        load("does/not/exist.h5")


@pytest.fixture()
def shipped_copy(tmp_path):
    dst = tmp_path / "copy.h5"
    shutil.copyfile(SHIPPED, dst)
    return dst


def test_tampered_value_detected(shipped_copy):
    with h5py.File(shipped_copy, "r+") as f:
        f["build/exposed_big"][2, 7] += 1e-9
    with pytest.raises(HumanDataError) as exc:
        load(shipped_copy)
    msg = str(exc.value)
    assert "/build/exposed_big" in msg and str(shipped_copy) in msg and "sha256" in msg


def test_missing_dataset_detected(shipped_copy):
    with h5py.File(shipped_copy, "r+") as f:
        del f["switch/control_big"]
    with pytest.raises(HumanDataError, match=r"'/switch/control_big' is missing.*\(5, 100\)"):
        load(shipped_copy)


def test_wrong_shape_detected(shipped_copy):
    with h5py.File(shipped_copy, "r+") as f:
        attrs = dict(f["break/exposed_small"].attrs)
        del f["break/exposed_small"]
        f.create_dataset("break/exposed_small", data=np.zeros((4, 100))).attrs.update(attrs)
    with pytest.raises(HumanDataError, match=r"'/break/exposed_small' has shape \(4, 100\).*expected shape \(5, 100\)"):
        load(shipped_copy)


def test_wrong_root_attr_and_not_hdf5(shipped_copy, tmp_path):
    with h5py.File(shipped_copy, "r+") as f:
        f.attrs["schema_version"] = 2
    with pytest.raises(HumanDataError, match="schema_version"):
        load(shipped_copy)
    bogus = tmp_path / "bogus.h5"
    bogus.write_bytes(b"not hdf5")
    with pytest.raises(HumanDataError, match="cannot be opened as an HDF5 file"):
        load(bogus)


def test_check_consistency_rejects_mismatch(data):
    arrays = _loaded_arrays(data)
    check_consistency(arrays)
    arrays["break/learning_effect"] = arrays["break/learning_effect"].copy()
    arrays["break/learning_effect"][3, 2] += 1e-12
    with pytest.raises(HumanDataError, match="break: learning_effect"):
        check_consistency(arrays)


def test_package_is_self_contained():
    code = ("import sys, human_data; human_data.load(); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('streams', 'algorithms', 'lifelong')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_cli_show(capsys):
    assert main(["show"]) == 0
    out = capsys.readouterr().out
    assert "+0.447 ± 0.258" in out and "-1.299 ± 0.276" in out and "+0.107 ± 0.247" in out
    assert [line.split()[0] for line in out.splitlines()[-3:]] == ["build", "break", "switch"]
    assert main(["show", str(SHIPPED), "--components"]) == 0
    assert "build:exposed_big" in capsys.readouterr().out


def test_cli_show_bad_name(capsys):
    assert main(["show", "xyz"]) != 0
    assert "xyz" in capsys.readouterr().err


def test_cli_convert_bad_source(tmp_path, capsys):
    missing = tmp_path / "no_such_folder"
    out = tmp_path / "out.h5"
    rc = main(["convert", str(missing), str(out)])
    assert rc != 0
    assert str(missing) in capsys.readouterr().err
    assert not out.exists()


# ---------------------------------------------------------------- against the original .npy files

@needs_shared
def test_shipped_file_equals_original_npy(data):
    originals = _original_arrays(SHARED)
    loaded = _loaded_arrays(data)
    assert loaded.keys() == originals.keys()
    for key, arr in originals.items():
        assert loaded[key].dtype == arr.dtype and np.array_equal(loaded[key], arr), key


@needs_shared
def test_convert_round_trip(tmp_path):
    out = convert_jia2021(SHARED, tmp_path / "sub" / "j.h5")
    assert out == tmp_path / "sub" / "j.h5"
    assert sorted(p.name for p in out.parent.iterdir()) == ["j.h5"]  # no temp file left
    d = load(out)
    originals = _original_arrays(SHARED)
    for key, arr in _loaded_arrays(d).items():
        assert np.array_equal(arr, originals[key]), key
    assert np.array_equal(d.effects["build"], np.load(SHARED / "build/build_mb_b.npy")
                          - np.load(SHARED / "build/build_mb_b_other.npy"))


@needs_shared
def test_convert_rejects_wrong_md5_and_leaves_no_output(tmp_path):
    src = _copy_source(tmp_path / "src")
    target = src / "break" / "break_mb_s.npy"
    arr = np.load(target)
    arr[2, 3] += 0.5
    np.save(target, arr)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(HumanDataError, match=r"break_mb_s\.npy.*md5"):
        convert_jia2021(src, out_dir / "j.h5")
    assert list(out_dir.iterdir()) == []


@needs_shared
def test_convert_rejects_missing_file(tmp_path):
    src = _copy_source(tmp_path / "src")
    (src / "build" / "build_learning effect.npy").unlink()
    with pytest.raises(HumanDataError, match="build_learning effect.npy.*missing"):
        convert_jia2021(src, tmp_path / "j.h5")
    assert not (tmp_path / "j.h5").exists()


@needs_shared
def test_convert_failure_keeps_existing_output(tmp_path, monkeypatch):
    import human_data.convert as conv

    out = tmp_path / "j.h5"
    out.write_bytes(b"previous")

    def boom(path):
        assert Path(path).is_file() and Path(path).parent == tmp_path  # temp file beside the output
        raise HumanDataError("verification failed")

    monkeypatch.setattr(conv, "load", boom)
    with pytest.raises(HumanDataError, match="verification failed"):
        convert_jia2021(SHARED, out)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j.h5"]


@needs_shared
def test_cli_convert(tmp_path, capsys):
    out = tmp_path / "cli.h5"
    assert main(["convert", str(SHARED), str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    assert np.array_equal(load(out).exposed_big["switch"], np.load(SHARED / "switch/switch_mb_b.npy"))
    assert os.stat(out).st_mode & 0o444 == 0o444  # readable, not mkstemp's 0600


def test_public_api():
    assert {"load", "HumanData", "HumanDataError", "convert_jia2021"} <= set(human_data.__all__)
    assert issubclass(HumanDataError, Exception)
