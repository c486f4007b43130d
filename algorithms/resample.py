"""Batched geometric resampling: per-image separable matrices for crops, resizes, pads and flips.

Each image's geometric transform is a [size, H] row matrix and a [size, W] column matrix, so
``out = Wy @ x @ Wx^T`` (two batched matmuls for the whole batch). The matrices hold the filter
weights of ``F.interpolate(..., antialias=True, align_corners=False)`` (PIL-style triangle / Keys
a = -0.5 cubic filters, widened when downscaling), so a crop is resampled exactly as torchvision
resizes a crop on a tensor.
"""
from __future__ import annotations

import math

import torch


def _triangle(x: torch.Tensor) -> torch.Tensor:
    return (1.0 - x.abs()).clamp_min(0.0)


def _cubic(x: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    # Keys cubic with a = -0.5 (PIL, and torch's antialiased bicubic)
    x = x.abs()
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return torch.where(x < 1.0, near, torch.where(x < 2.0, far, torch.zeros_like(x)))


FILTERS = {"bilinear": _triangle, "bicubic": _cubic}


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
    """
    if mode not in FILTERS:
        raise ValueError(f"mode must be one of {sorted(FILTERS)}, got {mode!r}")
    kernel = FILTERS[mode]
    in_start, in_length, out_start, out_length = (
        t.to(device=device, dtype=torch.float32)[:, None, None] for t in (in_start, in_length, out_start, out_length))
    device = in_start.device
    scale = in_length / out_length                                          # input pixels per output pixel
    stretch = scale.clamp_min(1.0)                                          # filter widened when downscaling
    i = torch.arange(out_len, dtype=torch.float32, device=device)[None, :, None] - out_start   # local output index
    j = torch.arange(in_len, dtype=torch.float32, device=device)[None, None, :] - in_start     # local input index
    centre = scale * (i + 0.5)
    w = kernel((j + 0.5 - centre) / stretch) * ((j >= 0) & (j < in_length))
    total = w.sum(-1, keepdim=True)
    valid_row = (i >= 0) & (i < out_length)
    return torch.where(valid_row, w / total.clamp_min(1e-12), torch.zeros_like(w))


def resample(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """out[b, c] = rows[b] @ x[b, c] @ cols[b]^T for x [B, C, H, W], rows [B, H', H], cols [B, W', W]."""
    rows, cols = rows.to(x.device, x.dtype), cols.to(x.device, x.dtype)
    b, c = x.shape[:2]
    y = torch.matmul(rows[:, None], x)                                          # [B, C, H', W]
    y = torch.bmm(y.reshape(b, c * y.shape[-2], y.shape[-1]), cols.transpose(1, 2))   # [B, C * H', W']
    return y.view(b, c, rows.shape[1], cols.shape[1])


def place(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, fill: float) -> torch.Tensor:
    """``resample``, with ``fill`` wherever the output row or column is empty (a zero row of the matrix)."""
    out = resample(x, rows, cols)
    inside = (rows.sum(-1) > 0.5)[:, :, None] & (cols.sum(-1) > 0.5)[:, None, :]
    return torch.where(inside[:, None].to(out.device), out, torch.full_like(out, fill))


def sample_crop_boxes(
    batch: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    attempts: int = 10,
) -> torch.Tensor:
    """RandomResizedCrop boxes, torchvision's algorithm vectorised over the batch: int64 [B, 4] (top, left, h, w).

    Up to ``attempts`` draws of area fraction ~ U(scale) and log aspect ratio ~ U(log ratio); the first draw that
    fits is kept, otherwise the centred largest crop with an aspect ratio inside ``ratio``.
    """
    area = height * width
    target = area * (scale[0] + (scale[1] - scale[0]) * torch.rand(batch, attempts))
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * torch.rand(batch, attempts))
    w = torch.sqrt(target * aspect).round().long()
    h = torch.sqrt(target / aspect).round().long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.int().argmax(dim=1, keepdim=True)
    found = fits.any(dim=1)
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        fh, fw = height, int(round(height * ratio[1]))
    else:
        fw, fh = width, height
    h = torch.where(found, h.gather(1, first)[:, 0], torch.full((batch,), fh))
    w = torch.where(found, w.gather(1, first)[:, 0], torch.full((batch,), fw))
    u = torch.rand(batch, 2)
    top = torch.where(found, (u[:, 0] * (height - h + 1)).floor().long(), (height - h) // 2)
    left = torch.where(found, (u[:, 1] * (width - w + 1)).floor().long(), (width - w) // 2)
    return torch.stack([top, left, h, w], dim=1)
