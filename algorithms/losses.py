"""Contrastive losses shared by the self-supervised methods.

Every loss here L2-normalises its inputs and computes similarities and log-sum-exps in float32 with
autocast disabled, whatever the dtype the embeddings arrive in, so the losses stay accurate under
bf16/fp16 autocast (a bf16 logit near 1/tau = 10 has a resolution of ~0.06). Gradients flow back to the
inputs in their own dtype.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _float32_unit(z: torch.Tensor) -> torch.Tensor:
    return F.normalize(z.float(), dim=-1)


def _no_autocast(t: torch.Tensor) -> torch.autocast:
    return torch.autocast(device_type=t.device.type, enabled=False)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR NT-Xent over the 2B views of a batch of B positive pairs (z1[i], z2[i]).

    The embeddings [B, D] are L2-normalised; for each of the 2B views a the positive a+ is its partner and
    the negatives are the other 2B - 2 views (self-similarity excluded):

        l_a = -log( exp(s(a, a+) / t) / sum_{b != a} exp(s(a, b) / t) ),   loss = mean over the 2B views.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"nt_xent needs two [B, D] tensors of one shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    b = z1.shape[0]
    with _no_autocast(z1):
        z = _float32_unit(torch.cat([z1, z2], dim=0))
        logits = (z @ z.t()) / temperature
        self_mask = torch.eye(2 * b, dtype=torch.bool, device=z.device)
        logits = logits.masked_fill(self_mask, float("-inf"))
        partner = torch.cat([torch.arange(b, 2 * b, device=z.device), torch.arange(0, b, device=z.device)])
        return F.cross_entropy(logits, partner)


def in_batch_info_nce(query: torch.Tensor, keys: torch.Tensor, temperature: float) -> torch.Tensor:
    """One-directional InfoNCE: key i is the positive of query i, the other B - 1 keys its negatives.

    query, keys: [B, D]; mean over the B queries. The BYOLNeg / DINONeg (MoCo-v3 style) loss; callers
    symmetrise over the two views and detach the keys when they come from a target network.
    """
    if query.shape != keys.shape or query.ndim != 2:
        raise ValueError(f"in_batch_info_nce needs two [B, D] tensors of one shape, got {tuple(query.shape)} and {tuple(keys.shape)}")
    with _no_autocast(query):
        logits = (_float32_unit(query) @ _float32_unit(keys).t()) / temperature
        return F.cross_entropy(logits, torch.arange(logits.shape[0], device=logits.device))


def info_nce(query: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor | None, temperature: float) -> torch.Tensor:
    """InfoNCE with one positive per query and a shared set of negatives (e.g. a MoCo queue).

    query, positive: [B, D]; negatives: [K, D] or None (then the loss is 0). Mean over the batch of
        -log( exp(q.p / t) / (exp(q.p / t) + sum_k exp(q.n_k / t)) ).
    """
    with _no_autocast(query):
        q = _float32_unit(query)
        logits = (q * _float32_unit(positive)).sum(-1, keepdim=True)
        if negatives is not None:
            logits = torch.cat([logits, q @ _float32_unit(negatives).t()], dim=1)
        logits = logits / temperature
        return (torch.logsumexp(logits, dim=1) - logits[:, 0]).mean()
