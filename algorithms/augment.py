"""Batched augmentation recipes of spec algorithms.md §15, on image tensors on the training device.

Input: images [B, 3, H, W], float in [0, 1] (uint8 is accepted and divided by 255). Output: ImageNet-normalised
float32 [B, 3, size, size]. Every recipe is an ``nn.Module`` built from plain config values, with
``forward(images)`` (one view) and ``forward_pair(v1, v2) -> (a1, a2)`` (both views independently, except in
``MAESameCropAugment``, which shares the geometry). ``TwoViewAugment`` pairs two recipes for asymmetric views
(BYOL view 1 / view 2, DINO's two crops).

Geometry (random resized crop, ResizeCenterPad, horizontal flip) is done here, batched, as one separable
resampling per view: each image's geometric transform is a [size, H] row matrix and a [size, W] column matrix,
so ``out = Wy @ x @ Wx^T`` (two batched matmuls for the whole batch). The matrices hold the filter weights of
``F.interpolate(..., antialias=True, align_corners=False)`` (PIL-style: triangle / Keys a = -0.5 cubic filters,
widened when downscaling), so a crop is resampled exactly as torchvision resizes a crop on a tensor, with
antialiasing when downscaling; the crop, the ResizeCenterPad resize and the flip compose by matrix products.
(kornia's batched ``RandomResizedCrop`` maps corner pixel centres to corner pixel centres, not half-pixel, and its
torchvision-exact "slice" mode loops over the images in Python, hence this.)

Photometric steps use ``kornia.augmentation`` (ColorJitter with torchvision's formulas, RandomGrayscale,
RandomGaussianBlur with a per-image sigma, RandomSolarize), each on the whole batch. Differences from the
per-image torchvision pipelines: the ColorJitter step order is drawn once per batch, not per image; the
horizontal flip sits in the geometric stage for every recipe (MoCo v2 flips last: equivalent, because every
photometric step here commutes with a horizontal flip).

All randomness comes from torch's global RNG (the geometric parameters are drawn on the CPU), so ``torch.manual_seed`` makes a
run reproducible, on any device.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import nn

from .resample import FILTERS, place, resample, resample_weights, sample_crop_boxes

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_FILL = 127.0 / 255.0


# ----------------------------------------------------------------------------------------------------------------
# helpers


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [0, 1]; floating input is returned as float32."""
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    return images.float()


def _pair(values: Sequence[float], name: str) -> tuple[float, float]:
    values = tuple(float(v) for v in values)
    if len(values) != 2 or values[0] > values[1]:
        raise ValueError(f"{name} must be a (low, high) pair with low <= high, got {values}")
    return values


class Normalize(nn.Module):
    """(x - mean) / std per channel; ImageNet statistics by default."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([float(m) for m in mean]).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([float(s) for s in std]).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.device)) / self.std.to(x.device)


_NORMALIZE = Normalize()


def eval_transform(images: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """Read-out transform (no augmentation): [0, 1] float (or uint8) -> ImageNet-normalised float32.

    With ``size``, images are first resized to size x size (bilinear, antialiased, aspect not kept), the
    real-time read-out's "resize to 224 x 224, centre-crop 224" (spec §15.2) at any size.
    """
    x = to_unit_float(images)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return _NORMALIZE(x)


def gaussian_kernel_size(sigma_max: float, size: int) -> int:
    """Odd Gaussian kernel covering +-3 sigma_max (2 * ceil(3 sigma) + 1), capped by the image size, at least 3."""
    k = 2 * math.ceil(3.0 * sigma_max) + 1
    cap = size if size % 2 == 1 else size - 1
    return max(3, min(k, cap))


# ----------------------------------------------------------------------------------------------------------------
# geometric steps


class ResizeCenterPad(nn.Module):
    """Spec §15.1 ("rdpd"), batched: with probability p per image, shrink to e x e and pad back, centred, with gray.

    For an input [B, C, S, S], e is drawn uniformly from the integers [min_edge_scaled, S), with
    ``min_edge_scaled = round(min_edge * S / reference)`` (clamped to [1, S - 1]); the image is resized to e x e
    (bilinear, antialiased as PIL's resize) and placed with floor((S - e) / 2) pixels of ``fill`` on the left and
    top, the rest on the right and bottom. At S = reference = 224 this is the spec exactly (e in 50..223); the
    proportional minimum edge is a CPU-size adaptation (about 7 at 32 px, 14 at 64 px, 25 at 112 px) that keeps
    the range of relative sizes. ``fill`` is in [0, 1] units, before normalisation (127 / 255).
    Images not drawn are returned unchanged (exactly).
    """

    def __init__(self, p: float = 0.6, min_edge: int = 50, reference: int = 224, fill: float = GRAY_FILL) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p, self.min_edge, self.reference, self.fill = float(p), int(min_edge), int(reference), float(fill)

    def min_edge_for(self, size: int) -> int:
        return min(max(1, round(self.min_edge * size / self.reference)), size - 1)

    def sample_edges(self, batch: int, size: int) -> torch.Tensor:
        """int64 [B]: the drawn edge per image, ``size`` for images left unchanged."""
        if self.p == 0.0 or size < 2:
            return torch.full((batch,), size, dtype=torch.long)
        chosen = torch.rand(batch) < self.p
        edges = torch.randint(self.min_edge_for(size), size, (batch,))
        return torch.where(chosen, edges, torch.full_like(edges, size))

    def matrix(self, edges: torch.Tensor, size: int, device: torch.device | str | None = None) -> torch.Tensor:
        """[B, size, size]: the 1-d resize-and-place matrix (identity where edge == size); rows and columns alike."""
        full = torch.full_like(edges, size)
        return resample_weights(size, torch.zeros_like(edges), full, size, (size - edges) // 2, edges, "bilinear", device)

    def apply(self, x: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        m = self.matrix(edges, x.shape[-1], x.device)
        return place(x, m, m, self.fill)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"ResizeCenterPad needs square images, got {tuple(x.shape[-2:])}")
        if self.p == 0.0:
            return x
        return self.apply(x, self.sample_edges(x.shape[0], x.shape[-1]))


@dataclass
class Geometry:
    """The geometric parameters of one augmented batch (shareable between the two views of a pair)."""

    boxes: torch.Tensor   # int64 [B, 4]: crop (top, left, height, width) in the input
    edges: torch.Tensor   # int64 [B]: ResizeCenterPad edge, ``size`` where not applied
    flip: torch.Tensor    # bool [B]: horizontal flip


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
            steps.append(K.ColorJitter(*jitter, p=float(jitter_p)))
        if gray_p > 0:
            steps.append(K.RandomGrayscale(p=float(gray_p)))
        if blur_p > 0:
            sigma = _pair(blur_sigma, "blur_sigma")
            k = blur_kernel_size if blur_kernel_size is not None else gaussian_kernel_size(sigma[1], self.size)
            steps.append(K.RandomGaussianBlur((int(k), int(k)), sigma, p=float(blur_p)))
        if solarize_p > 0:
            steps.append(K.RandomSolarize(thresholds=(0.5, 0.5), additions=(0.0, 0.0), p=float(solarize_p)))
        self.photometric = nn.Sequential(*steps)
        self.normalize = Normalize()

    # -- geometry ----------------------------------------------------------------------------------------------
    def sample_geometry(self, batch: int, height: int, width: int) -> Geometry:
        boxes = sample_crop_boxes(batch, height, width, self.scale, self.ratio)
        edges = self.resize_center_pad.sample_edges(batch, self.size)
        flip = torch.rand(batch) < self.flip_p if self.flip_p > 0 else torch.zeros(batch, dtype=torch.bool)
        return Geometry(boxes, edges, flip)

    def apply_geometry(self, x: torch.Tensor, g: Geometry) -> torch.Tensor:
        """[B, C, H, W] in [0, 1] -> [B, C, size, size]: crop + resize, ResizeCenterPad, flip, as one resampling."""
        b, _, height, width = x.shape
        s = self.size
        zeros, full = torch.zeros(b, dtype=torch.long), torch.full((b,), s, dtype=torch.long)
        top, left, h, w = g.boxes.unbind(1)
        rows = resample_weights(height, top, h, s, zeros, full, self.interpolation, x.device)
        cols = resample_weights(width, left, w, s, zeros, full, self.interpolation, x.device)
        padded = bool((g.edges < s).any())
        if padded:
            pad = self.resize_center_pad.matrix(g.edges, s, x.device)
            rows, cols = pad @ rows, pad @ cols
        cols = torch.where(g.flip.to(x.device)[:, None, None], cols.flip(1), cols)    # flip after the pad, as in the original
        out = place(x, rows, cols, self.resize_center_pad.fill) if padded else resample(x, rows, cols)
        if self.interpolation == "bicubic":
            out = out.clamp_(0.0, 1.0)
        return out

    # -- views -------------------------------------------------------------------------------------------------
    def augment(self, images: torch.Tensor, geometry: Geometry | None = None) -> tuple[torch.Tensor, Geometry]:
        """One augmented, normalised view and the geometry it used (drawn unless given)."""
        x = to_unit_float(images)
        if geometry is None:
            geometry = self.sample_geometry(x.shape[0], x.shape[-2], x.shape[-1])
        x = self.apply_geometry(x, geometry)
        if len(self.photometric):
            x = self.photometric(x)
        return self.normalize(x).contiguous(), geometry

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.augment(images)[0]

    def forward_pair(self, v1: torch.Tensor, v2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a1, geometry = self.augment(v1)
        a2, _ = self.augment(v2, geometry if self.share_geometry else None)
        return a1, a2


class TwoViewAugment(nn.Module):
    """Asymmetric pair: view 1 through ``view1``, view 2 through ``view2`` (e.g. BYOL view 1 / view 2)."""

    def __init__(self, view1: nn.Module, view2: nn.Module) -> None:
        super().__init__()
        self.view1, self.view2 = view1, view2

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.view1(images)

    def forward_pair(self, v1: torch.Tensor, v2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.view1(v1), self.view2(v2)


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
