"""Batched geometric resampling: per-image separable matrices for crops, resizes, pads and flips.

Each image's geometric transform is a [size, H] row matrix and a [size, W] column matrix, so
``out = Wy @ x @ Wx^T`` (two batched matmuls for the whole batch). The matrices hold the filter
weights of ``F.interpolate(..., antialias=True, align_corners=False)`` (PIL-style triangle / Keys
a = -0.5 cubic filters, widened when downscaling), so a crop is resampled exactly as torchvision
resizes a crop on a tensor.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from .photometric import uniforms as draw_uniforms


def _triangle(x: torch.Tensor) -> torch.Tensor:
    return x.abs_().neg_().add_(1.0).clamp_min_(0.0)         # in place: x is a temporary of resample_weights


def _cubic(x: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    # Keys cubic with a = -0.5 (PIL, and torch's antialiased bicubic)
    x = x.abs()
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return torch.where(x < 1.0, near, torch.where(x < 2.0, far, torch.zeros_like(x)))


FILTERS = {"bilinear": _triangle, "bicubic": _cubic}


@lru_cache(maxsize=64)
def _positions(length: int, device: str) -> torch.Tensor:
    """Pixel centres 0.5, 1.5, ... as float32 on ``device`` (cached: built once per size)."""
    return torch.arange(length, dtype=torch.float32, device=device) + 0.5


def resample_weights(
    in_len: int,
    in_start: torch.Tensor,
    in_length: torch.Tensor,
    out_len: int,
    out_start: torch.Tensor,
    out_length: torch.Tensor,
    mode: str = "bilinear",
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Per-image 1-d resampling matrices [B, out_len, in_len] (float32, on ``device``).

    Output samples [out_start, out_start + out_length) resample the input window [in_start, in_start + in_length)
    with the filter weights of ``F.interpolate(window, out_length, mode, align_corners=False, antialias=True)``;
    the other output rows are zero. All window arguments are integer tensors [B].

    Written for few tensor operations (the matrices are as large as the images, and at small sizes the cost is
    per operation): window tests are 0/1 float factors on [B, 1, in_len] and [B, out_len, 1], not boolean selects
    on the whole matrix.
    """
    if mode not in FILTERS:
        raise ValueError(f"mode must be one of {sorted(FILTERS)}, got {mode!r}")
    params = torch.stack([in_start, in_length, out_start, out_length]).to(device=device, dtype=torch.float32)
    device = params.device
    in_start, in_length, out_start, out_length = params[:, :, None, None].unbind(0)      # each [B, 1, 1]
    scale = in_length / out_length                                          # input pixels per output pixel
    stretch = scale.clamp_min(1.0)                                          # filter widened when downscaling
    i = _positions(out_len, str(device))[None, :, None] - out_start         # local output centre [B, out, 1]
    j = _positions(in_len, str(device))[None, None, :] - in_start           # local input centre [B, 1, in]
    # the filter's argument (input centre - output centre mapped to the input) / stretch, as one large subtraction
    w = FILTERS[mode](j / stretch - (scale * i) / stretch)                  # [B, out, in]
    in_window = ((j > 0) & (j < in_length)).to(torch.float32)               # centres j + 0.5 in (0, in_length)
    w = w.mul_(in_window)
    valid_row = ((i > 0) & (i < out_length)).to(torch.float32)
    return w.div_(w.sum(-1, keepdim=True).clamp_min_(1e-12)).mul_(valid_row)


def resample(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """out[b, c] = rows[b] @ x[b, c] @ cols[b]^T for x [B, C, H, W], rows [B, H', H], cols [B, W', W]."""
    rows, cols = rows.to(x.device, x.dtype), cols.to(x.device, x.dtype)
    b, c = x.shape[:2]
    y = torch.matmul(rows[:, None], x)                                          # [B, C, H', W]
    y = torch.bmm(y.reshape(b, c * y.shape[-2], y.shape[-1]), cols.transpose(1, 2))   # [B, C * H', W']
    return y.view(b, c, rows.shape[1], cols.shape[1])


def place(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, fill: float) -> torch.Tensor:
    """``resample``, with ``fill`` wherever the output row or column is empty (a zero row of the matrix)."""
    out = resample(x, rows, cols)            # exactly 0 where the output row or column is empty
    inside = (rows.sum(-1) > 0.5).to(out.dtype)[:, :, None] * (cols.sum(-1) > 0.5).to(out.dtype)[:, None, :]
    return out.add_(((1.0 - inside) * fill).to(out.device)[:, None])


CROP_ATTEMPTS = 10


def sample_crop_boxes(
    batch: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    attempts: int = CROP_ATTEMPTS,
    uniforms: np.ndarray | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """RandomResizedCrop boxes, torchvision's algorithm vectorised over the batch: int64 [B, 4] (top, left, h, w).

    Up to ``attempts`` draws of area fraction ~ U(scale) and log aspect ratio ~ U(log ratio); the first draw that
    fits is kept, otherwise the centred largest crop with an aspect ratio inside ``ratio``. The uniforms
    ([B, 2 attempts + 2], given or drawn in one call from ``generator``, default torch's global RNG) are turned into
    boxes by numpy: a few microseconds, where torch operations on such tiny tensors cost their per-call overhead
    each.
    """
    u = draw_uniforms(batch, 2 * attempts + 2, generator=generator) if uniforms is None else uniforms
    area = height * width
    target = area * (scale[0] + (scale[1] - scale[0]) * u[:, :attempts])
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = np.exp(log_lo + (log_hi - log_lo) * u[:, attempts:2 * attempts])
    w = np.rint(np.sqrt(target * aspect)).astype(np.int64)
    h = np.rint(np.sqrt(target / aspect)).astype(np.int64)
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.argmax(axis=1)
    found = fits.any(axis=1)
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        fh, fw = height, int(round(height * ratio[1]))
    else:
        fw, fh = width, height
    rows = np.arange(batch)
    h = np.where(found, h[rows, first], fh)
    w = np.where(found, w[rows, first], fw)
    top = np.where(found, np.floor(u[:, -2] * (height - h + 1)).astype(np.int64), (height - h) // 2)
    left = np.where(found, np.floor(u[:, -1] * (width - w + 1)).astype(np.int64), (width - w) // 2)
    return torch.from_numpy(np.stack([top, left, h, w], axis=1))
