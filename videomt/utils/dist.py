"""torch.distributed helpers that also work in a single process (no process group)."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from typing import Any

import torch.distributed as dist
from tqdm import tqdm

__all__ = [
    "get_rank",
    "get_world_size",
    "is_main_process",
    "synchronize",
    "all_gather_objects",
    "process_map",
]


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    return get_rank() == 0


def synchronize() -> None:
    if get_world_size() > 1:
        dist.barrier()


def all_gather_objects(obj) -> list:
    """Every rank's ``obj`` (picklable, produced by this program), in rank order."""
    if get_world_size() == 1:
        return [obj]
    out = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def process_map(
    fn: Callable[[Any], Any],
    jobs: Sequence,
    num_processes: int | None = None,
    desc: str | None = None,
) -> list:
    """``[fn(job) for job in jobs]`` in worker processes (default: one per CPU; 1 runs here),
    results in job order so sums over them do not depend on which worker finished first. With
    ``desc``, a tqdm bar of that title counts finished jobs (on the main process, in a terminal)."""
    num_processes = (os.cpu_count() or 1) if num_processes is None else int(num_processes)
    disable = (
        None if desc is not None and is_main_process() else True
    )  # None: tqdm's "only on a TTY"
    if num_processes <= 1 or len(jobs) <= 1:
        return [fn(j) for j in tqdm(jobs, desc=desc, disable=disable)]
    with mp.get_context().Pool(processes=min(num_processes, len(jobs))) as pool:
        return list(
            tqdm(pool.imap(fn, jobs, chunksize=1), total=len(jobs), desc=desc, disable=disable)
        )
