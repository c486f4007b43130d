"""Starting-point checkpoints: Lightning checkpoint files holding the algorithm and its optimizer.

Layout (a standard Lightning checkpoint): ``state_dict`` with keys ``algorithm.<param>``,
``optimizer_states`` (one entry), and ``lifelong`` metadata (algorithm name, image size, the
pretraining config). The real-time protocol restores both weights and optimizer state for
every face pair (realtime.md §5.1).
"""
from __future__ import annotations

from pathlib import Path

import torch

PREFIX = "algorithm."


class CheckpointError(ValueError):
    pass


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for corrupt files
        raise CheckpointError(f"checkpoint {path} could not be read ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"checkpoint {path} has no 'state_dict'; expected a Lightning checkpoint of this project")
    if not ckpt.get("optimizer_states"):
        raise CheckpointError(
            f"checkpoint {path} has no optimizer state; the real-time protocol restores the optimizer of the "
            "pretraining run"
        )
    return ckpt


def algorithm_state(ckpt: dict) -> dict[str, torch.Tensor]:
    return {k[len(PREFIX):]: v for k, v in ckpt["state_dict"].items() if k.startswith(PREFIX)}


def restore_algorithm(algorithm: torch.nn.Module, ckpt: dict, source: str = "checkpoint") -> None:
    state = algorithm_state(ckpt)
    result = algorithm.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{source} does not match the algorithm {type(algorithm).__name__}: "
            f"missing keys {result.missing_keys[:10]}{'...' if len(result.missing_keys) > 10 else ''}, "
            f"unexpected keys {result.unexpected_keys[:10]}{'...' if len(result.unexpected_keys) > 10 else ''}"
        )
