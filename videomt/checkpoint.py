"""Checkpoint reading, layout detection and key mapping: ours <-> official VidEoMT <-> HF
transformers.

Layouts:
  * ``videomt``:  this project's Detectron2-style files ``{"model": state_dict, ...}``; keys
    ``core.encoder.<timm key>``, ``core.q.weight``, ``core.class_head.*`` ...
  * ``official``: the official VidEoMT ``.pth`` (DINOv2: timm keys under
    ``backbone.encoder.backbone.``; DINOv3: HF DINOv3 keys renamed ``patch_embed.*`` /
    ``blocks.i.*``).
  * ``hf``: an HF transformers ``VideomtForUniversalSegmentation`` directory
    (``config.json`` + ``model.safetensors``).
Files are read by :mod:`videomt.utils.weights` (tensors only, never other pickled objects).
"""

from __future__ import annotations

import os
import re

import torch

from .utils.files import read_json
from .utils.weights import (
    DINOV3_TIMM_HF_KEYS,
    CheckpointError,
    cache_dir,
    hf_dinov3_to_timm,
    read_state_dict,
    rename_keys,
    resolve_weights,
)

__all__ = [
    "CheckpointError",
    "resolve_weights",
    "cache_dir",
    "read_state_dict",
    "detect_layout",
    "to_videomt_layout",
    "load_checkpoint",
    "videomt_to_hf",
    "hf_to_videomt",
    "hf_dinov3_to_timm",
    "timm_dinov3_to_hf",
    "infer_architecture",
    "save_checkpoint",
]


# ---------------------------------------------------------------------------------------- key maps
# (our key relative to ``core.``, HF VidEoMT key); "{i}" matches a block/layer index.
_VIDEOMT_HF_RENAMES = [
    ("encoder.cls_token", "embeddings.cls_token"),
    ("encoder.reg_token", "embeddings.register_tokens"),
    ("encoder.patch_embed.proj.{p}", "embeddings.patch_embeddings.projection.{p}"),
    ("encoder.blocks.{i}.norm1.{p}", "layers.{i}.norm1.{p}"),
    ("encoder.blocks.{i}.norm2.{p}", "layers.{i}.norm2.{p}"),
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


def _split_qkv(state: dict, src: str, dst: str) -> dict:
    """``{src}.qkv.{w,b}`` (rows q,k,v) -> ``{dst}.{q,k,v}_proj.{w,b}``, for every block index."""
    out = dict(state)
    rx = re.compile("^" + re.escape(src).replace(r"\{i\}", r"(\d+)") + r"\.qkv\.(weight|bias)$")
    for key in [k for k in state if rx.match(k)]:
        i, p = rx.match(key).groups()
        for name, chunk in zip("qkv", out.pop(key).chunk(3, dim=0)):
            out[dst.format(i=i) + f".{name}_proj.{p}"] = chunk.clone()
    return out


def _merge_qkv(state: dict, src: str, dst: str, params=("weight", "bias")) -> dict:
    """Inverse of ``_split_qkv``: ``{src}.{q,k,v}_proj.p`` -> ``{dst}.qkv.p`` (rows q,k,v)."""
    out = dict(state)
    rx = re.compile("^" + re.escape(src).replace(r"\{i\}", r"(\d+)") + r"\.q_proj\.(weight|bias)$")
    for key in [k for k in state if rx.match(k)]:
        i, p = rx.match(key).groups()
        if p not in params:
            continue
        base = src.format(i=i)
        parts = [out.pop(f"{base}.{n}_proj.{p}") for n in "qkv"]
        out[dst.format(i=i) + f".qkv.{p}"] = torch.cat(parts, dim=0)
    return out


def timm_dinov3_to_hf(state: dict) -> dict:
    """Inverse of ``hf_dinov3_to_timm`` (HF 4.x naming ``layer.i``)."""
    out = {}
    rx = re.compile(r"^blocks\.(\d+)\.attn\.qkv\.weight$")
    for key in [k for k in state if rx.match(k)]:
        i = rx.match(key).group(1)
        for n, chunk in zip("qkv", state[key].chunk(3, dim=0)):
            out[f"layer.{i}.attention.{n}_proj.weight"] = chunk.clone()
    rest = {k: v for k, v in state.items() if not rx.match(k)}
    out.update(rename_keys(rest, DINOV3_TIMM_HF_KEYS, forward=True, what="timm DINOv3 weights"))
    return out


def videomt_to_hf(state: dict) -> dict:
    """Our core keys (no ``core.`` prefix, DINOv2 encoder) -> HF VidEoMT keys."""
    state = _split_qkv(state, "encoder.blocks.{i}.attn", "layers.{i}.attention")
    out = {}
    if "encoder.pos_embed" in state:
        out["embeddings.position_embeddings.weight"] = state.pop("encoder.pos_embed")[0]
    hf_ready = {k: v for k, v in state.items() if k.startswith("layers.")}
    rest = {k: v for k, v in state.items() if not k.startswith("layers.")}
    out.update(rename_keys(rest, _VIDEOMT_HF_RENAMES, forward=True, what="VidEoMT weights"))
    out.update(hf_ready)
    return out


def hf_to_videomt(state: dict) -> dict:
    """HF VidEoMT keys -> our core keys (no ``core.`` prefix)."""
    state = {
        k: v
        for k, v in state.items()
        if k not in ("embeddings.mask_token", "criterion.empty_weight", "attn_mask_probs")
        and not k.startswith("embeddings.position_ids")
    }
    state = _merge_qkv(state, "layers.{i}.attention", "encoder.blocks.{i}.attn")
    out = {}
    if "embeddings.position_embeddings.weight" in state:
        out["encoder.pos_embed"] = state.pop("embeddings.position_embeddings.weight")[None]
    ours_ready = {
        k: v for k, v in state.items() if k.startswith("encoder.blocks.") and ".attn.qkv." in k
    }
    rest = {k: v for k, v in state.items() if k not in ours_ready}
    out.update(rename_keys(rest, _VIDEOMT_HF_RENAMES, forward=False, what="HF VidEoMT weights"))
    out.update(ours_ready)
    return out


# ---------------------------------------------------------------------------------------- layouts
_OFFICIAL_ENCODER = "backbone.encoder.backbone."
_IGNORED_SOURCE_KEYS = ("attn_mask_probs", "criterion.empty_weight", "pixel_mean", "pixel_std")


def detect_layout(state: dict) -> str:
    """One of ``videomt``, ``official``, ``official_dinov3``, ``hf``, or raises."""
    keys = list(state)
    if any(k.startswith("core.") for k in keys):
        return "videomt"
    if any(k.startswith(_OFFICIAL_ENCODER) for k in keys):
        dinov3 = any(k.startswith(_OFFICIAL_ENCODER + "patch_embed.patch_embeddings") for k in keys)
        return "official_dinov3" if dinov3 else "official"
    if (
        any(k.startswith("embeddings.patch_embeddings.projection") for k in keys)
        and "query.weight" in keys
    ):
        return "hf"
    sample = ", ".join(keys[:4])
    raise CheckpointError(
        f"unrecognised checkpoint layout (first keys: {sample}); expected this project's, "
        f"the official VidEoMT or an HF VidEoMT checkpoint"
    )


def to_videomt_layout(state: dict, layout: str | None = None) -> dict:
    """Any supported layout -> our meta-architecture keys (``core.*`` and, if present,
    ``criterion.*``)."""
    layout = layout or detect_layout(state)
    if layout == "videomt":
        return dict(state)
    if layout == "hf":
        return {"core." + k: v for k, v in hf_to_videomt(state).items()}
    out = {}
    encoder = {}
    for key, value in state.items():
        if key.startswith(_OFFICIAL_ENCODER):
            encoder[key[len(_OFFICIAL_ENCODER) :]] = value
        elif key.startswith("backbone."):
            name = key[len("backbone.") :]
            if name != "attn_mask_probs":
                out["core." + name] = value
        elif key.startswith("criterion."):
            out[key] = value
    if layout == "official_dinov3":
        encoder = {
            re.sub(r"^blocks\.", "layer.", re.sub(r"^patch_embed\.", "embeddings.", k)): v
            for k, v in encoder.items()
        }
        encoder = hf_dinov3_to_timm(encoder)
    out.update({"core.encoder." + k: v for k, v in encoder.items()})
    return out


def videomt_to_official(state: dict, num_query_blocks: int, dinov3: bool = False) -> dict:
    """Our keys -> the official ``.pth`` layout (adds the all-ones ``attn_mask_probs`` buffer)."""
    out = {}
    encoder = {
        k[len("core.encoder.") :]: v for k, v in state.items() if k.startswith("core.encoder.")
    }
    if dinov3:
        encoder = {
            re.sub(r"^layer\.", "blocks.", re.sub(r"^embeddings\.", "patch_embed.", k)): v
            for k, v in timm_dinov3_to_hf(encoder).items()
        }
    out.update({_OFFICIAL_ENCODER + k: v for k, v in encoder.items()})
    for k, v in state.items():
        if k.startswith("core.") and not k.startswith("core.encoder."):
            out["backbone." + k[len("core.") :]] = v
        elif k.startswith("criterion."):
            out[k] = v
    out["backbone.attn_mask_probs"] = torch.ones(num_query_blocks)
    return out


# ---------------------------------------------------------------------------------------- loading
def load_checkpoint(
    model: torch.nn.Module, path: str, *, skip_class_head: bool = False, strict: bool = True
) -> dict:
    """Load ``path`` (any supported layout) into ``model`` (meta-architecture with ``.core``, or
    the core module itself). Shape or key mismatches raise one ``CheckpointError`` listing every
    offending key with both shapes. ``skip_class_head`` leaves the class head (and the
    criterion's class weights) at their initialisation, for fine-tuning on another label set.
    ``strict=False`` tolerates keys missing from the file (e.g. an init checkpoint).
    Returns ``{"layout", "missing", "ignored"}``.
    """
    state = read_state_dict(path)
    try:
        layout = detect_layout(state)
        state = to_videomt_layout(state, layout)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    is_core = not hasattr(model, "core")
    if is_core:
        state = {k[len("core.") :]: v for k, v in state.items() if k.startswith("core.")}
    target = model.state_dict()
    head_prefixes = ("class_head.", "core.class_head.", "criterion.empty_weight")
    ignored = [k for k in state if k not in target and k.endswith(_IGNORED_SOURCE_KEYS)]
    if skip_class_head:
        ignored += [k for k in state if k.startswith(head_prefixes)]
    state = {k: v for k, v in state.items() if k not in ignored}
    unexpected = sorted(k for k in state if k not in target)
    mismatched = sorted(
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(target[k].shape)}"
        for k, v in state.items()
        if k in target and v.shape != target[k].shape
    )
    missing = sorted(
        k
        for k in target
        if k not in state and not (skip_class_head and k.startswith(head_prefixes))
    )
    problems = []
    if mismatched:
        problems.append("shape mismatch: " + "; ".join(mismatched))
    if unexpected:
        problems.append("keys not in the model: " + ", ".join(unexpected))
    if missing and strict:
        problems.append("keys missing from the checkpoint: " + ", ".join(missing))
    if problems:
        hint = ""
        if any("pos_embed" in m for m in mismatched):
            hint = " (hint: set MODEL.BACKBONE.IMG_SIZE to the checkpoint's position grid x 16)"
        if any("class_head" in m for m in mismatched):
            hint += (
                " (hint: a different number of classes; "
                "use skip_class_head / --skip-class-head to fine-tune)"
            )
        raise CheckpointError(
            f"{path} ({layout} layout) does not fit the model: " + " | ".join(problems) + hint
        )
    model.load_state_dict(state, strict=False)
    return {"layout": layout, "missing": missing, "ignored": ignored}


def save_checkpoint(model: torch.nn.Module, path: str, **extra) -> None:
    """Write ``{"model": state_dict, **extra}`` (Detectron2 format)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save({"model": model.state_dict(), **extra}, path)


# ---------------------------------------------------------------------------------------- inference
def infer_architecture(state: dict) -> dict:
    """Model hyper-parameters readable from our-layout tensors (used to write a config).

    Returns backbone timm name, img_size, num_queries, num_classes, first_query_block, depth
    (only set when it differs from the named model's depth, e.g. test-size models).
    """
    enc = {k[len("core.encoder.") :]: v for k, v in state.items() if k.startswith("core.encoder.")}
    if "cls_token" not in enc or "core.q.weight" not in state:
        raise CheckpointError(
            "cannot infer the architecture: no encoder cls_token or query embedding"
        )
    dim = enc["cls_token"].shape[-1]
    depth = 1 + max(int(m.group(1)) for k in enc if (m := re.match(r"blocks\.(\d+)\.", k)))
    dinov3 = "blocks.0.gamma_1" in enc
    size = {384: "small", 768: "base", 1024: "large", 1536: "giant"}.get(dim)
    if size is None:
        raise CheckpointError(f"cannot infer the ViT size from embedding width {dim}")
    if dinov3:
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


def read_hf_config(directory: str) -> dict:
    path = os.path.join(directory, "config.json")
    if not os.path.isfile(path):
        raise CheckpointError(f"{directory}: no config.json in this HF directory")
    return read_json(path, "HF config", CheckpointError)
