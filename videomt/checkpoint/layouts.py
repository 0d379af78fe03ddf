"""Checkpoint layouts: how each is recognised from its keys and turned into this project's.

Layouts registered here:

* ``videomt``: this project's Detectron2-style files ``{"model": state_dict, ...}``; keys
  ``core.encoder.<timm key>``, ``core.q.weight``, ``core.class_head.*`` ...
* ``official`` / ``official_dinov3``: the official VidEoMT ``.pth`` (DINOv2: timm keys under
  ``backbone.encoder.backbone.``; DINOv3: HF DINOv3 keys with ``patch_embed.`` / ``blocks.``
  prefixes there);
* ``hf``: an HF transformers ``VideomtForUniversalSegmentation`` state dict or directory
  (``config.json`` + ``model.safetensors``).

Another layout (e.g. another model's official checkpoints) is added with
:func:`register_layout` from its own module in this package, imported by ``__init__``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .files import CheckpointError, read_hf_config
from .keymaps import hf_to_videomt, official_dinov3_to_timm, timm_to_official_dinov3

__all__ = [
    "Layout",
    "LAYOUTS",
    "register_layout",
    "detect_layout",
    "to_videomt_layout",
    "videomt_to_official",
]


def _no_query_blocks(state: dict, source: str) -> int | None:
    return None


@dataclass(frozen=True)
class Layout:
    """A checkpoint layout.

    ``matches(keys)``: whether a state dict with these keys is in this layout (exactly one
    registered layout may match any state dict); ``to_videomt(state)``: the same tensors under
    our meta-architecture keys (``core.*`` and, if present, ``criterion.*``);
    ``query_blocks(state, source)``: the number of query blocks when the file records it
    (``source`` is the local file or folder), else None.
    """

    name: str
    matches: Callable[[list[str]], bool]
    to_videomt: Callable[[dict], dict]
    query_blocks: Callable[[dict, str], int | None] = _no_query_blocks


LAYOUTS: dict[str, Layout] = {}


def register_layout(layout: Layout) -> Layout:
    """Add ``layout`` to the layouts that ``detect_layout`` recognises."""
    if layout.name in LAYOUTS:
        raise ValueError(f"checkpoint layout '{layout.name}' is already registered")
    LAYOUTS[layout.name] = layout
    return layout


def detect_layout(state: dict) -> str:
    """The name of the one registered layout that ``state``'s keys match, or raises."""
    keys = list(state)
    found = [name for name, layout in LAYOUTS.items() if layout.matches(keys)]
    if len(found) == 1:
        return found[0]
    if found:
        raise CheckpointError(
            f"ambiguous checkpoint: its keys (first: {', '.join(keys[:4])}) match the layouts "
            f"{', '.join(found)}"
        )
    raise CheckpointError(
        f"unrecognised checkpoint layout (first keys: {', '.join(keys[:4])}); expected one of: "
        f"{', '.join(LAYOUTS)}"
    )


def to_videomt_layout(state: dict, layout: str | None = None) -> dict:
    """Any registered layout -> our meta-architecture keys (``core.*`` and, if present,
    ``criterion.*``)."""
    return LAYOUTS[layout or detect_layout(state)].to_videomt(state)


# ---------------------------------------------------------------------------------- official
_OFFICIAL_ENCODER = "backbone.encoder.backbone."
_OFFICIAL_DINOV3_PATCH_EMBED = _OFFICIAL_ENCODER + "patch_embed.patch_embeddings"


def _is_official(keys: list[str], dinov3: bool) -> bool:
    if not any(k.startswith(_OFFICIAL_ENCODER) for k in keys):
        return False
    if any(k.startswith("backbone.decoder.") for k in keys):  # PMT-video: see checkpoint/pmt.py
        return False
    return any(k.startswith(_OFFICIAL_DINOV3_PATCH_EMBED) for k in keys) == dinov3


def _official_to_videomt(state: dict, encoder_to_timm: Callable[[dict], dict]) -> dict:
    out, encoder = {}, {}
    for key, value in state.items():
        if key.startswith(_OFFICIAL_ENCODER):
            encoder[key[len(_OFFICIAL_ENCODER) :]] = value
        elif key.startswith("backbone."):
            name = key[len("backbone.") :]
            if name != "attn_mask_probs":  # the training-time mask annealing state
                out["core." + name] = value
        elif key.startswith("criterion."):
            out[key] = value
    out.update({"core.encoder." + k: v for k, v in encoder_to_timm(encoder).items()})
    return out


def _official_query_blocks(state: dict, source: str) -> int | None:
    probs = state.get("backbone.attn_mask_probs")  # one entry per query block
    return None if probs is None else int(probs.numel())


def videomt_to_official(state: dict, num_query_blocks: int, dinov3: bool = False) -> dict:
    """Our keys -> the official ``.pth`` layout (adds the all-ones ``attn_mask_probs`` buffer)."""
    encoder = {
        k[len("core.encoder.") :]: v for k, v in state.items() if k.startswith("core.encoder.")
    }
    if dinov3:
        encoder = timm_to_official_dinov3(encoder)
    out = {_OFFICIAL_ENCODER + k: v for k, v in encoder.items()}
    for k, v in state.items():
        if k.startswith("core.") and not k.startswith("core.encoder."):
            out["backbone." + k[len("core.") :]] = v
        elif k.startswith("criterion."):
            out[k] = v
    out["backbone.attn_mask_probs"] = torch.ones(num_query_blocks)
    return out


# ---------------------------------------------------------------------------------- HF
def _is_hf(keys: list[str]) -> bool:
    has_patch_embed = any(k.startswith("embeddings.patch_embeddings.projection") for k in keys)
    return has_patch_embed and "query.weight" in keys


def _hf_query_blocks(state: dict, source: str) -> int | None:
    if not os.path.isdir(source):
        return None
    return int(read_hf_config(source).get("num_blocks", 0)) or None


register_layout(Layout("videomt", lambda keys: any(k.startswith("core.") for k in keys), dict))
register_layout(
    Layout(
        "official",
        lambda keys: _is_official(keys, dinov3=False),
        lambda state: _official_to_videomt(state, dict),
        _official_query_blocks,
    )
)
register_layout(
    Layout(
        "official_dinov3",
        lambda keys: _is_official(keys, dinov3=True),
        lambda state: _official_to_videomt(state, official_dinov3_to_timm),
        _official_query_blocks,
    )
)
register_layout(
    Layout(
        "hf",
        _is_hf,
        lambda state: {"core." + k: v for k, v in hf_to_videomt(state).items()},
        _hf_query_blocks,
    )
)
