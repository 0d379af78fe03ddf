"""Prediction heads: the ScaleBlock pixel upsampler, the mask MLP and the mask/class prediction."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["LayerNorm2d", "ScaleBlock", "MaskMLP", "num_upscale_blocks", "predict_from_tokens"]


def num_upscale_blocks(patch_size: int) -> int:
    """Number of 2x upsampling blocks so masks come out at stride 4 (2 for patch 16)."""
    return max(1, int(math.log2(patch_size)) - 2)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of each pixel. x: (N, C, H, W)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # (N, H, W, C)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ScaleBlock(nn.Module):
    """2x upsampling: transposed conv -> GELU -> depthwise 3x3 conv -> LayerNorm2d."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = nn.ConvTranspose2d(dim, dim, kernel_size=2, stride=2)
        self.act = nn.GELU()
        self.conv2 = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim, bias=False)
        self.norm = LayerNorm2d(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, h, w) -> (N, C, 2h, 2w)
        return self.norm(self.conv2(self.act(self.conv1(x))))


class MaskMLP(nn.Sequential):
    """Linear-GELU-Linear-GELU-Linear (state-dict indices 0, 2, 4 as in the reference)."""

    def __init__(self, dim: int):
        super().__init__(
            nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim)
        )


def predict_from_tokens(
    core: nn.Module, x: torch.Tensor, grid: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class and mask logits from a token sequence, with the core's ``class_head``, ``mask_head``
    and ``upscale`` (every core has the same heads).

    x: (N, Q + P + Hg*Wg, C) laid out [queries | cls, reg | patches], Q = ``core.num_queries``,
    P = ``core.num_prefix_tokens``. Returns class logits (N, Q, K+1) and mask logits
    (N, Q, Hg*s, Wg*s), s = 2**num_upscale.
    """
    queries = x[:, : core.num_queries]  # (N, Q, C)
    patches = x[:, core.num_queries + core.num_prefix_tokens :]  # (N, Hg*Wg, C)
    pixel = patches.transpose(1, 2).reshape(x.shape[0], -1, grid[0], grid[1])  # (N, C, Hg, Wg)
    pixel = core.upscale(pixel)  # (N, C, 4Hg, 4Wg)
    mask_embed = core.mask_head(queries)  # (N, Q, C)
    masks = torch.einsum("nqc,nchw->nqhw", mask_embed, pixel)
    return core.class_head(queries), masks
