"""The plain ViT encoder: timm DINOv2-with-registers (absolute positions) and DINOv3 (RoPE) models.

The encoder is the timm model itself (so its state-dict keys are timm's); the functions here
are the few operations VidEoMT needs from it: embed frames into tokens, build the rotary
embedding for a token sequence that has queries in front, and run one block.
"""

from __future__ import annotations

import math

import timm
import torch
from torch import nn

from ..errors import UserError, first_line

__all__ = [
    "BackboneError",
    "resolve_timm_name",
    "create_encoder",
    "embed_frames",
    "rope_for_sequence",
    "rope_table",
    "run_block",
    "is_dinov3",
    "scaled_rope_table",
]

# HF hub ids used by the reference DINOv3 configs -> the timm model with the same architecture.
# The `_qkvb` variants carry separate q/v biases and no k bias, exactly like DINOv3.
_DINOV3_HF_TO_TIMM = {
    "vits16": "vit_small_patch16_dinov3_qkvb",
    "vits16plus": "vit_small_plus_patch16_dinov3_qkvb",
    "vitb16": "vit_base_patch16_dinov3_qkvb",
    "vitl16": "vit_large_patch16_dinov3_qkvb",
    "vith16plus": "vit_huge_plus_patch16_dinov3_qkvb",
    "vit7b16": "vit_7b_patch16_dinov3",
}


class BackboneError(UserError):
    """An unknown backbone name or an unusable pretrained-weights file."""


def resolve_timm_name(model_name: str) -> str:
    """Map a config ``MODEL_NAME`` (timm name or ``facebook/dinov3-vitX16-...`` id) to a timm
    name."""
    if model_name.startswith("facebook/dinov3-"):
        arch = model_name[len("facebook/dinov3-") :].split("-")[0]
        if arch not in _DINOV3_HF_TO_TIMM:
            raise BackboneError(
                f"unknown DINOv3 model '{model_name}' (known: {sorted(_DINOV3_HF_TO_TIMM)})"
            )
        return _DINOV3_HF_TO_TIMM[arch]
    if not timm.is_model(model_name):
        close = [
            n
            for n in timm.list_models("*dinov*")
            if model_name.split("_")[1:2] == n.split("_")[1:2]
        ]
        raise BackboneError(
            f"unknown timm model '{model_name}'" + (f"; similar: {close[:6]}" if close else "")
        )
    return model_name


def is_dinov3(encoder: nn.Module) -> bool:
    return getattr(encoder, "rope", None) is not None


def create_encoder(
    model_name: str,
    img_size: int = 640,
    patch_size: int = 16,
    pretrained: str = "",
    drop_path_rate: float = 0.0,
    depth: int = 0,
) -> nn.Module:
    """Create the timm ViT with a ``patch_size`` grid of ``img_size`` and dynamic input size.

    ``pretrained``: "" (or "none") random init; "timm" timm's own weights (downloaded; DINOv2
    14x14 kernels and 37x37 positions are resampled to ``patch_size`` and ``img_size/patch_size``
    by timm's filter). A local backbone file is loaded into the returned encoder by
    ``videomt.checkpoint.load_backbone_weights`` (the model builders do it for
    ``MODEL.BACKBONE.PRETRAINED``). ``depth`` > 0 overrides the number of blocks (small test
    models).
    """
    if pretrained not in ("", "none", "timm"):
        raise BackboneError(
            f"pretrained '{pretrained}': create_encoder takes '', 'none' or 'timm'; load a "
            "backbone file with videomt.checkpoint.load_backbone_weights(encoder, path)"
        )
    name = resolve_timm_name(model_name)
    kwargs = dict(
        img_size=img_size,
        patch_size=patch_size,
        num_classes=0,
        dynamic_img_size=True,
        drop_path_rate=drop_path_rate,
    )
    if depth > 0:
        kwargs["depth"] = depth
    try:
        encoder = timm.create_model(name, pretrained=pretrained == "timm", **kwargs)
    except OSError as e:  # hub / URL downloads (offline, no such file, HTTP): all OSErrors
        if pretrained != "timm":
            raise
        raise BackboneError(
            f"pretrained 'timm': the weights of {name} could not be downloaded ({first_line(e)}); "
            "without internet, download them where there is, and give the file as "
            "MODEL.BACKBONE.PRETRAINED <path> (timm layout, or HF DINOv3 model.safetensors)"
        ) from None
    if hasattr(encoder, "patch_embed"):
        encoder.patch_embed.strict_img_size = False
        encoder.patch_embed.dynamic_img_pad = False
    return encoder


def embed_frames(encoder: nn.Module, frames: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """Patch-embed frames and add positions / prefix tokens.

    frames: (N, 3, H, W), H and W multiples of the patch size.
    Returns tokens (N, P + Hg*Wg, C) laid out [cls, reg x R, patches row-major] and (Hg, Wg).
    """
    x = encoder.patch_embed(frames)  # (N, Hg, Wg, C) with dynamic_img_size
    grid = (x.shape[1], x.shape[2])
    x = encoder._pos_embed(x)
    if isinstance(
        x, tuple
    ):  # Eva (DINOv3): (tokens, rope), patch drop applied; rope rebuilt per sequence
        x = x[0]
    else:  # VisionTransformer (DINOv2)
        x = encoder.patch_drop(x)
    x = encoder.norm_pre(x)
    return x, grid


def rope_for_sequence(
    encoder: nn.Module,
    grid: tuple[int, int],
    num_extra: int,
    dtype: torch.dtype | None = None,
    scale: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """Rotary embedding for a sequence of ``num_extra`` unrotated tokens in front of the usual
    [cls, reg, patches] layout (DINOv3 only; None for absolute-position ViTs).

    timm skips the first ``num_prefix_tokens`` tokens and rotates the rest, so the table gets
    ``num_extra`` identity rows (sin 0, cos 1) before the patch rows: (num_extra + Hg*Wg,
    2*head_dim).

    ``scale``: None (inference, timm's table) or (N,) per-sequence factors that multiply the patch
    coordinates (DINOv3's training-time "rescale" augmentation, one factor per clip); then the
    table is (N, 1, num_extra + Hg*Wg, 2*head_dim), broadcast over the attention heads.
    """
    if not is_dinov3(encoder):
        return None
    return rope_table(encoder.rope, grid, num_extra, dtype=dtype, scale=scale)


def rope_table(
    rope: nn.Module,
    grid: tuple[int, int],
    num_extra: int,
    dtype: torch.dtype | None = None,
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """The [sin | cos] table of a timm ``RotaryEmbeddingDinoV3`` for ``num_extra`` unrotated
    tokens followed by the Hg*Wg patches (see ``rope_for_sequence`` for the shapes)."""
    if scale is None:
        # = rope.get_embed(shape=list(grid)) bit for bit, but from tensor ops on the grid: timm's
        # float(Hg) would freeze the frame size of an exported (ONNX / torch.export) graph
        ones = torch.ones(1, device=rope.periods.device)
        table = scaled_rope_table(rope, grid, ones)[0]  # (Hg*Wg, 2*head_dim) = [sin | cos]
    else:
        table = scaled_rope_table(rope, grid, scale)  # (N, Hg*Wg, 2*head_dim)
    if num_extra:
        half = table.shape[-1] // 2
        lead = (*table.shape[:-2], num_extra, half)
        table = torch.cat(
            [torch.cat([table.new_zeros(lead), table.new_ones(lead)], dim=-1), table], dim=-2
        )
    if scale is not None:
        table = table.unsqueeze(1)  # (N, 1, S, 2*head_dim): one table per sequence, all heads
    return table if dtype is None else table.to(dtype)


def scaled_rope_table(rope: nn.Module, grid: tuple[int, int], scale: torch.Tensor) -> torch.Tensor:
    """DINOv3 RoPE [sin | cos] table with the patch-centre coordinates multiplied by ``scale``.

    rope: timm ``RotaryEmbeddingDinoV3`` (its ``periods`` and layout); scale: (N,).
    Returns (N, Hg*Wg, 2*head_dim); ``scale == 1`` reproduces ``rope.get_embed(grid)``.
    Coordinates: patch centres ((i + 0.5) / Hg, (j + 0.5) / Wg) mapped to [-1, 1].
    """
    if rope.grid_offset or rope.normalize_coords != "separate" or rope.grid_indexing != "ij":
        raise BackboneError(
            "RoPE augmentation supports DINOv3 grids only (offset 0, 'separate', 'ij')"
        )
    periods = rope.periods  # (head_dim/4,)
    axes = [torch.arange(0.5, n, device=periods.device, dtype=torch.float32) / n for n in grid]
    coords = (
        2.0 * torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).flatten(0, 1) - 1.0
    )  # (HW, 2)
    coords = coords.to(periods.dtype)[None] * scale.to(periods)[:, None, None]  # (N, HW, 2)
    angles = (2 * math.pi * coords[..., None] / periods).flatten(2)  # (N, HW, head_dim/2)
    if rope.rotate_half:
        angles = torch.cat([angles, angles], dim=-1)
    else:
        angles = angles.repeat_interleave(2, dim=-1)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)  # (N, HW, 2*head_dim)


def run_block(block: nn.Module, x: torch.Tensor, rope: torch.Tensor | None) -> torch.Tensor:
    """One transformer block, full self-attention (no mask). x: (N, S, C)."""
    if rope is None:
        return block(x)
    return block(x, rope=rope)
