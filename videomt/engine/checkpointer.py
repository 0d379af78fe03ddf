"""Training checkpoints: Detectron2's file layout (``OUTPUT_DIR/model_XXXXXXX.pth``,
``model_final.pth``, ``last_checkpoint``) on fvcore's ``Checkpointer``, with

* atomic writes: a checkpoint (and the ``last_checkpoint`` tag) is written to a temporary file in
  the same folder and renamed into place, so a kill during a save never leaves a truncated
  ``model_*.pth`` or a tag that points at one; the temporary files such a kill leaves behind are
  removed when the next run starts (:func:`remove_stale_temporary_files`);
* files created with the mode the umask allows (group-readable under the usual 0022 / 0002);
* a full disk is one error naming the folder, the space needed and the space free (checked
  before writing, and again if the write itself runs out of space);
* safe reads: ``torch.load(weights_only=True)``, a clear error for an unreadable file;
* the random-number-generator states (torch, python, numpy global) saved and restored.
"""

from __future__ import annotations

import errno
import glob
import logging
import os
import random
import shutil
import tempfile
from typing import Any

import numpy as np
import torch
from fvcore.common.checkpoint import Checkpointer

from ..checkpoint import CheckpointError
from ..errors import UserError

__all__ = [
    "TrainingCheckpointer",
    "CheckpointReadError",
    "DiskFullError",
    "CheckpointMismatchError",
    "atomic_torch_save",
    "remove_stale_temporary_files",
    "rng_state",
    "set_rng_state",
]

logger = logging.getLogger(__name__)


# A training checkpoint that cannot be read (truncated, not a checkpoint, unsafe pickle) raises
# the package's one checkpoint error; the old name stays importable.
CheckpointReadError = CheckpointError


class CheckpointMismatchError(CheckpointError):
    """A training checkpoint whose weights or optimizer state do not fit the model built now;
    ``differences``: one ``"name (saved shape) vs (shape now)"`` string per offending tensor."""

    def __init__(self, message: str, differences: list[str]):
        super().__init__(message)
        self.differences = differences


def _shape(t) -> str:
    return str(tuple(t.shape)) if isinstance(t, torch.Tensor) else "absent"


def state_mismatches(saved: dict, model: torch.nn.Module, optimizer=None) -> list[str]:
    """What of a saved ``{"model", "optimizer"}`` checkpoint does not fit ``model`` / ``optimizer``:
    missing, unexpected or reshaped weights, then optimizer states of another shape than their
    parameter (the optimizer would fail at its first step)."""
    ours = model.state_dict()
    theirs = saved["model"]
    out = [
        f"{k} {_shape(theirs.get(k))} saved vs {_shape(ours.get(k))} now"
        for k in sorted(set(ours) | set(theirs))
        if k not in ours or k not in theirs or ours[k].shape != theirs[k].shape
    ]
    if out or optimizer is None or not isinstance(saved.get("optimizer"), dict):
        return out
    params = [p for g in optimizer.param_groups for p in g["params"]]
    names = {id(p): n for n, p in model.named_parameters()}
    saved_groups = saved["optimizer"].get("param_groups", [])
    if [len(g["params"]) for g in saved_groups] != [
        len(g["params"]) for g in optimizer.param_groups
    ]:
        return [
            f"optimizer parameter groups of sizes {[len(g['params']) for g in saved_groups]} saved "
            f"vs {[len(g['params']) for g in optimizer.param_groups]} now"
        ]
    index = [i for g in saved_groups for i in g["params"]]
    for i, p in zip(index, params):
        for key, value in saved["optimizer"].get("state", {}).get(i, {}).items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != p.shape:
                out.append(
                    f"optimizer state '{key}' of {names.get(id(p), i)} {_shape(value)} saved vs "
                    f"{_shape(p)} now"
                )
    return out


class DiskFullError(UserError):
    """Not enough space on the device to write a checkpoint (the previous one is kept)."""


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


def _disk_full(path: str, needed: int) -> DiskFullError:
    folder = os.path.dirname(os.path.abspath(path))
    free = shutil.disk_usage(folder).free
    return DiskFullError(
        f"{folder}: not enough disk space to save {os.path.basename(path)} (needs about "
        f"{needed / 2**20:.1f} MB, {free / 2**20:.1f} MB free); any previous checkpoint is kept: "
        "free some space, then continue with --resume"
    )


def _atomic_write(path: str, write, needed: int = 0) -> None:
    """``write(f)`` into a temporary file next to ``path``, then rename it to ``path``.

    ``needed``: expected bytes, checked against the free space first."""
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
    _atomic_write(path, lambda f: torch.save(obj, f), needed=_payload_bytes(obj))


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


def rng_state() -> dict:
    """The global RNG states as tensors / plain types (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": version, "state": list(py_state), "gauss": py_gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if (
        "cuda" in state
        and torch.cuda.is_available()
        and len(state["cuda"]) == torch.cuda.device_count()
    ):
        torch.cuda.set_rng_state_all(state["cuda"])


class TrainingCheckpointer(Checkpointer):
    """fvcore ``Checkpointer`` with atomic saves, ``weights_only`` loads and RNG states.

    ``checkpointables`` (optimizer, scheduler, grad scaler, ...) are saved and restored by name.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        save_dir: str,
        *,
        save_to_disk: bool = True,
        **checkpointables: Any,
    ):
        super().__init__(model, save_dir, save_to_disk=save_to_disk, **checkpointables)
        self.logger = logger
        self._resuming = ""  # the path being resumed from, while load() runs

    def save(self, name: str, **kwargs: Any) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data["rng"] = rng_state()
        data.update(kwargs)
        basename = f"{name}.pth"
        path = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {path}")
        atomic_torch_save(data, path)
        self.tag_last_checkpoint(basename)

    def get_checkpoint_file(self) -> str:
        """The checkpoint ``last_checkpoint`` names ("" without that file); an empty tag is an
        error listing the checkpoints present."""
        tag = os.path.join(self.save_dir, "last_checkpoint")
        try:
            with open(tag) as f:
                name = f.read().strip()
        except FileNotFoundError:
            return ""
        if not name:
            present = sorted(
                os.path.basename(p)
                for p in glob.glob(os.path.join(glob.escape(self.save_dir), "model_*.pth"))
            )
            raise CheckpointReadError(
                f"{tag} is empty (it should name the checkpoint to resume from); checkpoints in "
                f"the folder: {', '.join(present) or 'none'}. Write one of their names into it, or "
                "delete it to start fresh"
            )
        return os.path.join(self.save_dir, name)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        _atomic_write(
            os.path.join(self.save_dir, "last_checkpoint"),
            lambda f: f.write(last_filename_basename.encode()),
        )

    def _load_file(self, f: str) -> dict:
        try:
            data = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as e:  # truncated zip, not a torch file, or a pickle that carries code
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointReadError(
                f"{f}: cannot read this training checkpoint ({first[:200]})"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
            raise CheckpointReadError(
                f"{f}: not a training checkpoint (expected a dict with a 'model' state dict)"
            )
        scaler = self.checkpointables.get("grad_scaler")
        if (
            isinstance(scaler, torch.amp.GradScaler)
            and scaler.is_enabled()
            and data.get("grad_scaler") == {}
        ):
            data.pop("grad_scaler")  # saved by a disabled scaler (no fp16 AMP): nothing to restore
            self.logger.info(
                f"{f}: saved without fp16 AMP; the grad scaler starts from its initial scale"
            )
        return data

    def _load_model(self, checkpoint: dict):
        """A full resume (``load(path)``) refuses a checkpoint that does not fit before changing
        anything; a partial one keeps fvcore's non-strict behaviour."""
        if self._resuming:
            differences = state_mismatches(
                checkpoint, self.model, self.checkpointables.get("optimizer")
            )
            if differences:
                raise CheckpointMismatchError(
                    f"{self._resuming}: {len(differences)} saved tensor(s) do not fit the model "
                    f"built now, e.g. {differences[0]}",
                    differences,
                )
        return super()._load_model(checkpoint)

    def load(self, path: str, checkpointables: list[str] | None = None) -> dict:
        """Restore ``path`` (everything when ``checkpointables`` is None: a resume, which must fit
        the model and optimizer exactly, else :class:`CheckpointMismatchError`)."""
        if path and not os.path.isfile(path):
            raise CheckpointReadError(f"{path}: checkpoint file not found")
        self._resuming = path if checkpointables is None else ""
        try:
            extra = super().load(path, checkpointables)
        finally:
            self._resuming = ""
        if checkpointables is None and "rng" in extra:
            set_rng_state(extra.pop("rng"))
        return extra
