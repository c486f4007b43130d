"""A parameterised, shaded face-like renderer, vectorised in torch.

Identities
    An identity is a vector of ``N_PARAMS`` z-scores (see ``PARAM_NAMES``) drawn from a seeded
    standard normal, clipped to +-2.5 and multiplied by ``identity_spread``. Every face shares one
    template (the mean face, z = 0); an identity moves each feature away from the mean by
    ``mean + sd * z`` (``_PARAM_MEAN_SD``). With ``identity_spread`` = 0 all identities are the mean face;
    at 1 neighbouring identities differ clearly in several features at once. Values between make
    identities distinct but confusable (same template, a few subtle differences), which is what the
    2-AFC face task needs.

Renders
    Faces are evaluated analytically on the pixel grid: each part (head, ears, neck, hair, eyes,
    irises, brows, nose, nostrils, lips, cheeks) is an implicit shape with an approximate signed
    distance; its coverage of a pixel is a linear ramp one pixel wide (analytic anti-aliasing), and
    ``supersample`` x ``supersample`` sub-pixel samples per pixel are averaged on top. The head is
    shaded as an ellipsoid (Lambert, directional light plus ambient) with a nose bump in the normal
    field, eye-socket and under-chin shadows, skin and hair-strand texture. The renderer returns
    premultiplied RGB and an alpha mask, so a face can be composited on any background.

    Per-render nuisance (``FacePlacement``): position (sub-pixel), face height, in-plane rotation
    (roll), small head turns (yaw and pitch: inner features shift against the head outline) and the
    light direction and strength.

Geometry: local coordinates (u right, v down) in units of the head's half-height; the head ellipse is
centred at the origin; the face box (hair top to chin) spans about ``FACE_BOX_UNITS`` units and is
centred at v = ``FACE_BOX_CENTRE_V``. ``FacePlacement.height`` is that box height in output pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "PARAM_NAMES",
    "N_PARAMS",
    "FACE_BOX_UNITS",
    "FacePlacement",
    "sample_identities",
    "canonical_placement",
    "random_placement",
    "render_faces",
    "composite_faces",
]

# name: (mean, sd) of the physical value; z-scores of an identity map to mean + sd * z
_PARAM_MEAN_SD: dict[str, tuple[float, float]] = {
    "head_width": (0.76, 0.07),  # half-width of the head ellipse
    "head_length": (1.0, 0.05),  # half-height (the unit; varies a little)
    "jaw_taper": (0.3, 0.12),  # narrowing of the lower face towards the chin
    "skin_lightness": (0.0, 1.0),
    "skin_warmth": (0.0, 1.0),
    "hair_lightness": (0.0, 1.0),
    "hair_redness": (0.0, 1.0),
    "hair_volume": (0.15, 0.07),  # thickness of the hair above the skull
    "hairline": (-0.5, 0.11),  # v of the hairline at the midline
    "hair_length": (-0.15, 0.30),  # how far the hair falls behind the head (v)
    "hair_part": (0.0, 0.18),  # skew of the hairline (side parting)
    "eye_spacing": (0.3, 0.035),  # half the distance between the eyes
    "eye_height": (-0.05, 0.05),
    "eye_size": (1.0, 0.15),
    "iris_colour": (0.0, 1.0),
    "brow_gap": (0.15, 0.035),
    "brow_thickness": (0.045, 0.016),
    "brow_tilt": (0.0, 0.15),
    "nose_length": (0.33, 0.06),  # v of the nose tip
    "nose_width": (0.1, 0.025),
    "mouth_height": (0.58, 0.05),
    "mouth_width": (0.22, 0.045),
    "lip_thickness": (0.045, 0.016),
    "smile": (0.012, 0.04),
    "lip_redness": (0.0, 1.0),
    "ear_size": (1.0, 0.18),
    "cheek_blush": (0.0, 1.0),
    "skin_texture": (0.0, 1.0),
}
PARAM_NAMES: tuple[str, ...] = tuple(_PARAM_MEAN_SD)
N_PARAMS = len(PARAM_NAMES)

FACE_BOX_UNITS = 2.3  # hair top (about -1.25) to chin (+1.0) plus a margin, in head half-heights
FACE_BOX_CENTRE_V = -0.12
_WINDOW_PER_HEIGHT = 1.35  # render window side / face height: covers ears, hair, neck and roll

_EYE_WHITE = torch.tensor([0.92, 0.90, 0.87]).view(1, 3, 1, 1)
_PUPIL = torch.full((1, 3, 1, 1), 0.05)
_GLINT = torch.full((1, 3, 1, 1), 0.95)
_BLUSH = torch.tensor([0.07, -0.03, -0.03]).view(1, 3, 1, 1)
# the inner face (eyes, brows, nose, mouth) lies within these local bounds (u: +-, v: min, max),
# extended by the head turn: see _inner_block
_INNER_U, _INNER_V0, _INNER_V1 = 0.68, -0.66, 0.90

_IRIS_PALETTE = torch.tensor(
    [[0.22, 0.12, 0.06], [0.38, 0.22, 0.10], [0.45, 0.38, 0.18], [0.30, 0.45, 0.32], [0.32, 0.48, 0.68]]
)


def sample_identities(n: int, generator: torch.Generator, spread: float = 1.0, clip: float = 2.5) -> torch.Tensor:
    """``n`` identity parameter vectors, float [n, N_PARAMS]: spread * clip(N(0, 1), +-clip)."""
    if not 0.0 <= spread:
        raise ValueError(f"identity spread must be >= 0, got {spread}")
    z = torch.randn((n, N_PARAMS), generator=generator).clamp_(-clip, clip)
    return z * float(spread)


@dataclass(frozen=True)
class FacePlacement:
    """Per-render placement and nuisance; every field is a float tensor [B].

    cx, cy:    centre of the face box in output pixels (x right, y down; pixel centres at i + 0.5).
    height:    face-box height (hair top to chin) in output pixels.
    roll:      in-plane rotation, radians (positive = clockwise on screen).
    yaw:       head turn left/right (about +-0.3 is a small turn); shifts inner features.
    pitch:     head tilt up/down (same scale).
    light_az:  direction the light comes from, in the image plane, radians (0 = from the right,
               -pi/2 = from above).
    light_el:  angle of the light from the viewing axis, radians (0 = frontal).
    light_gain: brightness multiplier.
    """

    cx: torch.Tensor
    cy: torch.Tensor
    height: torch.Tensor
    roll: torch.Tensor
    yaw: torch.Tensor
    pitch: torch.Tensor
    light_az: torch.Tensor
    light_el: torch.Tensor
    light_gain: torch.Tensor

    def __len__(self) -> int:
        return int(self.cx.shape[0])

    def select(self, idx: torch.Tensor) -> "FacePlacement":
        return FacePlacement(**{k: getattr(self, k)[idx] for k in self.__dataclass_fields__})


_DEFAULT_LIGHT_AZ = -2.2  # from the upper left
_DEFAULT_LIGHT_EL = 0.75


def canonical_placement(n: int, size: int, height_frac: float) -> FacePlacement:
    """Centred, frontal, default light: the pose of the clean choice and exposure images."""
    full = lambda v: torch.full((n,), float(v))  # noqa: E731
    return FacePlacement(
        cx=full(size / 2), cy=full(size / 2), height=full(height_frac * size), roll=full(0.0), yaw=full(0.0),
        pitch=full(0.0), light_az=full(_DEFAULT_LIGHT_AZ), light_el=full(_DEFAULT_LIGHT_EL), light_gain=full(1.0),
    )


def random_placement(
    n: int,
    size: int,
    generator: torch.Generator,
    height_frac: float | torch.Tensor,
    *,
    position_jitter: float = 0.5,
    size_jitter: float = 0.06,
    pose_jitter: float = 1.0,
    light_jitter: float = 1.0,
) -> FacePlacement:
    """Random nuisance around ``canonical_placement``.

    height_frac:     face-box height / image size (scalar or [n]), before size jitter.
    position_jitter: the face centre moves uniformly within +-position_jitter of the free margin
                     ((1 - height) * size / 2 on each side), so at <= 1 the face box stays inside.
    size_jitter:     relative height change, uniform in +-size_jitter.
    pose_jitter:     scales roll (+-0.15 rad), yaw (+-0.3) and pitch (+-0.2), uniform.
    light_jitter:    scales light azimuth (+-0.8 rad), elevation (+-0.25 rad), gain (+-12 %).
    """

    def u(scale: float) -> torch.Tensor:
        return (torch.rand((n,), generator=generator) * 2 - 1) * scale

    h = torch.as_tensor(height_frac, dtype=torch.float32).expand(n).clone()
    h = h * (1 + u(size_jitter))
    margin = (1 - h).clamp_min(0) * size / 2
    return FacePlacement(
        cx=size / 2 + u(1.0) * position_jitter * margin,
        cy=size / 2 + u(1.0) * position_jitter * margin,
        height=h * size,
        roll=u(0.15 * pose_jitter),
        yaw=u(0.3 * pose_jitter),
        pitch=u(0.2 * pose_jitter),
        light_az=_DEFAULT_LIGHT_AZ + u(0.8 * light_jitter),
        light_el=_DEFAULT_LIGHT_EL + u(0.25 * light_jitter),
        light_gain=1 + u(0.12 * light_jitter),
    )


# ---------------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------------


def _physical(identities: torch.Tensor) -> dict[str, torch.Tensor]:
    """Physical parameter values, each [B, 1, 1]."""
    if identities.ndim != 2 or identities.shape[1] != N_PARAMS:
        raise ValueError(f"identities must be [B, {N_PARAMS}], got {tuple(identities.shape)}")
    out = {}
    for i, (name, (mean, sd)) in enumerate(_PARAM_MEAN_SD.items()):
        out[name] = (mean + sd * identities[:, i].float()).view(-1, 1, 1)
    return out


def _colours(p: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-identity colours, each [B, 3, 1, 1] in [0, 1]."""
    b = p["skin_lightness"].shape[0]

    def rgb(*c: float) -> torch.Tensor:
        return torch.tensor(c).view(1, 3, 1, 1)

    def z(name: str) -> torch.Tensor:
        return p[name].view(b, 1, 1, 1)

    tone = (0.3 + 0.14 * z("skin_lightness")).clamp(0, 1)  # light (0) .. dark (1) along a natural axis
    skin = rgb(0.93, 0.76, 0.64) * (1 - tone) + rgb(0.52, 0.34, 0.24) * tone
    skin = skin + rgb(0.025, 0.004, -0.03) * z("skin_warmth").clamp(-2, 2)
    t = torch.sigmoid(0.9 * z("hair_lightness") - 0.6)
    hair = rgb(0.13, 0.09, 0.07) * (1 - t) + rgb(0.74, 0.58, 0.36) * t
    hair = hair + rgb(0.16, -0.01, -0.06) * torch.sigmoid(1.6 * z("hair_redness") - 1.6)
    pos = (0.45 + 0.22 * p["iris_colour"].view(b)).clamp(0, 1) * (len(_IRIS_PALETTE) - 1)
    i0 = pos.floor().long().clamp_max(len(_IRIS_PALETTE) - 2)
    f = (pos - i0).view(b, 1)
    iris = (_IRIS_PALETTE[i0] * (1 - f) + _IRIS_PALETTE[i0 + 1] * f).view(b, 3, 1, 1)
    lip_t = torch.sigmoid(0.8 * z("lip_redness"))
    lips = skin * (0.88 - 0.1 * lip_t) + rgb(0.10, -0.06, -0.04) * (0.5 + lip_t)
    return {
        "skin": skin.clamp(0, 1),
        "hair": hair.clamp(0, 1),
        "brow": (hair * 0.55 + rgb(0.05, 0.04, 0.03)).clamp(0, 1),
        "iris": iris,
        "lips": lips.clamp(0, 1),
    }


def _ellipse_sd(x: torch.Tensor, y: torch.Tensor, a, b) -> torch.Tensor:
    """Approximate signed distance to the ellipse (x/a)^2 + (y/b)^2 = 1 (first-order, f / |grad f|)."""
    xa, yb = x / a, y / b
    f = xa * xa + yb * yb - 1
    g = 2 * torch.sqrt((xa / a) ** 2 + (yb / b) ** 2).clamp_min(1e-4)
    return f / g


def _cov(sd: torch.Tensor, pw) -> torch.Tensor:
    """Coverage of a pixel of width pw by the shape {sd < 0}: a linear ramp one pixel wide."""
    return (0.5 - sd / pw).clamp_(0.0, 1.0)


def _gauss(x: torch.Tensor, y: torch.Tensor, sx, sy) -> torch.Tensor:
    return torch.exp(-((x / sx) ** 2) - (y / sy) ** 2)


def _over(rgb: torch.Tensor, alpha: torch.Tensor, col: torch.Tensor, a: torch.Tensor):
    """Premultiplied 'over': layer (col, a) on top of (rgb, alpha); col [B,3,H,W] or [B,3,1,1]."""
    a = a.unsqueeze(1)
    return rgb * (1 - a) + col * a, alpha * (1 - a) + a


def _paint(rgb: torch.Tensor, col: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Paint on the face without changing its alpha (rgb premultiplied by the face alpha below)."""
    a = a.unsqueeze(1)
    return rgb * (1 - a) + col * a


def _render_local(
    ids: torch.Tensor,
    pl: FacePlacement,
    u: torch.Tensor,
    v: torch.Tensor,
    pw: torch.Tensor,
    inner: tuple[slice, slice] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render faces at local coordinates u, v [B, H, W]; pw [B, 1, 1] = sample spacing in local units.

    inner: (row slice, column slice) of the grid that contains the inner face (eyes, brows, nose,
    mouth) of every face in the batch (see ``_inner_block``); those parts are evaluated there only.
    Returns premultiplied rgb [B, 3, H, W] and alpha [B, 1, H, W]."""
    B, H, W = u.shape
    u_full, v_full = u, v
    p = _physical(ids)
    c = _colours(p)
    yaw, pitch = pl.yaw.view(B, 1, 1), pl.pitch.view(B, 1, 1)
    sgn = torch.where(u >= 0, 1.0, -1.0)  # side of the face (ears here, eyes and brows below)

    # ---- lighting -------------------------------------------------------------------------------
    az, el = pl.light_az.view(B, 1, 1), pl.light_el.view(B, 1, 1)
    lx, ly, lz = torch.sin(el) * torch.cos(az), torch.sin(el) * torch.sin(az), torch.cos(el)
    gain = pl.light_gain.view(B, 1, 1)

    def lambert(nx, ny, nz, ambient=0.42):
        inv = torch.rsqrt(nx * nx + ny * ny + nz * nz + 1e-6)
        d = ((nx * lx + ny * ly + nz * lz) * inv).clamp_min(0)
        return gain * (ambient + (1 - ambient) * d)

    # ---- head shape -----------------------------------------------------------------------------
    a, b = p["head_width"], p["head_length"]
    vb = v / b
    a_eff = a * (1 - p["jaw_taper"] * vb.clamp(0, 1.2) ** 2)
    head_sd = _ellipse_sd(u, v, a_eff, b)
    head_a = _cov(head_sd, pw)

    # ---- hair outer volume (shared by back hair and the front cap) -------------------------------
    vol = p["hair_volume"]
    ha, hb, hcy = a + 0.035 + 0.2 * vol, b + 0.75 * vol, -0.6 * vol
    hair_outer_sd = _ellipse_sd(u, v - hcy, ha, hb)
    # back hair: the outer volume extended down behind the head to hair_length, rounded at the bottom
    hl = p["hair_length"].clamp(-0.3, 1.0)
    side_sd = torch.maximum(u.abs() - ha * 0.97, -v)  # a box below the skull's equator
    bottom_sd = v - hl - 0.12 * (u / ha) ** 2  # where the hair ends
    back_sd = torch.maximum(torch.minimum(hair_outer_sd, side_sd), bottom_sd)
    back_a = _cov(back_sd, pw)

    # hair shading and texture: ellipsoid normal + strands radiating from the crown
    hnx, hny = u / ha, (v - hcy) / hb
    hnz = (1 - hnx * hnx - hny * hny).clamp_min(0.05).sqrt()
    part_u = p["hair_part"] * 1.5 + yaw * 0.3
    strands = torch.sin(38 * torch.atan2(u - part_u, v + 1.3) + 3 * v)
    hair_shade = lambert(hnx, hny, hnz, 0.5) * (1 + 0.10 * strands)
    sheen = 0.10 * _gauss(hnx + 0.25, hny + 0.55, 0.35, 0.18)
    hair_col = c["hair"] * hair_shade.unsqueeze(1) + sheen.unsqueeze(1)

    rgb = hair_col * back_a.unsqueeze(1) * 0.85  # back hair is a little in shadow
    alpha = back_a.unsqueeze(1)

    # ---- ears -----------------------------------------------------------------------------------
    ear_u = (a * 0.96 - yaw * 0.12) * sgn
    ear_v = -0.02 + pitch * 0.1
    es = p["ear_size"]
    ear_sd = _ellipse_sd(u - ear_u, v - ear_v, 0.11 * es, 0.20 * es)
    concha = _gauss(u - ear_u * 1.02, v - ear_v, 0.05 * es, 0.11 * es)
    ear_col = c["skin"] * (0.86 * gain * (1 - 0.25 * concha)).unsqueeze(1)
    rgb, alpha = _over(rgb, alpha, ear_col, _cov(ear_sd, pw))

    # ---- neck (short, in the chin's shadow, fading out) -------------------------------------------
    nw = a * 0.47
    neck_a = _cov(u.abs() - nw, pw) * ((1.22 - v) / 0.22).clamp(0, 1) * (v > 0.2)
    neck_col = c["skin"] * (0.70 * gain * (1 - 0.3 * _gauss(u, v - 1.0, 0.5, 0.25))).unsqueeze(1)
    rgb, alpha = _over(rgb, alpha, neck_col, neck_a)

    # ---- skin: ellipsoid shading, texture -------------------------------------------------------
    n_nx, n_ny = u / a_eff, vb
    nz = (1 - n_nx * n_nx - n_ny * n_ny).clamp_min(0.03).sqrt() * 1.1
    tex = torch.sin(u * 41 + v * 17) + torch.sin(u * 13 - v * 43 + 1.3)
    tex = 1 + (0.007 + 0.004 * p["skin_texture"].clamp(-1.5, 1.5)) * tex
    skin_col = c["skin"] * (lambert(n_nx, n_ny, nz) * tex).unsqueeze(1)

    # ---- the inner face (nose, eyes, brows, mouth) is evaluated only inside the block ``inner`` ----
    rs, cs = inner if inner is not None else (slice(None), slice(None))
    u, v, pw_ = u[:, rs, cs], v[:, rs, cs], pw
    sgn = torch.where(u >= 0, 1.0, -1.0)
    head_in = head_a[:, rs, cs]
    fx = u - yaw * 0.22  # inner features shift with the head turn
    fv = v - pitch * 0.18
    n_nx, n_ny, nz = n_nx[:, rs, cs], n_ny[:, rs, cs], nz[:, rs, cs]
    nose_tip = p["nose_length"]
    nosew = p["nose_width"]
    nose_mid = (p["eye_height"] + nose_tip) / 2 + 0.03
    nose_len = (nose_tip - p["eye_height"]) / 2 + 0.02
    nx_ = fx - yaw * 0.08
    bump = _gauss(nx_, fv - nose_mid, nosew * 0.75, nose_len) * 0.9
    tipb = _gauss(nx_, fv - nose_tip + 0.03, nosew * 0.9, 0.07) * 0.6
    dhdx = -2 * nx_ * (bump / (nosew * 0.75) ** 2 + tipb / (nosew * 0.9) ** 2)
    dhdy = -2 * ((fv - nose_mid) * bump / nose_len**2 + (fv - nose_tip + 0.03) * tipb / 0.07**2)
    k = 0.06
    shade = lambert(n_nx - k * dhdx, n_ny - k * dhdy, nz) * tex[:, rs, cs]
    # eye sockets, under-nose and under-lip shadows, cheek blush
    ex, ey = p["eye_spacing"], p["eye_height"]
    socket = _gauss(fx.abs() - ex, fv - ey + 0.03, 0.17, 0.11)
    shade = shade * (1 - 0.16 * socket) * (1 - 0.18 * _gauss(nx_, fv - nose_tip - 0.05, nosew * 1.1, 0.035))
    shade = shade * (1 - 0.12 * _gauss(fx, fv - p["mouth_height"] - 0.1, 0.12, 0.035))
    blush = _gauss(fx.abs() - 0.36, fv - 0.27, 0.15, 0.11) * (0.5 + 0.35 * p["cheek_blush"]).clamp(0, 1.2)
    skin_col[:, :, rs, cs] = c["skin"] * shade.unsqueeze(1) + _BLUSH * blush.unsqueeze(1)
    rgb, alpha = _over(rgb, alpha, skin_col, head_a)
    full_rgb, rgb = rgb, rgb[:, :, rs, cs]

    # ---- nostrils -------------------------------------------------------------------------------
    nost_sd = _ellipse_sd(nx_.abs() - nosew * 0.42, fv - nose_tip - 0.01, 0.035, 0.02)
    rgb = _paint(rgb, c["skin"] * 0.35, _cov(nost_sd, pw_) * 0.8 * head_in)

    # ---- eyes -----------------------------------------------------------------------------------
    es_ = p["eye_size"]
    eu = fx.abs() - ex - yaw * 0.03 * sgn
    evv = fv - ey
    ew, eh = 0.145 * es_, 0.062 * es_
    white_sd = _ellipse_sd(eu, evv + 0.15 * eu * eu / ew, ew, eh)  # almond-ish
    white_a = _cov(white_sd, pw_)
    rgb = _paint(rgb, _EYE_WHITE * gain.unsqueeze(1), white_a)
    ir = 0.058 * es_
    er = torch.sqrt(eu * eu + evv * evv)
    rgb = _paint(rgb, c["iris"] * gain.unsqueeze(1), _cov(er - ir, pw_) * white_a)
    rgb = _paint(rgb, _PUPIL, _cov(er - ir * 0.45, pw_) * white_a)
    glint = _cov(torch.sqrt((eu + 0.02) ** 2 + (evv + 0.02) ** 2) - ir * 0.22, pw_) * white_a
    rgb = _paint(rgb, _GLINT, glint * 0.8)
    lid_a = _cov((white_sd + 0.003).abs() - 0.012, pw_) * (evv < 0.01) * head_in
    rgb = _paint(rgb, c["skin"] * 0.25, lid_a * 0.85)

    # ---- brows ----------------------------------------------------------------------------------
    tilt = p["brow_tilt"]
    bu = fx.abs() - ex - 0.015
    bv = fv - (ey - p["brow_gap"] - eh) + 0.55 * bu * bu + tilt * bu
    brow_sd = _ellipse_sd(bu, bv, 0.17 * (0.9 + 0.1 * es_), p["brow_thickness"])
    rgb = _paint(rgb, c["brow"] * gain.unsqueeze(1), _cov(brow_sd, pw_) * 0.9 * head_in)

    # ---- mouth ----------------------------------------------------------------------------------
    mu = fx - yaw * 0.02
    mv = fv - p["mouth_height"]
    mw, lt = p["mouth_width"], p["lip_thickness"]
    line_v = -p["smile"] * (mu / mw) ** 2 * 2.5 + p["smile"]
    upper_sd = torch.maximum(_ellipse_sd(mu, mv - line_v, mw, lt * 0.95), mv - line_v)
    lower_sd = torch.maximum(_ellipse_sd(mu, mv - line_v, mw * 0.82, lt * 1.3), line_v - mv)
    lips_a = _cov(torch.minimum(upper_sd, lower_sd), pw_)
    lip_shade = (1 + 0.18 * (mv - line_v).clamp(-lt, lt) / lt) * gain  # lower lip catches more light
    rgb = _paint(rgb, c["lips"] * lip_shade.unsqueeze(1), lips_a * head_in)
    line_a = _cov((mv - line_v).abs() - 0.008, pw_) * _cov(mu.abs() - mw * 0.97, pw_)
    rgb = _paint(rgb, c["lips"] * 0.3, line_a * head_in)
    full_rgb[:, :, rs, cs] = rgb
    rgb = full_rgb
    u, v = u_full, v_full

    # ---- front hair: the outer volume above the hairline ------------------------------------------
    hline = p["hairline"] + 0.50 * (u - part_u * 0.3) ** 2 + p["hair_part"] * (u - part_u) + 0.012 * torch.sin(u * 45)
    cap_sd = torch.maximum(hair_outer_sd, v - hline)
    # temples: hair reaches down to the ears at the sides
    temple_sd = torch.maximum(hair_outer_sd, torch.maximum(a_eff * 0.9 - u.abs(), v + 0.05))
    front_a = _cov(torch.minimum(cap_sd, temple_sd), pw)
    fringe = 1 - 0.25 * _gauss(torch.zeros_like(v), v - hline, 1.0, 0.06)  # shadow at the hairline
    rgb, alpha = _over(rgb, alpha, hair_col * fringe.unsqueeze(1), front_a)
    return rgb, alpha


def _local_grid(pl: FacePlacement, x0: torch.Tensor, y0: torch.Tensor, w: int, ss: int):
    """Local face coordinates of the ss x ss sub-pixel samples of a w x w window at (x0, y0)."""
    B = len(pl)
    offs = (torch.arange(w * ss, dtype=torch.float32) + 0.5) / ss  # sub-pixel sample positions
    xs = x0.view(B, 1).float() + offs  # [B, w*ss]
    ys = y0.view(B, 1).float() + offs
    unit = (pl.height / FACE_BOX_UNITS).view(B, 1, 1)  # pixels per local unit
    dx = (xs - pl.cx.view(B, 1)).view(B, 1, -1)
    dy = (ys - pl.cy.view(B, 1)).view(B, -1, 1)
    cr, sr = torch.cos(pl.roll).view(B, 1, 1), torch.sin(pl.roll).view(B, 1, 1)
    u = (cr * dx + sr * dy) / unit
    v = (-sr * dx + cr * dy) / unit + FACE_BOX_CENTRE_V
    pw = 1.0 / (unit * ss)
    return u, v, pw


def _inner_block(pl: FacePlacement, x0: torch.Tensor, y0: torch.Tensor, w: int, ss: int) -> tuple[slice, slice]:
    """The smallest block of the sample grid (common to the batch) that holds every inner face."""
    B = len(pl)
    du = _INNER_U + 0.3 * float(pl.yaw.abs().max())
    dp = 0.2 * float(pl.pitch.abs().max())
    cu = torch.tensor([-du, du, -du, du]).view(1, 4)
    cv = torch.tensor([_INNER_V0 - dp, _INNER_V0 - dp, _INNER_V1 + dp, _INNER_V1 + dp]).view(1, 4) - FACE_BOX_CENTRE_V
    unit = (pl.height / FACE_BOX_UNITS).view(B, 1)
    cr, sr = torch.cos(pl.roll).view(B, 1), torch.sin(pl.roll).view(B, 1)
    px = (pl.cx.view(B, 1) - x0.view(B, 1)) + unit * (cr * cu - sr * cv)  # window pixel coords
    py = (pl.cy.view(B, 1) - y0.view(B, 1)) + unit * (sr * cu + cr * cv)
    n = w * ss
    c0 = max(0, int(math.floor(float(px.min()) * ss)) - 1)
    c1 = min(n, int(math.ceil(float(px.max()) * ss)) + 1)
    r0 = max(0, int(math.floor(float(py.min()) * ss)) - 1)
    r1 = min(n, int(math.ceil(float(py.max()) * ss)) + 1)
    if c1 <= c0 or r1 <= r0:  # the inner face lies outside the window: evaluate a dummy 1x1 block
        return slice(0, 1), slice(0, 1)
    return slice(r0, r1), slice(c0, c1)


def _render_window(ids: torch.Tensor, pl: FacePlacement, x0: torch.Tensor, y0: torch.Tensor, w: int, ss: int):
    u, v, pw = _local_grid(pl, x0, y0, w, ss)
    rgb, alpha = _render_local(ids, pl, u, v, pw, _inner_block(pl, x0, y0, w, ss))
    if ss > 1:
        rgb = torch.nn.functional.avg_pool2d(rgb, ss)
        alpha = torch.nn.functional.avg_pool2d(alpha, ss)
    return rgb.clamp_(0, 1), alpha.clamp_(0, 1)


def render_faces(
    identities: torch.Tensor, placement: FacePlacement, size: int, *, supersample: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render faces on a full ``size`` x ``size`` canvas.

    Returns premultiplied rgb float [B, 3, size, size] and alpha float [B, 1, size, size], in [0, 1].
    (For many faces on backgrounds use ``composite_faces``, which only renders a window per face.)
    """
    zero = torch.zeros(identities.shape[0], dtype=torch.long)
    return _render_window(identities, placement, zero, zero, size, supersample)


def composite_faces(
    backgrounds: torch.Tensor,
    identities: torch.Tensor,
    placement: FacePlacement,
    *,
    supersample: int = 2,
    samples_per_chunk: int = 1 << 18,
) -> torch.Tensor:
    """Composite one face per background: uint8 [B, 3, S, S] out, ``backgrounds`` is not modified.

    Each face is rendered only inside a square window centred on it (side ~1.35 x face height,
    at most the image), in chunks of similar face size, then alpha-composited onto its background;
    window pixels outside the image are dropped.
    """
    if backgrounds.dtype != torch.uint8 or backgrounds.ndim != 4 or backgrounds.shape[1] != 3:
        raise ValueError(f"backgrounds must be uint8 [B, 3, S, S], got {backgrounds.dtype} {tuple(backgrounds.shape)}")
    B, _, size, _ = backgrounds.shape
    if identities.shape[0] != B or len(placement) != B:
        raise ValueError(
            f"need one identity and one placement per background ({B}), got {identities.shape[0]} and {len(placement)}"
        )
    # one spare pixel per image receives every window pixel that falls outside the image
    flat = torch.cat([backgrounds.reshape(B, 3, size * size), torch.zeros((B, 3, 1), dtype=torch.uint8)], dim=2)
    order = torch.argsort(placement.height, stable=True)
    heights = placement.height[order]
    start = 0
    while start < B:
        # chunks of similar face size, each about ``samples_per_chunk`` samples (cache-friendly)
        def side(i: int) -> int:
            return min(size, int(math.ceil(float(heights[i]) * _WINDOW_PER_HEIGHT)) + 2)

        stop = min(B, start + max(8, samples_per_chunk // (side(start) * supersample) ** 2))
        stop = min(stop, start + max(8, samples_per_chunk // (side(stop - 1) * supersample) ** 2))
        idx = order[start:stop]
        start = stop
        pl = placement.select(idx)
        m = len(idx)
        w = min(size, int(math.ceil(float(pl.height.max()) * _WINDOW_PER_HEIGHT)) + 2)
        x0 = torch.floor(pl.cx - w / 2).long()
        y0 = torch.floor(pl.cy - w / 2).long()
        rgb, alpha = _render_window(identities[idx], pl, x0, y0, w, supersample)
        ar = torch.arange(w)
        xs, ys = x0[:, None] + ar, y0[:, None] + ar  # [m, w]
        ok = ((ys >= 0) & (ys < size))[:, :, None] & ((xs >= 0) & (xs < size))[:, None, :]
        lin = torch.where(ok, ys[:, :, None] * size + xs[:, None, :], size * size)
        lin = lin.view(m, 1, w * w).expand(m, 3, w * w)
        sub = flat[idx]
        bg = torch.gather(sub, 2, lin).float() / 255.0
        comp = rgb.reshape(m, 3, -1) + bg * (1 - alpha.reshape(m, 1, -1))
        sub.scatter_(2, lin, (comp * 255.0).round_().clamp_(0, 255).to(torch.uint8))
        flat[idx] = sub
    return flat[:, :, : size * size].reshape(B, 3, size, size).contiguous()
