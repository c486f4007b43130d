"""Momentum (EMA) target networks, as used by MoCo v2, BYOL, BYOLNeg, DINO and DINONeg.

``make_target(online)`` deep-copies a module into a frozen target; ``ema_update(target, online, m)``
moves every target parameter to ``m * target + (1 - m) * online`` and copies buffers (BN running
statistics) from the online network. ``cosine_momentum`` is the BYOL/DINO ramp from the base momentum
to 1; the real-time benchmark uses the base momentum without a ramp (algorithms.md §0).
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["make_target", "ema_update", "cosine_momentum"]


def make_target(online: nn.Module) -> nn.Module:
    """A frozen deep copy of ``online`` (no gradients); saved with the algorithm's state_dict."""
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target <- momentum * target + (1 - momentum) * online (parameters); buffers are copied."""
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
    t_params, o_params = list(target.parameters()), list(online.parameters())
    if len(t_params) != len(o_params):
        raise ValueError("target and online networks differ in structure")
    torch._foreach_mul_(t_params, momentum)
    torch._foreach_add_(t_params, [p.detach() for p in o_params], alpha=1.0 - momentum)
    for tb, ob in zip(target.buffers(), online.buffers()):
        tb.copy_(ob)


def cosine_momentum(base: float, step: int, total_steps: int) -> float:
    """BYOL/DINO schedule: 1 - (1 - base) * (cos(pi * step / total) + 1) / 2."""
    if total_steps <= 0:
        return base
    step = min(max(step, 0), total_steps)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * step / total_steps) + 1.0) / 2.0
