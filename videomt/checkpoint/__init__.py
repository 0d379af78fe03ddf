"""Everything about weight files: reading (local files, URLs, HF hub ids; tensors only), layouts
and key maps (ours, official VidEoMT, HF transformers, timm / HF DINOv3), loading into a model,
and conversion between layouts.

Modules, bottom up: ``files`` (reading, :class:`CheckpointError`), ``keymaps`` (key renames and
the one q/k/v fuse / split), ``layouts`` (the layout registry), ``architecture`` (what the
tensors tell about the model), ``loading`` and ``convert``. Training checkpoints (optimizer,
schedule, RNG states) are written and resumed by ``videomt.engine.checkpointer``.
"""

from .architecture import VIT_SIZES, infer_architecture
from .convert import architecture_of, convert_to_hf, convert_to_videomt
from .files import CheckpointError, cache_dir, read_hf_config, read_state_dict, resolve_weights
from .keymaps import hf_dinov3_to_timm, hf_to_videomt, timm_dinov3_to_hf, videomt_to_hf
from .layouts import (
    LAYOUTS,
    Layout,
    detect_layout,
    register_layout,
    to_videomt_layout,
    videomt_to_official,
)
from .loading import load_backbone_weights, load_checkpoint, save_checkpoint
from .pmt import official_pmt_to_videomt, videomt_to_official_pmt  # registers the PMT layouts

__all__ = [
    "load_checkpoint",
    "save_checkpoint",
    "load_backbone_weights",
    "CheckpointError",
    "read_state_dict",
    "resolve_weights",
    "cache_dir",
    "read_hf_config",
    "detect_layout",
    "to_videomt_layout",
    "videomt_to_official",
    "official_pmt_to_videomt",
    "videomt_to_official_pmt",
    "Layout",
    "LAYOUTS",
    "register_layout",
    "videomt_to_hf",
    "hf_to_videomt",
    "hf_dinov3_to_timm",
    "timm_dinov3_to_hf",
    "VIT_SIZES",
    "infer_architecture",
    "architecture_of",
    "convert_to_videomt",
    "convert_to_hf",
]
