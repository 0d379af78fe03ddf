"""Pure PyTorch + timm building blocks (no config objects)."""

from .backbone import create_encoder, resolve_timm_name
from .criterion import VideoSetCriterion, loss_weight_dict
from .heads import MaskMLP, ScaleBlock
from .matcher import ConsistentMatcher
from .videomt import VidEoMT

__all__ = [
    "VidEoMT",
    "ScaleBlock",
    "MaskMLP",
    "create_encoder",
    "resolve_timm_name",
    "VideoSetCriterion",
    "ConsistentMatcher",
    "loss_weight_dict",
]
