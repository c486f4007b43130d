"""The ViT backbone of MAE, DINO and DINONeg (algorithms/vit.py; spec algorithms.md §11-13)."""
from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from timm.layers import DropPath
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from algorithm_checks import one_thread_fixture
from algorithms.vit import ViTBackbone, vit_backbone
from lifelong.components import backbone_node
from tests.compose import make_cfg


_one_thread = one_thread_fixture()


def _cpu_vit(**kw) -> ViTBackbone:
    torch.manual_seed(0)
    args = dict(img_size=32, patch_size=4, embed_dim=32, depth=4, num_heads=2)
    args.update(kw)
    return vit_backbone(**args).eval()


def test_cpu_size_shapes_and_cls_pooling():
    net = _cpu_vit()
    x = torch.randn(3, 3, 32, 32)
    assert isinstance(net, VisionTransformer) and net.out_dim == 32 and net.num_patches == 64
    with torch.no_grad():
        pooled = net(x)
        tokens = net.tokens(x)
        blocks = net.block_outputs(x, 4)
    assert pooled.shape == (3, 32)
    assert tokens.shape == (3, 65, 32)
    # forward = the final-norm'd CLS token; tokens = final norm of the last block's output
    torch.testing.assert_close(pooled, tokens[:, 0], rtol=0, atol=0)
    assert len(blocks) == 4 and all(b.shape == (3, 65, 32) for b in blocks)
    torch.testing.assert_close(net.norm(blocks[-1]), tokens, rtol=0, atol=1e-6)
    with torch.no_grad():
        last_two = net.block_outputs(x, 2)
    torch.testing.assert_close(last_two[0], blocks[2], rtol=0, atol=0)
    with pytest.raises(ValueError):
        net.block_outputs(x, 5)


def test_cpu_config_entry_builds_the_stand_in(tmp_path):
    cfg = make_cfg(tmp_path, ["algorithm=dino"])
    net = instantiate(backbone_node(cfg))
    assert isinstance(net, ViTBackbone)
    assert (net.patch_size, net.out_dim, len(net.blocks), net.blocks[0].attn.num_heads) == (4, 64, 4, 2)
    with torch.no_grad():
        assert net.eval()(torch.randn(2, 3, cfg.image_size, cfg.image_size)).shape == (2, 64)


def test_vit_s16_at_224_builds_with_12_blocks_of_width_384(tmp_path):
    cfg = make_cfg(tmp_path, ["algorithm=dino", "backbone=paper", "image_size=224"])
    net = instantiate(backbone_node(cfg)).eval()
    assert len(net.blocks) == 12 and net.out_dim == 384 and net.embed_dim == 384
    assert net.blocks[0].attn.num_heads == 6 and net.patch_size == 16 and net.num_patches == 196
    assert net.pos_embed.shape == (1, 197, 384)
    # ViT-S/16 without classifier: 21.67 M parameters (timm's vit_small_patch16_224 less its 1000-way head)
    assert sum(p.numel() for p in net.parameters()) == 21_665_664
    with torch.no_grad():
        assert net(torch.randn(1, 3, 224, 224)).shape == (1, 384)


def test_patchify_layout():
    net = _cpu_vit()
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
    patches = net.patchify(x)
    assert patches.shape == (2, 64, 16, 3)
    # patch k = (row i, column j) of the 8 x 8 grid, pixel (r, c) inside it, channel ch
    for b, i, j, r, c, ch in [(0, 0, 0, 0, 0, 0), (1, 2, 5, 3, 1, 2), (0, 7, 7, 3, 3, 1), (1, 0, 6, 2, 0, 0)]:
        assert patches[b, i * 8 + j, r * 4 + c, ch] == x[b, ch, i * 4 + r, j * 4 + c]


def test_tokens_of_visible_patches_follow_the_keep_order():
    net = _cpu_vit()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        full = net.tokens(x)
        same = net.tokens(x, torch.arange(64).expand(2, 64))
        perm = torch.stack([torch.randperm(64), torch.randperm(64)])
        permuted = net.tokens(x, perm)
        sub = net.tokens(x, perm[:, :10])
    torch.testing.assert_close(same, full, rtol=0, atol=1e-6)
    # attention is permutation-equivariant once the position embedding is added: same tokens, reordered
    reordered = torch.stack([full[b, 1:][perm[b]] for b in range(2)])
    torch.testing.assert_close(permuted[:, 1:], reordered, rtol=0, atol=1e-5)
    torch.testing.assert_close(permuted[:, 0], full[:, 0], rtol=0, atol=1e-5)
    assert sub.shape == (2, 11, 32)
    assert not torch.allclose(sub[:, 0], full[:, 0], atol=1e-3)   # the CLS token only sees the kept patches


def test_set_drop_path_rate_linear_over_blocks():
    net = _cpu_vit()
    assert all(isinstance(b.drop_path1, nn.Identity) for b in net.blocks)
    net.set_drop_path_rate(0.3)
    probs = [b.drop_path1.drop_prob if isinstance(b.drop_path1, DropPath) else 0.0 for b in net.blocks]
    assert probs == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert all(type(b.drop_path1) is type(b.drop_path2) for b in net.blocks)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        ref = net.eval()(x)
        net.train()
        torch.manual_seed(1)
        a = net(x)
        torch.manual_seed(2)
        b = net(x)
    assert not torch.allclose(a, b)                              # stochastic depth is active in training
    torch.testing.assert_close(net.eval()(x), ref, rtol=0, atol=0)
    net.set_drop_path_rate(0.0)
    assert all(isinstance(b.drop_path2, nn.Identity) for b in net.blocks)


def test_bad_sizes_raise():
    with pytest.raises(ValueError):
        vit_backbone(30, 4, 32, 2, 2)
    with pytest.raises(ValueError):
        _cpu_vit().set_drop_path_rate(1.0)
