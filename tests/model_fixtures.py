"""Small random models shared by the model / checkpoint tests (ViT-S sizes, tiny images)."""

from __future__ import annotations

import torch

NUM_QUERIES = 10
NUM_CLASSES = 5
IMG = 64


def perturb_(module: torch.nn.Module, scale: float = 0.02, seed: int = 0) -> torch.nn.Module:
    """Add noise to every parameter so LayerScale ones / zero inits cannot hide a wrong mapping."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)
    return module


def hf_videomt(num_layers: int = 12, num_blocks: int = 3):
    from transformers import VideomtConfig, VideomtForUniversalSegmentation

    torch.manual_seed(0)
    config = VideomtConfig(
        hidden_size=384,
        num_hidden_layers=num_layers,
        num_attention_heads=6,
        image_size=IMG,
        num_blocks=num_blocks,
        num_queries=NUM_QUERIES,
        id2label={i: f"class{i}" for i in range(NUM_CLASSES)},
    )
    return perturb_(VideomtForUniversalSegmentation(config).eval())


def small_cfg(**overrides):
    """A config for a ViT-S VidEoMT at 64 px with 10 queries and 5 classes."""
    from videomt import get_cfg

    cfg = get_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.BACKBONE.MODEL_NAME = "vit_small_patch14_reg4_dinov2"
    cfg.MODEL.BACKBONE.IMG_SIZE = IMG
    cfg.MODEL.BACKBONE.SEGMENTER_BLOCKS = [9, 10, 11]
    cfg.MODEL.BACKBONE.NUM_OBJECT_QUERIES = NUM_QUERIES
    cfg.MODEL.BACKBONE.NUM_CLASSES = NUM_CLASSES
    for key, value in overrides.items():
        node = cfg
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return cfg
