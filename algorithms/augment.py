"""Batched augmentation recipes of spec algorithms.md §15, on image tensors on the training device.

Input: images [B, 3, H, W], float in [0, 1] (uint8 is accepted and divided by 255). Output: ImageNet-normalised
float32 [B, 3, size, size]. Every recipe is an ``nn.Module`` built from plain config values, with
``forward(images)`` (one view) and ``forward_pair(v1, v2) -> (a1, a2)`` (both views independently, except in
``MAESameCropAugment``, which shares the geometry). ``TwoViewAugment`` pairs two recipes for asymmetric views
(BYOL view 1 / view 2, DINO's two crops).

Geometry (random resized crop, ResizeCenterPad of ``geometry.py``, horizontal flip) is done here, batched, as one
separable resampling per view (``resample.py``): each image's geometric transform is a [size, H] row matrix and a [size, W] column matrix,
so ``out = Wy @ x @ Wx^T`` (two batched matmuls for the whole batch). The matrices hold the filter weights of
``F.interpolate(..., antialias=True, align_corners=False)`` (PIL-style: triangle / Keys a = -0.5 cubic filters,
widened when downscaling), so a crop is resampled exactly as torchvision resizes a crop on a tensor, with
antialiasing when downscaling; the crop, the ResizeCenterPad resize and the flip compose by matrix products.
(kornia's batched ``RandomResizedCrop`` maps corner pixel centres to corner pixel centres, not half-pixel, and its
torchvision-exact "slice" mode loops over the images in Python, hence this.)

Normalisation and the read-out transform are in ``normalize.py``. Photometric steps (``photometric.py``: ColorJitter with torchvision's formulas, RandomGrayscale, RandomGaussianBlur
with a per-image sigma, RandomSolarize) run on the whole batch; ``forward_pair`` augments both views in one call
when they do not share their geometry. Every random parameter is drawn per image, the colour-jitter order
included. Differences from the per-image torchvision pipelines: the
horizontal flip sits in the geometric stage for every recipe (MoCo v2 flips last: equivalent, because every
photometric step here commutes with a horizontal flip).

All randomness is drawn on the CPU from ``generator`` (every entry point takes one; None: torch's global RNG), so a
seeded generator, or ``torch.manual_seed``, makes the views reproducible on any device, and views made with their
own generator do not depend on what else runs (a loader worker, a background thread, the model's own draws).
"""
from __future__ import annotations

import inspect
from typing import Sequence

import torch
from torch import nn

from .geometry import Geometry, ResizeCenterPad
from .normalize import Normalize, to_unit_float
from .photometric import ColorJitter, RandomGaussianBlur, RandomGrayscale, RandomSolarize, gaussian_kernel_size
from .photometric import uniforms as draw_uniforms
from .resample import CROP_ATTEMPTS, FILTERS, place, resample, resample_weights, sample_crop_boxes


# ----------------------------------------------------------------------------------------------------------------
# helpers


def _pair(values: Sequence[float], name: str) -> tuple[float, float]:
    values = tuple(float(v) for v in values)
    if len(values) != 2 or values[0] > values[1]:
        raise ValueError(f"{name} must be a (low, high) pair with low <= high, got {values}")
    return values


# ----------------------------------------------------------------------------------------------------------------
# recipes


class ViewAugment(nn.Module):
    """Generic view augmentation: crop -> [ResizeCenterPad] -> [flip] -> [jitter] -> [gray] -> [blur] -> [solarise]
    -> normalise. The named recipes below are this class with the spec's settings.

    Args:
        size: output edge (square).
        scale, ratio: RandomResizedCrop area fraction and aspect-ratio ranges.
        interpolation: "bilinear" or "bicubic" for the crop resize.
        flip_p: horizontal flip probability.
        jitter, jitter_p: ColorJitter (brightness, contrast, saturation, hue) strengths and probability.
        gray_p: RandomGrayscale probability.
        blur_p, blur_sigma, blur_kernel_size: Gaussian blur probability, sigma range in pixels, kernel size
            (None: ``gaussian_kernel_size(max sigma, size)``).
        solarize_p: solarisation probability (threshold 0.5, i.e. 128 of 255, as PIL's).
        resize_center_pad_p, resize_center_pad_min_edge, resize_center_pad_reference: the ResizeCenterPad step
            (§15.1), right after the crop; p = 0 disables it (stream pipelines).
        share_geometry: ``forward_pair`` reuses one set of geometric parameters for both views.
    """

    def __init__(
        self,
        size: int,
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0),
        interpolation: str = "bilinear",
        flip_p: float = 0.5,
        jitter: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
        jitter_p: float = 0.0,
        gray_p: float = 0.0,
        blur_p: float = 0.0,
        blur_sigma: Sequence[float] = (0.1, 2.0),
        blur_kernel_size: int | None = None,
        solarize_p: float = 0.0,
        resize_center_pad_p: float = 0.0,
        resize_center_pad_min_edge: int = 50,
        resize_center_pad_reference: int = 224,
        share_geometry: bool = False,
    ) -> None:
        super().__init__()
        if interpolation not in FILTERS:
            raise ValueError(f"interpolation must be one of {sorted(FILTERS)}, got {interpolation!r}")
        self.size = int(size)
        self.scale = _pair(scale, "scale")
        self.ratio = _pair(ratio, "ratio")
        self.interpolation = interpolation
        self.flip_p = float(flip_p)
        self.share_geometry = bool(share_geometry)
        self.resize_center_pad = ResizeCenterPad(resize_center_pad_p, resize_center_pad_min_edge, resize_center_pad_reference)

        steps: list[nn.Module] = []
        jitter = tuple(float(v) for v in jitter)
        if len(jitter) != 4:
            raise ValueError(f"jitter must be (brightness, contrast, saturation, hue), got {jitter}")
        if jitter_p > 0 and any(jitter):
            steps.append(ColorJitter(*jitter, p=float(jitter_p)))
        if gray_p > 0:
            steps.append(RandomGrayscale(p=float(gray_p)))
        if blur_p > 0:
            sigma = _pair(blur_sigma, "blur_sigma")
            k = blur_kernel_size if blur_kernel_size is not None else gaussian_kernel_size(sigma[1], self.size)
            steps.append(RandomGaussianBlur(int(k), sigma, p=float(blur_p)))
        if solarize_p > 0:
            steps.append(RandomSolarize(0.5, p=float(solarize_p)))
        self.photometric = nn.ModuleList(steps)
        self._steps_key: tuple | None = None
        self.normalize = Normalize()

    # -- geometry ----------------------------------------------------------------------------------------------
    def sample_geometry(self, batch: int, height: int, width: int, generator: torch.Generator | None = None) -> Geometry:
        """Crop boxes, ResizeCenterPad edges and flips for a batch, from one draw of ``generator`` (None: torch's
        global RNG)."""
        u = draw_uniforms(batch, 2 * CROP_ATTEMPTS + 5, generator=generator)
        boxes = sample_crop_boxes(batch, height, width, self.scale, self.ratio, uniforms=u[:, :2 * CROP_ATTEMPTS + 2])
        edges = self.resize_center_pad.sample_edges(batch, self.size, uniforms=u[:, -3:-1])
        flip = torch.from_numpy(u[:, -1] < self.flip_p)
        return Geometry(boxes, edges, flip)

    def batch_key(self, images: torch.Tensor) -> tuple | None:
        """Recipes with equal keys can augment their images in one call, each drawing its own geometry
        (``augment_pairs``): same input shape, output size, interpolation, pad fill and photometric steps. None for
        recipes that share the geometry between the views (their pairs are augmented on their own)."""
        if self.share_geometry:
            return None
        if self._steps_key is None:             # the recipe's fixed part, built once
            self._steps_key = (self.size, self.interpolation, self.resize_center_pad.fill,
                               tuple(self.normalize.mean.flatten().tolist()),
                               tuple(self.normalize.std.flatten().tolist()), repr(self.photometric))
        return (tuple(images.shape[1:]), images.dtype, images.device, self._steps_key)

    def apply_geometry(self, x: torch.Tensor, g: Geometry) -> torch.Tensor:
        """[B, C, H, W] in [0, 1] -> [B, C, size, size]: crop + resize, ResizeCenterPad, flip, as one resampling."""
        b, _, height, width = x.shape
        s = self.size
        top, left, h, w = g.boxes.unbind(1)
        if height == width:         # rows and columns in one call (the cost at small sizes is per call)
            zeros, full = torch.zeros(2 * b, dtype=torch.long), torch.full((2 * b,), s, dtype=torch.long)
            rows, cols = resample_weights(height, torch.cat([top, left]), torch.cat([h, w]), s, zeros, full,
                                          self.interpolation, x.device).split(b)
        else:
            zeros, full = torch.zeros(b, dtype=torch.long), torch.full((b,), s, dtype=torch.long)
            rows = resample_weights(height, top, h, s, zeros, full, self.interpolation, x.device)
            cols = resample_weights(width, left, w, s, zeros, full, self.interpolation, x.device)
        padded = bool((g.edges < s).any())
        if padded:
            pad = self.resize_center_pad.matrix(g.edges, s, x.device)
            rows, cols = torch.matmul(pad[:, None], torch.stack([rows, cols], dim=1)).unbind(1)
        flipped = g.flip.nonzero()[:, 0].to(x.device)
        if flipped.numel():                                                            # flip after the pad, as in the original
            cols = cols.index_copy(0, flipped, cols.index_select(0, flipped).flip(1))
        out = place(x, rows, cols, self.resize_center_pad.fill) if padded else resample(x, rows, cols)
        if self.interpolation == "bicubic":
            out = out.clamp_(0.0, 1.0)
        return out

    # -- views -------------------------------------------------------------------------------------------------
    def augment(self, images: torch.Tensor, geometry: Geometry | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, Geometry]:
        """Augmented, normalised images and the geometry they used (drawn unless given). Random parameters come
        from ``generator`` (a CPU ``torch.Generator``; None: torch's global RNG)."""
        x = to_unit_float(images)
        if geometry is None:
            geometry = self.sample_geometry(x.shape[0], x.shape[-2], x.shape[-1], generator)
        x = self.apply_geometry(x, geometry)
        for step in self.photometric:
            x = step(x, generator=generator)
        return self.normalize(x).contiguous(), geometry

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.augment(images, generator=generator)[0]

    def forward_pair(self, v1: torch.Tensor, v2: torch.Tensor,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.share_geometry:
            a1, geometry = self.augment(v1, generator=generator)
            a2, _ = self.augment(v2, geometry, generator=generator)
            return a1, a2
        return augment_pairs([(self, v1, v2)], generator)[0]


class TwoViewAugment(nn.Module):
    """Asymmetric pair: view 1 through ``view1``, view 2 through ``view2`` (e.g. BYOL view 1 / view 2)."""

    def __init__(self, view1: nn.Module, view2: nn.Module) -> None:
        super().__init__()
        self.view1, self.view2 = view1, view2

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return _call(self.view1, images, generator=generator)

    def forward_pair(self, v1: torch.Tensor, v2: torch.Tensor,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return augment_pairs([(self, v1, v2)], generator)[0]


def _call(fn, *args, generator: torch.Generator | None = None):
    """``fn(*args, generator=generator)``, or without ``generator`` for a foreign recipe that takes none (it then
    draws from torch's global RNG)."""
    method = getattr(fn, "forward", fn) if isinstance(fn, nn.Module) else fn
    try:
        accepts = "generator" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        accepts = False
    return fn(*args, generator=generator) if accepts else fn(*args)


def augment_pairs(parts: Sequence[tuple[nn.Module, torch.Tensor, torch.Tensor]],
                  generator: torch.Generator | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The two views of several pair batches, each ``(recipe, first images, second images)``, in as few calls as
    the recipes allow.

    Every view is a job for one recipe (a :class:`TwoViewAugment`'s ``view1`` / ``view2``, else the recipe itself).
    Jobs whose recipes have the same ``batch_key`` (e.g. a real-time batch's stream and pretraining views, which
    differ only in ResizeCenterPad) run as one batch: each job draws its own geometry with its own recipe, then
    the images are resampled, colour-augmented and normalised together. Every random parameter is drawn per
    image, so this is the distribution of separate calls; at small image sizes the cost of an augmentation is
    mostly per call, so a real-time CPU step runs 1 call instead of 4. Recipes that share the geometry between
    the views, or are not :class:`ViewAugment`, use their own ``forward_pair``.
    """
    jobs: list[tuple[ViewAugment, torch.Tensor]] = []
    results: list = [None] * len(parts)
    for k, (recipe, a, b) in enumerate(parts):
        r1, r2 = (recipe.view1, recipe.view2) if isinstance(recipe, TwoViewAugment) else (recipe, recipe)
        if all(isinstance(r, ViewAugment) and r.batch_key(x) is not None for r, x in ((r1, a), (r2, b))):
            jobs += [(r1, a), (r2, b)]
        else:
            results[k] = _call(recipe.forward_pair, a, b, generator=generator)
    groups: dict[tuple, list[int]] = {}
    for j, (recipe, images) in enumerate(jobs):
        groups.setdefault(recipe.batch_key(images), []).append(j)
    views: list = [None] * len(jobs)
    for members in groups.values():
        images = [to_unit_float(jobs[j][1]) for j in members]
        geometry = Geometry.cat([jobs[j][0].sample_geometry(x.shape[0], x.shape[-2], x.shape[-1], generator)
                                 for j, x in zip(members, images)])
        out, _ = jobs[members[0]][0].augment(torch.cat(images), geometry, generator)
        for j, view in zip(members, out.split([x.shape[0] for x in images])):
            views[j] = view
    pairs = iter(zip(views[0::2], views[1::2]))
    return [r if r is not None else next(pairs) for r in results]


class SimCLRAugment(ViewAugment):
    """SimCLR recipe: RRC 0.08-1, flip 0.5, jitter (0.8, 0.8, 0.8, 0.2) p 0.8, gray 0.2, blur p 0.5 (also Barlow
    Twins, and SwAV with scale 0.14-1)."""

    def __init__(
        self,
        size: int,
        scale: Sequence[float] = (0.08, 1.0),
        jitter: Sequence[float] = (0.8, 0.8, 0.8, 0.2),
        jitter_p: float = 0.8,
        gray_p: float = 0.2,
        blur_p: float = 0.5,
        blur_sigma: Sequence[float] = (0.1, 2.0),
        flip_p: float = 0.5,
        resize_center_pad_p: float = 0.0,
        resize_center_pad_min_edge: int = 50,
        resize_center_pad_reference: int = 224,
    ) -> None:
        super().__init__(
            size, scale=scale, flip_p=flip_p, jitter=jitter, jitter_p=jitter_p, gray_p=gray_p, blur_p=blur_p,
            blur_sigma=blur_sigma, resize_center_pad_p=resize_center_pad_p,
            resize_center_pad_min_edge=resize_center_pad_min_edge, resize_center_pad_reference=resize_center_pad_reference,
        )


class MoCoV2Augment(ViewAugment):
    """MoCo v2 recipe: RRC 0.2-1, jitter (0.4, 0.4, 0.4, 0.4) p 0.8, gray 0.2, blur p 0.5, flip 0.5 (the original
    flips last; the same distribution here, see the module docstring). The original's 23-pixel kernel at 224 px
    can be given as ``blur_kernel_size``; by default the kernel covers +-3 sigma."""

    def __init__(
        self,
        size: int,
        scale: Sequence[float] = (0.2, 1.0),
        jitter: Sequence[float] = (0.4, 0.4, 0.4, 0.4),
        jitter_p: float = 0.8,
        gray_p: float = 0.2,
        blur_p: float = 0.5,
        blur_sigma: Sequence[float] = (0.1, 2.0),
        blur_kernel_size: int | None = None,
        flip_p: float = 0.5,
        resize_center_pad_p: float = 0.0,
        resize_center_pad_min_edge: int = 50,
        resize_center_pad_reference: int = 224,
    ) -> None:
        super().__init__(
            size, scale=scale, flip_p=flip_p, jitter=jitter, jitter_p=jitter_p, gray_p=gray_p, blur_p=blur_p,
            blur_sigma=blur_sigma, blur_kernel_size=blur_kernel_size, resize_center_pad_p=resize_center_pad_p,
            resize_center_pad_min_edge=resize_center_pad_min_edge, resize_center_pad_reference=resize_center_pad_reference,
        )


class BYOLAugment(ViewAugment):
    """BYOL recipe, view 1 or 2: bicubic RRC 0.08-1, flip 0.5, jitter (0.4, 0.4, 0.2, 0.1) p 0.8, gray 0.2,
    blur p 1.0 (view 1) / 0.1 (view 2), solarise p 0 / 0.2. ``blur_p`` / ``solarize_p`` override the view's
    defaults. Also SimSiam (view 1 for both) and DINO (with its own scales)."""

    def __init__(
        self,
        size: int,
        view: int = 1,
        scale: Sequence[float] = (0.08, 1.0),
        jitter: Sequence[float] = (0.4, 0.4, 0.2, 0.1),
        jitter_p: float = 0.8,
        gray_p: float = 0.2,
        blur_p: float | None = None,
        blur_sigma: Sequence[float] = (0.1, 2.0),
        solarize_p: float | None = None,
        flip_p: float = 0.5,
        resize_center_pad_p: float = 0.0,
        resize_center_pad_min_edge: int = 50,
        resize_center_pad_reference: int = 224,
    ) -> None:
        if view not in (1, 2):
            raise ValueError(f"view must be 1 or 2, got {view}")
        super().__init__(
            size, scale=scale, interpolation="bicubic", flip_p=flip_p, jitter=jitter, jitter_p=jitter_p,
            gray_p=gray_p, blur_p=(1.0 if view == 1 else 0.1) if blur_p is None else blur_p, blur_sigma=blur_sigma,
            solarize_p=(0.0 if view == 1 else 0.2) if solarize_p is None else solarize_p,
            resize_center_pad_p=resize_center_pad_p, resize_center_pad_min_edge=resize_center_pad_min_edge,
            resize_center_pad_reference=resize_center_pad_reference,
        )
        self.view = view


class MAESameCropAugment(ViewAugment):
    """MAE: RRC only (no colour); ``forward_pair`` gives both views ONE crop (and ResizeCenterPad and flip)
    parameter set. Real-time stream: scale 0.4-1, no flip; life-long: scale 0.08-1 with a shared flip
    (``flip_p=0.5``); pretraining-half pairs (img, img) with ``resize_center_pad_p=0.6`` give identical views."""

    def __init__(
        self,
        size: int,
        scale: Sequence[float] = (0.4, 1.0),
        flip_p: float = 0.0,
        interpolation: str = "bilinear",
        resize_center_pad_p: float = 0.0,
        resize_center_pad_min_edge: int = 50,
        resize_center_pad_reference: int = 224,
    ) -> None:
        super().__init__(
            size, scale=scale, interpolation=interpolation, flip_p=flip_p, resize_center_pad_p=resize_center_pad_p,
            resize_center_pad_min_edge=resize_center_pad_min_edge, resize_center_pad_reference=resize_center_pad_reference,
            share_geometry=True,
        )
