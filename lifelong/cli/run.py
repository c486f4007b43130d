"""``lifelong-run``: the Hydra app that runs a benchmark.

    lifelong-run                                   # real-time benchmark, SimCLR, CPU preset
    lifelong-run benchmark=lifelong                # life-long benchmark on the procedural head-cam stream
    lifelong-run benchmark.conditions=[build] benchmark.window_minutes=0.5 benchmark.ratio=1:1
    lifelong-run -m seed=0,1,2                     # a sweep
    lifelong-run preset=paper ...                  # paper scale
    lifelong-run algorithm=<plugin>                # an algorithm from another package (docs/add_an_algorithm.md)
"""
from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from .errors import EXIT_USER_ERROR, USER_ERRORS

log = logging.getLogger("lifelong")


def run_benchmark(cfg: DictConfig):
    name = cfg.benchmark.name
    if name == "realtime":
        from ..realtime.benchmark import run_realtime

        return run_realtime(cfg)
    if name == "lifelong":
        from ..life_long.benchmark import run_lifelong

        return run_lifelong(cfg)
    raise USER_ERRORS[0](f"unknown benchmark {name!r}; expected 'realtime' or 'lifelong'")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def _app(cfg: DictConfig) -> None:
    try:
        run_benchmark(cfg)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)


def main() -> None:
    logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    from algorithms.registry import RegistryError

    from ..plugins import store_algorithm_configs

    try:
        store_algorithm_configs()          # plugins' configs -> Hydra's ConfigStore, before composition
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)
    _app()


def entry() -> None:
    """The ``lifelong-run`` console script: ``main`` with tcmalloc preloaded when installed (cli/tcmalloc.py)."""
    from .tcmalloc import reexec_with_tcmalloc

    reexec_with_tcmalloc("lifelong.cli.run")
    main()


if __name__ == "__main__":
    main()
