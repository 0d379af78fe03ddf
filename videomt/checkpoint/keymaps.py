"""Key maps between weight layouts: timm DINOv3 <-> HF DINOv3 <-> official VidEoMT DINOv3 encoder,
ours <-> HF VidEoMT.

A key map is a list of (key in one layout, key in the other) templates, where ``{i}`` stands for
a block index and ``{p}`` for ``weight`` / ``bias``. timm keeps one fused ``qkv`` projection per
attention block where HF keeps ``q_proj``, ``k_proj`` and ``v_proj``: the maps name the fused
tensor on both sides (``...qkv.{p}``) and :func:`fuse_qkv` / :func:`split_qkv` turn the HF
side's three tensors into that one and back.
"""

from __future__ import annotations

import re

import torch

from .files import CheckpointError

__all__ = [
    "rename_keys",
    "fuse_qkv",
    "split_qkv",
    "DINOV3_TIMM_HF_KEYS",
    "VIDEOMT_HF_KEYS",
    "hf_dinov3_to_timm",
    "timm_dinov3_to_hf",
    "official_dinov3_to_timm",
    "timm_to_official_dinov3",
    "videomt_to_hf",
    "hf_to_videomt",
]

# (timm DINOv3 key, HF DINOv3ViTModel key). DINOv3 has q and v biases but no k bias, so only the
# q/k/v weights are fused; the biases map one by one.
DINOV3_TIMM_HF_KEYS = [
    ("cls_token", "embeddings.cls_token"),
    ("reg_token", "embeddings.register_tokens"),
    ("patch_embed.proj.{p}", "embeddings.patch_embeddings.{p}"),
    ("blocks.{i}.norm1.{p}", "layer.{i}.norm1.{p}"),
    ("blocks.{i}.norm2.{p}", "layer.{i}.norm2.{p}"),
    ("blocks.{i}.attn.qkv.weight", "layer.{i}.attention.qkv.weight"),
    ("blocks.{i}.attn.q_bias", "layer.{i}.attention.q_proj.bias"),
    ("blocks.{i}.attn.v_bias", "layer.{i}.attention.v_proj.bias"),
    ("blocks.{i}.attn.proj.{p}", "layer.{i}.attention.o_proj.{p}"),
    ("blocks.{i}.gamma_1", "layer.{i}.layer_scale1.lambda1"),
    ("blocks.{i}.gamma_2", "layer.{i}.layer_scale2.lambda1"),
    ("blocks.{i}.mlp.fc1.{p}", "layer.{i}.mlp.up_proj.{p}"),
    ("blocks.{i}.mlp.fc2.{p}", "layer.{i}.mlp.down_proj.{p}"),
    ("norm.{p}", "norm.{p}"),
]
_DINOV3_HF_ATTENTION = "layer.{i}.attention"
# The official VidEoMT DINOv3 checkpoints keep HF's DINOv3 encoder keys with two prefixes
# renamed: (HF prefix, official prefix).
_DINOV3_OFFICIAL_PREFIXES = [("embeddings.", "patch_embed."), ("layer.", "blocks.")]

# (our core key without ``core.``, HF VideomtForUniversalSegmentation key), DINOv2 encoders.
VIDEOMT_HF_KEYS = [
    ("encoder.cls_token", "embeddings.cls_token"),
    ("encoder.reg_token", "embeddings.register_tokens"),
    ("encoder.patch_embed.proj.{p}", "embeddings.patch_embeddings.projection.{p}"),
    ("encoder.blocks.{i}.norm1.{p}", "layers.{i}.norm1.{p}"),
    ("encoder.blocks.{i}.norm2.{p}", "layers.{i}.norm2.{p}"),
    ("encoder.blocks.{i}.attn.qkv.{p}", "layers.{i}.attention.qkv.{p}"),
    ("encoder.blocks.{i}.attn.proj.{p}", "layers.{i}.attention.out_proj.{p}"),
    ("encoder.blocks.{i}.ls1.gamma", "layers.{i}.layer_scale1.lambda1"),
    ("encoder.blocks.{i}.ls2.gamma", "layers.{i}.layer_scale2.lambda1"),
    ("encoder.blocks.{i}.mlp.fc1.{p}", "layers.{i}.mlp.fc1.{p}"),
    ("encoder.blocks.{i}.mlp.fc2.{p}", "layers.{i}.mlp.fc2.{p}"),
    ("encoder.norm.{p}", "layernorm.{p}"),
    ("q.weight", "query.weight"),
    ("query_updater.{p}", "query_updater.{p}"),
    ("class_head.{p}", "class_predictor.{p}"),
    ("mask_head.0.{p}", "mask_head.fc1.{p}"),
    ("mask_head.2.{p}", "mask_head.fc2.{p}"),
    ("mask_head.4.{p}", "mask_head.fc3.{p}"),
    ("upscale.{i}.conv1.{p}", "upscale_block.block.{i}.conv1.{p}"),
    ("upscale.{i}.conv2.{p}", "upscale_block.block.{i}.conv2.{p}"),
    ("upscale.{i}.norm.{p}", "upscale_block.block.{i}.layernorm2d.{p}"),
]
_VIDEOMT_HF_ATTENTION = "layers.{i}.attention"
_VIDEOMT_HF_UNUSED = ("embeddings.mask_token", "criterion.empty_weight", "attn_mask_probs")


def _pattern(template: str) -> re.Pattern:
    rx = (
        re.escape(template)
        .replace(r"\{i\}", r"(?P<i>\d+)")
        .replace(r"\{p\}", r"(?P<p>weight|bias)")
    )
    return re.compile("^" + rx + "$")


def rename_keys(state: dict, pairs: list[tuple[str, str]], forward: bool, what: str) -> dict:
    """Rename every key with (a, b) template pairs (a -> b if ``forward`` else b -> a); a key
    that no template matches raises ``CheckpointError`` naming ``what`` and the key."""
    compiled = [(_pattern(a if forward else b), b if forward else a) for a, b in pairs]
    out = {}
    for key, value in state.items():
        for rx, target in compiled:
            match = rx.match(key)
            if match:
                out[target.format(**match.groupdict())] = value
                break
        else:
            raise CheckpointError(f"{what}: unexpected key '{key}'")
    return out


def fuse_qkv(state: dict, attention: str, params=("weight", "bias")) -> dict:
    """Every ``{attention}.{q,k,v}_proj.{p}`` triple (``{i}`` in ``attention`` = any block
    index, ``p`` in ``params``) -> one ``{attention}.qkv.{p}`` with rows q, k, v; other keys
    are kept as they are."""
    rx = _pattern(attention + ".q_proj.{p}")
    out = dict(state)
    for key in state:
        match = rx.match(key)
        if match is None or match["p"] not in params:
            continue
        block = attention.format(i=match["i"])
        parts = [out.pop(f"{block}.{name}_proj.{match['p']}") for name in "qkv"]
        out[f"{block}.qkv.{match['p']}"] = torch.cat(parts, dim=0)  # (3C, ...)
    return out


def split_qkv(state: dict, attention: str) -> dict:
    """Inverse of :func:`fuse_qkv`: every ``{attention}.qkv.{p}`` ->
    ``{attention}.{q,k,v}_proj.{p}`` (its three row blocks); other keys are kept as they are."""
    rx = _pattern(attention + ".qkv.{p}")
    out = dict(state)
    for key in state:
        match = rx.match(key)
        if match is None:
            continue
        block = attention.format(i=match["i"])
        for name, chunk in zip("qkv", out.pop(key).chunk(3, dim=0)):
            out[f"{block}.{name}_proj.{match['p']}"] = chunk.clone()
    return out


def hf_dinov3_to_timm(state: dict) -> dict:
    """HF ``DINOv3ViTModel`` keys (``layer.i`` or ``model.layer.i``) -> timm ``*_dinov3_qkvb``
    keys; the mask token and RoPE frequencies (not weights of the timm model) are dropped."""
    state = {
        re.sub(r"^model\.layer\.", "layer.", k): v
        for k, v in state.items()
        if not k.endswith("mask_token") and "inv_freq" not in k
    }
    state = fuse_qkv(state, _DINOV3_HF_ATTENTION, params=("weight",))
    return rename_keys(state, DINOV3_TIMM_HF_KEYS, forward=False, what="HF DINOv3 weights")


def timm_dinov3_to_hf(state: dict) -> dict:
    """Inverse of :func:`hf_dinov3_to_timm` (HF naming ``layer.i``)."""
    state = rename_keys(state, DINOV3_TIMM_HF_KEYS, forward=True, what="timm DINOv3 weights")
    return split_qkv(state, _DINOV3_HF_ATTENTION)


def _swap_prefixes(state: dict, pairs: list[tuple[str, str]]) -> dict:
    out = {}
    for key, value in state.items():
        for old, new in pairs:
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        out[key] = value
    return out


def official_dinov3_to_timm(state: dict) -> dict:
    """The official DINOv3 encoder keys (under ``backbone.encoder.backbone.``) -> timm keys."""
    hf_prefixes = [(official, hf) for hf, official in _DINOV3_OFFICIAL_PREFIXES]
    return hf_dinov3_to_timm(_swap_prefixes(state, hf_prefixes))


def timm_to_official_dinov3(state: dict) -> dict:
    """Inverse of :func:`official_dinov3_to_timm`."""
    return _swap_prefixes(timm_dinov3_to_hf(state), _DINOV3_OFFICIAL_PREFIXES)


def videomt_to_hf(state: dict) -> dict:
    """Our core keys (no ``core.`` prefix, DINOv2 encoder) -> HF VidEoMT keys."""
    state = dict(state)
    out = {}
    if "encoder.pos_embed" in state:
        out["embeddings.position_embeddings.weight"] = state.pop("encoder.pos_embed")[0]
    out.update(rename_keys(state, VIDEOMT_HF_KEYS, forward=True, what="VidEoMT weights"))
    return split_qkv(out, _VIDEOMT_HF_ATTENTION)


def hf_to_videomt(state: dict) -> dict:
    """HF VidEoMT keys -> our core keys (no ``core.`` prefix); HF's mask token, loss weights
    and attention-mask annealing buffer have no counterpart and are dropped."""
    state = {
        k: v
        for k, v in state.items()
        if k not in _VIDEOMT_HF_UNUSED and not k.startswith("embeddings.position_ids")
    }
    state = fuse_qkv(state, _VIDEOMT_HF_ATTENTION)
    out = {}
    if "embeddings.position_embeddings.weight" in state:
        out["encoder.pos_embed"] = state.pop("embeddings.position_embeddings.weight")[None]
    out.update(rename_keys(state, VIDEOMT_HF_KEYS, forward=False, what="HF VidEoMT weights"))
    return out
