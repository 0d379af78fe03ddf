"""Start one process per GPU (``--num-gpus N``) or join a ``torchrun`` job; gloo on CPU, NCCL on
GPU.

Every collective operation has a bounded wait (``timeout_s``, the config's
``DIST_TIMEOUT_SECONDS``): a process that froze or was lost makes the others fail after that long
instead of waiting forever, and the job ends with one line. The parent of ``--num-gpus`` processes
passes SIGTERM / SIGINT on to them (the trainer saves a checkpoint and stops), and reports a failed
process in one line: a user error raised in a process exits 2 with its own message, as it would
in a single process.
"""

from __future__ import annotations

import datetime
import logging
import os
import signal
import socket
from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ..errors import UserError

__all__ = ["launch", "launched_world_size", "DEFAULT_TIMEOUT_S"]

DEFAULT_TIMEOUT_S = 1800.0  # the config's default DIST_TIMEOUT_SECONDS (Detectron2's 30 minutes)
_GRACE_S = 5.0  # after one process failed: wait this long for the others, then SIGTERM, SIGKILL
_STOPPED_BY_SIGNAL = (130, 143)  # a process that saved and stopped on SIGINT / SIGTERM


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launched_world_size(num_gpus_per_machine: int, num_machines: int = 1) -> int:
    """How many processes :func:`launch` runs: a ``torchrun`` job's ``WORLD_SIZE``, else
    ``num_gpus_per_machine * num_machines``."""
    return _torchrun_world_size() or max(1, num_gpus_per_machine * num_machines)


def _torchrun_world_size() -> int:
    """``WORLD_SIZE`` of the ``torchrun`` job this process belongs to, 0 when there is none."""
    world_size = int(os.environ.get("WORLD_SIZE", 0))
    return world_size if world_size > 1 else 0


def launch(
    main: Callable,
    num_gpus_per_machine: int,
    num_machines: int = 1,
    machine_rank: int = 0,
    dist_url: str | None = None,
    args: tuple = (),
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Run ``main(*args)`` in ``num_gpus_per_machine * num_machines`` processes.

    Under ``torchrun`` (``WORLD_SIZE`` set) the current process joins that job. With one process in
    total, ``main`` runs directly without torch.distributed. ``timeout_s``: the longest any
    collective operation waits for the other processes.
    """
    if timeout_s <= 0:
        raise UserError(f"DIST_TIMEOUT_SECONDS must be > 0, got {timeout_s}")
    if _torchrun_world_size():
        _init(
            int(os.environ["RANK"]),
            _torchrun_world_size(),
            "env://",
            int(os.environ.get("LOCAL_RANK", 0)),
            timeout_s,
        )
        main(*args)
        return
    world_size = num_gpus_per_machine * num_machines
    if world_size <= 1:
        main(*args)
        return
    if not dist_url or dist_url == "auto":
        if num_machines > 1:
            raise UserError("--dist-url tcp://HOST:PORT is required with --num-machines > 1")
        dist_url = f"tcp://127.0.0.1:{_free_port()}"
    context = mp.start_processes(
        _worker,
        nprocs=num_gpus_per_machine,
        args=(main, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout_s),
        daemon=False,
        start_method="spawn",
        join=False,
    )
    _join(context, timeout_s)


def _join(context, timeout_s: float) -> None:
    """Wait for the processes; pass SIGTERM / SIGINT on to them; one line for a failure."""

    def pass_on(signum, frame):
        for p in context.processes:
            if p.is_alive():
                os.kill(p.pid, signal.SIGTERM)  # one request per process, however many arrive

    logging.getLogger(mp.spawn.__module__).setLevel(logging.ERROR)  # no "Terminating process"
    previous = {s: signal.signal(s, pass_on) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not context.join(grace_period=_GRACE_S):
            pass
    except mp.ProcessRaisedException as e:
        raise _one_line(e.error_index, str(e), timeout_s) from None
    except mp.ProcessExitedException as e:
        if e.exit_code in _STOPPED_BY_SIGNAL:  # saved and stopped: its log says how to resume
            raise SystemExit(e.exit_code) from None
        how = f"signal {e.signal_name}" if e.signal_name else f"exit code {e.exit_code}"
        raise SystemExit(
            f"error: process {e.error_index} ended with {how} (killed, out of memory, or a crash); "
            "the other processes were stopped"
        ) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class _UserErrorInProcess(Exception):
    """Carries a user error's message from a worker process to the parent."""


def _one_line(rank: int, trace: str, timeout_s: float) -> BaseException:
    """The error to raise in the parent for process ``rank``'s traceback text ``trace``."""
    lines = [line for line in trace.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "unknown error"
    marker = f"{_UserErrorInProcess.__module__}.{_UserErrorInProcess.__qualname__}: "
    if last.startswith(marker):
        return UserError(last[len(marker) :])
    if "timed out" in last.lower() or "timeout" in last.lower():
        return SystemExit(
            f"error: process {rank} waited more than DIST_TIMEOUT_SECONDS ({timeout_s:g} s) for "
            "the others (one froze or was lost); the job was stopped"
        )
    return SystemExit(f"error: process {rank} failed: {last}")


def _init(rank: int, world_size: int, url: str, local_rank: int, timeout_s: float) -> None:
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    dist.init_process_group(
        backend=backend,
        init_method=url,
        world_size=world_size,
        rank=rank,
        timeout=datetime.timedelta(seconds=timeout_s),
    )


def _worker(local_rank, main, world_size, per_machine, machine_rank, url, args, timeout_s):
    _init(machine_rank * per_machine + local_rank, world_size, url, local_rank, timeout_s)
    try:
        main(*args)
    except UserError as e:
        lines = str(e).strip().splitlines()
        raise _UserErrorInProcess(lines[0] if lines else type(e).__name__) from None
    finally:
        dist.destroy_process_group()
