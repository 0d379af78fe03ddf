"""Loading weights into a model and saving them in this project's layout."""

from __future__ import annotations

import sys

import torch

from .files import CheckpointError, atomic_torch_save, read_state_dict
from .keymaps import hf_dinov3_to_timm
from .layouts import detect_layout, to_videomt_layout

__all__ = ["load_checkpoint", "save_checkpoint", "load_backbone_weights"]

# Tensors of the source files that are no weights of ours (training-time buffers, normalisation
# constants kept as config); dropped when the model has no such key.
_IGNORED_SOURCE_KEYS = ("attn_mask_probs", "criterion.empty_weight", "pixel_mean", "pixel_std")


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
    """Write ``{"model": state_dict, **extra}`` (Detectron2 format), atomically."""
    atomic_torch_save({"model": model.state_dict(), **extra}, path)


def load_backbone_weights(encoder: torch.nn.Module, path: str) -> None:
    """Load a pretrained-backbone file (timm layout, e.g. a DINOv2 ``.pth`` with its native
    14x14 patches, or HF ``DINOv3ViTModel``; local file, URL or hub id) into a timm ``encoder``
    through timm's checkpoint filter, which resamples the patch and position embeddings to the
    encoder's."""
    state = read_state_dict(path)
    try:
        if any(k.startswith(("embeddings.", "layer.", "model.layer.")) for k in state):
            state = hf_dinov3_to_timm(state)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    module = sys.modules[type(encoder).__module__]  # timm's model file, e.g. timm.models.eva
    filter_fn = getattr(module, "checkpoint_filter_fn", None)
    if filter_fn is not None:
        state = filter_fn(state, encoder)
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("mask_token")]
    if missing or unexpected:
        name = getattr(encoder, "pretrained_cfg", {}).get("architecture", type(encoder).__name__)
        raise CheckpointError(
            f"{path}: backbone weights do not fit {name}: "
            f"missing {missing[:8]}, unexpected {unexpected[:8]}"
        )
