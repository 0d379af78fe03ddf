"""The software and hardware a run used (logged and written to ``OUTPUT_DIR/env.txt``)."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

import torch

__all__ = ["collect_env_info", "write_env_info"]

_PACKAGES = (
    "videomt",
    "torch",
    "torchvision",
    "timm",
    "fvcore",
    "pycocotools",
    "numpy",
    "scipy",
    "opencv-python-headless",
    "Pillow",
    "transformers",
    "tensorboard",
    "wandb",
)


def collect_env_info() -> str:
    lines = [f"python: {sys.version.split()[0]} ({platform.platform()})"]
    for name in _PACKAGES:
        try:
            lines.append(f"{name}: {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    lines.append(f"torch CUDA build: {torch.version.cuda}, cuDNN: {torch.backends.cudnn.version()}")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            lines.append(f"GPU {i}: {p.name} ({p.total_memory / 2**30:.1f} GiB)")
    else:
        lines.append("GPU: none (CPU only)")
    lines.append(f"CPU threads: {torch.get_num_threads()} (os.cpu_count {os.cpu_count()})")
    return "\n".join(lines)


def write_env_info(output_dir: str) -> str:
    info = collect_env_info()
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "env.txt"), "w") as f:
        f.write(info + "\n")
    return info
