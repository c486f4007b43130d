"""Projection heads shared by the self-supervised methods."""
from __future__ import annotations

from torch import nn


def projection_mlp(
    in_dim: int,
    hidden_dim: int,
    out_dim: int,
    num_layers: int,
    bias: bool = False,
    last_bn: bool = True,
) -> nn.Sequential:
    """The "SimCLR neck" of spec algorithms.md §0, applied to pooled backbone features [B, in_dim].

    fc(in -> hidden) -> BN -> [ReLU -> fc(hidden -> hidden, or -> out for the last) -> BN] x (num_layers - 1).

    ``bias`` puts biases in the fc layers (BYOL, SimSiam life-long); ``last_bn=False`` drops the BN after the
    last fc (BYOL, Barlow Twins). With ``num_layers == 1`` the single fc maps in -> out.
    Examples: SimCLR ``projection_mlp(512, 2048, 128, 2)``; SimCLR-More-MLPs ``(512, 2048, 128, 4)`` =
    512 -> 2048 -> 2048 -> 2048 -> 128.
    """
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
    layers: list[nn.Module] = []
    for i in range(num_layers):
        last = i == num_layers - 1
        if i > 0:
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Linear(dims[i], dims[i + 1], bias=bias))
        if not last or last_bn:
            layers.append(nn.BatchNorm1d(dims[i + 1]))
    return nn.Sequential(*layers)
