"""VidEoMT: encoder-only online video segmentation on a plain ViT."""

from .config import get_cfg, load_config

__version__ = "0.1.0"
__all__ = [
    "get_cfg",
    "load_config",
    "build_model",
    "load_checkpoint",
    "VideoPredictor",
    "MultiTaskPredictor",
    "__version__",
]


def build_model(cfg):
    """Build the meta-architecture (``.core`` is the pure-PyTorch VidEoMT module) from a cfg."""
    from .model import build_model as _build

    return _build(cfg)


def load_checkpoint(model, path, **kwargs):
    """Load any supported checkpoint layout (ours, official .pth, HF directory) into ``model``."""
    from .checkpoint import load_checkpoint as _load

    return _load(model, path, **kwargs)


def __getattr__(name):
    """``videomt.VideoPredictor`` and ``videomt.MultiTaskPredictor`` (imported on first use, like
    the helpers above)."""
    if name in ("VideoPredictor", "MultiTaskPredictor"):
        from . import inference

        return getattr(inference, name)
    raise AttributeError(f"module 'videomt' has no attribute '{name}'")
