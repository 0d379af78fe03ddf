"""Checkpoint conversion: any supported layout -> this project's (weights + complete config) or
HF."""

from __future__ import annotations

import json
import os

import torch

from ..config import load_config
from .architecture import VIT_SIZES, infer_architecture
from .files import (
    CheckpointError,
    atomic_torch_save,
    atomic_write,
    read_state_dict,
    resolve_weights,
)
from .keymaps import videomt_to_hf
from .layouts import LAYOUTS, detect_layout

__all__ = ["convert_to_videomt", "convert_to_hf", "architecture_of"]


def architecture_of(src: str) -> tuple[dict, dict]:
    """(our-layout state dict, architecture dict incl. ``num_query_blocks``) of any source."""
    src = resolve_weights(src)
    state = read_state_dict(src)
    try:
        layout = detect_layout(state)
    except CheckpointError as e:
        raise CheckpointError(f"{src}: {e}") from None
    blocks = LAYOUTS[layout].query_blocks(state, src)
    ours = LAYOUTS[layout].to_videomt(state)
    arch = infer_architecture(ours)
    large = VIT_SIZES[arch["embed_dim"]].name == "large"
    arch["num_query_blocks"] = blocks or (4 if large else 3)  # the published models' counts
    arch["layout"] = layout
    return ours, arch


def is_pmt_state(state: dict) -> bool:
    """Our-layout weights of a PMT-video model (frozen encoder + fusion BatchNorms + decoder)."""
    return any(k.startswith("core.bn.") for k in state)


def convert_to_videomt(src: str, dst: str, base_config: str | None = None) -> tuple[str, str]:
    """Write ``dst/model_final.pth`` and a complete ``dst/config.yaml`` reproducing ``src``.

    ``base_config`` (e.g. the published YAML) supplies what weights cannot tell (datasets, test
    settings, NORM_QUERIES, PMT's tapped blocks); the architecture keys are always taken from the
    weights (for PMT: the meta-architecture, decoder blocks and MLP width too).
    """
    state, arch = architecture_of(src)
    # the meta-architecture is the weights' (it picks the training schedule of the config)
    meta_architecture = "pmt_online" if is_pmt_state(state) else "videomt_online"
    cfg = load_config(base_config, ["MODEL.META_ARCHITECTURE", meta_architecture])
    cfg.defrost()
    b = cfg.MODEL.BACKBONE
    b.MODEL_NAME = arch["model_name"]
    b.IMG_SIZE = arch["img_size"]
    b.PATCH_SIZE = arch["patch_size"]
    b.NUM_OBJECT_QUERIES = arch["num_queries"]
    b.NUM_CLASSES = arch["num_classes"]
    default_depth = VIT_SIZES[arch["embed_dim"]].depth
    b.DEPTH = 0 if arch["depth"] == default_depth else arch["depth"]
    if is_pmt_state(state):
        b.FROZEN_ENCODER = True
        b.NUM_BLOCKS = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("core.blocks."))
        b.HIDDEN_DIM = int(state["core.blocks.0.mlp.fc1.weight"].shape[0])
        # the tapped blocks leave no trace in the weights: INTERACTION_INDICES stays the config's
    else:
        b.SEGMENTER_BLOCKS = list(range(arch["depth"] - arch["num_query_blocks"], arch["depth"]))
    b.PRETRAINED = ""
    os.makedirs(dst, exist_ok=True)
    weights = os.path.join(dst, "model_final.pth")
    cfg.MODEL.WEIGHTS = weights
    atomic_torch_save(
        {"model": state, "source": os.path.abspath(src), "source_layout": arch["layout"]}, weights
    )
    # the machine that runs the config picks its device (load_config's default)
    del cfg.MODEL["DEVICE"]
    config_path = os.path.join(dst, "config.yaml")
    with open(config_path, "w") as f:
        f.write(cfg.dump())
    return weights, config_path


def convert_to_hf(
    src: str, dst: str, class_names: list[str] | None = None, no_object_weight: float = 0.1
) -> str:
    """Write an HF ``VideomtForUniversalSegmentation`` directory (config.json +
    model.safetensors)."""
    from safetensors.torch import save as safetensors_bytes

    state, arch = architecture_of(src)
    if is_pmt_state(state):
        raise CheckpointError(
            f"{src}: a PMT-video checkpoint; HF transformers has no PMT model (use --to videomt)"
        )
    if "dinov3" in arch["model_name"]:
        raise CheckpointError(
            f"{src}: HF transformers has no DINOv3 VidEoMT model; only DINOv2 converts to HF"
        )
    core = {k[len("core.") :]: v for k, v in state.items() if k.startswith("core.")}
    hf_state = videomt_to_hf(core)
    dim, k = arch["embed_dim"], arch["num_classes"]
    hf_state["embeddings.mask_token"] = torch.zeros(1, 1, dim)
    hf_state["criterion.empty_weight"] = torch.cat(
        [torch.ones(k), torch.tensor([no_object_weight])]
    )
    names = class_names or [f"LABEL_{i}" for i in range(k)]
    if len(names) != k:
        raise CheckpointError(f"{src}: {len(names)} class names given for a {k}-class model")
    config = {
        "model_type": "videomt",
        "architectures": ["VideomtForUniversalSegmentation"],
        "hidden_size": dim,
        "num_hidden_layers": arch["depth"],
        "num_attention_heads": VIT_SIZES[dim].num_heads,
        "mlp_ratio": 4,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-6,
        "image_size": arch["img_size"],
        "patch_size": arch["patch_size"],
        "num_channels": 3,
        "num_register_tokens": int(state["core.encoder.reg_token"].shape[1]),
        "num_blocks": arch["num_query_blocks"],
        "num_queries": arch["num_queries"],
        "num_upscale_blocks": sum(
            1 for key in core if key.startswith("upscale.") and key.endswith("conv1.bias")
        ),
        "no_object_weight": no_object_weight,
        "id2label": {str(i): n for i, n in enumerate(names)},
        "label2id": {n: i for i, n in enumerate(names)},
    }
    os.makedirs(dst, exist_ok=True)
    tensors = {k: v.contiguous() for k, v in hf_state.items()}
    atomic_write(
        os.path.join(dst, "model.safetensors"), lambda f: f.write(safetensors_bytes(tensors))
    )
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return dst
