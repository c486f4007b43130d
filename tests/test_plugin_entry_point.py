"""The algorithm registry and plugins: register/get/list, duplicate names, entry points, and an example
plugin (tests/example_plugin/) run through the real-time benchmark's smoke path from the command line."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException

from algorithms import registry
from algorithms.base import Algorithm
from algorithms.simclr import SimCLR
from lifelong.components import ConfigError, algorithm_parts
from lifelong.plugins import store_algorithm_configs
from lifelong.realtime.results import read_results
from tests.compose import TINY, make_cfg

REPO = Path(__file__).resolve().parent.parent
PLUGIN_DIR = Path(__file__).resolve().parent / "example_plugin"
PROJECT_ALGORITHMS = {"simclr", "mocov2", "byol", "byolneg", "swav", "simsiam", "barlowtwins", "mae", "dino", "dinoneg"}


def make_dist(root: Path, dist: str, lines: dict[str, str]) -> Path:
    """A minimal installed distribution: <root>/<dist>-0.1.dist-info with METADATA and entry_points.txt."""
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    body = "".join(f"{k} = {v}\n" for k, v in lines.items())
    (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n{body}")
    return root


@pytest.fixture
def clean_registry():
    """Each test sees a freshly scanned registry; plugin configs it stored are removed afterwards."""
    registry.reload()
    yield
    registry.reload()
    ConfigStore.instance().repo.get("algorithm", {}).pop("tiny_infonce.yaml", None)


class _Dummy(Algorithm):
    name = "dummy_for_tests"

    def training_loss(self, view1, view2):
        return (self.backbone(view1) - self.backbone(view2)).pow(2).mean()

    def embed(self, images):
        return self.backbone(images)


class _Other(_Dummy):
    name = "other_for_tests"


# ------------------------------------------------------------------------------------------ registry unit tests
def test_project_algorithms_are_declared_by_entry_point(clean_registry):
    assert PROJECT_ALGORITHMS <= set(registry.names())
    assert registry.names() == sorted(registry.names())
    assert registry.get("simclr") is SimCLR
    assert "lifelong.algorithms" in registry.source_of("simclr")
    assert registry.config_of("simclr") is None              # its config lives in lifelong/conf/algorithm/
    assert registry.list_algorithms("byol*") == ["byol", "byolneg"]
    # config variants are YAML files, not registry entries
    assert "simclr_mlp4" not in registry.names() and "simclr_r50" not in registry.names()
    # every declared class loads, is an Algorithm, and carries its registry name (the checkpoint key rules use it)
    for name in sorted(PROJECT_ALGORITHMS):
        cls = registry.get(name)
        assert issubclass(cls, Algorithm) and cls.name == name, name


def test_register_as_decorator_and_call_get_list_config(clean_registry):
    cfg = {"arch": "resnet18", "model": {"scale": 2.0}, "realtime_lr": 0.1}
    assert registry.register(config=cfg)(_Dummy) is _Dummy      # name from the class attribute
    assert registry.get("dummy_for_tests") is _Dummy
    assert "dummy_for_tests" in registry.list_algorithms("dummy*")
    out = registry.config_of("dummy_for_tests")
    assert out == {
        "arch": "resnet18", "name": "dummy_for_tests", "realtime_lr": 0.1,
        "model": {"scale": 2.0, "_target_": f"{__name__}._Dummy"},
    }
    assert cfg == {"arch": "resnet18", "model": {"scale": 2.0}, "realtime_lr": 0.1}   # caller's dict untouched

    @registry.register
    class Bare(_Dummy):
        name = ""
    assert registry.get("bare") is Bare and registry.config_of("bare") is None  # lower-cased class name

    registry.register("renamed")(_Other)
    assert registry.get("renamed") is _Other
    registry.register("renamed")(_Other)                       # the same class again: a no-op
    registry.unregister("renamed")
    assert not registry.is_registered("renamed")


def test_duplicate_name_is_an_error_naming_both(clean_registry):
    registry.register("dup_name")(_Dummy)
    with pytest.raises(registry.RegistryError) as exc:
        registry.register("dup_name")(_Other)
    msg = str(exc.value)
    assert "'dup_name' is registered twice" in msg
    assert f"{__name__}:_Dummy" in msg and f"{__name__}:_Other" in msg
    # a project name cannot be taken either
    with pytest.raises(registry.RegistryError, match="'simclr' is registered twice"):
        registry.register("simclr")(_Other)
    assert registry.get("dup_name") is _Dummy and registry.get("simclr") is SimCLR


def test_bad_registrations_and_unknown_names(clean_registry):
    with pytest.raises(registry.RegistryError, match="expects an algorithms.base.Algorithm subclass"):
        registry.register("not_an_algo")(torch.nn.Linear)
    with pytest.raises(registry.RegistryError, match="invalid algorithm name"):
        registry.register("has space")(_Dummy)
    with pytest.raises(registry.RegistryError) as exc:
        registry.get("nope")
    assert "unknown algorithm 'nope'" in str(exc.value) and "simclr" in str(exc.value) and "mocov2" in str(exc.value)


def test_entry_points_of_an_installed_package_are_found_lazily(clean_registry, tmp_path, monkeypatch):
    make_dist(tmp_path / "site", "tiny-plugin", {"tiny_infonce": "tiny_infonce:TinyInfoNCE"})
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    sys.modules.pop("tiny_infonce", None)
    registry.reload()
    assert "tiny_infonce" in registry.names() and PROJECT_ALGORITHMS <= set(registry.names())
    assert "tiny_infonce" not in sys.modules                  # listing imports nothing
    assert "of tiny-plugin" in registry.source_of("tiny_infonce")
    cls = registry.get("tiny_infonce")
    assert cls.__module__ == "tiny_infonce" and issubclass(cls, Algorithm)
    cfg = registry.config_of("tiny_infonce")                  # tiny_infonce.yaml beside the module
    assert cfg["name"] == "tiny_infonce" and cfg["model"]["_target_"] == "tiny_infonce.TinyInfoNCE"
    assert cfg["model"]["temperature"] == 0.2 and cfg["augment"]["pretrain"]["size"] == "${image_size}"


def test_plugin_config_composes_with_overrides_and_unknown_name_lists_it(clean_registry, tmp_path, monkeypatch):
    make_dist(tmp_path / "site", "tiny-plugin", {"tiny_infonce": "tiny_infonce:TinyInfoNCE"})
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    registry.reload()
    assert store_algorithm_configs() == ["tiny_infonce"]       # project algorithms have their YAMLs
    cfg = make_cfg(tmp_path, ["algorithm=tiny_infonce", "algorithm.model.temperature=0.5"])
    assert cfg.algorithm.name == "tiny_infonce" and cfg.algorithm.optimizer.lr == 0.05
    parts = algorithm_parts(cfg)
    algo = parts.make()
    assert type(algo).__name__ == "TinyInfoNCE" and algo.temperature == 0.5
    assert algo.proj.in_features == 128                        # CPU preset: resnet18 -> small_cnn width 16
    x = torch.rand(4, 3, cfg.image_size, cfg.image_size)
    v1, v2 = parts.pretrain_augment.forward_pair(x, x)
    assert torch.isfinite(algo.training_loss(v1, v2))
    with pytest.raises(HydraException) as exc:
        make_cfg(tmp_path, ["algorithm=nope"])
    msg = str(exc.value)
    assert "algorithm/nope" in msg and "tiny_infonce" in msg and "simclr" in msg


def test_conflicting_packages_stop_the_cli_with_one_error(clean_registry, tmp_path, monkeypatch, capsys):
    make_dist(tmp_path / "a", "plugin-a", {"shared_name": "tiny_infonce:TinyInfoNCE"})
    make_dist(tmp_path / "b", "plugin-b", {"shared_name": "other_module:Other"})
    monkeypatch.syspath_prepend(str(tmp_path / "a"))
    monkeypatch.syspath_prepend(str(tmp_path / "b"))
    registry.reload()
    with pytest.raises(registry.RegistryError) as exc:
        registry.names()
    assert "'shared_name' is declared twice" in str(exc.value)
    assert "plugin-a" in str(exc.value) and "plugin-b" in str(exc.value)
    from lifelong.cli import run

    monkeypatch.setattr(sys, "argv", ["lifelong-run", "benchmark.pairs=[0]"])
    with pytest.raises(SystemExit) as stop:
        run.main()
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: algorithm name 'shared_name' is declared twice")


def test_model_that_is_not_an_algorithm_and_incomplete_config_are_config_errors(tmp_path):
    cfg = make_cfg(tmp_path, ["algorithm.model._target_=torch.nn.Identity"])
    with pytest.raises(ConfigError, match=r"built a torch.nn.modules.linear.Identity, which is not an algorithms.base.Algorithm"):
        algorithm_parts(cfg).make()
    cfg = make_cfg(tmp_path, ["~algorithm.realtime_lr", "~algorithm.augment"])
    with pytest.raises(ConfigError) as exc:
        algorithm_parts(cfg)
    assert "lacks algorithm.realtime_lr, algorithm.augment.pretrain, algorithm.augment.stream" in str(exc.value)


# ------------------------------------------------------------------------------------------ CLI smoke path
def test_example_plugin_runs_through_the_benchmark_cli(tmp_path):
    """Install the example plugin through a *.dist-info folder and run `lifelong-run algorithm=tiny_infonce`."""
    site = make_dist(tmp_path / "site", "tiny-plugin", {"tiny_infonce": "tiny_infonce:TinyInfoNCE"})
    out = tmp_path / "run"
    env = dict(
        os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1", LIFELONG_CACHE_DIR=str(tmp_path / "cache"),
        PYTHONPATH=os.pathsep.join([str(site), str(PLUGIN_DIR), str(REPO)]),
    )
    r = subprocess.run(
        [sys.executable, "-m", "lifelong.cli.run", "algorithm=tiny_infonce", *TINY, "benchmark.pairs=[0]",
         "benchmark.conditions=[build]", "stimuli.n_test=6", f"hydra.run.dir={out}"],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "initial d' of the starting checkpoint" in r.stdout
    res = read_results(out / "results.h5")
    assert res.attrs["algorithm"] == "tiny_infonce"
    assert "_target_: tiny_infonce.TinyInfoNCE" in res.attrs["config_yaml"]
    assert list(res.conditions) == ["build"] and res.conditions["build"].arrays["effect"].shape == (1, 5)
    assert (out / "realtime_vs_humans.png").is_file()
