"""Pure PyTorch + timm building blocks (no config objects)."""
from .backbone import create_encoder, resolve_timm_name
from .heads import MaskMLP, ScaleBlock
from .videomt import VidEoMT

__all__ = ["VidEoMT", "ScaleBlock", "MaskMLP", "create_encoder", "resolve_timm_name"]
