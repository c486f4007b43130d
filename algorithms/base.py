"""The algorithm interface: what the benchmark engine needs from a self-supervised method.

An algorithm is an ``nn.Module`` that owns its backbone, heads and any extra state (EMA target
networks, queues, prototypes, centres) as parameters or registered buffers, so ``state_dict``
saves and restores all of it. The engine calls, per training step:

    loss = algo.training_loss(view1, view2)     # views: normalised float [B, 3, S, S]
    loss.backward(); optimizer.step()
    algo.after_optimizer_step()                 # EMA / momentum-encoder updates

and, for the d' read-out, ``algo.embed(images)`` in eval mode without gradients.
"""
from __future__ import annotations

import abc

import torch
from torch import nn


class Algorithm(nn.Module, abc.ABC):
    """Base class of all self-supervised methods."""

    #: registry name; set by subclasses
    name: str = ""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        if not hasattr(backbone, "out_dim"):
            raise TypeError(f"backbone {type(backbone).__name__} must expose .out_dim (its feature width)")
        self.backbone = backbone

    @abc.abstractmethod
    def training_loss(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        """Scalar loss on a batch of positive pairs (view1[i], view2[i])."""

    @abc.abstractmethod
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Read-out embedding [B, D] (normalised as the method's read-out prescribes)."""

    def after_optimizer_step(self) -> None:
        """Per-step updates that are not gradient steps (EMA targets, key encoders)."""

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Parameter groups for the optimizer.

        Default: weight decay on weights of rank >= 2; none on biases and normalisation
        parameters, which are also flagged ``lars_exclude`` (no LARS trust-ratio adaptation).
        """
        decay, no_decay = [], []
        for _, p in self.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim <= 1 else decay).append(p)
        groups = [{"params": decay, "weight_decay": weight_decay}]
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0, "lars_exclude": True})
        return groups
