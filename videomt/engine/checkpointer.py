"""Training checkpoints: Detectron2's file layout (``OUTPUT_DIR/model_XXXXXXX.pth``,
``model_final.pth``, ``last_checkpoint``) on fvcore's ``Checkpointer``, with

* atomic writes: a checkpoint (and the ``last_checkpoint`` tag) is written to a temporary file in
  the same folder and renamed into place, so a kill during a save never leaves a truncated
  ``model_*.pth`` or a tag that points at one;
* safe reads: ``torch.load(weights_only=True)``, a clear error for an unreadable file;
* the random-number-generator states (torch, python, numpy global) saved and restored.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
from typing import Any

import numpy as np
import torch
from fvcore.common.checkpoint import Checkpointer

__all__ = [
    "TrainingCheckpointer",
    "CheckpointReadError",
    "atomic_torch_save",
    "rng_state",
    "set_rng_state",
]

logger = logging.getLogger(__name__)


class CheckpointReadError(ValueError):
    """A training checkpoint that cannot be read (truncated, not a checkpoint, unsafe pickle)."""


def _atomic_write(path: str, write) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` to ``path`` through a temporary file + rename."""
    _atomic_write(path, lambda f: torch.save(obj, f))


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

    def load(self, path: str, checkpointables: list[str] | None = None) -> dict:
        if path and not os.path.isfile(path):
            raise CheckpointReadError(f"{path}: checkpoint file not found")
        extra = super().load(path, checkpointables)
        if checkpointables is None and "rng" in extra:
            set_rng_state(extra.pop("rng"))
        return extra
