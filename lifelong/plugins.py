"""Algorithm plugins in the Hydra config: ``algorithm=<plugin name>`` for algorithms from other packages.

A plugin is an ``algorithms.base.Algorithm`` subclass declared in the entry-point group
``lifelong.algorithms`` (algorithms/registry.py) with a default config. Before the Hydra app composes
its config, :func:`store_algorithm_configs` puts the default config of every registered algorithm that
has no YAML in this package's ``conf/algorithm/`` into Hydra's ConfigStore, group ``algorithm``; Hydra
then finds ``algorithm=<name>`` there exactly as it finds the YAML files, and the usual overrides
(``algorithm.model.temperature=0.2``, ``-m algorithm=simclr,<name>``) apply.

A plugin that fails to import or brings no config is skipped with a warning naming it, so one broken
package does not stop runs of the other algorithms; selecting it then fails with Hydra's error, which
lists the algorithms that are available.
"""
from __future__ import annotations

import logging
from importlib import resources

from hydra.core.config_store import ConfigStore

from algorithms import registry

log = logging.getLogger("lifelong")

GROUP = "algorithm"


def conf_tree_algorithms() -> set[str]:
    """Names of the algorithm configs shipped in lifelong/conf/algorithm/ (YAML files)."""
    folder = resources.files("lifelong.conf") / GROUP
    return {p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml")}


def store_algorithm_configs() -> list[str]:
    """Store the default config of every registered algorithm without a YAML in the config tree.

    Returns the stored names. Raises ``registry.RegistryError`` when two packages declare the same
    name (the registry cannot choose).
    """
    in_tree = conf_tree_algorithms()
    store = ConfigStore.instance()
    stored = []
    for name in registry.names():
        if name in in_tree:
            continue
        try:
            cfg = registry.config_of(name)
        except registry.RegistryError as exc:
            log.warning("algorithm plugin skipped: %s", exc)
            continue
        if cfg is None:
            log.warning(
                "algorithm %r (%s) has no default config (a `default_config` dict, a `config_file`, or a YAML "
                "beside its module) and no lifelong/conf/algorithm/%s.yaml; `algorithm=%s` is unavailable",
                name, registry.source_of(name), name, name,
            )
            continue
        store.store(group=GROUP, name=name, node=cfg, provider=registry.source_of(name))
        stored.append(name)
    return stored
