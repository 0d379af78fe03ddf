"""Training metrics: a per-iteration scalar store and the writers that report it (Detectron2's
``EventStorage`` + ``JSONWriter`` / ``CommonMetricPrinter`` / TensorBoard, and wandb).

``metrics.json`` holds one JSON object per logging step: ``iteration``, every loss (median of the
last ``window`` iterations, as Detectron2), ``total_loss``, ``lr``, ``time``, ``data_time`` and
``max_mem`` (MB: peak CUDA memory on GPU, peak resident memory on CPU). Non-finite values are
written as ``null`` so the file stays valid JSON.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import resource
from collections import defaultdict

import torch
from fvcore.common.history_buffer import HistoryBuffer

from ..checkpoint import atomic_write
from ..utils.files import json_safe

__all__ = [
    "EventStorage",
    "get_event_storage",
    "JSONWriter",
    "ConsoleWriter",
    "TensorboardWriter",
    "WandbWriter",
    "peak_memory_mb",
]

logger = logging.getLogger(__name__)

# Scalars reported as their latest value; everything else (losses, timings) as the window median.
_LATEST = ("lr", "max_mem", "eta_seconds")


def peak_memory_mb(device: torch.device | None = None) -> float:
    """Peak CUDA memory allocated on ``device``, or this process's peak resident set size (CPU)."""
    if device is not None and device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


# The storages of the training runs in progress, innermost last (see get_event_storage).
_CURRENT_STORAGES: list[EventStorage] = []


def get_event_storage() -> EventStorage:
    """The :class:`EventStorage` of the training run in progress, as Detectron2's: any module can
    log a metric while training with ``get_event_storage().put_scalar(name, value)``; the
    trainer's writers report it (``metrics.json``, console, TensorBoard, wandb). Raises
    ``RuntimeError`` outside training (no ``with EventStorage(...)`` block is open)."""
    if not _CURRENT_STORAGES:
        raise RuntimeError(
            "get_event_storage() is only available while training (inside 'with EventStorage()')"
        )
    return _CURRENT_STORAGES[-1]


class EventStorage:
    """Scalar histories keyed by name; ``iter`` is the iteration being recorded. Used as a
    context manager (``with storage:``), it is what :func:`get_event_storage` returns inside."""

    def __init__(self, start_iter: int = 0):
        self.iter = int(start_iter)
        self._history: dict[str, HistoryBuffer] = defaultdict(HistoryBuffer)
        self._latest: dict[str, tuple[float, int]] = {}
        self._unsmoothed: set[str] = set(_LATEST)

    def __enter__(self) -> EventStorage:
        _CURRENT_STORAGES.append(self)
        return self

    def __exit__(self, *exc_info) -> None:
        assert _CURRENT_STORAGES[-1] is self, "EventStorage blocks must nest"
        _CURRENT_STORAGES.pop()

    def put_scalar(self, name: str, value: float, smooth: bool = True) -> None:
        """Record ``value`` at this iteration; ``smooth=False`` (e.g. evaluation metrics): writers
        report the value itself, not a median over recent iterations."""
        value = float(value)
        if not smooth:
            self._unsmoothed.add(name)
        self._history[name].update(value, self.iter)
        self._latest[name] = (value, self.iter)

    def put_scalars(self, **scalars: float) -> None:
        for name, value in scalars.items():
            self.put_scalar(name, value)

    def history(self, name: str) -> HistoryBuffer:
        if name not in self._history:
            raise KeyError(f"no scalar named '{name}' recorded")
        return self._history[name]

    def has(self, name: str) -> bool:
        return name in self._history

    def new_values(self, window: int, written: dict[str, int]) -> dict[int, dict[str, float]]:
        """{iteration: {name: smoothed value}} of the scalars recorded since ``written[name]`` (the
        last iteration a writer wrote for that name; updated in place)."""
        by_iter: dict[int, dict[str, float]] = defaultdict(dict)
        for name, (value, it) in self.smoothed(window).items():
            if it > written.get(name, -1):
                by_iter[it][name] = value
                written[name] = it
        return dict(sorted(by_iter.items()))

    def smoothed(self, window: int) -> dict[str, tuple[float, int]]:
        """name -> (value, iteration it was last recorded): the value itself for lr, memory and
        unsmoothed scalars (evaluation metrics), else the median of the last ``window`` values."""
        out = {}
        for name, (value, it) in self._latest.items():
            out[name] = (
                value if name in self._unsmoothed else self._history[name].median(window),
                it,
            )
        return out


class JSONWriter:
    """Append one JSON line per logged iteration to ``path`` (Detectron2's ``metrics.json``).

    The file stays valid JSON lines after any kill: on start, a partial last line (a kill during a
    write) and the records of iterations ``>= start_iter`` (logged by a killed run after its last
    checkpoint; a resume computes them again) are dropped, so a resumed run continues the record.
    """

    def __init__(self, path: str, window: int = 20, start_iter: int = 0):
        self.path, self.window = path, window
        self._written: dict[str, int] = {}
        self._repair(int(start_iter))

    def _repair(self, start_iter: int) -> None:
        try:
            with open(self.path) as f:
                text = f.read()
        except FileNotFoundError:
            return
        lines = text.split("\n")
        partial = lines.pop()  # "" when the file ends with a newline
        kept = [line for line in lines if line.strip() and _iteration(line) < start_iter]
        dropped = len([line for line in lines if line.strip()]) - len(kept)
        if not partial and not dropped:
            return
        repaired = "".join(line + "\n" for line in kept).encode()
        atomic_write(self.path, lambda f: f.write(repaired), len(repaired))
        logger.info(
            f"{self.path}: kept {len(kept)} records before iteration {start_iter}, dropped "
            f"{dropped} later one(s)" + (" and a partial last line" if partial else "")
        )

    def write(self, storage: EventStorage) -> None:
        new = storage.new_values(self.window, self._written)
        if not new:
            return
        text = "".join(
            json.dumps(json_safe({"iteration": it, **values}), sort_keys=True, allow_nan=False)
            + "\n"
            for it, values in new.items()
        )
        with open(self.path, "a") as f:
            f.write(text)  # one write per flush: a kill cuts at most the last line

    def close(self) -> None:
        pass


def _iteration(line: str) -> float:
    """The ``iteration`` of one metrics.json line (infinity for a line that is not a record)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return math.inf
    it = record.get("iteration") if isinstance(record, dict) else None
    return it if isinstance(it, int) else math.inf


class ConsoleWriter:
    """Log ``eta``, ``iter``, losses, ``time``, ``data_time``, ``lr``, ``max_mem`` (one line)."""

    def __init__(self, max_iter: int, window: int = 20):
        self.max_iter, self.window = max_iter, window
        self._last_written = -1

    def write(self, storage: EventStorage) -> None:
        it = storage.iter
        if it <= self._last_written:  # e.g. the final flush right after the last periodic write
            return
        self._last_written = it
        eta = ""
        if storage.has("time"):
            seconds = storage.history("time").median(1000) * (self.max_iter - it - 1)
            storage.put_scalar("eta_seconds", seconds)
            eta = f"eta: {datetime.timedelta(seconds=int(seconds))}  "
        values = storage.smoothed(self.window)
        losses = "  ".join(f"{k}: {v:.4g}" for k, (v, _) in sorted(values.items()) if "loss" in k)
        timing = "  ".join(f"{k}: {values[k][0]:.4f}" for k in ("time", "data_time") if k in values)
        lr = f"lr: {values['lr'][0]:.5g}" if "lr" in values else ""
        mem = f"max_mem: {values['max_mem'][0]:.0f}M" if "max_mem" in values else ""
        logger.info(f" {eta}iter: {it}  {losses}  {timing}  {lr}  {mem}".rstrip())

    def close(self) -> None:
        pass


class TensorboardWriter:
    """Scalars to TensorBoard event files in ``log_dir`` (``torch.utils.tensorboard``)."""

    def __init__(self, log_dir: str, window: int = 20):
        from torch.utils.tensorboard import SummaryWriter  # needs the `tensorboard` package

        self._writer = SummaryWriter(log_dir)
        self.window = window
        self._written: dict[str, int] = {}

    def write(self, storage: EventStorage) -> None:
        for it, values in storage.new_values(self.window, self._written).items():
            for name, value in values.items():
                self._writer.add_scalar(name, value, it)

    def close(self) -> None:
        self._writer.close()


class WandbWriter:
    """Scalars to Weights & Biases (project ``project``, run id = last folder of OUTPUT_DIR, as the
    reference); ``mode="offline"`` writes the run under ``dir`` for a later ``wandb sync``."""

    def __init__(
        self, project: str, run_dir: str, config: dict, mode: str = "online", window: int = 20
    ):
        import wandb  # optional dependency: pip install -e ".[logging]"

        name = os.path.basename(os.path.normpath(run_dir))
        self._wandb = wandb
        self._run = wandb.init(
            project=project,
            name=name,
            id=name,
            dir=run_dir,
            config=config,
            mode=mode,
            resume="allow",
        )
        self.window = window
        self._written: dict[str, int] = {}

    def write(self, storage: EventStorage) -> None:
        for it, values in storage.new_values(self.window, self._written).items():
            self._run.log(values, step=it)

    def close(self) -> None:
        self._run.finish()
