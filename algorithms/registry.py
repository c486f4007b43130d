"""Registry of the self-supervised algorithms, in the style of timm's / torchvision's model registries.

    from algorithms import registry
    registry.names()                  # ['barlowtwins', 'byol', ..., 'simclr', ...]
    cls = registry.get("simclr")      # the class, algorithms.simclr.SimCLR
    registry.config_of("my_algo")     # a plugin's default config (dict), or None

Two sources fill it:

* the Python entry-point group ``lifelong.algorithms``, one line per algorithm class::

      [project.entry-points."lifelong.algorithms"]
      simclr = "algorithms.simclr:SimCLR"

  The project declares its own algorithms this way in pyproject.toml; an external package declares its
  plugins the same way in its own pyproject.toml. The group is read once, on the first lookup, and a
  class is imported only when it is asked for (``get``, ``config_of``), so listing names imports nothing.
  In a source checkout the project's own lines are read from its pyproject.toml, so an editable install
  whose metadata predates a new algorithm still sees it.
* ``register`` in code that has been imported: ``@register``, ``@register("name", config=...)`` or the call
  ``register("name", config=...)(cls)``.

A name maps to one class; a second, different class under the same name is an error (``RegistryError``)
naming both declarations. Config variants of one class (simclr_mlp4, simclr_r50 are SimCLR with other
hyper-parameters) are YAML files of the project's config tree, not registry entries.

Default config of a plugin (``config_of``), first found of:
  1. the ``config=`` given to ``register`` (a dict, or a path to a YAML file);
  2. the class attribute ``default_config`` (a dict);
  3. the class attribute ``config_file`` (a YAML path, relative to the module's folder);
  4. a YAML file beside the module named ``<name>.yaml`` or ``<module>.yaml``.
Its ``name`` defaults to the registry name and ``model._target_`` to the class, so a plugin's YAML need not
repeat them. The project's own algorithms have their configs in ``lifelong/conf/algorithm/`` instead.
Interface every registered class implements: ``algorithms.base.Algorithm`` (algorithms.md §0).
"""
from __future__ import annotations

import copy
import fnmatch
import importlib
import importlib.metadata
import inspect
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .base import Algorithm

#: entry-point group that external packages declare their algorithms in
ENTRY_POINT_GROUP = "lifelong.algorithms"
#: the distribution of this project (its entry points come from pyproject.toml in a source checkout)
PROJECT_DISTRIBUTION = "lifelong-visual-learning"

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class RegistryError(ValueError):
    """A registry lookup or declaration failed; the message names the algorithm and its source."""


@dataclass
class _Entry:
    name: str
    source: str                          # where it was declared, for error messages
    target: str | None = None            # "module:Class" of an entry point (imported on demand)
    cls: type | None = None
    config: Any = None                   # dict or YAML path given to register()


_ENTRIES: dict[str, _Entry] = {}
_SCANNED = False
_LOCK = threading.RLock()


# ------------------------------------------------------------------------------------------ declaring
def register(name: str | type | None = None, *, config: dict | str | os.PathLike | None = None) -> Callable:
    """Register an ``Algorithm`` subclass under ``name`` (default: its ``name`` attribute, else the
    lower-cased class name). Usable as ``@register``, ``@register("x", config=...)`` or
    ``register("x")(cls)``; returns the class unchanged (as a decorator)."""
    if isinstance(name, type):                       # bare @register
        _add_class(name, None, config)
        return name

    def decorator(cls: type) -> type:
        _add_class(cls, name, config)
        return cls

    return decorator


def unregister(name: str) -> None:
    """Remove ``name`` (e.g. a test's temporary registration). Unknown names are an error."""
    with _LOCK:
        _scan_once()
        if name not in _ENTRIES:
            raise RegistryError(_unknown_message(name))
        del _ENTRIES[name]


def reload() -> None:
    """Forget everything and read the entry points again on the next lookup (after installing a plugin
    into a running process, or in tests)."""
    global _SCANNED
    with _LOCK:
        _ENTRIES.clear()
        _SCANNED = False


def _class_target(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _check_name(name: str, source: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise RegistryError(
            f"invalid algorithm name {name!r} ({source}): use letters, digits, '_', '-' or '.', e.g. 'my_algo'"
        )


def _add_class(cls: type, name: str | None, config: Any) -> None:
    if not (inspect.isclass(cls) and issubclass(cls, Algorithm)):
        raise RegistryError(f"register() expects an algorithms.base.Algorithm subclass, got {cls!r}")
    name = name or getattr(cls, "name", "") or cls.__name__.lower()
    source = f"register() of {_class_target(cls)}"
    _check_name(name, source)
    with _LOCK:
        _scan_once()
        old = _ENTRIES.get(name)
        if old is not None:
            same = old.cls is cls or (old.cls is None and old.target == _class_target(cls))
            if not same:
                raise RegistryError(
                    f"algorithm name {name!r} is registered twice: by {old.source} and by {source}; "
                    "rename one of them"
                )
            old.cls = cls                     # an entry point's module registering its own class: merge
            if config is not None:
                old.config = config
            return
        _ENTRIES[name] = _Entry(name=name, source=source, cls=cls, config=config)


# ------------------------------------------------------------------------------------------ entry points
def _normalise_dist(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _source_checkout_declarations() -> list[tuple[str, str, str]] | None:
    """The project's own entry points from pyproject.toml when running from a source checkout, else None."""
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            return None
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    project = data.get("project", {})
    if _normalise_dist(str(project.get("name", ""))) != _normalise_dist(PROJECT_DISTRIBUTION):
        return None
    table = project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {})
    return [(str(k), str(v), f"{pyproject} [project.entry-points.\"{ENTRY_POINT_GROUP}\"]") for k, v in table.items()]


def _declarations() -> list[tuple[str, str, str]]:
    """(name, "module:attr", source) of every declared entry point of the group."""
    own = _source_checkout_declarations()
    out: list[tuple[str, str, str]] = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if getattr(ep, "dist", None) is not None else "an unknown distribution"
        if own is not None and _normalise_dist(dist) == _normalise_dist(PROJECT_DISTRIBUTION):
            continue                                   # the checkout's pyproject.toml is newer
        out.append((ep.name, ep.value, f"entry point {ep.name} = {ep.value} of {dist}"))
    return (own or []) + out


def _scan_once() -> None:
    global _SCANNED
    if _SCANNED:
        return
    found: dict[str, _Entry] = {}
    for name, value, source in _declarations():
        _check_name(name, source)
        target = value.strip()
        if ":" not in target:
            raise RegistryError(f"{source}: expected 'module:Class', got {target!r}")
        old = found.get(name)
        if old is not None:
            if old.target == target:
                continue
            raise RegistryError(
                f"algorithm name {name!r} is declared twice: {old.source} and {source}; uninstall or rename one"
            )
        found[name] = _Entry(name=name, source=source, target=target)
    for name, entry in found.items():           # check everything before changing anything
        old = _ENTRIES.get(name)
        if old is not None and not (old.cls is not None and _class_target(old.cls) == entry.target):
            raise RegistryError(
                f"algorithm name {name!r} is registered twice: by {old.source} and by {entry.source}; rename one"
            )
    for name, entry in found.items():
        old = _ENTRIES.get(name)
        if old is not None:          # registered in code before the scan, same class: keep the loaded class
            old.target, old.source = entry.target, entry.source
        else:
            _ENTRIES[name] = entry
    _SCANNED = True                  # only after success: a bad declaration keeps raising its error


# ------------------------------------------------------------------------------------------ lookups
def names() -> list[str]:
    """Sorted names of all registered algorithms (imports nothing)."""
    with _LOCK:
        _scan_once()
        return sorted(_ENTRIES)


def list_algorithms(filter: str = "") -> list[str]:  # noqa: A002 - timm's argument name
    """Sorted names, optionally filtered by a shell-style pattern (``list_algorithms("byol*")``)."""
    return [n for n in names() if not filter or fnmatch.fnmatchcase(n, filter)]


def is_registered(name: str) -> bool:
    with _LOCK:
        _scan_once()
        return name in _ENTRIES


def source_of(name: str) -> str:
    """Where ``name`` was declared (entry point and distribution, pyproject.toml, or a register() call)."""
    return _entry(name).source


def _unknown_message(name: str) -> str:
    known = ", ".join(sorted(_ENTRIES)) or "none"
    return f"unknown algorithm {name!r}; registered algorithms: {known}"


def _entry(name: str) -> _Entry:
    with _LOCK:
        _scan_once()
        entry = _ENTRIES.get(name)
        if entry is None:
            raise RegistryError(_unknown_message(name))
        return entry


def get(name: str) -> type[Algorithm]:
    """The algorithm class registered as ``name`` (imported on first use)."""
    entry = _entry(name)
    with _LOCK:
        if entry.cls is None:
            entry.cls = _load(entry)
        return entry.cls


def _load(entry: _Entry) -> type:
    module_name, _, attr = entry.target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # an import error of a plugin: name it, do not crash the caller obscurely
        raise RegistryError(
            f"algorithm {entry.name!r} ({entry.source}) could not be loaded: {type(exc).__name__}: {exc}"
        ) from exc
    if not (inspect.isclass(obj) and issubclass(obj, Algorithm)):
        raise RegistryError(
            f"algorithm {entry.name!r} ({entry.source}) is {obj!r}, not an algorithms.base.Algorithm subclass"
        )
    return obj


def config_of(name: str) -> dict | None:
    """The default config (a dict in the layout of lifelong/conf/algorithm/*.yaml) of ``name``, or None
    when it brings none (the project's own algorithms keep theirs in the config tree)."""
    cls = get(name)
    entry = _entry(name)
    module_dir = _module_dir(cls)
    cfg: Any = entry.config
    origin = f"register(config=...) of {name!r}"
    if cfg is None and getattr(cls, "default_config", None) is not None:
        cfg, origin = cls.default_config, f"{cls.__qualname__}.default_config"
    if cfg is None and getattr(cls, "config_file", None):
        cfg, origin = cls.config_file, f"{cls.__qualname__}.config_file"
    if cfg is None and module_dir is not None:
        stem = cls.__module__.rpartition(".")[2]
        for candidate in (module_dir / f"{name}.yaml", module_dir / f"{stem}.yaml"):
            if candidate.is_file():
                cfg, origin = candidate, str(candidate)
                break
    if cfg is None:
        return None
    if isinstance(cfg, (str, os.PathLike)):
        cfg = _read_yaml(Path(cfg) if Path(cfg).is_absolute() or module_dir is None else module_dir / cfg, name)
    elif isinstance(cfg, dict):
        cfg = copy.deepcopy(cfg)
    else:
        raise RegistryError(
            f"default config of algorithm {name!r} ({origin}) must be a dict or a YAML path, got {type(cfg).__name__}"
        )
    if not isinstance(cfg, dict):
        raise RegistryError(f"default config of algorithm {name!r} ({origin}) is not a mapping")
    cfg.setdefault("name", name)
    model = cfg.setdefault("model", {})
    if not isinstance(model, dict):
        raise RegistryError(f"default config of algorithm {name!r} ({origin}): `model` must be a mapping")
    model.setdefault("_target_", f"{cls.__module__}.{cls.__qualname__}")
    return cfg


def _module_dir(cls: type) -> Path | None:
    try:
        file = inspect.getfile(cls)
    except (TypeError, OSError):
        return None
    return Path(file).resolve().parent


def _read_yaml(path: Path, name: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RegistryError(f"default config {path} of algorithm {name!r} cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        raise RegistryError(f"default config {path} of algorithm {name!r} is not valid YAML: {exc}") from None
