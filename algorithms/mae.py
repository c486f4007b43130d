"""MAE (spec algorithms.md §11): masked-patch reconstruction with a ViT encoder and a small Transformer decoder.

* Encoder: the ViT backbone (``algorithms.vit``), fed the CLS token and the visible patches of view 1.
* Masking: for each image, exactly ``round(ratio * N)`` of the N patches are masked, a uniformly random subset
  drawn per image. ``mask_ratio`` (0.75) in scheduled pretraining runs, ``realtime_mask_ratio`` (0.1, "set for
  the whole run") in the real-time exposure runs, which the engine signals with ``training_progress is None``.
* Decoder: the encoder output (final norm) -> linear map to the decoder width (no bias) -> + fixed 2-d sin-cos
  position embedding, a learned mask token (+ position) for each masked patch -> ``decoder_depth`` timm Blocks
  -> LayerNorm -> linear prediction of the p * p * 3 pixels of each masked patch.
* Loss: MSE between the predictions and the per-patch-normalised pixels of view 2 at the masked positions, on
  masked patches only. Normalisation as the original: pixels back in [0, 1] (ImageNet normalisation undone),
  each patch and colour channel standardised with its own mean and unbiased standard deviation (+ 1e-6).
  Two-view mode: the encoder sees view 1 masked and the targets come from view 2; the pretraining pairs are
  (img, img) through ``MAESameCropAugment``, so there both views are one image (the single-view objective).
* Read-out: LayerNorm(mean patch token) of each of the last 4 blocks, concatenated, not normalised
  (4 x 384 = 1,536-d for ViT-S), on the unmasked image; the LayerNorm is the encoder's final one.

Differences from the original code: the encoder is timm's ViT with a CLS token and a learned position
embedding (the original encoder has no CLS token and fixed sin-cos positions), so the CLS token is carried
through to the decoder and left out of the read-out's token mean; the decoder's fixed positions are 2-d
sin-cos (the original: a 1-d sinusoid table over the patch index); the original rounds the masked count down
(``int(ratio * N)``), here it is rounded to nearest.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import Block
from torch import nn

from .normalize import IMAGENET_MEAN, IMAGENET_STD
from .base import Algorithm


def sincos_pos_embed_2d(dim: int, grid: int) -> torch.Tensor:
    """Fixed 2-d sine-cosine position embedding [grid * grid, dim] (half the channels per axis), raster order."""
    if dim % 4:
        raise ValueError(f"sin-cos position embedding needs a width divisible by 4, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4))
    coords = torch.arange(grid, dtype=torch.float64)
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")

    def axis(pos: torch.Tensor) -> torch.Tensor:
        out = pos.reshape(-1, 1) * omega[None]
        return torch.cat([out.sin(), out.cos()], dim=1)

    return torch.cat([axis(ys), axis(xs)], dim=1).float()


def random_masking(batch: int, num_patches: int, num_masked: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, a uniformly random set of ``num_masked`` patches: (keep [B, N - M], masked [B, M]) indices.

    Drawn from torch's global RNG (on the CPU, so a seed reproduces it on any device)."""
    order = torch.rand(batch, num_patches).argsort(dim=1)
    order = order.to(device) if device is not None else order
    return order[:, num_masked:], order[:, :num_masked]


class MAE(Algorithm):
    name = "mae"

    def __init__(
        self,
        backbone: nn.Module,
        decoder_dim: int = 192,
        decoder_depth: int = 4,
        decoder_heads: int = 3,
        mask_ratio: float = 0.75,
        realtime_mask_ratio: float = 0.1,
        norm_pix_loss: bool = True,
        readout_blocks: int = 4,
    ) -> None:
        super().__init__(backbone)
        for attr in ("patchify", "tokens", "block_outputs", "num_patches"):
            if not hasattr(backbone, attr):
                raise TypeError(
                    f"MAE needs a ViT backbone (algorithms.vit.vit_backbone); {type(backbone).__name__} lacks .{attr}"
                )
        for r in (mask_ratio, realtime_mask_ratio):
            if not 0.0 < r < 1.0:
                raise ValueError(f"mask ratios must lie in (0, 1), got {r}")
        if not 1 <= readout_blocks <= len(backbone.blocks):
            raise ValueError(f"readout_blocks={readout_blocks} but the backbone has {len(backbone.blocks)} blocks")
        self.mask_ratio = float(mask_ratio)
        self.realtime_mask_ratio = float(realtime_mask_ratio)
        self.norm_pix_loss = bool(norm_pix_loss)
        self.readout_blocks = int(readout_blocks)
        n = backbone.num_patches
        grid = math.isqrt(n)
        if grid * grid != n:
            raise ValueError(f"MAE needs a square patch grid, got {n} patches")
        p = backbone.patch_size

        self.encoder_to_decoder = nn.Linear(backbone.out_dim, decoder_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        # CLS position: zeros; patches: fixed sin-cos (not trained, not saved)
        pos = torch.cat([torch.zeros(1, decoder_dim), sincos_pos_embed_2d(decoder_dim, grid)])
        self.register_buffer("decoder_pos_embed", pos.unsqueeze(0), persistent=False)
        self.decoder_blocks = nn.Sequential(
            *(Block(decoder_dim, decoder_heads, mlp_ratio=4.0, qkv_bias=True) for _ in range(decoder_depth))
        )
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(decoder_dim, p * p * 3)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        for m in [self.encoder_to_decoder, self.decoder_blocks, self.decoder_norm, self.decoder_pred]:
            m.apply(_init_weights)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    # -------------------------------------------------------------------------------------------- masking
    def current_mask_ratio(self) -> float:
        """``mask_ratio`` in scheduled pretraining, ``realtime_mask_ratio`` in exposure runs (progress None)."""
        return self.mask_ratio if self.training_progress is not None else self.realtime_mask_ratio

    def num_masked(self, ratio: float | None = None) -> int:
        ratio = self.current_mask_ratio() if ratio is None else ratio
        return int(round(ratio * self.backbone.num_patches))

    # -------------------------------------------------------------------------------------------- targets
    def patch_targets(self, images: torch.Tensor) -> torch.Tensor:
        """[B, N, p * p * 3] reconstruction targets from ImageNet-normalised images, pixel-major, channel-minor.

        With ``norm_pix_loss``, each patch's pixels are standardised per colour channel:
        (x - mean) / (unbiased std + 1e-6), in [0, 1] pixel units."""
        with torch.no_grad():
            x = images.float() * self.pixel_std + self.pixel_mean
            patches = self.backbone.patchify(x)                                  # [B, N, p*p, 3]
            if self.norm_pix_loss:
                mean = patches.mean(dim=2, keepdim=True)
                std = patches.var(dim=2, unbiased=True, keepdim=True).sqrt()
                patches = (patches - mean) / (std + 1e-6)
            return patches.flatten(2)

    # -------------------------------------------------------------------------------------------- model
    def predict(self, images: torch.Tensor, keep: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """Predicted pixels [B, M, p * p * 3] of the ``masked`` patches, from the ``keep`` patches of ``images``."""
        latent = self.encoder_to_decoder(self.backbone.tokens(images, keep))        # [B, 1 + K, Dd]
        prefix = latent.shape[1] - keep.shape[1]
        pos = self.decoder_pos_embed.to(latent.dtype).expand(latent.shape[0], -1, -1)
        patch_pos = pos[:, prefix:]

        def gather(idx: torch.Tensor) -> torch.Tensor:
            return torch.gather(patch_pos, 1, idx.unsqueeze(-1).expand(-1, -1, patch_pos.shape[-1]))

        visible = latent + torch.cat([pos[:, :prefix], gather(keep)], dim=1)
        mask_tokens = self.mask_token.to(latent.dtype) + gather(masked)
        x = self.decoder_blocks(torch.cat([visible, mask_tokens], dim=1))
        return self.decoder_pred(self.decoder_norm(x[:, -masked.shape[1]:]))

    def training_loss(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        b, n = view1.shape[0], self.backbone.num_patches
        m = self.num_masked()
        if not 1 <= m <= n:
            raise ValueError(f"mask ratio {self.current_mask_ratio()} masks {m} of {n} patches; need at least one")
        keep, masked = random_masking(b, n, m, view1.device)
        pred = self.predict(view1, keep, masked)
        target = self.patch_targets(view2)
        target = torch.gather(target, 1, masked.unsqueeze(-1).expand(-1, -1, target.shape[-1]))
        with torch.autocast(device_type=view1.device.type, enabled=False):
            return F.mse_loss(pred.float(), target)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """LayerNorm(mean patch token) of each of the last ``readout_blocks`` blocks, concatenated (not normalised)."""
        prefix = self.backbone.num_prefix_tokens
        blocks = self.backbone.block_outputs(images, self.readout_blocks)
        feats = [self.backbone.norm(x[:, prefix:].mean(dim=1)) for x in blocks]
        return torch.cat(feats, dim=1).float()

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Life-long read-out features: the same block read-out as ``embed`` (lifelong.md §9.1)."""
        return self.embed(images)

    # -------------------------------------------------------------------------------------------- optimiser
    def param_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups of the original: no weight decay on biases, norm weights, the CLS token, the position
        embedding and the mask token; ``weight_decay`` on the other weights."""
        skip = {"backbone.cls_token", "backbone.pos_embed", "backbone.reg_token", "mask_token"}
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim <= 1 or name in skip else decay).append(p)
        groups = [{"params": decay, "weight_decay": weight_decay}]
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0, "lars_exclude": True})
        return groups


def _init_weights(m: nn.Module) -> None:
    """The original's decoder initialisation: Xavier-uniform linear weights, zero biases, unit LayerNorms."""
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
