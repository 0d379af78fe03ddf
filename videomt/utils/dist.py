"""torch.distributed helpers that also work in a single process (no process group)."""
from __future__ import annotations

import torch.distributed as dist

__all__ = ["get_rank", "get_world_size", "is_main_process", "synchronize", "all_gather_objects"]


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
