"""SimCLR and the shared pieces it is built from: heads, losses, LARS, backbones, batched augmentations."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from algorithm_checks import (assert_embed, assert_loss_decreases, assert_state_round_trip, mlp_layout,
                              one_thread_fixture, tiny_factory, tiny_views)
from algorithms.augment import BYOLAugment, MAESameCropAugment, MoCoV2Augment, SimCLRAugment, TwoViewAugment
from algorithms.geometry import GRAY_FILL, ResizeCenterPad
from algorithms.normalize import IMAGENET_MEAN, IMAGENET_STD, Normalize, eval_transform
from algorithms.photometric import gaussian_kernel_size
from algorithms.resample import resample, resample_weights, sample_crop_boxes
from algorithms.backbones import resnet18, resnet50, small_cnn
from algorithms.heads import projection_mlp
from algorithms.lars import LARS
from algorithms.losses import in_batch_info_nce, info_nce, nt_xent
from algorithms.simclr import SimCLR

MEAN = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


_one_thread = one_thread_fixture()


# ---------------------------------------------------------------------------------------------------------------
# losses


def test_nt_xent_matches_hand_computation():
    # unit vectors after normalisation: u0 = (1, 0), u1 = (0, 1), v0 = (1/2, sqrt(3)/2), v1 = (-1, 0)
    z1 = torch.tensor([[3.0, 0.0], [0.0, 0.5]])
    z2 = torch.tensor([[1.0, math.sqrt(3.0)], [-2.0, 0.0]])
    t = 0.5
    r3 = math.sqrt(3.0) / 2
    e = lambda s: math.exp(s / t)  # noqa: E731
    # anchor: (positive similarity, similarities to the 3 other views)
    terms = [
        (0.5, [0.0, 0.5, -1.0]),   # u0: u1, v0, v1
        (0.0, [0.0, r3, 0.0]),     # u1: u0, v0, v1
        (0.5, [0.5, r3, -0.5]),    # v0: u0, u1, v1
        (0.0, [-1.0, 0.0, -0.5]),  # v1: u0, u1, v0
    ]
    expected = sum(-math.log(e(pos) / sum(e(s) for s in others)) for pos, others in terms) / 4
    assert nt_xent(z1, z2, t).item() == pytest.approx(expected, rel=1e-6)


def test_nt_xent_in_bf16_autocast_is_float32_and_close():
    torch.manual_seed(0)
    z1, z2 = torch.randn(16, 32), torch.randn(16, 32)
    ref = nt_xent(z1, z2, 0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = nt_xent(z1.bfloat16(), z2.bfloat16(), 0.1)
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(ref.item(), abs=0.05)


def test_info_nce_variants_match_cross_entropy():
    torch.manual_seed(0)
    q, k, neg = torch.randn(6, 8), torch.randn(6, 8), torch.randn(10, 8)
    qn, kn, nn_ = F.normalize(q, dim=1), F.normalize(k, dim=1), F.normalize(neg, dim=1)
    logits = torch.cat([(qn * kn).sum(1, keepdim=True), qn @ nn_.t()], 1) / 0.2
    ref = F.cross_entropy(logits, torch.zeros(6, dtype=torch.long))
    assert info_nce(q, k, neg, 0.2).item() == pytest.approx(ref.item(), rel=1e-5)
    ref = F.cross_entropy(qn @ kn.t() / 0.1, torch.arange(6))
    assert in_batch_info_nce(q, k, 0.1).item() == pytest.approx(ref.item(), rel=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# heads and SimCLR


def test_projection_mlp_layers():
    assert mlp_layout(projection_mlp(512, 2048, 128, 2)) == [
        ("fc", 512, 2048, False), ("bn", 2048), ("ReLU",), ("fc", 2048, 128, False), ("bn", 128)]
    assert mlp_layout(projection_mlp(512, 2048, 128, 4)) == [
        ("fc", 512, 2048, False), ("bn", 2048),
        ("ReLU",), ("fc", 2048, 2048, False), ("bn", 2048),
        ("ReLU",), ("fc", 2048, 2048, False), ("bn", 2048),
        ("ReLU",), ("fc", 2048, 128, False), ("bn", 128)]
    assert mlp_layout(projection_mlp(512, 1024, 256, 2, bias=True, last_bn=False)) == [
        ("fc", 512, 1024, True), ("bn", 1024), ("ReLU",), ("fc", 1024, 256, True)]


def test_simclr_more_mlps_head_dims():
    algo = SimCLR(resnet18(), num_layers=4)
    dims = [(m.in_features, m.out_features) for m in algo.neck if isinstance(m, nn.Linear)]
    assert dims == [(512, 2048), (2048, 2048), (2048, 2048), (2048, 128)]
    assert algo.name == "simclr"


_simclr = tiny_factory(SimCLR, hidden_dim=64, out_dim=16)


def test_simclr_loss_finite_and_decreasing_with_lars():
    assert_loss_decreases(_simclr, lambda algo: LARS(algo.param_groups(weight_decay=1e-6), lr=0.3), *tiny_views(),
                          steps=10, last_ratio=0.5)


def test_simclr_loss_under_bf16_autocast_channels_last():
    algo = _simclr().to(memory_format=torch.channels_last)
    v1, v2 = (v.contiguous(memory_format=torch.channels_last) for v in tiny_views(8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = algo.training_loss(v1, v2)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in algo.parameters())


def test_simclr_embed_is_unit_norm_128d():
    torch.manual_seed(0)
    algo = SimCLR(small_cnn(8)).eval()
    assert_embed(algo, lambda x: F.normalize(algo.neck(algo.backbone(x)), dim=1), 128, unit_norm=True)


# ---------------------------------------------------------------------------------------------------------------
# LARS


def _lars_one_step(exclude: bool, wd: float):
    w = nn.Parameter(torch.tensor([3.0, 4.0]))          # ||w|| = 5
    w.grad = torch.tensor([0.6, 0.8])                    # ||g|| = 1
    opt = LARS([{"params": [w], "weight_decay": wd, "lars_exclude": exclude}], lr=0.5, eta=1e-3)
    opt.step()
    return w.detach()


def test_lars_trust_ratio_on_weights_not_on_excluded_group():
    w0, g, lr, wd = torch.tensor([3.0, 4.0]), torch.tensor([0.6, 0.8]), 0.5, 0.1
    trust = 1e-3 * 5.0 / (1.0 + wd * 5.0 + 1e-8)
    torch.testing.assert_close(_lars_one_step(False, wd), w0 - lr * trust * (g + wd * w0))
    torch.testing.assert_close(_lars_one_step(True, 0.0), w0 - lr * g)
    torch.testing.assert_close(_lars_one_step(True, wd), w0 - lr * (g + wd * w0))


def test_lars_momentum_and_zero_norm_fallback():
    w = nn.Parameter(torch.zeros(3))
    opt = LARS([w], lr=0.1, momentum=0.9)
    for _ in range(2):
        w.grad = torch.ones(3)
        opt.step()
    # ||w|| = 0 on the first step -> trust 1 -> w = -0.1; then trust = 1e-3 * ||w|| / ||g||
    t2 = 1e-3 * (0.1 * math.sqrt(3)) / math.sqrt(3)
    torch.testing.assert_close(w.detach(), torch.full((3,), -0.1 - (0.9 * 0.1 + 0.1 * t2)))


def test_lars_state_dict_round_trip_gives_identical_next_step():
    # the restored optimizer equals the saved one, momentum buffers included (assert_state_round_trip)
    def on_restore(a, b, ckpt):
        assert [g.get("lars_exclude") for g in ckpt["opt"]["param_groups"]] == [False, True]
        assert len(ckpt["opt"]["state"]) > 0 and all("momentum_buffer" in st for st in ckpt["opt"]["state"].values())

    assert_state_round_trip(lambda seed: _simclr(1 + seed, width=4, hidden_dim=32, out_dim=8),
                            lambda algo: LARS(algo.param_groups(1e-6), lr=1.0), *tiny_views(8), on_restore=on_restore)


# ---------------------------------------------------------------------------------------------------------------
# backbones


def test_backbone_output_shapes():
    nets = [(resnet18(small_input=True), 512), (resnet18(), 512), (resnet50(small_input=True), 2048),
            (small_cnn(), 128), (small_cnn(8), 64)]
    with torch.no_grad():
        for size in (32, 64):
            x = torch.randn(2, 3, size, size)
            for net, dim in nets:
                assert net.out_dim == dim
                assert net.eval()(x).shape == (2, dim)
    small = nets[0][0]
    assert isinstance(small.maxpool, nn.Identity) and small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.fc, nn.Identity) and nets[1][0].conv1.kernel_size == (7, 7)


def test_small_cnn_trains_in_bf16_channels_last():
    net = small_cnn(8).to(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = net(x)
    y.float().sum().backward()
    assert y.shape == (4, 64) and all(p.grad is not None for p in net.parameters())


# ---------------------------------------------------------------------------------------------------------------
# ResizeCenterPad


def test_resize_center_pad_geometry_on_ones():
    size = 32
    rcp = ResizeCenterPad(p=1.0)
    torch.manual_seed(0)
    edges = rcp.sample_edges(64, size)
    assert rcp.min_edge_for(size) == 7 and rcp.min_edge_for(224) == 50
    assert bool((edges >= 7).all() and (edges < size).all())
    out = rcp.apply(torch.ones(64, 3, size, size), edges)
    for b, e in enumerate(edges.tolist()):
        off = (size - e) // 2
        expected = torch.full((3, size, size), GRAY_FILL)
        expected[:, off:off + e, off:off + e] = 1.0
        torch.testing.assert_close(out[b], expected, rtol=0, atol=1e-6)


def test_resize_center_pad_matches_resize_then_pad():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 32, 32)
    rcp = ResizeCenterPad(p=1.0)
    edges = rcp.sample_edges(16, 32)
    out = rcp.apply(x, edges)
    for b, e in enumerate(edges.tolist()):
        off = (32 - e) // 2
        small = F.interpolate(x[b:b + 1], size=(e, e), mode="bilinear", align_corners=False, antialias=True)
        ref = F.pad(small, (off, 32 - e - off, off, 32 - e - off), value=GRAY_FILL)
        torch.testing.assert_close(out[b:b + 1], ref, rtol=0, atol=1e-5)


def test_resize_center_pad_p0_identity_p1_always_padded():
    x = torch.rand(32, 3, 32, 32)
    assert torch.equal(ResizeCenterPad(p=0.0)(x), x)
    torch.manual_seed(0)
    out = ResizeCenterPad(p=1.0)(x)
    assert torch.all(out[:, :, -1, -1] == GRAY_FILL)  # right/bottom pad is never empty
    torch.manual_seed(0)
    rcp = ResizeCenterPad(p=0.5)
    edges = rcp.sample_edges(32, 32)
    out = rcp.apply(x, edges)
    kept = edges == 32
    assert 0 < int(kept.sum()) < 32
    assert torch.equal(out[kept], x[kept])   # images not drawn are exactly unchanged


# ---------------------------------------------------------------------------------------------------------------
# augmentation recipes


def test_crop_resampling_matches_interpolate_of_the_crop():
    torch.manual_seed(0)
    x = torch.rand(12, 3, 40, 48)
    boxes = sample_crop_boxes(12, 40, 48, (0.08, 1.0), (3 / 4, 4 / 3))
    top, left, h, w = boxes.unbind(1)
    z, s = torch.zeros(12, dtype=torch.long), torch.full((12,), 32)
    for mode in ("bilinear", "bicubic"):
        out = resample(x, resample_weights(40, top, h, 32, z, s, mode), resample_weights(48, left, w, 32, z, s, mode))
        for b, (t, l, hh, ww) in enumerate(boxes.tolist()):
            assert 0 <= t and t + hh <= 40 and 0 <= l and l + ww <= 48
            ref = F.interpolate(x[b:b + 1, :, t:t + hh, l:l + ww], size=(32, 32), mode=mode, align_corners=False,
                                antialias=True)
            torch.testing.assert_close(out[b:b + 1], ref, rtol=0, atol=1e-5)


def test_recipe_geometry_equals_crop_then_pad_then_flip():
    torch.manual_seed(0)
    aug = SimCLRAugment(32, resize_center_pad_p=0.6)
    x = torch.rand(24, 3, 32, 32)
    g = aug.sample_geometry(24, 32, 32)
    assert bool(g.flip.any()) and bool((g.edges < 32).any())
    out = aug.apply_geometry(x, g)
    for b in range(24):
        t, l, hh, ww = g.boxes[b].tolist()
        ref = F.interpolate(x[b:b + 1, :, t:t + hh, l:l + ww], size=(32, 32), mode="bilinear", align_corners=False,
                            antialias=True)
        ref = aug.resize_center_pad.apply(ref, g.edges[b:b + 1])
        if g.flip[b]:
            ref = ref.flip(-1)
        torch.testing.assert_close(out[b:b + 1], ref, rtol=0, atol=1e-5)


RECIPES = [
    lambda s: SimCLRAugment(s),
    lambda s: SimCLRAugment(s, resize_center_pad_p=0.6),
    lambda s: MoCoV2Augment(s),
    lambda s: BYOLAugment(s, view=1),
    lambda s: BYOLAugment(s, view=2),
    lambda s: MAESameCropAugment(s),
]


@pytest.mark.parametrize("make", RECIPES)
def test_recipe_output_and_determinism(make):
    aug = make(32)
    x = torch.rand(8, 3, 40, 40)
    torch.manual_seed(3)
    a = aug(x)
    assert a.shape == (8, 3, 32, 32) and a.dtype == torch.float32 and torch.isfinite(a).all()
    lo, hi = (0 - MEAN) / STD, (1 - MEAN) / STD   # normalised [0, 1] range
    assert bool((a >= lo - 1e-5).all() and (a <= hi + 1e-5).all())
    torch.manual_seed(3)
    assert torch.equal(a, aug(x))
    u8 = (x * 255).round().to(torch.uint8)
    torch.manual_seed(5)
    from_u8 = aug(u8)
    torch.manual_seed(5)
    assert torch.equal(from_u8, aug(u8.float() / 255))
    torch.manual_seed(4)
    assert not torch.equal(a, aug(x))


def test_normalisation_of_a_constant_image():
    x = torch.full((4, 3, 40, 40), 0.5)
    expected = ((0.5 - MEAN) / STD).expand(4, 3, 32, 32)
    torch.testing.assert_close(MAESameCropAugment(32, scale=(0.08, 1.0), flip_p=0.5)(x), expected)
    torch.testing.assert_close(eval_transform(torch.full((2, 3, 32, 32), 128, dtype=torch.uint8)),
                               ((128 / 255 - MEAN) / STD).expand(2, 3, 32, 32))
    assert eval_transform(torch.rand(2, 3, 40, 40), size=32).shape == (2, 3, 32, 32)
    torch.testing.assert_close(Normalize()(torch.zeros(1, 3, 2, 2)), (-MEAN / STD).expand(1, 3, 2, 2))


def test_mae_same_crop_shares_geometry_other_recipes_do_not():
    x = torch.rand(16, 3, 32, 32)
    torch.manual_seed(0)
    a1, a2 = MAESameCropAugment(32, scale=(0.08, 1.0), flip_p=0.5, resize_center_pad_p=0.6).forward_pair(x, x)
    assert torch.equal(a1, a2)
    torch.manual_seed(0)
    b1, b2 = SimCLRAugment(32).forward_pair(x, x)
    assert not torch.allclose(b1, b2)
    torch.manual_seed(0)
    c1, c2 = TwoViewAugment(BYOLAugment(32, view=1), BYOLAugment(32, view=2)).forward_pair(x, x)
    assert c1.shape == c2.shape == (16, 3, 32, 32)


def test_byol_views_and_blur_kernel():
    assert BYOLAugment(32, view=1).interpolation == "bicubic"
    names = lambda a: [type(m).__name__ for m in a.photometric]  # noqa: E731
    assert names(BYOLAugment(32, view=1)) == ["ColorJitter", "RandomGrayscale", "RandomGaussianBlur"]
    assert names(BYOLAugment(32, view=2)) == ["ColorJitter", "RandomGrayscale", "RandomGaussianBlur", "RandomSolarize"]
    assert names(MAESameCropAugment(32)) == []
    assert gaussian_kernel_size(2.0, 224) == 13 and gaussian_kernel_size(2.0, 8) == 7
    assert gaussian_kernel_size(0.2, 32) == 3


class _CountCalls(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("make", RECIPES)
def test_augmentation_is_batched_not_a_per_image_loop(make):
    aug = make(32)
    counts = []
    for batch in (64, 256):        # large enough that every random branch (e.g. each jitter place's hue) is taken
        torch.manual_seed(0)
        x = torch.rand(batch, 3, 32, 32)
        with _CountCalls() as mode:
            aug(x)
        counts.append(mode.calls)
    assert counts[1] <= 1.2 * counts[0] + 20, counts   # a per-image loop would scale with the batch (4x)
