"""Checkpoint files on disk: reading (local files, URLs and HF hub ids) and writing, with
one-line errors.

* Reads unpickle nothing beyond tensors and plain containers: ``.pth`` files load with
  ``weights_only=True`` (:func:`load_torch_file`, the one ``torch.load`` of the package).
* Writes are atomic (:func:`atomic_write`): a temporary file in the same folder renamed into
  place, so a kill during a save never leaves a truncated file; the temporary files such a kill
  leaves behind are removed by :func:`remove_stale_temporary_files`. Files get the mode the umask
  allows, and a full disk is one error naming the folder, the space needed and the space free
  (checked before writing, and again if the write itself runs out of space).
"""

from __future__ import annotations

import errno
import glob
import logging
import os
import pickle
import re
import shutil
import tempfile
import urllib.parse
import warnings
import zipfile
from collections.abc import Callable
from typing import IO, Any

import torch

from ..errors import UserError, first_line
from ..utils.files import read_json, sniff
from ..utils.hf_hub import hub_snapshot, parse_hub_id

__all__ = [
    "CheckpointError",
    "cache_dir",
    "resolve_weights",
    "read_state_dict",
    "read_hf_config",
    "check_checkpoint_file",
    "load_torch_file",
    "atomic_write",
    "atomic_torch_save",
    "remove_stale_temporary_files",
]

logger = logging.getLogger(__name__)


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
                raise CheckpointError(f"{path}: download failed ({first_line(e)})") from None
        return dst
    local_like = os.path.exists(path) or path.endswith(
        (".pth", ".pt", ".pkl", ".bin", ".safetensors")
    )
    if parse_hub_id(path) and (path.startswith("hf://") or not local_like):
        return hub_snapshot(path, ["*.json", "*.safetensors", "*.bin", "*.pth"], CheckpointError)
    return path


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
    check_checkpoint_file(path)
    if path.endswith(".safetensors"):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError) as e:  # a corrupt or unreadable file, not our bug
            raise CheckpointError(
                f"{path}: not a readable safetensors file ({first_line(e)})"
            ) from None
    return _unwrap(load_torch_file(path), path)


def check_checkpoint_file(path: str) -> None:
    """One-line :class:`CheckpointError` when ``path`` is missing or plainly no checkpoint (empty,
    an HTML page, a text file, a zip archive without PyTorch's ``data.pkl``)."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: checkpoint not found")
    kind = sniff(path)
    if kind is not None and kind != "is a zip archive":
        raise CheckpointError(f"{path}: {kind}, not a checkpoint")
    if kind == "is a zip archive" and not _is_torch_zip(path):
        raise CheckpointError(
            f"{path}: is a zip archive but not a PyTorch checkpoint (no data.pkl)"
        )


def load_torch_file(path: str, what: str = "PyTorch checkpoint") -> Any:
    """What ``torch.save`` wrote to ``path``, loaded with ``weights_only=True`` onto the CPU: a
    pickle carrying other objects than tensors and plain containers is refused (never executed),
    a truncated or corrupted file is one line naming it as a ``what``."""
    try:
        with warnings.catch_warnings():  # torch's pickle-protocol notes are not for the user
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+) ", str(e))
        what_global = f" ({found.group(1)})" if found else ""
        raise CheckpointError(
            f"{path}: refused to load: it holds pickled Python objects{what_global} besides "
            f"tensors, or was written by plain pickle; unpickling it could run code "
            f"(re-save trusted weights with torch.save)"
        ) from None
    except (RuntimeError, EOFError, OSError, KeyError, ValueError):
        raise CheckpointError(f"{path}: not a readable {what} (truncated or corrupted?)") from None


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


# ---------------------------------------------------------------------------------- writing
_TMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _payload_bytes(obj: Any) -> int:
    """Bytes of the tensors in ``obj`` (nested dicts / lists): about the size of its file."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_payload_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_payload_bytes(v) for v in obj)
    return 0


def _disk_full(path: str, needed: int) -> CheckpointError:
    folder = os.path.dirname(os.path.abspath(path))
    free = shutil.disk_usage(folder).free
    return CheckpointError(
        f"{folder}: not enough disk space to save {os.path.basename(path)} (needs about "
        f"{needed / 2**20:.1f} MB, {free / 2**20:.1f} MB free); any previous checkpoint is kept: "
        "free some space, then continue with --resume"
    )


def atomic_write(path: str, write: Callable[[IO[bytes]], Any], needed: int = 0) -> None:
    """``write(f)`` into a temporary file next to ``path``, then rename it to ``path``; the file
    ``path`` held before stays intact until then. ``needed``: expected bytes, checked against the
    free space first."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if needed and shutil.disk_usage(folder).free < needed:
        raise _disk_full(path, needed)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=_TMP_SUFFIX, dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600: give the usual file mode
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _disk_full(path, needed) from None
        raise


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` to ``path`` through a temporary file + rename."""
    atomic_write(path, lambda f: torch.save(obj, f), needed=_payload_bytes(obj))


def remove_stale_temporary_files(folder: str) -> list[str]:
    """Delete the temporary files that a run killed while saving left in ``folder``; only call
    this while no other run writes there (the trainer holds the folder's lock)."""
    stale = sorted(glob.glob(os.path.join(glob.escape(folder), ".*" + _TMP_SUFFIX)))
    for path in stale:
        os.remove(path)
    if stale:
        logger.info(
            f"Removed {len(stale)} temporary file(s) left by an interrupted save in {folder}: "
            + ", ".join(os.path.basename(p) for p in stale)
        )
    return stale
