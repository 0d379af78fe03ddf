"""What a checkpoint's tensors tell about the model: ViT size, depth, queries, classes."""

from __future__ import annotations

import re
from typing import NamedTuple

from .files import CheckpointError

__all__ = ["ViTSize", "VIT_SIZES", "infer_architecture"]


class ViTSize(NamedTuple):
    """A standard ViT size: timm's size word, attention heads and number of blocks."""

    name: str
    num_heads: int
    depth: int


# Embedding width -> the standard ViT of that width (DINOv2 / DINOv3 S, B, L, g).
VIT_SIZES = {
    384: ViTSize("small", 6, 12),
    768: ViTSize("base", 12, 12),
    1024: ViTSize("large", 16, 24),
    1536: ViTSize("giant", 24, 40),
}


def infer_architecture(state: dict) -> dict:
    """Model hyper-parameters readable from our-layout tensors (used to write a config).

    Returns ``model_name`` (timm name), ``img_size``, ``patch_size``, ``num_queries``,
    ``num_classes``, ``depth`` (blocks in the file) and ``embed_dim``.
    """
    enc = {k[len("core.encoder.") :]: v for k, v in state.items() if k.startswith("core.encoder.")}
    if "cls_token" not in enc or "core.q.weight" not in state:
        raise CheckpointError(
            "cannot infer the architecture: no encoder cls_token or query embedding"
        )
    dim = enc["cls_token"].shape[-1]
    depth = 1 + max(int(m.group(1)) for k in enc if (m := re.match(r"blocks\.(\d+)\.", k)))
    if dim not in VIT_SIZES:
        raise CheckpointError(f"cannot infer the ViT size from embedding width {dim}")
    size = VIT_SIZES[dim].name
    if "blocks.0.gamma_1" in enc:  # DINOv3 (timm Eva blocks)
        name = f"vit_{size}_patch16_dinov3_qkvb"
    else:
        name = f"vit_{size}_patch14_reg4_dinov2"
    patch = enc["patch_embed.proj.weight"].shape[-1]
    img_size = 640
    if "pos_embed" in enc:
        grid = int(round(enc["pos_embed"].shape[1] ** 0.5))
        img_size = grid * patch
    return {
        "model_name": name,
        "img_size": img_size,
        "patch_size": patch,
        "num_queries": state["core.q.weight"].shape[0],
        "num_classes": state["core.class_head.weight"].shape[0] - 1,
        "depth": depth,
        "embed_dim": dim,
    }
