"""The one check that a requested device exists on this machine (config, CLI flag or API
argument)."""

from __future__ import annotations

import torch

from ..errors import UserError

__all__ = ["DeviceError", "resolve_device"]


class DeviceError(UserError):
    """A device name that is malformed or names hardware this machine does not have."""


def resolve_device(name, where: str = "MODEL.DEVICE") -> torch.device:
    """``name`` ("cpu", "cuda", "cuda:1", "mps", a torch.device) -> ``torch.device``.

    Raises :class:`DeviceError` with one line naming ``where`` (the key, flag or argument the
    name came from) when the name is malformed or the GPU it asks for is not there, instead of
    the driver's traceback at the first tensor moved to it.
    """
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise DeviceError(
            f"{where}: '{name}' is not a device name (use cpu, cuda, cuda:N or mps)"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "a CPU-only build"
            raise DeviceError(
                f"{where} is '{name}' but no CUDA GPU is usable here (torch {torch.__version__}, "
                f"{build}); use cpu"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceError(f"{where} is '{name}' but this machine has {count} CUDA GPU(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"{where} is '{name}' but MPS (Apple GPU) is not available here; use cpu")
    return device
