"""The embedded default stream of the life-long benchmark: a procedural head-camera-like video.

Generated in code (no files, no downloads), seeded, batched in torch and cheap on one CPU core. It stands
in for SAYCam (lifelong.md section 1; data_sources.md section 2.4) as the default *training* stream, and
``make_object_eval_set`` provides the matching labelled read-out set (held-out objects of the same
categories) in place of the ImageNet subset (lifelong.md section 9).

Generative model of ``make_headcam_stream``
-------------------------------------------
Time.     ``n_days`` simulated recording days, one *video* each (``day_0001`` ...), ``frames_per_day``
          frames at ``fps``. The child's age at each day is spaced evenly over ``age_months`` (default
          6 -> 30 months). The timeline is cut into ``n_chunks`` chronological chunks of (nearly) equal
          length (``chunks_by_frames``; cuts may fall inside a day).
Episodes. Every day is split into episodes of about ``episode_frames`` frames (the day holds
          ``round(frames_per_day / episode_frames)`` episodes, lengths jittered by +-25 %). In each
          episode one object is "in hand" for a contiguous stretch of about ``object_presence`` of the
          episode: it enters from a frame edge (mostly from below), is held near the centre with smooth
          wobble, rotation and scale changes, and leaves through an edge; before and after, only the
          scene is in view. ``objects_per_day`` distinct object instances are used a day, every one in at
          least one episode (0 = no objects at all).
Scenes.   ``n_scenes`` large scene canvases (dead-leaves images, ``scene_scale`` times the frame size)
          are viewed through a moving camera window. A day visits ``scenes_per_day`` scenes, each for a
          contiguous run of episodes (a cut at every scene change).
Camera.   Per frame: a window centre (smooth pans = integrated Gaussian-smoothed noise; saccade-like
          jumps of 0.25-0.75 frame widths at Poisson times, mean interval ``saccade_interval`` frames,
          executed over 2 frames, so the view dwells briefly between jumps; small per-frame jitter),
          a slow zoom (0.7x-1.4x) and a small roll (soft-limited to about +-0.35 rad). The centre is
          reflected back so the window never leaves the canvas. ``motion`` scales pan speed, jumps,
          jitter, zoom and roll together (0 = a fixed camera per scene).
Objects.  ``n_categories`` categories defined by *shape* (``CATEGORY_NAMES``: star, ring, cross,
          crescent, triangle, square, clover, dumbbell, three bars, arrow, disc, hollow square,
          half disc, bow-tie, T, eight-pointed star). A pool of ``instances_per_category`` instances per
          category is drawn once per stream; instances differ in two colours, texture (plain,
          stripes, checks, dots or gradient), outline strength, shading direction, aspect (0.8-1.25),
          size (+-15 %) and small shape parameters inside the category (star depth, ring width,
          arm width, ...). Like real basic-level categories (bananas are yellow, zebras striped), each
          category also has a *typical surface*: a hue pair and a texture with its frequency, fixed by the
          category index alone (``category_prototypes``), so the stream and the read-out set share it. A
          fraction ``typicality`` of the instances wears it (hues within a few degrees, texture and
          frequency of the prototype); the others draw colour and texture independently of the category,
          readable only from the silhouette. ``typicality=0`` is a shape-only world. Why the default is
          not 0: see ``DEFAULT_TYPICALITY``. Objects are rendered once as anti-aliased sprites
          (analytic signed distances) and composited into the frames with ``F.grid_sample``.
Drift.    Which scenes and which object categories are frequent changes slowly over the days: each
          scene and category has a preferred time in the stream, and its weight is a Gaussian bump
          around it (s.d. 0.25 of the stream) plus a floor (0.2 of the peak); ``drift`` (0..1) blends
          uniform weights (0) with these bumps (1; the floor keeps every category present). The
          lighting drifts too: a per-day brightness gain and RGB colour cast follow smooth random
          functions of time plus a little day-to-day jitter (``light_drift`` scales both; 0 = fixed).
Pixels.   Dead-leaves backgrounds carry natural-image statistics; frames get a little Gaussian sensor
          noise (``noise`` grey levels, from a bank of up to 1009 noise fields) and are stored as uint8.
Cost.     Everything is batched (``F.grid_sample`` for camera windows and object compositing; sprites
          and canvases rendered once): about 2 s for the default 20,000 frames at 32 px on one core,
          ~0.25 s for the default evaluation set (measured under load on a 2-core machine).

Low diversity (the paper's question) is expressible directly: ``n_scenes=1``, ``objects_per_day=1``,
``instances_per_category=1``, ``drift=0``, ``motion`` small.

Labels are for diagnostics only: the returned ``HeadcamFrames`` is an ordinary unlabelled
``InMemoryFrames``; ``frames.meta`` (``HeadcamMeta``) records per frame the day, episode, scene and the
visible object's category and instance (-1 when none), per episode its plan, and the instance pool.

``make_object_eval_set``
------------------------
One object per image on a random window of fresh scene canvases, at a random position, size, rotation
and light; every image shows a *new* instance (train and test instances too are all distinct), drawn
from seed streams the training stream never uses. Class names are ``CATEGORY_NAMES[:n_categories]``.

Seed streams: every draw comes from a ``torch.Generator`` seeded with ``seed * 16 + stream``:

    stream 0  stream scene canvases                stream 4  evaluation object instances
    stream 1  stream object instance pool          stream 5  evaluation backgrounds, poses and noise
    stream 2  stream plan (days, drift, light)     stream 6  stream sensor noise
    stream 3  camera, then object trajectories

and no draw's count depends on ``objects_per_day``: streams that differ only in ``objects_per_day`` (or
``object_presence``, ``object_size``, ``object_motion``) show the same scenes through the same camera,
with the same noise. Evaluation instances are independent of the stream's. Output is identical on
repeated calls with the same arguments.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .dead_leaves import dead_leaves
from .frame_source import InMemoryFrames
from .frame_timeline import DAYS_PER_MONTH, FrameTimeline, chunks_by_frames
from .labelled_images import LabelledImages

__all__ = [
    "CATEGORY_NAMES",
    "MAX_CATEGORIES",
    "MIN_IMAGE_SIZE",
    "ObjectInstances",
    "HeadcamMeta",
    "HeadcamFrames",
    "ObjectEvalSet",
    "DEFAULT_TYPICALITY",
    "category_prototypes",
    "sample_instances",
    "render_sprites",
    "make_headcam_stream",
    "make_object_eval_set",
]

#: the shape categories, in the order ``n_categories`` takes them (the first ten are the most distinct)
CATEGORY_NAMES: tuple[str, ...] = (
    "star5", "ring", "cross", "crescent", "triangle", "square", "clover", "dumbbell", "bars3", "arrow",
    "disc", "frame", "halfdisc", "bowtie", "tee", "star8",
)
MAX_CATEGORIES = len(CATEGORY_NAMES)
MIN_IMAGE_SIZE = 16

STREAM_SCENES = 0
STREAM_INSTANCES = 1
STREAM_PLAN = 2
STREAM_MOTION = 3
STREAM_EVAL_INSTANCES = 4
STREAM_EVAL_RENDERS = 5
STREAM_NOISE = 6
STREAM_PROTOTYPES = 7    # seeded with 7 alone (not seed * 16 + 7): the category prototypes are part of the world

#: Share of instances wearing their category's typical colours and texture (``sample_instances``). With 0
#: (categories defined by shape alone) the read-out set failed a supervised learnability check (a small CNN
#: trained with labels on the 2,000 read-out training images reached 13-14 % on the test images, chance 10 %)
#: and SimCLR, on the stream or even on i.i.d. object images, never raised the linear read-out above random
#: features (16 %) at CPU scale. Real categories are not defined by silhouette alone, and SAYCam's are not;
#: 0.8 leaves one instance in five atypical. Measured numbers: README "Life-long benchmark".
DEFAULT_TYPICALITY = 0.8

_N_TEXTURES = 5          # plain, stripes, checks, dots, gradient
_ZOOM_LIMIT = math.log(1.4)   # |log zoom| soft limit (zoom 0.71x .. 1.4x)
_ROLL_LIMIT = 0.35       # radians, soft limit of the camera roll
_PIXEL_BUDGET = 1 << 22  # output pixels per grid_sample call (bounds the memory of the sampling grids)
_NOISE_BANK = 1009       # distinct sensor-noise fields (fewer for large frames)
_BLOCK_PIXELS = 1 << 22  # output pixels rendered at once in float (48 MB a block)


# =========================================================================================== validation
def _int_arg(name: str, value: object, lo: int, hi: int | None = None) -> int:
    rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer {rng}, got {value!r}")
    v = int(value)
    if v < lo or (hi is not None and v > hi):
        raise ValueError(f"{name} must be an integer {rng}, got {v}")
    return v


def _float_arg(name: str, value: object, lo: float, hi: float | None = None, *, lo_open: bool = False) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    bad_lo = v <= lo if lo_open else v < lo
    if not math.isfinite(v) or bad_lo or (hi is not None and v > hi):
        rng = f"{'(' if lo_open else '['}{lo}, {hi if hi is not None else 'inf'}{']' if hi is not None else ')'}"
        raise ValueError(f"{name} must lie in {rng}, got {value!r}")
    return v


def _range_arg(name: str, value: object, lo: float, hi: float, *, lo_open: bool = False) -> tuple[float, float]:
    try:
        a, b = (float(x) for x in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}") from None
    if not (lo <= a <= b <= hi) or (lo_open and a <= lo):
        raise ValueError(f"{name} must satisfy {lo} {'<' if lo_open else '<='} low <= high <= {hi}, got {value!r}")
    return a, b


def _generator(seed: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 16 + stream)


def _u(shape: tuple[int, ...] | int, gen: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    if isinstance(shape, int):
        shape = (shape,)
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


# =========================================================================================== objects
@dataclass(frozen=True)
class ObjectInstances:
    """Object instances; every field is a tensor with the instances along dim 0.

    category:   long [P], index into ``CATEGORY_NAMES``.
    shape_a/b:  [P] in [0, 1], category-specific shape parameters (star depth, ring width, ...).
    aspect:     [P], width / height of the sprite (0.8 .. 1.25).
    size:       [P], size factor (0.85 .. 1.15) on top of each render's object size.
    colour1/2:  [P, 3] RGB in [0, 1]; the texture mixes them.
    texture:    long [P], 0 plain, 1 stripes, 2 checks, 3 dots, 4 gradient.
    tex_freq, tex_angle, tex_phase, tex_amp: [P], the texture's frequency (cycles per object),
                orientation, phase and contrast.
    outline:    [P], darkening of a thin rim (0.2 .. 0.6).
    shade_angle: [P], direction of the shading gradient across the object.
    """

    category: torch.Tensor
    shape_a: torch.Tensor
    shape_b: torch.Tensor
    aspect: torch.Tensor
    size: torch.Tensor
    colour1: torch.Tensor
    colour2: torch.Tensor
    texture: torch.Tensor
    tex_freq: torch.Tensor
    tex_angle: torch.Tensor
    tex_phase: torch.Tensor
    tex_amp: torch.Tensor
    outline: torch.Tensor
    shade_angle: torch.Tensor

    def __len__(self) -> int:
        return int(self.category.shape[0])

    def select(self, idx: torch.Tensor) -> "ObjectInstances":
        return ObjectInstances(**{k: getattr(self, k)[idx] for k in self.__dataclass_fields__})

    def param_matrix(self) -> torch.Tensor:
        """All continuous parameters as float [P, 18] (to compare instances)."""
        cols = [getattr(self, k).float().view(len(self), -1) for k in self.__dataclass_fields__]
        return torch.cat(cols, dim=1)


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], dim=-1)
    return v[..., None] - v[..., None] * s[..., None] * (torch.minimum(k, 4 - k).clamp(0, 1))


@dataclass(frozen=True)
class CategoryPrototypes:
    """Typical surface of every category (tensors over ``MAX_CATEGORIES``): two hues, a texture, its
    frequency. Hues are spread evenly around the colour circle in a fixed shuffled order; the textures
    cycle through plain, stripes, checks, dots and gradient, so each texture is shared by categories of
    different hue and shape."""

    hue1: torch.Tensor
    hue2: torch.Tensor
    texture: torch.Tensor
    tex_freq: torch.Tensor


def category_prototypes() -> CategoryPrototypes:
    """The categories' typical surfaces; independent of every seed (like the shapes themselves)."""
    g = torch.Generator().manual_seed(STREAM_PROTOTYPES)
    hue1 = torch.randperm(MAX_CATEGORIES, generator=g).float() / MAX_CATEGORIES
    hue2 = (hue1 + _u(MAX_CATEGORIES, g, 0.3, 0.7)) % 1.0
    texture = torch.arange(MAX_CATEGORIES) % _N_TEXTURES
    return CategoryPrototypes(hue1, hue2, texture, _u(MAX_CATEGORIES, g, 1.5, 4.0))


def sample_instances(categories: torch.Tensor, generator: torch.Generator,
                     typicality: float = DEFAULT_TYPICALITY) -> ObjectInstances:
    """One random instance per entry of ``categories`` (long, indices into ``CATEGORY_NAMES``).

    With probability ``typicality`` an instance is *typical*: its hues lie within ~0.03 (s.d., as a fraction
    of the colour circle) of its category's prototype hues and it has the prototype's texture, at the
    prototype's frequency +-15 %. Otherwise (and for every instance when ``typicality=0``) colour and texture
    are drawn independently of the category. Outline, shading, aspect and size never depend on it. The draws
    of ``typicality=0`` come first, so it gives the same instances as a shape-only world of the same seed."""
    typicality = _float_arg("typicality", typicality, 0.0, 1.0)
    cat = torch.as_tensor(categories, dtype=torch.long).view(-1)
    n, g = int(cat.shape[0]), generator
    hue = _u(n, g)
    sat1, val1 = _u(n, g, 0.15, 0.9), _u(n, g, 0.3, 0.95)
    c1 = _hsv_to_rgb(hue, sat1, val1)
    hue2 = (hue + _u(n, g, 0.1, 0.9)) % 1.0
    sat2, val2 = _u(n, g, 0.0, 0.9), _u(n, g, 0.15, 1.0)
    c2 = _hsv_to_rgb(hue2, sat2, val2)
    fields = dict(
        category=cat.clone(),
        shape_a=_u(n, g),
        shape_b=_u(n, g),
        aspect=torch.exp(_u(n, g, math.log(0.8), math.log(1.25))),
        size=_u(n, g, 0.85, 1.15),
        colour1=c1,
        colour2=c2,
        texture=torch.randint(0, _N_TEXTURES, (n,), generator=g),
        tex_freq=_u(n, g, 1.5, 4.0),
        tex_angle=_u(n, g, 0.0, math.pi),
        tex_phase=_u(n, g, 0.0, 2 * math.pi),
        tex_amp=_u(n, g, 0.2, 0.7),
        outline=_u(n, g, 0.2, 0.6),
        shade_angle=_u(n, g, 0.0, 2 * math.pi),
    )
    if typicality > 0 and n:
        proto = category_prototypes()
        typical = torch.rand(n, generator=g) < typicality
        t_hue1 = (proto.hue1[cat] + 0.03 * torch.randn(n, generator=g)) % 1.0
        t_hue2 = (proto.hue2[cat] + 0.03 * torch.randn(n, generator=g)) % 1.0
        # saturated, mid-bright first colour; the second darker, so the texture reads in grey too
        t_c1 = _hsv_to_rgb(t_hue1, 0.5 + 0.4 * sat1 / 0.9, 0.5 + 0.45 * val1 / 0.95)
        t_c2 = _hsv_to_rgb(t_hue2, 0.3 + 0.5 * sat2 / 0.9, 0.2 + 0.3 * val2)
        t_freq = proto.tex_freq[cat] * _u(n, g, 0.85, 1.15)
        t_amp = _u(n, g, 0.5, 0.8)
        m = typical.view(n, 1)
        fields["colour1"] = torch.where(m, t_c1, c1)
        fields["colour2"] = torch.where(m, t_c2, c2)
        fields["texture"] = torch.where(typical, proto.texture[cat], fields["texture"])
        fields["tex_freq"] = torch.where(typical, t_freq, fields["tex_freq"])
        fields["tex_amp"] = torch.where(typical, t_amp, fields["tex_amp"])
    return ObjectInstances(**fields)


# -- signed distances (negative inside), in sprite units: the sprite spans [-1, 1]^2 ----------------------
def _sd_disc(x: torch.Tensor, y: torch.Tensor, cx: float | torch.Tensor, cy: float | torch.Tensor,
             r: float | torch.Tensor) -> torch.Tensor:
    return torch.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r


def _sd_box(x: torch.Tensor, y: torch.Tensor, hx: float | torch.Tensor, hy: float | torch.Tensor) -> torch.Tensor:
    qx, qy = x.abs() - hx, y.abs() - hy
    outside = torch.sqrt(qx.clamp_min(0) ** 2 + qy.clamp_min(0) ** 2)
    return outside + torch.maximum(qx, qy).clamp_max(0)


def _sd_star(x: torch.Tensor, y: torch.Tensor, k: int, r_out: float | torch.Tensor,
             r_in: float | torch.Tensor) -> torch.Tensor:
    """k-pointed star (a regular k-gon when r_in = r_out * cos(pi / k)); a tip points along +x."""
    r = torch.sqrt(x * x + y * y)
    th = torch.atan2(y, x)
    sector = 2 * math.pi / k
    psi = ((th + sector / 2) % sector - sector / 2).abs()  # 0 at a tip, pi/k between tips
    px, py = r * torch.cos(psi), r * torch.sin(psi)
    ax, ay = r_out, 0.0
    bx, by = r_in * math.cos(math.pi / k), r_in * math.sin(math.pi / k)
    ex, ey = bx - ax, by - ay
    length = torch.sqrt(torch.as_tensor(ex * ex + ey * ey))
    return (ex * (py - ay) - ey * (px - ax)) / length * -1.0


def _shape_sd(cat: int, x: torch.Tensor, y: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Signed distance of category ``cat`` at local coordinates x, y [n, R, R]; a, b: [n, 1, 1] in [0, 1]."""
    name = CATEGORY_NAMES[cat]
    if name == "star5":
        return _sd_star(x, y, 5, 0.8, 0.8 * (0.36 + 0.12 * a))
    if name == "star8":
        return _sd_star(x, y, 8, 0.8, 0.8 * (0.45 + 0.1 * a))
    if name == "triangle":
        r = 0.82 - 0.04 * a
        return _sd_star(x, y, 3, r, r * math.cos(math.pi / 3))
    if name == "square":
        r = 0.78 - 0.04 * a
        return _sd_star(x, y, 4, r, r * math.cos(math.pi / 4))
    if name == "ring":
        return (torch.sqrt(x * x + y * y) - 0.6).abs() - (0.13 + 0.06 * a)
    if name == "disc":
        return _sd_disc(x, y, 0.0, 0.0, 0.7 + 0.06 * a)
    if name == "cross":
        w = 0.17 + 0.07 * a
        return torch.minimum(_sd_box(x, y, 0.78, w), _sd_box(x, y, w, 0.78))
    if name == "crescent":
        r = 0.74
        off = 0.32 + 0.12 * a
        return torch.maximum(_sd_disc(x, y, 0.0, 0.0, r), -_sd_disc(x, y, off, 0.0, r * (0.85 + 0.1 * b)))
    if name == "clover":
        rl = 0.3 + 0.05 * a
        d = _sd_disc(x, y, 0.0, 0.0, 0.25)
        for j in range(3):
            ang = 2 * math.pi * j / 3
            d = torch.minimum(d, _sd_disc(x, y, 0.48 * math.cos(ang), 0.48 * math.sin(ang), rl))
        return d
    if name == "dumbbell":
        rb = 0.27 + 0.05 * a
        d = torch.minimum(_sd_disc(x, y, -0.52, 0.0, rb), _sd_disc(x, y, 0.52, 0.0, rb))
        return torch.minimum(d, _sd_box(x, y, 0.55, 0.1 + 0.04 * b))
    if name == "bars3":
        w = 0.1 + 0.04 * a
        d = _sd_box(x, y, 0.75, w)
        for off in (-0.5, 0.5):
            d = torch.minimum(d, _sd_box(x, y - off, 0.75, w))
        return d
    if name == "arrow":
        head = torch.maximum(torch.maximum(-(x - 0.05), _sd_star(x - 0.05, y, 3, 0.75, 0.375)), x - 0.8)
        return torch.minimum(head, _sd_box(x + 0.35, y, 0.45, 0.13 + 0.05 * a))
    if name == "frame":
        return torch.maximum(_sd_box(x, y, 0.72, 0.72), -_sd_box(x, y, 0.4 + 0.08 * a, 0.4 + 0.08 * a))
    if name == "halfdisc":
        return torch.maximum(_sd_disc(x, y + 0.25 - 0.1 * a, 0.0, 0.0, 0.8), y - 0.25 + 0.1 * a)
    if name == "bowtie":
        r = 0.42 + 0.04 * a
        tri1 = _sd_star(x + r, y, 3, r, r / 2)
        tri2 = _sd_star(-x + r, y, 3, r, r / 2)
        return torch.minimum(tri1, tri2)
    if name == "tee":
        w = 0.13 + 0.05 * a
        return torch.minimum(_sd_box(x, y + 0.62, 0.75, w), _sd_box(x, y - 0.12, w, 0.62))
    raise AssertionError(name)


def render_sprites(inst: ObjectInstances, resolution: int) -> torch.Tensor:
    """Premultiplied RGBA sprites, float [P, 4, R, R] (channels r, g, b, alpha), the object upright and
    centred; it fits the disc of radius ~0.9 of the sprite's half-side."""
    n, R = len(inst), int(resolution)
    out = torch.zeros((n, 4, R, R))
    step = max(1, (1 << 20) // (R * R))
    for lo in range(0, n, step):
        idx = torch.arange(lo, min(n, lo + step))
        out[idx] = _render_sprites(inst.select(idx), R)
    return out


def _render_sprites(inst: ObjectInstances, R: int) -> torch.Tensor:
    n = len(inst)
    coords = (torch.arange(R, dtype=torch.float32) + 0.5) / R * 2 - 1
    yy, xx = coords.view(1, R, 1), coords.view(1, 1, R)
    sx = torch.sqrt(inst.aspect).view(n, 1, 1)
    # local shape coordinates: stretch x by sqrt(aspect), y by 1/sqrt(aspect)
    lx, ly = xx / sx, yy * sx
    d = torch.empty((n, R, R))
    for c in torch.unique(inst.category).tolist():
        m = inst.category == c
        d[m] = _shape_sd(int(c), lx[m], ly[m], inst.shape_a[m].view(-1, 1, 1), inst.shape_b[m].view(-1, 1, 1))
    d.mul_(torch.minimum(sx, 1 / sx))  # back to (approximately) sprite units
    px = 2.0 / R
    alpha = (0.5 - d / px).clamp_(0, 1)
    # texture pattern in [0, 1], in object coordinates, computed per texture type
    pattern = torch.zeros((n, R, R))
    for t in range(1, _N_TEXTURES):
        m = inst.texture == t
        if not bool(m.any()):
            continue
        ca, sa = torch.cos(inst.tex_angle[m]).view(-1, 1, 1), torch.sin(inst.tex_angle[m]).view(-1, 1, 1)
        s1 = xx * ca + yy * sa
        if t == 4:  # gradient
            pattern[m] = (s1 * 0.5 + 0.5).clamp_(0, 1)
            continue
        f = (inst.tex_freq[m] * math.pi).view(-1, 1, 1)
        ph = inst.tex_phase[m].view(-1, 1, 1)
        w1 = torch.sin(f * s1 + ph)
        if t == 1:  # stripes
            pattern[m] = (w1 > 0).float()
            continue
        w2 = torch.sin(f * (-xx * sa + yy * ca) + ph)
        if t == 2:  # checks
            pattern[m] = (w1 * w2 > 0).float()
        else:  # dots
            pattern[m] = ((w1.abs() < 0.45) & (w2.abs() < 0.45)).float()
    pattern.mul_(inst.tex_amp.view(n, 1, 1))
    c1, c2 = inst.colour1.view(n, 3, 1, 1), inst.colour2.view(n, 3, 1, 1)
    rgb = torch.addcmul(c1, c2 - c1, pattern[:, None])
    # shading (a light from one side) and a darker rim, so the silhouette reads on any background
    light_x, light_y = torch.cos(inst.shade_angle).view(n, 1, 1), torch.sin(inst.shade_angle).view(n, 1, 1)
    shade = 1.0 + 0.25 * (xx * light_x + yy * light_y)
    rim = 1.0 - inst.outline.view(n, 1, 1) * ((d + 2.5 * px) / (2.5 * px)).clamp_(0, 1)
    rgb.mul_((shade * rim)[:, None]).clamp_(0, 1)
    return torch.cat([rgb * alpha[:, None], alpha[:, None]], dim=1)


def _sprite_resolution(image_size: int, max_fraction: float) -> int:
    return int(min(128, max(32, math.ceil(1.5 * image_size * max_fraction))))


def _affine_grid(theta: torch.Tensor, S: int) -> torch.Tensor:
    """``F.affine_grid(theta, [n, C, S, S], align_corners=False)``, computed as two outer sums (about twice
    as fast on CPU for small frames)."""
    n = theta.shape[0]
    xs = (torch.arange(S, dtype=torch.float32) + 0.5) * (2.0 / S) - 1.0
    grid = torch.empty((n, S, S, 2))
    for k in range(2):
        col = theta[:, k, 0, None] * xs                             # [n, S], varies along x
        row = theta[:, k, 1, None] * xs + theta[:, k, 2, None]      # [n, S], varies along y
        torch.add(row[:, :, None], col[:, None, :], out=grid[..., k])
    return grid


def _composite(frames: torch.Tensor, rows: torch.Tensor, sprites: torch.Tensor, which: torch.Tensor,
               cx: torch.Tensor, cy: torch.Tensor, half: torch.Tensor, angle: torch.Tensor) -> None:
    """In place: composite ``sprites[which[i]]`` over ``frames[rows[i]]`` (frames: float [N, 3, S, S]),
    centred at (cx[i], cy[i]) (frame coordinates in [-1, 1]), half side ``half[i]`` (same units), rotated
    by ``angle[i]``. Frames are processed grouped by sprite (the sprite is expanded, not copied)."""
    m, S = rows.shape[0], frames.shape[-1]
    if m == 0:
        return
    c, s = torch.cos(angle), torch.sin(angle)
    # sprite coords = R(-angle) (x - centre) / half
    theta = torch.empty((m, 2, 3))
    theta[:, 0, 0], theta[:, 0, 1] = c / half, s / half
    theta[:, 1, 0], theta[:, 1, 1] = -s / half, c / half
    theta[:, 0, 2] = -(c * cx + s * cy) / half
    theta[:, 1, 2] = (s * cx - c * cy) / half
    step = max(1, _PIXEL_BUDGET // (S * S))
    ids = torch.unique(which)
    if len(ids) * 8 > m:  # mostly one frame per sprite (the evaluation set): gather the sprites
        for lo in range(0, m, step):
            hi = min(m, lo + step)
            spr = F.grid_sample(sprites[which[lo:hi]], _affine_grid(theta[lo:hi], S), mode="bilinear",
                                padding_mode="zeros", align_corners=False)
            r = rows[lo:hi]
            frames[r] = torch.addcmul(spr[:, :3], frames[r], 1 - spr[:, 3:4])
        return
    for w in ids.tolist():
        sel = torch.nonzero(which == w).view(-1)
        src = sprites[w : w + 1]
        for lo in range(0, len(sel), step):
            part = sel[lo : lo + step]
            spr = F.grid_sample(src.expand(len(part), -1, -1, -1), _affine_grid(theta[part], S), mode="bilinear",
                                padding_mode="zeros", align_corners=False)
            r = rows[part]
            frames[r] = torch.addcmul(spr[:, :3], frames[r], 1 - spr[:, 3:4])


def _view_canvases(canvases: torch.Tensor, scene: torch.Tensor, theta: torch.Tensor, S: int) -> torch.Tensor:
    """Sample camera windows: float [N, 3, S, S]; frame i looks at ``canvases[scene[i]]`` through the affine
    window ``theta[i]`` (output frame coords -> canvas coords)."""
    n = scene.shape[0]
    out = torch.empty((n, 3, S, S))
    step = max(1, _PIXEL_BUDGET // (S * S))
    for s in torch.unique(scene).tolist():
        idx = torch.nonzero(scene == s).view(-1)
        src = canvases[s : s + 1]
        for lo in range(0, len(idx), step):
            part = idx[lo : lo + step]
            out[part] = F.grid_sample(src.expand(len(part), -1, -1, -1), _affine_grid(theta[part], S),
                                      mode="bilinear", padding_mode="border", align_corners=False)
    return out


def _make_canvases(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """Scene canvases, float [n, 3, size, size] in [0, 1]: dead leaves with more, smaller discs than the
    default, so that a window of 1/3 of the canvas still shows clutter."""
    return dead_leaves(n, size, gen, n_discs=400, r_min=0.02, r_max=0.45, noise=0.0).float() / 255.0


# =========================================================================================== the stream
@dataclass(frozen=True)
class HeadcamMeta:
    """Diagnostics of a procedural head-cam stream (never used for training).

    Per frame (numpy int64 [N]): ``day`` (= video index), ``episode`` (global episode index), ``scene``,
    ``category`` and ``instance`` of the visible object (-1 when none; ``instance`` indexes ``instances``).
    Per episode (int64 [E]): ``episode_day``, ``episode_start`` (global frame), ``episode_length``,
    ``episode_scene``, ``episode_instance`` (-1 when the day has no objects), ``episode_visible_start``
    (global frame) and ``episode_visible_length``.
    ``instances``: the stream's object pool; ``class_names``: category names; ``day_light``: float
    [n_days, 3], the per-day RGB gain (brightness x colour cast).
    """

    day: np.ndarray
    episode: np.ndarray
    scene: np.ndarray
    category: np.ndarray
    instance: np.ndarray
    episode_day: np.ndarray
    episode_start: np.ndarray
    episode_length: np.ndarray
    episode_scene: np.ndarray
    episode_instance: np.ndarray
    episode_visible_start: np.ndarray
    episode_visible_length: np.ndarray
    instances: ObjectInstances
    class_names: tuple[str, ...]
    day_light: np.ndarray


class HeadcamFrames(InMemoryFrames):
    """The procedural head-cam stream: ``InMemoryFrames`` plus diagnostic ``meta`` (``HeadcamMeta``) and
    ``settings`` (the validated arguments of ``make_headcam_stream``)."""

    def __init__(self, images: torch.Tensor, timeline: FrameTimeline, source: str, meta: HeadcamMeta,
                 settings: dict[str, object]) -> None:
        super().__init__(images, timeline, source=source)
        self.meta = meta
        self.settings = settings


def _drift_weights(t: torch.Tensor, centres: torch.Tensor, drift: float, width: float = 0.25,
                   floor: float = 0.2) -> torch.Tensor:
    """[len(t), K] unnormalised weights: (1 - drift) + drift * (floor + (1 - floor) * bump)."""
    bump = torch.exp(-0.5 * ((t[:, None] - centres[None, :]) / width) ** 2)
    return (1.0 - drift) + drift * (floor + (1.0 - floor) * bump)


def _smooth_noise(n: int, channels: int, sigma: float, gen: torch.Generator) -> torch.Tensor:
    """[channels, n] Gaussian-smoothed white noise with unit standard deviation."""
    if sigma <= 0.5:
        return torch.randn((channels, n), generator=gen)
    radius = int(math.ceil(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma) ** 2)
    k = k / torch.sqrt((k * k).sum())
    x = torch.randn((channels, 1, n + 2 * radius), generator=gen)
    return F.conv1d(x, k.view(1, 1, -1)).view(channels, n)


def _fold(x: torch.Tensor) -> torch.Tensor:
    """Reflect an unbounded coordinate into [-1, 1] (a triangle wave)."""
    return 1.0 - ((x + 1.0) % 4.0 - 2.0).abs()


def _smoothstep(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0, 1)
    return x * x * (3 - 2 * x)


def _plan_days(
    n_days: int, frames_per_day: int, episode_frames: int, n_scenes: int, scenes_per_day: int,
    objects_per_day: int, inst_category: torch.Tensor, n_categories: int, object_presence: float, drift: float,
    gen: torch.Generator,
) -> dict[str, torch.Tensor]:
    """Episode table of the whole stream (long tensors [E])."""
    n_ep = max(1, int(math.floor(frames_per_day / episode_frames + 0.5)))
    t_day = torch.linspace(0, 1, n_days) if n_days > 1 else torch.zeros(1)
    scene_w = _drift_weights(t_day, torch.rand(n_scenes, generator=gen), drift)      # [D, n_scenes]
    cat_w = _drift_weights(t_day, torch.rand(n_categories, generator=gen), drift)    # [D, n_categories]
    m_scenes = min(scenes_per_day, n_scenes, n_ep)
    cols: dict[str, list[torch.Tensor]] = {k: [] for k in ("day", "start", "length", "scene", "instance",
                                                           "vis_start", "vis_length")}
    for d in range(n_days):
        w = _u(n_ep, gen, 0.75, 1.25)
        cuts = torch.round(torch.cumsum(w, 0) / w.sum() * frames_per_day).long()
        starts = torch.cat([torch.zeros(1, dtype=torch.long), cuts[:-1]])
        lengths = cuts - starts
        # scenes: m distinct ones by weight (Gumbel top-k), each for a contiguous run of episodes
        gumbel = -torch.log(-torch.log(torch.rand(n_scenes, generator=gen).clamp(1e-12, 1 - 1e-12)))
        day_scenes = torch.topk(torch.log(scene_w[d]) + gumbel, m_scenes).indices
        scene = day_scenes[(torch.arange(n_ep) * m_scenes) // n_ep]
        # objects: k distinct instances by category weight, each in >= 1 episode, the rest random. The
        # draws do not depend on k, so streams that differ only in objects_per_day share scenes and camera
        gumbel = -torch.log(-torch.log(torch.rand(len(inst_category), generator=gen).clamp(1e-12, 1 - 1e-12)))
        u_extra = torch.rand(n_ep, generator=gen)
        perm = torch.randperm(n_ep, generator=gen)
        if objects_per_day > 0:
            day_inst = torch.topk(torch.log(cat_w[d][inst_category]) + gumbel, objects_per_day).indices
            extra = torch.floor(u_extra[objects_per_day:] * objects_per_day).long().clamp_max(objects_per_day - 1)
            slots = torch.cat([torch.arange(objects_per_day), extra])
            inst = day_inst[slots[perm]]
        else:
            inst = torch.full((n_ep,), -1, dtype=torch.long)
        frac = (object_presence + _u(n_ep, gen, -0.1, 0.1)).clamp(0.05, 1.0)
        vis_len = torch.clamp(torch.round(lengths * frac).long(), 1)
        vis_len = torch.minimum(vis_len, lengths)
        vis_off = torch.floor(_u(n_ep, gen) * (lengths - vis_len + 1).float()).long().clamp_max(lengths - vis_len)
        base = d * frames_per_day
        cols["day"].append(torch.full((n_ep,), d, dtype=torch.long))
        cols["start"].append(base + starts)
        cols["length"].append(lengths)
        cols["scene"].append(scene)
        cols["instance"].append(inst)
        cols["vis_start"].append(base + starts + vis_off)
        cols["vis_length"].append(torch.where(inst >= 0, vis_len, torch.zeros_like(vis_len)))
    return {k: torch.cat(v) for k, v in cols.items()}


def _camera(n: int, motion: float, scene_scale: float, saccade_interval: float, gen: torch.Generator
            ) -> torch.Tensor:
    """Affine windows [n, 2, 3] (output frame coords -> canvas coords) of the camera, one per frame."""
    fw = 2.0 / scene_scale  # one frame width in canvas units at zoom 1
    vel = _smooth_noise(n, 2, 8.0, gen) * (0.02 * fw * motion)
    jump_at = torch.rand(n, generator=gen) < (1.0 / saccade_interval)
    jump_dir = _u(n, gen, 0.0, 2 * math.pi)
    jump_len = _u(n, gen, 0.25, 0.75) * fw * motion * jump_at.float()
    jumps = torch.stack([torch.cos(jump_dir), torch.sin(jump_dir)]) * jump_len
    jumps = 0.5 * (jumps + torch.roll(jumps, 1, dims=1))  # executed over 2 frames
    pos = torch.cumsum(vel + jumps, dim=1) + _smooth_noise(n, 2, 0.0, gen) * (0.006 * fw * motion)
    pos = pos + _u((2, 1), gen, -3.0, 3.0)  # random start
    log_zoom = _ZOOM_LIMIT * torch.tanh(_smooth_noise(n, 1, 40.0, gen)[0] * (0.25 * motion) / _ZOOM_LIMIT)
    roll = _ROLL_LIMIT * torch.tanh(_smooth_noise(n, 1, 25.0, gen)[0] * (0.1 * motion) / _ROLL_LIMIT)
    half = torch.exp(log_zoom) / scene_scale
    c, s = torch.cos(roll), torch.sin(roll)
    reach = 1.0 - half * (c.abs() + s.abs()) - 1e-3  # the centre may move within +-reach
    centre = _fold(pos) * reach
    theta = torch.empty((n, 2, 3))
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = half * c, -half * s, centre[0]
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = half * s, half * c, centre[1]
    return theta


def _object_poses(
    frame_ep: torch.Tensor, local_t: torch.Tensor, vis_len: torch.Tensor, n_ep: int,
    object_size: tuple[float, float], inst_size: torch.Tensor, object_motion: float, gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(cx, cy, half, angle) per frame that shows an object; ``frame_ep``: its episode, ``local_t``: frames
    since the object entered, ``vis_len``: frames it stays (per frame)."""
    g = gen
    # per-episode parameters
    hold = _u((n_ep, 2), g, -0.3, 0.3)
    size0 = _u(n_ep, g, *object_size)
    side_p = torch.tensor([0.5, 0.2, 0.2, 0.1])  # bottom, left, right, top
    sides = torch.multinomial(side_p.expand(n_ep, 4), 2, replacement=True, generator=g)  # entry, exit
    along = _u((n_ep, 2), g, -0.6, 0.6)
    wob_amp = _u((n_ep, 2), g, 0.04, 0.14) * object_motion
    wob_per = _u((n_ep, 2), g, 30.0, 120.0)
    wob_ph = _u((n_ep, 2), g, 0.0, 2 * math.pi)
    angle0 = _u(n_ep, g, 0.0, 2 * math.pi)
    spin = _u(n_ep, g, -0.03, 0.03) * object_motion
    rock_amp = _u(n_ep, g, 0.0, 0.4) * object_motion
    rock_per = _u(n_ep, g, 40.0, 120.0)
    breath = _u(n_ep, g, 0.0, 0.15) * min(1.0, object_motion)
    breath_per = _u(n_ep, g, 50.0, 150.0)

    def edge_point(side: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.where(side == 1, -1.0, torch.where(side == 2, 1.0, a))
        y = torch.where(side == 0, 1.0, torch.where(side == 3, -1.0, a))
        return x, y

    enter_x, enter_y = edge_point(sides[:, 0], along[:, 0])
    exit_x, exit_y = edge_point(sides[:, 1], along[:, 1])
    e = frame_ep
    t = local_t.float()
    L = vis_len.float()
    tw = 2 * math.pi * t
    hx = hold[e, 0] + wob_amp[e, 0] * torch.sin(tw / wob_per[e, 0] + wob_ph[e, 0])
    hy = hold[e, 1] + wob_amp[e, 1] * torch.sin(tw / wob_per[e, 1] + wob_ph[e, 1])
    n_in = torch.clamp(torch.round(0.15 * L), 1, 25)
    n_out = n_in
    a_in = _smoothstep(t / n_in)  # 0 at entry -> 1 when held
    a_out = _smoothstep((t - (L - 1 - n_out)) / n_out)  # 0 while held -> 1 at exit
    cx = enter_x[e] + (hx - enter_x[e]) * a_in
    cy = enter_y[e] + (hy - enter_y[e]) * a_in
    cx = cx + (exit_x[e] - cx) * a_out
    cy = cy + (exit_y[e] - cy) * a_out
    half = size0[e] * inst_size * (1 + breath[e] * torch.sin(tw / breath_per[e]))
    angle = angle0[e] + spin[e] * t + rock_amp[e] * torch.sin(tw / rock_per[e])
    return cx, cy, half, angle


def make_headcam_stream(
    n_days: int = 20,
    frames_per_day: int = 1000,
    image_size: int = 32,
    seed: int = 0,
    *,
    fps: float = 25.0,
    n_chunks: int = 10,
    n_scenes: int = 12,
    scenes_per_day: int = 3,
    objects_per_day: int = 3,
    episode_frames: int = 100,
    n_categories: int = 10,
    instances_per_category: int = 6,
    motion: float = 1.0,
    object_motion: float = 1.0,
    drift: float = 1.0,
    light_drift: float = 1.0,
    object_presence: float = 0.8,
    object_size: tuple[float, float] = (0.5, 0.85),
    saccade_interval: float = 50.0,
    scene_scale: float = 3.0,
    age_months: tuple[float, float] = (6.0, 30.0),
    noise: float = 1.5,
    typicality: float = DEFAULT_TYPICALITY,
) -> HeadcamFrames:
    """The procedural head-camera stream (see the module docstring for the generative model).

    n_days:            simulated recording days = videos (>= 1).
    frames_per_day:    frames per day (>= episode_frames).
    image_size:        frame side in pixels (>= 16).
    seed:              non-negative int; same arguments + seed -> identical frames.
    fps:               frame rate of the timeline.
    n_chunks:          chronological chunks (1 .. number of frames).
    n_scenes:          scene canvases in the whole stream (>= 1).
    scenes_per_day:    scenes a day visits (>= 1; capped by n_scenes and the episodes per day).
    objects_per_day:   distinct object instances a day (0 .. episodes per day, and <= the pool size).
    episode_frames:    about how long one object episode lasts (8 .. frames_per_day).
    n_categories:      shape categories (2 .. 16), the first ``n_categories`` of ``CATEGORY_NAMES``.
    instances_per_category: size of the stream's object pool per category (>= 1).
    motion:            camera motion scale (>= 0; 0 = static camera per scene).
    object_motion:     scale of the in-hand wobble, rotation and size changes (>= 0).
    drift:             slow drift of scene and category frequencies (0 = stationary .. 1).
    light_drift:       amplitude of the slow per-day brightness and colour-cast drift (>= 0).
    object_presence:   mean fraction of an episode the object is in view (0.1 .. 1).
    object_size:       (low, high) object half-side / frame half-side, before the instance's size factor.
    saccade_interval:  mean frames between saccade-like camera jumps (>= 1).
    scene_scale:       canvas side / frame side at zoom 1 (2 .. 8).
    age_months:        (first, last) simulated age; days are spaced evenly between them.
    noise:             sensor-noise standard deviation in grey levels (>= 0).
    typicality:        share of instances with their category's typical colours and texture (0 .. 1;
                       0 = categories defined by shape alone; ``sample_instances``).
    """
    n_days = _int_arg("n_days", n_days, 1)
    episode_frames = _int_arg("episode_frames", episode_frames, 8)
    frames_per_day = _int_arg("frames_per_day", frames_per_day, 1)
    if frames_per_day < episode_frames:
        raise ValueError(f"frames_per_day must be >= episode_frames ({episode_frames}), got {frames_per_day}")
    image_size = _int_arg("image_size", image_size, MIN_IMAGE_SIZE)
    seed = _int_arg("seed", seed, 0)
    fps = _float_arg("fps", fps, 0.0, lo_open=True)
    n_frames = n_days * frames_per_day
    n_chunks = _int_arg("n_chunks", n_chunks, 1, n_frames)
    n_scenes = _int_arg("n_scenes", n_scenes, 1)
    scenes_per_day = _int_arg("scenes_per_day", scenes_per_day, 1)
    n_categories = _int_arg("n_categories", n_categories, 2, MAX_CATEGORIES)
    instances_per_category = _int_arg("instances_per_category", instances_per_category, 1)
    n_ep_day = max(1, int(math.floor(frames_per_day / episode_frames + 0.5)))
    pool = n_categories * instances_per_category
    objects_per_day = _int_arg("objects_per_day", objects_per_day, 0)
    if objects_per_day > min(n_ep_day, pool):
        raise ValueError(
            f"objects_per_day must be an integer in [0, {min(n_ep_day, pool)}]: at most the episodes per day "
            f"(round(frames_per_day / episode_frames) = {n_ep_day}) and the object pool (n_categories * "
            f"instances_per_category = {pool}); got {objects_per_day}"
        )
    motion = _float_arg("motion", motion, 0.0)
    object_motion = _float_arg("object_motion", object_motion, 0.0)
    drift = _float_arg("drift", drift, 0.0, 1.0)
    light_drift = _float_arg("light_drift", light_drift, 0.0)
    object_presence = _float_arg("object_presence", object_presence, 0.1, 1.0)
    object_size = _range_arg("object_size", object_size, 0.0, 1.0, lo_open=True)
    saccade_interval = _float_arg("saccade_interval", saccade_interval, 1.0)
    scene_scale = _float_arg("scene_scale", scene_scale, 2.0, 8.0)
    age_lo, age_hi = _range_arg("age_months", age_months, 0.0, 1200.0)
    noise = _float_arg("noise", noise, 0.0)
    typicality = _float_arg("typicality", typicality, 0.0, 1.0)
    S = image_size

    # --- the world: scene canvases and the object pool -----------------------------------------------
    canvases = _make_canvases(n_scenes, int(round(scene_scale * S)), _generator(seed, STREAM_SCENES))
    g_inst = _generator(seed, STREAM_INSTANCES)
    inst_cat = torch.arange(n_categories).repeat_interleave(instances_per_category)
    instances = sample_instances(inst_cat, g_inst, typicality)
    sprites = render_sprites(instances, _sprite_resolution(S, object_size[1] * 1.15))

    # --- the plan: episodes, scenes, objects, light ---------------------------------------------------
    g_plan = _generator(seed, STREAM_PLAN)
    plan = _plan_days(n_days, frames_per_day, episode_frames, n_scenes, scenes_per_day, objects_per_day,
                      inst_cat, n_categories, object_presence, drift, g_plan)
    t_day = torch.linspace(0, 1, n_days) if n_days > 1 else torch.zeros(1)
    freq = _u((4, 4), g_plan, 0.5, 3.0)
    phase = _u((4, 4), g_plan, 0.0, 2 * math.pi)
    slow = torch.sin(2 * math.pi * freq[None] * t_day[:, None, None] + phase[None]).sum(-1) / 2.0  # [D, 4]
    slow = slow + 0.3 * torch.randn((n_days, 4), generator=g_plan)
    day_light = torch.exp(light_drift * (0.15 * slow[:, :1] + 0.06 * slow[:, 1:]))  # gain x cast, [D, 3]

    n_ep = int(plan["day"].shape[0])
    frame_ep = torch.repeat_interleave(torch.arange(n_ep), plan["length"])
    frame_day = torch.arange(n_frames) // frames_per_day
    frame_scene = plan["scene"][frame_ep]
    t_vis = torch.arange(n_frames) - plan["vis_start"][frame_ep]
    visible = (t_vis >= 0) & (t_vis < plan["vis_length"][frame_ep])
    frame_inst = torch.where(visible, plan["instance"][frame_ep], torch.full_like(frame_ep, -1))

    # --- render, in blocks of frames (bounded float memory) ------------------------------------------
    g_mot = _generator(seed, STREAM_MOTION)
    theta = _camera(n_frames, motion, scene_scale, saccade_interval, g_mot)
    idx = torch.nonzero(visible).view(-1)
    which = frame_inst[idx]
    cx, cy, half, angle = _object_poses(
        frame_ep[idx], t_vis[idx], plan["vis_length"][frame_ep[idx]], n_ep, object_size,
        instances.size[which], object_motion, g_mot,
    )
    bank, pick = _sensor_noise(n_frames, S, noise, _generator(seed, STREAM_NOISE))
    light = day_light[frame_day]
    images = torch.empty((n_frames, 3, S, S), dtype=torch.uint8)
    block = max(1, _BLOCK_PIXELS // (S * S))
    for lo in range(0, n_frames, block):
        hi = min(n_frames, lo + block)
        frames = _view_canvases(canvases, frame_scene[lo:hi], theta[lo:hi], S)
        k0, k1 = (int(v) for v in torch.searchsorted(idx, torch.tensor([lo, hi])))
        if k1 > k0:
            _composite(frames, idx[k0:k1] - lo, sprites, which[k0:k1], cx[k0:k1], cy[k0:k1], half[k0:k1],
                       angle[k0:k1])
        images[lo:hi] = _quantise(frames, light[lo:hi], bank, pick[lo:hi])

    # --- timeline and diagnostics -------------------------------------------------------------------
    offsets = np.arange(n_days + 1, dtype=np.int64) * frames_per_day
    ages = np.linspace(age_lo, age_hi, n_days) * DAYS_PER_MONTH if n_days > 1 else np.array([age_lo * DAYS_PER_MONTH])
    timeline = FrameTimeline(
        video_names=tuple(f"day_{d + 1:04d}" for d in range(n_days)),
        video_offsets=offsets,
        chunk_offsets=chunks_by_frames(offsets, n_chunks),
        fps=fps,
        video_age_days=ages,
    )
    inst_np = frame_inst.numpy().astype(np.int64)
    meta = HeadcamMeta(
        day=frame_day.numpy().astype(np.int64),
        episode=frame_ep.numpy().astype(np.int64),
        scene=frame_scene.numpy().astype(np.int64),
        category=np.where(inst_np >= 0, inst_cat.numpy()[np.maximum(inst_np, 0)], -1).astype(np.int64),
        instance=inst_np,
        episode_day=plan["day"].numpy().astype(np.int64),
        episode_start=plan["start"].numpy().astype(np.int64),
        episode_length=plan["length"].numpy().astype(np.int64),
        episode_scene=plan["scene"].numpy().astype(np.int64),
        episode_instance=plan["instance"].numpy().astype(np.int64),
        episode_visible_start=plan["vis_start"].numpy().astype(np.int64),
        episode_visible_length=plan["vis_length"].numpy().astype(np.int64),
        instances=instances,
        class_names=CATEGORY_NAMES[:n_categories],
        day_light=day_light.numpy(),
    )
    settings: dict[str, object] = dict(
        n_days=n_days, frames_per_day=frames_per_day, image_size=S, seed=seed, fps=fps, n_chunks=n_chunks,
        n_scenes=n_scenes, scenes_per_day=scenes_per_day, objects_per_day=objects_per_day,
        episode_frames=episode_frames, n_categories=n_categories, instances_per_category=instances_per_category,
        motion=motion, object_motion=object_motion, drift=drift, light_drift=light_drift,
        object_presence=object_presence, object_size=object_size, saccade_interval=saccade_interval,
        scene_scale=scene_scale, age_months=(age_lo, age_hi), noise=noise, typicality=typicality,
    )
    source = (f"procedural head-cam (seed={seed}, {n_days} days x {frames_per_day} frames, {S} px, "
              f"{n_scenes} scenes, {objects_per_day} objects/day, {n_categories} categories)")
    return HeadcamFrames(images, timeline, source, meta, settings)


def _sensor_noise(n: int, S: int, noise: float, gen: torch.Generator) -> tuple[torch.Tensor | None, torch.Tensor]:
    """A bank of Gaussian noise fields (``noise`` grey levels; at most ~64 MB) and which one each of ``n``
    frames adds (far cheaper than fresh noise for every frame)."""
    size = int(min(n, _NOISE_BANK, max(16, (1 << 24) // (3 * S * S))))
    bank = torch.randn((size, 3, S, S), generator=gen) * noise if noise > 0 else None
    pick = torch.randint(0, 1 << 30, (n,), generator=gen) % size
    return bank, pick


def _quantise(frames: torch.Tensor, light: torch.Tensor, bank: torch.Tensor | None, pick: torch.Tensor
              ) -> torch.Tensor:
    """float [n, 3, S, S] in [0, 1] times per-frame RGB gain [n, 3], plus noise ``bank[pick]`` -> uint8."""
    out = torch.empty(frames.shape, dtype=torch.uint8)
    step = max(1, _PIXEL_BUDGET // (frames.shape[-1] ** 2))
    for lo in range(0, frames.shape[0], step):
        gain = light[lo : lo + step, :, None, None] * 255.0
        if bank is not None:
            x = torch.addcmul(bank[pick[lo : lo + step]], frames[lo : lo + step], gain)
        else:
            x = frames[lo : lo + step] * gain
        out[lo : lo + step] = x.round_().clamp_(0, 255).to(torch.uint8)
    return out


# =========================================================================================== evaluation set
@dataclass(frozen=True)
class ObjectEvalSet(LabelledImages):
    """``LabelledImages`` plus the instances shown (one per image, all distinct)."""

    train_instances: ObjectInstances | None = None
    test_instances: ObjectInstances | None = None


def make_object_eval_set(
    n_categories: int = 10,
    train_per_class: int = 40,
    test_per_class: int = 20,
    image_size: int = 32,
    seed: int = 0,
    *,
    object_size: tuple[float, float] = (0.5, 0.85),
    position_jitter: float = 0.3,
    n_backgrounds: int = 16,
    scene_scale: float = 3.0,
    light_jitter: float = 1.0,
    noise: float = 1.5,
    typicality: float = DEFAULT_TYPICALITY,
) -> ObjectEvalSet:
    """Labelled read-out set of held-out objects of the stream's categories.

    Every image shows one new instance (``sample_instances`` on its own seed stream) of its class, on a
    random camera window (random zoom and roll) into one of ``n_backgrounds`` fresh dead-leaves canvases,
    at a random position (centre within +-``position_jitter`` of the frame half-side), size (half-side /
    frame half-side uniform in ``object_size``, times the instance's size factor), rotation (uniform) and
    light (a brightness and colour cast like the stream's day-to-day range, scaled by ``light_jitter``).
    ``typicality`` is the share of typical instances (``sample_instances``); give the stream's value.
    Images are class-major: class 0's images first.
    """
    n_categories = _int_arg("n_categories", n_categories, 2, MAX_CATEGORIES)
    train_per_class = _int_arg("train_per_class", train_per_class, 1)
    test_per_class = _int_arg("test_per_class", test_per_class, 1)
    image_size = _int_arg("image_size", image_size, MIN_IMAGE_SIZE)
    seed = _int_arg("seed", seed, 0)
    object_size = _range_arg("object_size", object_size, 0.0, 1.0, lo_open=True)
    position_jitter = _float_arg("position_jitter", position_jitter, 0.0, 1.0)
    n_backgrounds = _int_arg("n_backgrounds", n_backgrounds, 1)
    scene_scale = _float_arg("scene_scale", scene_scale, 2.0, 8.0)
    light_jitter = _float_arg("light_jitter", light_jitter, 0.0)
    noise = _float_arg("noise", noise, 0.0)
    typicality = _float_arg("typicality", typicality, 0.0, 1.0)
    S = image_size
    per_class = train_per_class + test_per_class
    labels = torch.arange(n_categories).repeat_interleave(per_class)
    n = int(labels.shape[0])
    instances = sample_instances(labels, _generator(seed, STREAM_EVAL_INSTANCES), typicality)
    sprites = render_sprites(instances, _sprite_resolution(S, object_size[1] * 1.15))

    g = _generator(seed, STREAM_EVAL_RENDERS)
    canvases = _make_canvases(n_backgrounds, int(round(scene_scale * S)), g)
    scene = torch.randint(0, n_backgrounds, (n,), generator=g)
    half = torch.exp(_u(n, g, -_ZOOM_LIMIT, _ZOOM_LIMIT)) / scene_scale
    roll = _u(n, g, -_ROLL_LIMIT, _ROLL_LIMIT)
    c, s = torch.cos(roll), torch.sin(roll)
    reach = 1.0 - half * (c.abs() + s.abs()) - 1e-3
    centre = _u((2, n), g, -1.0, 1.0) * reach
    theta = torch.stack([torch.stack([half * c, -half * s, centre[0]], 1),
                         torch.stack([half * s, half * c, centre[1]], 1)], 1)
    frames = _view_canvases(canvases, scene, theta, S)
    cx, cy = _u(n, g, -position_jitter, position_jitter), _u(n, g, -position_jitter, position_jitter)
    obj_half = _u(n, g, *object_size) * instances.size
    angle = _u(n, g, 0.0, 2 * math.pi)
    _composite(frames, torch.arange(n), sprites, torch.arange(n), cx, cy, obj_half, angle)
    z = torch.randn((n, 4), generator=g)
    light = torch.exp(light_jitter * (0.15 * z[:, :1] + 0.06 * z[:, 1:]))
    bank, pick = _sensor_noise(n, S, noise, g)
    images = _quantise(frames, light, bank, pick)

    in_train = (torch.arange(n) % per_class) < train_per_class
    tr, te = torch.nonzero(in_train).view(-1), torch.nonzero(~in_train).view(-1)
    return ObjectEvalSet(
        train_images=images[tr],
        train_labels=labels[tr].numpy(),
        test_images=images[te],
        test_labels=labels[te].numpy(),
        class_names=CATEGORY_NAMES[:n_categories],
        source=(f"procedural head-cam objects (seed={seed}, {n_categories} classes, {train_per_class}+"
                f"{test_per_class} per class, {S} px)"),
        train_instances=instances.select(tr),
        test_instances=instances.select(te),
    )
