"""Reading weight files: local files, URLs and HF hub ids, tensors only, one-line errors.

Nothing is ever unpickled beyond tensors: ``.pth`` files load with ``weights_only=True``.
"""

from __future__ import annotations

import os
import pickle
import re
import urllib.parse
import warnings
import zipfile

import torch

from ..errors import UserError
from ..utils.files import read_json, sniff
from ..utils.hf_hub import hub_snapshot, parse_hub_id

__all__ = [
    "CheckpointError",
    "cache_dir",
    "resolve_weights",
    "read_state_dict",
    "read_hf_config",
]


class CheckpointError(UserError):
    """A checkpoint that cannot be read or does not fit the model (message names the file)."""


_URL_SCHEMES = ("http://", "https://", "file://")


def cache_dir() -> str:
    """Where downloaded weights are kept: ``$VIDEOMT_CACHE`` or ``~/.cache/videomt``."""
    return os.path.expanduser(
        os.environ.get("VIDEOMT_CACHE", os.path.join("~", ".cache", "videomt"))
    )


def resolve_weights(path: str) -> str:
    """A local file or folder for ``path``, downloading it first when it is a URL (as Detectron2's
    ``MODEL.WEIGHTS``; kept in :func:`cache_dir`) or an HF hub id (``hf://org/name[@rev]``, or
    ``org/name`` when no such local path exists and it has no checkpoint file extension)."""
    if path.startswith(_URL_SCHEMES):
        name = os.path.basename(urllib.parse.urlparse(path).path) or "weights.pth"
        dst = os.path.join(cache_dir(), "checkpoints", name)
        if not os.path.isfile(dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            try:
                torch.hub.download_url_to_file(path, dst, progress=True)
            except (OSError, ValueError) as e:  # urllib's errors are OSErrors
                raise CheckpointError(f"{path}: download failed ({_first_line(e)})") from None
        return dst
    local_like = os.path.exists(path) or path.endswith(
        (".pth", ".pt", ".pkl", ".bin", ".safetensors")
    )
    if parse_hub_id(path) and (path.startswith("hf://") or not local_like):
        return hub_snapshot(path, ["*.json", "*.safetensors", "*.bin", "*.pth"], CheckpointError)
    return path


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file, URL, HF hub id or HF directory, unwrapped from
    ``{"model": ...}``.

    Accepts ``.safetensors``, ``.pth``/``.pt``/``.bin`` (tensors only: a pickle carrying other
    objects is refused and never executed) and HF directories with ``model.safetensors``. A file
    that is something else (empty, an HTML page, a plain zip...) is named in one line.
    """
    path = resolve_weights(path)
    if os.path.isdir(path):
        return read_state_dict(_hf_weights_file(path))
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: checkpoint not found")
    kind = sniff(path)
    if kind is not None and kind != "is a zip archive":
        raise CheckpointError(f"{path}: {kind}, not a checkpoint")
    if kind == "is a zip archive" and not _is_torch_zip(path):
        raise CheckpointError(
            f"{path}: is a zip archive but not a PyTorch checkpoint (no data.pkl)"
        )
    if path.endswith(".safetensors"):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError) as e:  # a corrupt or unreadable file, not our bug
            raise CheckpointError(
                f"{path}: not a readable safetensors file ({_first_line(e)})"
            ) from None
    try:
        with warnings.catch_warnings():  # torch's pickle-protocol notes are not for the user
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+) ", str(e))
        what = f" ({found.group(1)})" if found else ""
        raise CheckpointError(
            f"{path}: refused to load: it holds pickled Python objects{what} besides "
            f"tensors, or was written by plain pickle; unpickling it could run code "
            f"(re-save trusted weights with torch.save)"
        ) from None
    except (RuntimeError, EOFError, OSError, KeyError, ValueError):
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupted?)"
        ) from None
    return _unwrap(obj, path)


def _is_torch_zip(path: str) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n == "data.pkl" or n.endswith("/data.pkl") for n in z.namelist())
    except zipfile.BadZipFile:  # a truncated archive: torch.load reports it
        return True


def _unwrap(obj, path: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise CheckpointError(
        f"{path}: no tensors found (expected a state dict or {{'model': state_dict}})"
    )


def _hf_weights_file(directory: str) -> str:
    for name in ("model.safetensors", "pytorch_model.bin"):
        p = os.path.join(directory, name)
        if os.path.isfile(p):
            return p
    raise CheckpointError(f"{directory}: no model.safetensors in this directory")


def read_hf_config(directory: str) -> dict:
    """``config.json`` of an HF model directory."""
    path = os.path.join(directory, "config.json")
    if not os.path.isfile(path):
        raise CheckpointError(f"{directory}: no config.json in this HF directory")
    return read_json(path, "HF config", CheckpointError)
