"""LARS: SGD with momentum and layer-wise trust ratios (spec algorithms.md §0).

Follows the OpenSelfSup/MMSelfSup LARS the authors trained with. Per parameter tensor w with gradient g:

    trust  = eta * ||w|| / (||g|| + wd * ||w|| + eps)     (1 if ||w|| or ||g|| is 0)
    update = lr * trust * (g + wd * w)                    (weight decay is added before the trust ratio)
    buf    = momentum * buf + update                      (buf = update on the first step)
    w      = w - buf

Groups flagged ``lars_exclude=True`` (BN and bias parameters, see ``Algorithm.param_groups``) use trust = 1,
i.e. plain SGD with momentum and their own ``weight_decay`` (0 for BN/bias). Note the learning rate sits
inside the momentum buffer, as in the original. The state is the standard ``Optimizer`` state (one
``momentum_buffer`` per parameter), so ``state_dict`` / ``load_state_dict`` round-trip through torch.save.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch


class LARS(torch.optim.Optimizer):
    def __init__(
        self,
        params: Iterable,
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        eta: float = 1e-3,
        eps: float = 1e-8,
    ) -> None:
        if lr < 0.0:
            raise ValueError(f"invalid learning rate {lr}")
        if momentum < 0.0:
            raise ValueError(f"invalid momentum {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"invalid weight_decay {weight_decay}")
        if eta < 0.0:
            raise ValueError(f"invalid LARS coefficient eta {eta}")
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, eps=eps, lars_exclude=False)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
            eta, eps, exclude = group["eta"], group["eps"], group["lars_exclude"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                update = grad.add(p, alpha=wd) if wd != 0 else grad.clone()
                if exclude:
                    update.mul_(lr)
                else:
                    update.mul_(lr * self.trust_ratio(p, grad, wd, eta, eps))
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        state["momentum_buffer"] = buf = update.detach().clone()
                    else:
                        buf.mul_(momentum).add_(update)
                    update = buf
                p.sub_(update)
        return loss

    @staticmethod
    def trust_ratio(p: torch.Tensor, grad: torch.Tensor, weight_decay: float, eta: float, eps: float) -> torch.Tensor:
        """eta * ||w|| / (||g|| + wd ||w|| + eps), or 1 where either norm is 0 (a 0-d tensor; no host sync)."""
        w_norm = torch.linalg.vector_norm(p.float())
        g_norm = torch.linalg.vector_norm(grad.float())
        ratio = eta * w_norm / (g_norm + weight_decay * w_norm + eps)
        return torch.where((w_norm > 0) & (g_norm > 0), ratio, torch.ones_like(ratio)).to(p.dtype)
