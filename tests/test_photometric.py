"""The batched photometric steps (algorithms/photometric.py) against torchvision's per-image functions and kornia,
and the grouping of views into one call (algorithms.augment.augment_pairs)."""
from __future__ import annotations

import itertools

import kornia
import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF

from algorithms import augment as A
from algorithms.geometry import GRAY_FILL
from algorithms.normalize import IMAGENET_MEAN, IMAGENET_STD
from algorithms.photometric import (ColorJitter, RandomGaussianBlur, RandomGrayscale, RandomSolarize,
                                    adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation, gaussian_blur)

TV = {0: TF.adjust_brightness, 1: TF.adjust_contrast, 2: TF.adjust_saturation, 3: TF.adjust_hue}
# torchvision's tensor luma weighs red 0.2989, PIL and kornia (and algorithms/photometric.py) 0.299: luma-based
# results differ from torchvision's by up to 1e-4 x the red channel
LUMA_ATOL = 1e-4
# per-image reference with the 0.299 luma: torchvision's brightness and hue, kornia's contrast and saturation
REF = {0: TF.adjust_brightness,
       1: lambda img, f: kornia.enhance.adjust_contrast_with_mean_subtraction(img[None], f)[0],
       2: lambda img, f: kornia.enhance.adjust_saturation_with_gray_subtraction(img[None], f)[0],
       3: TF.adjust_hue}


def _images(n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g)
    x[0] = 0.5                      # gray: zero chroma
    x[1, :, :4] = 1.0               # ties between channels at the maximum
    x[2, 1] = x[2, 0]               # red == green everywhere
    return x


@pytest.mark.parametrize("shift", [-0.5, -0.37, -0.1, 0.0, 0.05, 0.2, 0.49])
def test_hue_matches_torchvision_and_kornia(shift):
    x = _images(8)
    out = adjust_hue(x, torch.full((8,), shift))
    ref = torch.stack([TF.adjust_hue(img, shift) for img in x])
    torch.testing.assert_close(out, ref, rtol=0, atol=2e-6)
    torch.testing.assert_close(out, kornia.enhance.adjust_hue(x, torch.full((8,), shift * 2 * np.pi)), rtol=0, atol=1e-5)


def test_hue_per_image_shifts():
    x = _images(6)
    shifts = torch.tensor([-0.4, -0.2, 0.0, 0.1, 0.3, 0.5])
    ref = torch.stack([TF.adjust_hue(img, float(s)) for img, s in zip(x, shifts)])
    torch.testing.assert_close(adjust_hue(x, shifts), ref, rtol=0, atol=2e-6)


@pytest.mark.parametrize("i, fn", [(0, adjust_brightness), (1, adjust_contrast), (2, adjust_saturation)])
def test_blend_adjustments_match_torchvision(i, fn):
    x = _images(5)
    factors = torch.tensor([0.0, 0.2, 1.0, 1.5, 1.8])
    ref = torch.stack([TV[i](img, float(f)) for img, f in zip(x, factors)])
    torch.testing.assert_close(fn(x, factors), ref, rtol=0, atol=1e-6 if i == 0 else LUMA_ATOL)
    if i:
        kfn = (kornia.enhance.adjust_contrast_with_mean_subtraction if i == 1
               else kornia.enhance.adjust_saturation_with_gray_subtraction)
        torch.testing.assert_close(fn(x, factors), kfn(x, factors), rtol=0, atol=1e-6)


def _reference_jitter(x, applied, factors, order, active=(0, 1, 2, 3)):
    out = []
    for b, img in enumerate(x):
        if applied[b]:
            for i in order[b]:
                if i in active:
                    img = REF[int(i)](img, float(factors[i, b]))
        out.append(img)
    return torch.stack(out)


def test_color_jitter_equals_per_image_adjustments_in_each_images_own_order():
    cj = ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8)
    x = _images(64, seed=1)
    torch.manual_seed(0)
    applied, factors, order = cj.sample(64)
    assert 0 < applied.sum() < 64
    assert len({tuple(o) for o in order}) > 10          # orders are drawn per image
    out = cj.apply(x, applied, factors, order)
    torch.testing.assert_close(out, _reference_jitter(x, applied, factors, order), rtol=0, atol=1e-5)
    assert torch.equal(out[~torch.from_numpy(applied)], x[~torch.from_numpy(applied)])   # exactly unchanged


def test_color_jitter_factor_ranges_and_skipped_adjustments():
    cj = ColorJitter(0.4, 0.0, 0.2, 0.0, p=1.0)
    torch.manual_seed(1)
    applied, factors, order = cj.sample(4000)
    assert applied.all()
    assert 0.6 <= factors[0].min() and factors[0].max() <= 1.4 and factors[0].std() > 0.2
    assert 0.8 <= factors[2].min() and factors[2].max() <= 1.2
    # every order occurs, about equally often
    counts = {p: 0 for p in itertools.permutations(range(4))}
    for o in order:
        counts[tuple(int(v) for v in o)] += 1
    assert min(counts.values()) > 4000 / 24 * 0.6
    x = _images(32, seed=2)
    out = cj.apply(x, applied[:32], factors[:, :32], order[:32])
    # contrast and hue have no range: they are skipped, as torchvision skips them
    torch.testing.assert_close(out, _reference_jitter(x, applied[:32], factors[:, :32], order[:32], active=(0, 2)),
                               rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="hue"):
        ColorJitter(hue=0.7)


def test_color_jitter_is_seeded_by_torch():
    cj = ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8)
    x = _images(16)
    torch.manual_seed(5)
    a = cj(x)
    torch.manual_seed(5)
    assert torch.equal(a, cj(x))


@pytest.mark.parametrize("size, k", [(16, 3), (16, 5), (24, 13)])
def test_gaussian_blur_matches_kornia_and_torchvision(size, k):
    x = _images(6, size)
    sigma = torch.tensor([0.1, 0.3, 0.7, 1.0, 1.6, 2.0])
    out = gaussian_blur(x, sigma, k)
    ref = kornia.filters.gaussian_blur2d(x, (k, k), sigma[:, None].expand(-1, 2), border_type="reflect")
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    tv = torch.stack([TF.gaussian_blur(img, [k, k], [float(s), float(s)]) for img, s in zip(x, sigma)])
    torch.testing.assert_close(out, tv, rtol=0, atol=1e-6)


def test_random_steps_apply_to_chosen_images_only():
    x = _images(64, seed=3)
    torch.manual_seed(0)
    gray = RandomGrayscale(p=0.5)(x)
    is_gray = (gray[:, 0] == gray[:, 1]).flatten(1).all(1) & (gray[:, 1] == gray[:, 2]).flatten(1).all(1)
    assert 10 < int(is_gray.sum()) < 54
    torch.testing.assert_close(gray[is_gray], kornia.color.rgb_to_grayscale(x[is_gray]).expand(-1, 3, -1, -1),
                               rtol=0, atol=1e-6)
    assert torch.equal(gray[~is_gray], x[~is_gray])

    torch.manual_seed(0)
    sol = RandomSolarize(0.5, p=0.5)(x)
    changed = (sol != x).flatten(1).any(1)
    assert 10 < int(changed.sum()) < 54
    assert torch.equal(sol[changed], TF.solarize(x[changed], 0.5))

    torch.manual_seed(0)
    blurred = RandomGaussianBlur(3, (0.5, 1.0), p=0.5)(x)
    changed = (blurred != x).flatten(1).any(1)
    assert 10 < int(changed.sum()) < 54
    with pytest.raises(ValueError, match="odd"):
        RandomGaussianBlur(4, (0.1, 2.0))


# ---------------------------------------------------------------------------------------------------------------
# augment_pairs: compatible recipes run as one call


class _CountAugment:
    def __enter__(self):
        self.calls = 0
        self.original = A.ViewAugment.augment

        def counted(recipe, *args, **kwargs):
            self.calls += 1
            return self.original(recipe, *args, **kwargs)
        A.ViewAugment.augment = counted
        return self

    def __exit__(self, *exc):
        A.ViewAugment.augment = self.original


def test_augment_pairs_groups_compatible_recipes_into_one_call():
    s = A.SimCLRAugment(16, blur_sigma=(0.1, 0.5))
    p = A.SimCLRAugment(16, blur_sigma=(0.1, 0.5), resize_center_pad_p=0.6)
    x = torch.rand(8, 3, 16, 16)
    with _CountAugment() as c:
        views = A.augment_pairs([(s, x[:2], x[2:4]), (p, x[4:], x[4:])])
    assert c.calls == 1
    assert [tuple(v.shape) for pair in views for v in pair] == [(2, 3, 16, 16)] * 2 + [(4, 3, 16, 16)] * 2

    byol_stream = A.BYOLAugment(16, view=1)
    byol_pre = A.TwoViewAugment(A.BYOLAugment(16, view=1, resize_center_pad_p=0.6),
                                A.BYOLAugment(16, view=2, resize_center_pad_p=0.6))
    with _CountAugment() as c:
        A.augment_pairs([(byol_stream, x[:2], x[2:4]), (byol_pre, x[4:], x[4:])])
    assert c.calls == 2                 # view 2's blur and solarisation differ: a call of its own

    mae = A.MAESameCropAugment(16)      # shared geometry: its own forward_pair
    a, b = A.augment_pairs([(mae, x, x)])[0]
    assert torch.equal(a, b)


def test_augment_pairs_draws_each_jobs_geometry_from_its_own_recipe():
    # no photometric steps: the pretraining views (ResizeCenterPad p = 1) show the gray fill, the stream views never
    s = A.ViewAugment(16, scale=(1.0, 1.0), flip_p=0.0)
    p = A.ViewAugment(16, scale=(1.0, 1.0), flip_p=0.0, resize_center_pad_p=1.0)
    x = torch.ones(12, 3, 16, 16)
    torch.manual_seed(0)
    (s1, s2), (p1, p2) = A.augment_pairs([(s, x[:4], x[4:8]), (p, x[8:], x[8:])])
    fill = (GRAY_FILL - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    white = (1.0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    for v in (s1, s2):
        torch.testing.assert_close(v, white.view(1, 3, 1, 1).expand_as(v))
    for v in (p1, p2):
        torch.testing.assert_close(v[:, :, 0, 0], fill.expand(4, 3))     # the corner is padding
    torch.manual_seed(0)
    again = A.augment_pairs([(s, x[:4], x[4:8]), (p, x[8:], x[8:])])
    assert torch.equal(again[1][0], p1)
