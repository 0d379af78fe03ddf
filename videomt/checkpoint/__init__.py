"""Everything about weight files: reading (local files, URLs, HF hub ids; tensors only) and
atomic writing, layouts and key maps (ours, official VidEoMT, HF transformers, timm / HF DINOv3),
loading into a model, conversion between layouts, and training checkpoints.

Modules, bottom up: ``files`` (reading, atomic writing, :class:`CheckpointError`), ``keymaps``
(key renames and the one q/k/v fuse / split), ``layouts`` (the layout registry),
``architecture`` (what the tensors tell about the model), ``loading``, ``convert`` and
``training`` (the trainer's checkpoints with optimizer, schedule, grad scaler and RNG states).
"""

from .architecture import VIT_SIZES, infer_architecture
from .convert import architecture_of, convert_to_hf, convert_to_videomt
from .files import (
    CheckpointError,
    atomic_torch_save,
    atomic_write,
    cache_dir,
    read_hf_config,
    read_state_dict,
    remove_stale_temporary_files,
    resolve_weights,
)
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
from .training import CheckpointMismatchError, TrainingCheckpointer

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
    "atomic_torch_save",
    "atomic_write",
    "remove_stale_temporary_files",
    "TrainingCheckpointer",
    "CheckpointMismatchError",
]
