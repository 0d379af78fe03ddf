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
from .postprocess import postprocess_vis, postprocess_vps, postprocess_vss

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
                 window_size: int = 1, input_format: str = "RGB", task: str | None = "vis",
                 max_num: int = 10, object_mask_threshold: float = 0.8, overlap_threshold: float = 0.8,
                 num_things: int | None = None):
        """``task``: "vis" | "vps" | "vss" post-processing of ``forward`` (None: raw outputs);
        ``max_num`` VIS tracks per video; the thresholds and ``num_things`` (things are the
        contiguous classes ``< num_things``) are for "vps"."""
        super().__init__()
        if task not in (None, "vis", "vps", "vss"):
            raise ValueError(f"unknown MODEL.BACKBONE.TEST.TASK '{task}' (vis, vps or vss)")
        if task == "vps" and num_things is None:
            raise ValueError("panoptic post-processing needs the number of thing classes")
        self.task, self.max_num = task, max_num
        self.object_mask_threshold, self.overlap_threshold = object_mask_threshold, overlap_threshold
        self.num_things = num_things
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
            task=cfg.MODEL.BACKBONE.TEST.TASK,
            max_num=cfg.MODEL.BACKBONE.TEST.MAX_NUM,
            object_mask_threshold=cfg.MODEL.BACKBONE.TEST.OBJECT_MASK_THRESHOLD,
            overlap_threshold=cfg.MODEL.BACKBONE.TEST.OVERLAP_THRESHOLD,
            num_things=_num_things(cfg),
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
        window = window_size or self.window_size or frames.shape[0]
        window = frames.shape[0] if window < 0 else window
        state, logits, masks = None, [], []
        for start in range(0, frames.shape[0], window):  # normalise per window: bounded device memory
            x, image_size = self.preprocess(frames[start:start + window])
            out = self.core(x.unsqueeze(0), state)
            state = out["state"]
            logits.append(out["pred_logits"][0].float().cpu())
            masks.append(out["pred_masks"][0].float().cpu())
        return {"pred_logits": torch.cat(logits), "pred_masks": torch.cat(masks),
                "image_size": image_size, "padded_size": tuple(x.shape[-2:])}

    def forward(self, batched_inputs: list[dict]) -> list[dict]:
        """Inference on a batch of videos. Each input dict holds ``image`` (T, 3, H, W) pixels and
        optionally the original ``height``/``width`` that masks are resized back to. Returns one
        dict per video: the task's post-processed prediction (see ``videomt.postprocess``)."""
        results = []
        for inp in batched_inputs:
            raw = self.run_video(inp["image"])
            size = (inp.get("height", raw["image_size"][0]), inp.get("width", raw["image_size"][1]))
            results.append(self.postprocess(raw, size))
        return results

    def postprocess(self, raw: dict, output_size) -> dict:
        if self.task == "vis":
            out = postprocess_vis(raw, output_size, self.max_num)
        elif self.task == "vss":
            out = {"pred_sem_seg": postprocess_vss(raw, output_size)}
        elif self.task == "vps":
            out = postprocess_vps(raw, output_size, object_mask_threshold=self.object_mask_threshold,
                                  overlap_threshold=self.overlap_threshold, num_things=self.num_things)
        else:
            return raw
        out["task"] = self.task
        out["num_frames"] = raw["pred_logits"].shape[0]
        return out


def _num_things(cfg) -> int | None:
    """Thing-class count for panoptic post-processing, from the test dataset's metadata."""
    if cfg.MODEL.BACKBONE.TEST.TASK != "vps" or not cfg.DATASETS.TEST:
        return None
    from .data import MetadataCatalog

    meta = MetadataCatalog.get(cfg.DATASETS.TEST[0])
    return int(getattr(meta, "num_things", None) or len(meta.thing_classes))


def build_model(cfg) -> nn.Module:
    """The meta-architecture named by ``MODEL.META_ARCHITECTURE`` on ``MODEL.DEVICE``."""
    name = cfg.MODEL.META_ARCHITECTURE
    aliases = {"videomt_online": "VidEoMTOnline", "videomt": "VidEoMTOnline", "VidEoMTOnline": "VidEoMTOnline"}
    if name not in aliases:
        raise ValueError(f"unknown MODEL.META_ARCHITECTURE '{name}' (known: {sorted(aliases)})")
    cls = META_ARCH_REGISTRY.get(aliases[name])
    model = cls(**cls.from_config(cfg))
    return model.to(torch.device(cfg.MODEL.DEVICE))
