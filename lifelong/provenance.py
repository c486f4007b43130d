"""What produced a result: package versions and the project's git commit."""
from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

PACKAGES = ("torch", "torchvision", "pytorch-lightning", "hydra-core", "h5py", "numpy", "matplotlib", "timm",
            "scikit-learn", "av")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        versions["lifelong-visual-learning"] = importlib.metadata.version("lifelong-visual-learning")
    except importlib.metadata.PackageNotFoundError:
        pass
    return versions


def git_commit() -> str:
    """The commit of the project checkout, with '+dirty' for uncommitted changes; 'unknown' outside git."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_provenance(cfg) -> dict[str, str]:
    """Attributes every results file carries: the resolved config, package versions and the git commit."""
    import json

    from omegaconf import OmegaConf

    return {
        "config_yaml": OmegaConf.to_yaml(cfg, resolve=True),
        "versions_json": json.dumps(package_versions()),
        "git_commit": git_commit(),
    }


def stored_config(attrs) -> dict:
    """The resolved config a results file carries (``run_provenance``'s ``config_yaml``); {} if absent or unreadable."""
    import yaml

    try:
        return yaml.safe_load(attrs.get("config_yaml", "")) or {}
    except yaml.YAMLError:
        return {}


def results_key(cfg, keys: tuple[str, ...]) -> str:
    """A short hash of the config entries ``keys`` (and the precision): equal keys, equal results. Resumed runs
    compare it with the key of the checkpoints they find."""
    import hashlib
    import json

    from omegaconf import DictConfig, OmegaConf

    parts = {k: OmegaConf.to_container(cfg[k], resolve=True) if isinstance(cfg[k], DictConfig) else cfg[k]
             for k in keys if k in cfg}
    parts["precision"] = cfg.trainer.get("precision")
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
