"""The algorithm interface: what the benchmark engine needs from a self-supervised method.

An algorithm is an ``nn.Module`` that owns its backbone, heads and any extra state (EMA target
networks, queues, prototypes, centres) as parameters or registered buffers, so ``state_dict``
saves and restores all of it. The engine calls, per training step:

    loss = algo.training_loss(view1, view2)     # views: normalised float [B, 3, S, S]
    loss.backward()
    clip grad norm to algo.grad_clip_norm        # when not None (DINO: 3.0)
    optimizer.step()
    algo.after_optimizer_step(progress)         # EMA / momentum-encoder updates

``progress`` is the fraction of a scheduled run done (pretraining: step / total steps, for momentum
ramps such as BYOL's and DINO's cosine to 1), or ``None`` in constant-LR runs (the real-time
exposure runs), where momenta stay at their base value (algorithms.md §0). ``self.training_progress``
holds the same value during ``training_loss`` (DINO freezes its last layer early in pretraining).

and, for the d' read-out, ``algo.embed(images)`` in eval mode without gradients; for the life-long linear
read-out, ``algo.features(images)`` (pooled backbone features, lifelong.md §9.1).
"""
from __future__ import annotations

import abc

import torch
from torch import nn


class Algorithm(nn.Module, abc.ABC):
    """Base class of all self-supervised methods."""

    #: registry name; set by subclasses
    name: str = ""
    #: gradient-norm clipping applied by the engine before each optimizer step (None = off)
    grad_clip_norm: float | None = None

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        if not hasattr(backbone, "out_dim"):
            raise TypeError(f"backbone {type(backbone).__name__} must expose .out_dim (its feature width)")
        self.backbone = backbone
        self.training_progress: float | None = None

    @abc.abstractmethod
    def training_loss(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        """Scalar loss on a batch of positive pairs (view1[i], view2[i])."""

    @abc.abstractmethod
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Read-out embedding [B, D] (normalised as the method's read-out prescribes)."""

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Features of the life-long linear read-out [B, F]: the backbone's pooled output (ResNets: global average
        pool). ViT methods override this with their block read-outs (lifelong.md §9.1)."""
        return self.backbone(images)

    def after_optimizer_step(self, progress: float | None = None) -> None:
        """Per-step updates that are not gradient steps (EMA targets, key encoders).

        progress: fraction of a scheduled (pretraining) run done, in [0, 1]; None in constant-LR runs.
        """

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
