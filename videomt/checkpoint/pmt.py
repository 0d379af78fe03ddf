"""PMT-video checkpoints: the official ``.pth`` layouts (DINOv2 and DINOv3 encoders) <-> ours.

Official keys (all under ``backbone.``): ``encoder.backbone.*`` the frozen encoder (DINOv2: timm
keys; DINOv3: HF DINOv3 keys with ``patch_embed.`` / ``blocks.`` prefixes, as in the official
VidEoMT files), ``encoder.pixel_mean`` / ``encoder.pixel_std`` (unused buffers), ``bn.{l}.*``,
and ``decoder.*``: ``lateral_projections``, ``scalers``, ``q``, ``blocks.{j}`` (HF DINOv3 block
naming: ``attention.{q,k,v,o}_proj``, ``layer_scale{1,2}.lambda1``, ``mlp.{up,down}_proj``),
``decoder_norm``, ``query_updater``, ``upscale``, ``mask_head``, ``class_head`` and the unused
``attn_mask_probs``; plus ``criterion.empty_weight``.

Ours (``PMT`` under ``core.``): ``core.encoder.<timm key>``, ``core.bn.{l}.*``,
``core.lateral_projections``, ``core.scalers``, ``core.q``, ``core.blocks.{j}.<timm EvaBlock
key>`` (fused ``attn.qkv.weight``, ``attn.q_bias`` / ``attn.v_bias``, ``gamma_1/2``,
``mlp.fc1/fc2``), ``core.decoder_norm`` and the heads. The decoder blocks convert with the same
HF <-> timm DINOv3 key map as a DINOv3 encoder.

Registers the layouts ``official_pmt`` and ``official_pmt_dinov3`` with ``detect_layout``.
"""

from __future__ import annotations

from functools import partial

import torch

from .keymaps import (
    hf_dinov3_to_timm,
    official_dinov3_to_timm,
    timm_dinov3_to_hf,
    timm_to_official_dinov3,
)
from .layouts import Layout, register_layout

__all__ = ["is_official_pmt", "official_pmt_to_videomt", "videomt_to_official_pmt"]

_ENCODER = "backbone.encoder.backbone."
_DECODER = "backbone.decoder."
_DINOV3_PATCH_EMBED = _ENCODER + "patch_embed.patch_embeddings"
_UNUSED = (
    "backbone.encoder.pixel_mean",
    "backbone.encoder.pixel_std",
    _DECODER + "attn_mask_probs",
)
# ImageNet mean / std in [0, 1]: the values of the official files' unused buffers
_PIXEL_MEAN = (0.485, 0.456, 0.406)
_PIXEL_STD = (0.229, 0.224, 0.225)


def is_official_pmt(keys: list[str], dinov3: bool) -> bool:
    """An official PMT-video state dict: a ``backbone.decoder.`` and an official encoder."""
    if not any(k.startswith(_DECODER) for k in keys):
        return False
    if not any(k.startswith(_ENCODER) for k in keys):
        return False
    return any(k.startswith(_DINOV3_PATCH_EMBED) for k in keys) == dinov3


def _decoder_blocks_to_timm(blocks: dict) -> dict:
    """``blocks.{j}.<HF DINOv3 layer key>`` -> ``blocks.{j}.<timm EvaBlock key>``."""
    hf = {"layer." + k[len("blocks.") :]: v for k, v in blocks.items()}
    return hf_dinov3_to_timm(hf)


def _decoder_blocks_to_official(blocks: dict) -> dict:
    hf = timm_dinov3_to_hf(blocks)
    return {"blocks." + k[len("layer.") :]: v for k, v in hf.items()}


def official_pmt_to_videomt(state: dict, dinov3: bool) -> dict:
    """Official PMT-video keys -> ours (``core.*``, ``criterion.*``); unused buffers dropped."""
    out, encoder, blocks = {}, {}, {}
    for key, value in state.items():
        if key in _UNUSED:
            continue
        if key.startswith(_ENCODER):
            encoder[key[len(_ENCODER) :]] = value
        elif key.startswith(_DECODER + "blocks."):
            blocks[key[len(_DECODER) :]] = value
        elif key.startswith(_DECODER):
            out["core." + key[len(_DECODER) :]] = value
        elif key.startswith("backbone."):  # bn.{l}.*
            out["core." + key[len("backbone.") :]] = value
        else:  # criterion.empty_weight
            out[key] = value
    if dinov3:
        encoder = official_dinov3_to_timm(encoder)
    out.update({"core.encoder." + k: v for k, v in encoder.items()})
    out.update({"core." + k: v for k, v in _decoder_blocks_to_timm(blocks).items()})
    return out


def videomt_to_official_pmt(
    state: dict, dinov3: bool = False, no_object_weight: float = 0.1
) -> dict:
    """Our PMT keys -> the official layout, with its unused buffers (``attn_mask_probs`` all
    ones, one per decoder block; the encoder wrapper's ImageNet ``pixel_mean`` / ``pixel_std``)
    and, when ``state`` has none, the criterion's class weights (1 per class,
    ``no_object_weight`` for no-object)."""
    out, encoder, blocks = {}, {}, {}
    for key, value in state.items():
        if key.startswith("core.encoder."):
            encoder[key[len("core.encoder.") :]] = value
        elif key.startswith("core.blocks."):
            blocks[key[len("core.") :]] = value
        elif key.startswith("core.bn."):
            out["backbone." + key[len("core.") :]] = value
        elif key.startswith("core."):
            out[_DECODER + key[len("core.") :]] = value
        else:
            out[key] = value
    if dinov3:
        encoder = timm_to_official_dinov3(encoder)
    out.update({_ENCODER + k: v for k, v in encoder.items()})
    decoder_blocks = _decoder_blocks_to_official(blocks)
    out.update({_DECODER + k: v for k, v in decoder_blocks.items()})
    num_blocks = len({k.split(".")[1] for k in blocks})
    out[_DECODER + "attn_mask_probs"] = torch.ones(num_blocks)
    out["backbone.encoder.pixel_mean"] = torch.tensor(_PIXEL_MEAN).view(1, 3, 1, 1)
    out["backbone.encoder.pixel_std"] = torch.tensor(_PIXEL_STD).view(1, 3, 1, 1)
    if "criterion.empty_weight" not in out:
        weight = torch.ones(state["core.class_head.bias"].shape[0])  # (K+1,)
        weight[-1] = no_object_weight
        out["criterion.empty_weight"] = weight
    return out


def _num_decoder_blocks(state: dict, source: str) -> int | None:
    indices = {k.split(".")[3] for k in state if k.startswith(_DECODER + "blocks.")}
    return len(indices) or None


for _name, _dinov3 in (("official_pmt", False), ("official_pmt_dinov3", True)):
    register_layout(
        Layout(
            _name,
            partial(is_official_pmt, dinov3=_dinov3),
            partial(official_pmt_to_videomt, dinov3=_dinov3),
            _num_decoder_blocks,
        )
    )
