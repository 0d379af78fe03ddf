"""Training checkpoints: Detectron2's file layout (``OUTPUT_DIR/model_XXXXXXX.pth``,
``model_final.pth``, ``last_checkpoint``) on fvcore's ``Checkpointer``, with

* the package's atomic writes (:func:`.files.atomic_write`): a checkpoint and the
  ``last_checkpoint`` tag are renamed into place once complete, so a kill during a save never
  leaves a truncated ``model_*.pth`` or a tag that points at one; a full disk is one error;
* the package's safe reads (:func:`.files.load_torch_file`, ``weights_only=True``);
* a resume that refuses a checkpoint that does not fit the model or optimizer built now, before
  anything is changed;
* the random-number-generator states (torch, python, numpy global) saved and restored.
"""

from __future__ import annotations

import glob
import logging
import os
import random
from typing import Any

import numpy as np
import torch
from fvcore.common.checkpoint import Checkpointer

from .files import (
    CheckpointError,
    atomic_torch_save,
    atomic_write,
    check_checkpoint_file,
    load_torch_file,
)

__all__ = [
    "TrainingCheckpointer",
    "CheckpointMismatchError",
    "state_mismatches",
    "rng_state",
    "set_rng_state",
]

logger = logging.getLogger(__name__)


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
            raise CheckpointError(
                f"{tag} is empty (it should name the checkpoint to resume from); checkpoints in "
                f"the folder: {', '.join(present) or 'none'}. Write one of their names into it, or "
                "delete it to start fresh"
            )
        return os.path.join(self.save_dir, name)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        atomic_write(
            os.path.join(self.save_dir, "last_checkpoint"),
            lambda f: f.write(last_filename_basename.encode()),
        )

    def _load_file(self, f: str) -> dict:
        data = load_torch_file(f, "training checkpoint")
        if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
            raise CheckpointError(
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
        if path:  # fvcore asserts on a missing file: name it in one line first
            check_checkpoint_file(path)
        self._resuming = path if checkpointables is None else ""
        try:
            extra = super().load(path, checkpointables)
        finally:
            self._resuming = ""
        if checkpointables is None and "rng" in extra:
            set_rng_state(extra.pop("rng"))
        return extra
