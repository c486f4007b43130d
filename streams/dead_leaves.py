"""Dead-leaves backgrounds: cheap synthetic images with natural-image statistics.

The dead-leaves model (Matheron; Lee, Mumford & Huang 2001) stacks occluding discs whose radii follow
a power law p(r) ~ r^-alpha (alpha ~ 3 gives the scale invariance and ~1/f^2 power spectrum of
natural images). Each disc has its own colour (drawn from a desaturated, natural-looking palette) and
a little texture: a linear shading gradient and, on some discs, a sinusoidal grating. A smooth
two-colour gradient lies behind all discs, a slight blur stands in for optics (and anti-aliases the
hard disc edges) and a little pixel noise stands in for sensor noise.

Everything is batched in torch: each disc gets a random depth, and every pixel takes the covering disc
of greatest depth (a z-buffer resolved with one scatter-max per group of equally large discs, each disc
touching only its own bounding box). Output is deterministic for a given ``torch.Generator``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["dead_leaves", "power_law_radii"]


def power_law_radii(
    shape: tuple[int, ...], r_min: float, r_max: float, alpha: float, generator: torch.Generator
) -> torch.Tensor:
    """Radii with density p(r) ~ r^-alpha on [r_min, r_max] (inverse-CDF sampling)."""
    u = torch.rand(shape, generator=generator)
    if abs(alpha - 1.0) < 1e-9:
        return r_min * (r_max / r_min) ** u
    e = 1.0 - alpha
    lo, hi = r_min**e, r_max**e
    return (lo + u * (hi - lo)) ** (1.0 / e)


def _disc_colours(n: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """Natural-looking RGB in [0, 1], [n, k, 3]: broad luminance, mostly low saturation, hues
    clustered around a per-image dominant hue (natural scenes have correlated colours)."""
    lum = torch.rand((n, k), generator=generator) ** 0.9 * 0.85 + 0.08
    base_hue = torch.rand((n, 1), generator=generator) * (2 * math.pi)
    hue = base_hue + torch.randn((n, k), generator=generator) * 0.9
    sat = torch.rand((n, k), generator=generator) ** 2 * 0.4 * (0.4 + torch.rand((n, 1), generator=generator))
    # chroma in a YUV-like plane, then back to RGB
    cu, cv = sat * torch.cos(hue) * 0.5, sat * torch.sin(hue) * 0.5
    r = lum + 1.14 * cv
    g = lum - 0.395 * cu - 0.581 * cv
    b = lum + 2.03 * cu
    return torch.stack([r, g, b], dim=-1).clamp(0.0, 1.0)


def dead_leaves(
    n: int,
    size: int,
    generator: torch.Generator,
    *,
    n_discs: int = 300,
    alpha: float = 3.0,
    r_min: float = 0.025,
    r_max: float = 0.7,
    texture: float = 1.0,
    blur_sigma: float = 0.5,
    noise: float = 2.0,
    chunk: int | None = None,
) -> torch.Tensor:
    """``n`` dead-leaves images, uint8 [n, 3, size, size].

    n_discs:    discs per image, the backdrop included (with the defaults discs cover ~95 % of the image).
    alpha:      power-law exponent of the radius density.
    r_min/max:  radius range as fractions of ``size``.
    texture:    0 = flat discs, 1 = default gradients and gratings.
    blur_sigma: Gaussian blur in pixels (0 = none).
    noise:      pixel-noise standard deviation in grey levels.
    chunk:      images drawn at once (default: about 2^18 pixels per chunk, which is cache-friendly).
    """
    if n < 0 or size < 1:
        raise ValueError(f"dead_leaves needs n >= 0 and size >= 1, got n={n}, size={size}")
    if n_discs < 2:
        raise ValueError(f"dead_leaves needs n_discs >= 2, got {n_discs}")
    if chunk is None:
        chunk = max(16, (1 << 18) // (size * size))
    out = torch.empty((n, 3, size, size), dtype=torch.uint8)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        out[start:stop] = _dead_leaves_chunk(
            stop - start, size, generator, n_discs, alpha, r_min, r_max, texture, blur_sigma, noise
        )
    return out


def _dead_leaves_chunk(
    n: int,
    size: int,
    gen: torch.Generator,
    k: int,
    alpha: float,
    r_min: float,
    r_max: float,
    texture: float,
    blur_sigma: float,
    noise: float,
) -> torch.Tensor:
    s = float(size)
    # --- disc parameters, [n, k]; disc 0 is the backdrop (never drawn on the label map) ------------
    cx = torch.rand((n, k), generator=gen) * (s * 1.2) - 0.1 * s
    cy = torch.rand((n, k), generator=gen) * (s * 1.2) - 0.1 * s
    r = power_law_radii((n, k), r_min * s, r_max * s, alpha, gen)
    col = _disc_colours(n, k, gen)  # [n, k, 3]
    theta = torch.rand((n, k), generator=gen) * (2 * math.pi)
    grad = (torch.rand((n, k), generator=gen) * 0.5 - 0.1) * texture  # shading across the disc
    grating_on = (torch.rand((n, k), generator=gen) < 0.25).float() * texture
    grating_amp = torch.rand((n, k), generator=gen) * 0.12 * grating_on
    grating_freq = (0.3 + torch.rand((n, k), generator=gen) * 1.2)  # radians per pixel
    grating_phase = torch.rand((n, k), generator=gen) * (2 * math.pi)
    # the backdrop: a large, soft gradient between two colours
    cx[:, 0], cy[:, 0], r[:, 0] = s / 2, s / 2, s
    grad[:, 0] = 0.6 * texture
    grating_amp[:, 0] = 0.0

    # --- label map ------------------------------------------------------------------------------
    # Occlusion order is a random depth per disc, so discs can be drawn in any order: each pixel keeps
    # the covering disc of largest key = depth * k + disc (a z-buffer resolved with a scatter-max).
    # Discs are grouped by the side of their bounding window; each group is drawn at once, each disc
    # inside its own window only, so the work per disc is its own bounding box.
    depth = torch.argsort(torch.rand((n, k), generator=gen), dim=1)  # a random permutation per image
    depth = torch.where(depth == 0, depth[:, :1], depth)  # depth 0 is the backdrop's (disc 0)
    depth[:, 0] = 0
    key = depth * k + torch.arange(k)  # [n, k], unique per image
    flat_key = torch.zeros(n * size * size, dtype=torch.int64)
    win = (torch.ceil(r).long() * 2 + 2).clamp_max(size)
    win[:, 0] = 0
    for w in torch.unique(win[:, 1:]).tolist():
        bi, dj = torch.nonzero(win == w, as_tuple=True)
        m = len(bi)
        ar = torch.arange(w)
        rj, cxj, cyj = r[bi, dj, None], cx[bi, dj, None], cy[bi, dj, None]
        # the window covers the disc's bounding box within the image (clamped to the image)
        cols = torch.floor(cxj - w / 2).long().clamp(0, size - w) + ar  # [m, w]
        rows = torch.floor(cyj - w / 2).long().clamp(0, size - w) + ar
        dx2 = (cols.float() + 0.5 - cxj).square_()
        dy2 = (rows.float() + 0.5 - cyj).square_()
        inside = (dy2[:, :, None] + dx2[:, None, :]) <= rj.square().view(m, 1, 1)
        lin = (bi * (size * size)).view(m, 1, 1) + rows[:, :, None] * size + cols[:, None, :]
        flat_key.scatter_reduce_(0, lin.view(-1), torch.where(inside, key[bi, dj].view(m, 1, 1), 0).view(-1), "amax")
    label = (flat_key % k).view(n, size, size)

    # --- colour each pixel from its disc's parameters (all per-disc terms folded into a few
    # coefficients first, so the per-pixel work is a handful of gathers and multiply-adds) ----------
    inv_r = 1.0 / r.clamp_min(1.0)
    gx, gy = grad * torch.cos(theta) * inv_r, grad * torch.sin(theta) * inv_r
    g0 = 1.0 - gx * cx - gy * cy  # shade = g0 + gx * x + gy * y
    fx, fy = grating_freq * torch.cos(theta), grating_freq * torch.sin(theta)
    f0 = grating_phase - fx * cx - fy * cy  # grating phase = f0 + fx * x + fy * y
    idx = label.view(n, -1)

    def g(t: torch.Tensor) -> torch.Tensor:
        return torch.gather(t, 1, idx).view(n, size, size)

    coords = torch.arange(size, dtype=torch.float32) + 0.5
    yy = coords.view(1, size, 1)
    xx = coords.view(1, 1, size)
    shade = g(g0) + g(gx) * xx + g(gy) * yy
    shade += g(grating_amp) * torch.sin(g(f0) + g(fx) * xx + g(fy) * yy)
    rgb = torch.gather(col.permute(0, 2, 1), 2, idx[:, None, :].expand(n, 3, -1)).view(n, 3, size, size)
    img = rgb * shade.unsqueeze(1)

    if blur_sigma > 0:
        img = _gaussian_blur(img, blur_sigma)
    img = img * 255.0
    if noise > 0:
        img = img + torch.randn(img.shape, generator=gen) * noise
    return img.round_().clamp_(0, 255).to(torch.uint8)


def _gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [n, c, h, w] with replicated borders (shifted sums: much faster on
    CPU than a depthwise conv2d for these tiny kernels)."""
    radius = max(1, int(math.ceil(2.0 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    w = (w / w.sum()).tolist()
    h, wd = img.shape[-2:]
    p = F.pad(img, (radius, radius, 0, 0), mode="replicate")
    out = sum(wi * p[..., :, i : i + wd] for i, wi in enumerate(w))
    p = F.pad(out, (0, 0, radius, radius), mode="replicate")
    return sum(wi * p[..., i : i + h, :] for i, wi in enumerate(w))
