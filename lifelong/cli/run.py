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
import os
import signal
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


#: exit status of a run stopped by SIGTERM / SIGUSR1 (128 + SIGTERM, as a shell reports it)
EXIT_TERMINATED = 128 + signal.SIGTERM


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def _app(cfg: DictConfig) -> None:
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    try:
        run_benchmark(cfg)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)
    except SIGTERMException:
        # Lightning stopped the training loop at the signal; what was finished is in <output_dir>/checkpoints
        print(f"stopped by a termination signal; finished work is saved under {cfg.output_dir}/checkpoints. "
              "Run the same command again to continue.", file=sys.stderr, flush=True)
        sys.exit(EXIT_TERMINATED)


def _sigusr1_as_sigterm(signum, frame) -> None:
    """SIGUSR1 (the usual SLURM pre-emption warning) takes the SIGTERM path: stop cleanly, keep checkpoints."""
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> None:
    logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    from algorithms.registry import RegistryError

    from ..plugins import store_algorithm_configs

    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, _sigusr1_as_sigterm)
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
