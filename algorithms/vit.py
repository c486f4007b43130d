"""Vision Transformer backbone of MAE, DINO and DINONeg (spec algorithms.md §11-13: ViT-S/16).

``vit_backbone(...)`` builds timm's ``VisionTransformer`` (class token, learned absolute position embedding,
pre-norm blocks, final LayerNorm, eps 1e-6) without a classifier. ``forward(images)`` returns the pooled
features ``[B, embed_dim]``: the final-norm'd CLS token, as DINO's head reads it. What the algorithms need
beyond that:

* ``tokens(images, keep)``: the final-norm'd token sequence, optionally of the visible patches only (MAE's
  encoder sees the unmasked patches; the CLS token always comes first);
* ``block_outputs(images, n)``: the raw token sequences after each of the last ``n`` blocks (MAE's read-out,
  LayerNorm(mean token) of each of the last 4 blocks, §11);
* ``patchify(images)``: images -> per-patch pixel values (MAE's reconstruction targets);
* ``set_drop_path_rate(rate)``: stochastic depth after construction (DINO: 0.1, §12), linearly increasing over
  the blocks as in timm and DINO.

ViT-S/16 = ``vit_backbone(224, 16, 384, 12, 6)``. The input size is fixed at construction (no position-embedding
interpolation).
"""
from __future__ import annotations

import torch
from timm.layers import DropPath
from timm.models.vision_transformer import VisionTransformer
from torch import nn


class ViTBackbone(VisionTransformer):
    """timm ``VisionTransformer`` with ``num_classes=0`` and CLS-token pooling; ``out_dim = embed_dim``."""

    def __init__(
        self,
        img_size: int,
        patch_size: int,
        embed_dim: int,
        depth: int,
        num_heads: int,
        drop_path_rate: float = 0.0,
    ) -> None:
        if img_size % patch_size:
            raise ValueError(f"img_size {img_size} is not a multiple of patch_size {patch_size}")
        super().__init__(
            img_size=img_size,
            patch_size=patch_size,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            num_classes=0,
            global_pool="token",
            drop_path_rate=drop_path_rate,
        )
        self.out_dim = embed_dim
        self.patch_size = patch_size
        self.drop_path_rate = float(drop_path_rate)

    # -------------------------------------------------------------------------------------------- geometry
    @property
    def num_patches(self) -> int:
        return self.patch_embed.num_patches

    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] -> [B, N, p * p, C]: patches in the patch-embedding's raster order, pixels row-major."""
        b, c, h, w = images.shape
        p = self.patch_size
        x = images.reshape(b, c, h // p, p, w // p, p)
        return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p, c)

    # -------------------------------------------------------------------------------------------- features
    def embed_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Patch embedding + CLS token + position embedding: [B, 1 + N, D] (before the blocks)."""
        return self.norm_pre(self.patch_drop(self._pos_embed(self.patch_embed(images))))

    def tokens(self, images: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Final-norm'd tokens [B, 1 + K, D]: CLS first, then the patches listed in ``keep`` ([B, K] indices in
        0..N-1, in that order), or all N patches when ``keep`` is None."""
        x = self.embed_tokens(images)
        if keep is not None:
            prefix = self.num_prefix_tokens
            idx = keep.to(x.device).unsqueeze(-1).expand(-1, -1, x.shape[-1])
            x = torch.cat([x[:, :prefix], torch.gather(x[:, prefix:], 1, idx)], dim=1)
        return self.norm(self.blocks(x))

    def block_outputs(self, images: torch.Tensor, n: int) -> list[torch.Tensor]:
        """The token sequences [B, 1 + N, D] output by each of the last ``n`` blocks (no final norm), in block order."""
        if not 1 <= n <= len(self.blocks):
            raise ValueError(f"n must lie in [1, {len(self.blocks)}] (the number of blocks), got {n}")
        x = self.embed_tokens(images)
        out = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i >= len(self.blocks) - n:
                out.append(x)
        return out

    # -------------------------------------------------------------------------------------------- regularisation
    def set_drop_path_rate(self, rate: float) -> None:
        """Stochastic depth: block i drops its residual branches with probability rate * i / (depth - 1)."""
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"drop_path_rate must lie in [0, 1), got {rate}")
        depth = len(self.blocks)
        for i, blk in enumerate(self.blocks):
            p = rate * i / (depth - 1) if depth > 1 else rate
            blk.drop_path1 = DropPath(p) if p > 0 else nn.Identity()
            blk.drop_path2 = DropPath(p) if p > 0 else nn.Identity()
        self.drop_path_rate = float(rate)


def vit_backbone(
    img_size: int,
    patch_size: int,
    embed_dim: int,
    depth: int,
    num_heads: int,
    drop_path_rate: float = 0.0,
) -> ViTBackbone:
    """A ViT without classifier: ``forward(images) -> [B, embed_dim]`` (CLS token after the final LayerNorm)."""
    return ViTBackbone(img_size, patch_size, embed_dim, depth, num_heads, drop_path_rate)
