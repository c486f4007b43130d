"""MAE (algorithms/mae.py; spec algorithms.md §11): masking, targets, loss support, read-out, config."""
from __future__ import annotations

import math

import pytest
import torch

from algorithm_checks import assert_embed, assert_loss_decreases, assert_state_round_trip, one_thread_fixture
from algorithms.augment import MAESameCropAugment
from algorithms.normalize import IMAGENET_MEAN, IMAGENET_STD
from algorithms.mae import MAE, random_masking, sincos_pos_embed_2d
from algorithms.vit import ViTBackbone, vit_backbone
from lifelong.components import algorithm_parts
from tests.compose import make_cfg

MEAN = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

_one_thread = one_thread_fixture()


def _mae(seed=0, **kw) -> MAE:
    torch.manual_seed(seed)
    args = dict(decoder_dim=32, decoder_depth=2, decoder_heads=2)
    args.update(kw)
    return MAE(vit_backbone(32, 4, 32, 4, 2), **args)


def _images(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, 32, 32, generator=g) - MEAN) / STD


# ---------------------------------------------------------------------------------------------------------------
# masking


def test_random_masking_exact_count_disjoint_and_per_image():
    torch.manual_seed(0)
    keep, masked = random_masking(16, 64, 48)
    assert keep.shape == (16, 16) and masked.shape == (16, 48)
    for b in range(16):
        assert sorted(torch.cat([keep[b], masked[b]]).tolist()) == list(range(64))
    sets = {frozenset(masked[b].tolist()) for b in range(16)}
    assert len(sets) == 16                       # a different random set per image
    # every patch is masked about 3/4 of the time over many draws
    counts = torch.zeros(64)
    for _ in range(200):
        counts.index_add_(0, random_masking(1, 64, 48)[1][0], torch.ones(48))
    assert counts.min() > 0.6 * 200 and counts.max() < 0.9 * 200


def test_mask_ratio_pretraining_vs_exposure():
    algo = _mae()
    n = algo.backbone.num_patches
    assert n == 64
    algo.training_progress = 0.3                  # scheduled (pretraining) run
    assert algo.current_mask_ratio() == 0.75 and algo.num_masked() == 48 == round(0.75 * n)
    algo.training_progress = None                 # exposure run
    assert algo.current_mask_ratio() == 0.1 and algo.num_masked() == 6 == round(0.1 * n)
    assert algo.num_masked(0.3) == 19             # round(19.2)


def _mask_for(seed: int, algo: MAE, batch: int):
    torch.manual_seed(seed)
    return random_masking(batch, algo.backbone.num_patches, algo.num_masked())


def test_loss_uses_only_the_masked_patches_of_view2_and_visible_patches_of_view1():
    algo = _mae().eval()
    algo.training_progress = 0.5
    v1, v2 = _images(4, 1), _images(4, 2)
    keep, masked = _mask_for(7, algo, 4)

    def loss(a, b):
        torch.manual_seed(7)                      # the same mask as _mask_for(7): its first RNG draw
        with torch.no_grad():
            return algo.training_loss(a, b).item()

    base = loss(v1, v2)

    def patch_slice(k):
        i, j = divmod(int(k), 8)
        return slice(i * 4, i * 4 + 4), slice(j * 4, j * 4 + 4)

    # changing an unmasked target patch of view 2 does not change the loss; a masked one does
    ys, xs = patch_slice(keep[0, 0])
    w = v2.clone()
    w[0, :, ys, xs] = torch.randn(3, 4, 4) * 3
    assert loss(v1, w) == base
    ys, xs = patch_slice(masked[0, 0])
    w = v2.clone()
    w[0, :, ys, xs] = torch.randn(3, 4, 4) * 3
    assert abs(loss(v1, w) - base) > 1e-4
    # the encoder sees view 1 only at the visible patches
    ys, xs = patch_slice(masked[2, 5])
    w = v1.clone()
    w[2, :, ys, xs] = torch.randn(3, 4, 4) * 3
    assert loss(w, v2) == pytest.approx(base, abs=1e-6)
    ys, xs = patch_slice(keep[2, 3])
    w = v1.clone()
    w[2, :, ys, xs] = torch.randn(3, 4, 4) * 3
    assert abs(loss(w, v2) - base) > 1e-5


def test_loss_is_mse_of_predictions_on_masked_targets():
    algo = _mae().eval()
    algo.training_progress = None
    v1, v2 = _images(3, 3), _images(3, 4)
    keep, masked = _mask_for(11, algo, 3)
    with torch.no_grad():
        pred = algo.predict(v1, keep, masked)
        targets = algo.patch_targets(v2)
        torch.manual_seed(11)
        loss = algo.training_loss(v1, v2)
    assert pred.shape == (3, 6, 48)
    expected = sum(((pred[b, i] - targets[b, int(masked[b, i])]) ** 2).sum() for b in range(3) for i in range(6))
    assert loss.item() == pytest.approx(expected.item() / (3 * 6 * 48), rel=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# targets


def test_per_patch_normalisation_hand_computed():
    algo = _mae()
    pix = torch.zeros(1, 3, 32, 32)
    pix[0, :, 0:4, 0:4] = (torch.arange(16).reshape(4, 4) % 2).float()   # patch 0: eight 0s and eight 1s
    pix[0, 1, 0:4, 4:8] = 0.25                                         # patch 1, green: constant
    targets = algo.patch_targets((pix - MEAN) / STD)
    assert targets.shape == (1, 64, 48)
    # mean 0.5, unbiased variance 16 * 0.25 / 15 -> each pixel +-0.5 / (sqrt(4/15) + 1e-6)
    v = 0.5 / (math.sqrt(4 / 15) + 1e-6)
    expected = torch.tensor([[-v] * 3 if k % 2 == 0 else [v] * 3 for k in range(16)]).flatten()
    torch.testing.assert_close(targets[0, 0], expected, rtol=1e-5, atol=1e-5)
    assert targets[0, 1].abs().max() < 1e-4                             # a constant patch maps to 0
    # pixel-major, channel-minor layout: element 3 * pixel + channel
    assert targets[0, 0, 3 * 1 + 2].item() == pytest.approx(v, rel=1e-5)
    # invariant to a positive affine change of one patch's pixels
    scaled = pix.clone()
    scaled[0, :, 0:4, 0:4] = 0.2 + 0.5 * scaled[0, :, 0:4, 0:4]
    torch.testing.assert_close(algo.patch_targets((scaled - MEAN) / STD)[0, 0], targets[0, 0], rtol=1e-4, atol=1e-4)
    raw = MAE(vit_backbone(32, 4, 32, 4, 2), norm_pix_loss=False).patch_targets((pix - MEAN) / STD)
    expected_raw = torch.tensor([[float(k % 2)] * 3 for k in range(16)]).flatten()
    torch.testing.assert_close(raw[0, 0], expected_raw, atol=1e-6, rtol=0)


def test_sincos_position_embedding():
    pe = sincos_pos_embed_2d(8, 3)
    assert pe.shape == (9, 8)
    # patch (row 1, column 2): [sin(1 w), cos(1 w)] for rows, then the same for columns, w = (1, 1/100)
    w = torch.tensor([1.0, 0.01])
    expected = torch.cat([torch.sin(1 * w), torch.cos(1 * w), torch.sin(2 * w), torch.cos(2 * w)])
    torch.testing.assert_close(pe[1 * 3 + 2], expected)


# ---------------------------------------------------------------------------------------------------------------
# model, read-out, optimisation


def test_decoder_defaults_and_shapes():
    torch.manual_seed(0)
    algo = MAE(vit_backbone(32, 4, 32, 4, 2))
    assert len(algo.decoder_blocks) == 4 and algo.decoder_blocks[0].attn.num_heads == 3
    assert algo.mask_token.shape == (1, 1, 192) and algo.decoder_pred.out_features == 4 * 4 * 3
    assert algo.encoder_to_decoder.bias is None and algo.decoder_pos_embed.shape == (1, 65, 192)
    with pytest.raises(TypeError):
        from algorithms.backbones import small_cnn
        MAE(small_cnn(8))
    with pytest.raises(ValueError):
        MAE(vit_backbone(32, 4, 32, 2, 2))           # fewer blocks than the 4-block read-out


def test_embed_is_layernorm_of_mean_patch_token_of_last_4_blocks():
    algo = _mae().eval()
    vit = algo.backbone

    def reference(x):
        t = vit.embed_tokens(x)
        feats = []
        for blk in vit.blocks:
            t = blk(t)
            feats.append(torch.nn.functional.layer_norm(t[:, 1:].mean(1), (32,), vit.norm.weight, vit.norm.bias, 1e-6))
        return torch.cat(feats, dim=1)

    # not L2-normalised
    assert_embed(algo, reference, 4 * 32, x=_images(5), unit_norm=False, rtol=0, atol=1e-5)


def test_param_groups_exclude_tokens_and_embeddings_from_weight_decay():
    algo = _mae()
    decay, no_decay = algo.param_groups(0.05)
    ids = lambda g: {id(p) for p in g["params"]}  # noqa: E731
    for p in (algo.backbone.cls_token, algo.backbone.pos_embed, algo.mask_token, algo.backbone.blocks[0].attn.qkv.bias,
              algo.backbone.norm.weight):
        assert id(p) in ids(no_decay) and id(p) not in ids(decay)
    assert id(algo.backbone.blocks[0].attn.qkv.weight) in ids(decay) and decay["weight_decay"] == 0.05
    assert no_decay["weight_decay"] == 0.0
    n_params = sum(1 for p in algo.parameters() if p.requires_grad)
    assert len(decay["params"]) + len(no_decay["params"]) == n_params


def _adamw(algo):
    return torch.optim.AdamW(algo.param_groups(0.05), lr=1e-3, betas=(0.9, 0.95))


def _scheduled_fixed_masks(algo, _step):
    algo.training_progress = 0.5
    torch.manual_seed(0)                           # the same masks every step: a fixed problem


def test_loss_finite_and_decreasing():
    v = _images(8)
    assert_loss_decreases(lambda: _mae().train(), _adamw, v, v, steps=8, before_loss=_scheduled_fixed_masks,
                          progress=0.5, last_ratio=0.8, sum3_ratio=None)


def test_state_round_trip_gives_identical_next_losses():
    # the masks are random: the next steps seed the global RNG alike on both models
    assert_state_round_trip(_mae, _adamw, _images(6, 5), _images(6, 6), next_steps=2)


# ---------------------------------------------------------------------------------------------------------------
# config


def test_yaml_composes_and_builds(tmp_path):
    cfg = make_cfg(tmp_path, ["algorithm=mae"])
    parts = algorithm_parts(cfg)
    algo = parts.make()
    assert isinstance(algo, MAE) and isinstance(algo.backbone, ViTBackbone) and parts.name == "mae"
    assert (algo.mask_ratio, algo.realtime_mask_ratio, algo.readout_blocks) == (0.75, 0.1, 4)
    assert parts.realtime_lr == pytest.approx(3.3e-4) and parts.weight_decay == pytest.approx(0.05)
    opt = parts.optimizer_factory(algo.param_groups(parts.weight_decay))
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.defaults["lr"] == pytest.approx(6e-4) and tuple(opt.defaults["betas"]) == (0.9, 0.95)
    assert isinstance(parts.stream_augment, MAESameCropAugment) and parts.stream_augment.scale == (0.4, 1.0)
    assert parts.pretrain_augment.scale == (0.08, 1.0) and parts.pretrain_augment.resize_center_pad.p == 0.6
    assert parts.stream_augment.resize_center_pad.p == 0.0
    s = cfg.image_size
    x, y = torch.rand(4, 3, s, s), torch.rand(4, 3, s, s)
    torch.manual_seed(0)
    v1, v2 = parts.pretrain_augment.forward_pair(x, x)
    assert torch.equal(v1, v2)                    # pretraining pairs (img, img): one image, one crop
    algo.training_progress = 0.0
    loss = algo.training_loss(v1, v2)
    assert loss.ndim == 0 and torch.isfinite(loss)
    a1, a2 = parts.stream_augment.forward_pair(x, y)
    algo.training_progress = None
    assert torch.isfinite(algo.training_loss(a1, a2))
    with torch.no_grad():
        assert algo.eval().embed(v1).shape == (4, 4 * algo.backbone.out_dim)
