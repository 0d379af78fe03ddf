"""What a run may write in its ``OUTPUT_DIR``, and where.

* One run at a time: the main process holds an exclusive lock on ``OUTPUT_DIR/.run.lock`` (a
  POSIX record lock, which also works on NFS) for as long as it lives. A second training or
  evaluation in that folder is refused in one line naming the folder and the run holding it. The
  operating system drops the lock when its process ends, however it ends, so a killed run never
  blocks ``--resume``.
* A training run owns the folder's top level: ``config.yaml``, ``log.txt``, ``env.txt``,
  ``metrics.json``, checkpoints, TensorBoard events. A new training (no ``--resume``) in a folder
  that already holds one (``last_checkpoint``, ``metrics.json`` or ``model_*.pth``) is refused:
  continue it with ``--resume`` or choose another folder.
* An evaluation (``--eval-only``) writes its own record under ``OUTPUT_DIR/inference/``
  (``log.txt``, ``config.yaml``, ``env.txt``, next to the per-dataset results), never the
  training's.
* ``config.yaml`` is written once the run really starts (after a resume was checked), by
  :func:`save_config`.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import glob
import os
import socket
import sys

from ..errors import UserError
from .comm import all_gather_objects, is_main_process

__all__ = [
    "OutputDirError",
    "LOCK_NAME",
    "claim_output_dir",
    "release_output_dir",
    "record_dir",
    "training_record",
    "save_config",
]

LOCK_NAME = ".run.lock"

_held: dict[str, int] = {}  # absolute OUTPUT_DIR -> the open, locked descriptor of its lock file


class OutputDirError(UserError):
    """An ``OUTPUT_DIR`` that this run may not use as asked (one-line message)."""


def record_dir(output_dir: str, eval_only: bool) -> str:
    """The folder of this run's log, config and environment: ``OUTPUT_DIR`` for a training,
    ``OUTPUT_DIR/inference`` for an evaluation."""
    return os.path.join(output_dir, "inference") if eval_only else output_dir


def training_record(output_dir: str) -> list[str]:
    """The files showing that ``output_dir`` holds a training run (empty: it holds none)."""
    found = [n for n in ("last_checkpoint", "metrics.json") if os.path.exists(f"{output_dir}/{n}")]
    checkpoints = sorted(glob.glob(os.path.join(glob.escape(output_dir), "model_*.pth")))
    return (
        found + [os.path.basename(p) for p in checkpoints[:2]] + (["..."] * (len(checkpoints) > 2))
    )


def claim_output_dir(output_dir: str, *, resume: bool, eval_only: bool) -> None:
    """Lock ``output_dir`` for this run (main process) and apply the rules above; every process
    raises the same :class:`OutputDirError` when the folder may not be used."""
    problem = None
    if is_main_process():
        try:
            _claim(output_dir, resume=resume, eval_only=eval_only)
        except OutputDirError as e:
            problem = str(e)
    problems = [p for p in all_gather_objects(problem) if p]
    if problems:
        raise OutputDirError(problems[0])


def _claim(output_dir: str, *, resume: bool, eval_only: bool) -> None:
    key = os.path.abspath(output_dir)
    if key not in _held:
        os.makedirs(output_dir, exist_ok=True)
        path = os.path.join(output_dir, LOCK_NAME)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EACCES, errno.EAGAIN):
                raise OutputDirError(
                    f"{path}: cannot lock the output folder ({e.strerror}); use a folder on a "
                    "file system with file locks"
                ) from None
            raise OutputDirError(
                f"{output_dir} is in use by another run ({_holder(path)}): wait for it to end, "
                "or choose another OUTPUT_DIR"
            ) from None
        _held[key] = fd
    if not resume and not eval_only and (found := training_record(output_dir)):
        release_output_dir(output_dir)
        raise OutputDirError(
            f"{output_dir} already holds a training run ({', '.join(found)}): continue it with "
            "--resume, or train in another OUTPUT_DIR (or delete that folder first)"
        )
    fd = _held[key]
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    command = " ".join(sys.argv)
    info = f"pid {os.getpid()} on {socket.gethostname()}, started {started}: {command[:300]}"
    os.ftruncate(fd, 0)
    os.pwrite(fd, (info + "\n").encode(), 0)


def _holder(lock_path: str) -> str:
    try:
        with open(lock_path) as f:
            return f.read().strip() or "no details recorded"
    except OSError:
        return "no details recorded"


def release_output_dir(output_dir: str) -> None:
    """Drop this process's lock on ``output_dir`` (the end of the process does it too)."""
    fd = _held.pop(os.path.abspath(output_dir), None)
    if fd is not None:
        os.close(fd)


def save_config(cfg, folder: str) -> str:
    """Write ``folder/config.yaml`` (main process) and return its path."""
    path = os.path.join(folder, "config.yaml")
    if is_main_process():
        os.makedirs(folder, exist_ok=True)
        with open(path, "w") as f:
            f.write(cfg.dump())
    return path
