"""The meta-architecture: pixel normalisation, padding, window inference around the VidEoMT core.

``build_model(cfg)`` is the one place where config keys become constructor arguments
(``from_config``); the classes themselves take plain arguments.
"""
from __future__ import annotations

import math

import torch
from fvcore.common.registry import Registry
from torch import nn
from torch.nn import functional as F

from .modeling.videomt import VidEoMT

__all__ = ["META_ARCH_REGISTRY", "VidEoMTOnline", "build_model", "build_core", "pad_frames"]

META_ARCH_REGISTRY = Registry("META_ARCH")
META_ARCH_REGISTRY.__doc__ = "Meta-architectures by MODEL.META_ARCHITECTURE name."


def core_kwargs_from_config(cfg) -> dict:
    b = cfg.MODEL.BACKBONE
    return dict(
        model_name=b.MODEL_NAME,
        img_size=b.IMG_SIZE,
        patch_size=b.PATCH_SIZE,
        num_queries=b.NUM_OBJECT_QUERIES,
        num_classes=b.NUM_CLASSES,
        first_query_block=b.SEGMENTER_BLOCKS[0],
        norm_queries=b.NORM_QUERIES,
        pretrained=b.PRETRAINED,
        drop_path_rate=b.DROP_PATH_RATE,
        depth=b.DEPTH,
    )


def build_core(cfg) -> VidEoMT:
    """The pure-PyTorch VidEoMT module described by ``cfg.MODEL.BACKBONE``."""
    blocks = list(cfg.MODEL.BACKBONE.SEGMENTER_BLOCKS)
    core = VidEoMT(**core_kwargs_from_config(cfg))
    depth = len(core.encoder.blocks)
    if blocks != list(range(blocks[0], depth)):
        raise ValueError(f"MODEL.BACKBONE.SEGMENTER_BLOCKS {blocks} must be the last consecutive blocks "
                         f"of the {depth}-block encoder (e.g. {list(range(depth - len(blocks), depth))})")
    return core


def pad_frames(frames: torch.Tensor, divisibility: int) -> torch.Tensor:
    """Zero-pad (N, 3, H, W) bottom/right to multiples of ``divisibility``."""
    h, w = frames.shape[-2:]
    ph = int(math.ceil(h / divisibility) * divisibility) - h
    pw = int(math.ceil(w / divisibility) * divisibility) - w
    return F.pad(frames, (0, pw, 0, ph)) if ph or pw else frames


@META_ARCH_REGISTRY.register()
class VidEoMTOnline(nn.Module):
    """Normalise + pad frames, run the core (in windows at inference) and post-process."""

    def __init__(self, core: VidEoMT, *, pixel_mean, pixel_std, size_divisibility: int = 32,
                 window_size: int = 1, input_format: str = "RGB"):
        super().__init__()
        self.core = core
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), persistent=False)
        self.size_divisibility = max(size_divisibility, core.patch_size)
        self.window_size = window_size
        self.input_format = input_format

    @classmethod
    def from_config(cls, cfg) -> dict:
        return dict(
            core=build_core(cfg),
            pixel_mean=list(cfg.MODEL.PIXEL_MEAN),
            pixel_std=list(cfg.MODEL.PIXEL_STD),
            size_divisibility=cfg.MODEL.BACKBONE.SIZE_DIVISIBILITY,
            window_size=cfg.MODEL.BACKBONE.TEST.WINDOW_SIZE,
            input_format=cfg.INPUT.FORMAT,
        )

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess(self, frames: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """uint8/float frames (T, 3, H, W) in [0, 255] -> normalised, padded (T, 3, H', W') and (H, W)."""
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"frames must be (T, 3, H, W) with 3 channels, got {tuple(frames.shape)}")
        image_size = (frames.shape[-2], frames.shape[-1])
        x = (frames.to(self.device, torch.float32) - self.pixel_mean) / self.pixel_std
        return pad_frames(x, self.size_divisibility), image_size

    @torch.no_grad()
    def run_video(self, frames: torch.Tensor, window_size: int | None = None) -> dict:
        """Raw outputs for one whole video, processed in windows with the query state carried
        across windows (results do not depend on the window size).

        frames: (T, 3, H, W) pixels. Returns ``pred_logits`` (T, Q, K+1) and ``pred_masks``
        (T, Q, H'/4, W'/4) as fp32 on the CPU, plus ``image_size`` (H, W) and ``padded_size``.
        """
        x, image_size = self.preprocess(frames)
        window = window_size or self.window_size or x.shape[0]
        window = x.shape[0] if window < 0 else window
        state, logits, masks = None, [], []
        for start in range(0, x.shape[0], window):
            out = self.core(x[start:start + window].unsqueeze(0), state)
            state = out["state"]
            logits.append(out["pred_logits"][0].float().cpu())
            masks.append(out["pred_masks"][0].float().cpu())
        return {"pred_logits": torch.cat(logits), "pred_masks": torch.cat(masks),
                "image_size": image_size, "padded_size": tuple(x.shape[-2:])}

    def forward(self, batched_inputs: list[dict]) -> list[dict]:
        """Inference on a batch of videos: each input dict holds ``image`` (T, 3, H, W)."""
        return [self.run_video(inp["image"]) for inp in batched_inputs]


def build_model(cfg) -> nn.Module:
    """The meta-architecture named by ``MODEL.META_ARCHITECTURE`` on ``MODEL.DEVICE``."""
    name = cfg.MODEL.META_ARCHITECTURE
    aliases = {"videomt_online": "VidEoMTOnline", "videomt": "VidEoMTOnline", "VidEoMTOnline": "VidEoMTOnline"}
    if name not in aliases:
        raise ValueError(f"unknown MODEL.META_ARCHITECTURE '{name}' (known: {sorted(aliases)})")
    cls = META_ARCH_REGISTRY.get(aliases[name])
    model = cls(**cls.from_config(cfg))
    return model.to(torch.device(cfg.MODEL.DEVICE))
