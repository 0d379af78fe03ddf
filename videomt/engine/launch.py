"""Start one process per GPU (``--num-gpus N``) or join a ``torchrun`` job; gloo on CPU, NCCL on
GPU."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ..errors import UserError

__all__ = ["launch"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(
    main: Callable,
    num_gpus_per_machine: int,
    num_machines: int = 1,
    machine_rank: int = 0,
    dist_url: str | None = None,
    args: tuple = (),
) -> None:
    """Run ``main(*args)`` in ``num_gpus_per_machine * num_machines`` processes.

    Under ``torchrun`` (``WORLD_SIZE`` set) the current process joins that job. With one process in
    total, ``main`` runs directly without torch.distributed.
    """
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        _init(
            int(os.environ["RANK"]),
            int(os.environ["WORLD_SIZE"]),
            "env://",
            int(os.environ.get("LOCAL_RANK", 0)),
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
    mp.start_processes(
        _worker,
        nprocs=num_gpus_per_machine,
        args=(main, world_size, num_gpus_per_machine, machine_rank, dist_url, args),
        daemon=False,
        start_method="spawn",
    )


def _init(rank: int, world_size: int, url: str, local_rank: int) -> None:
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, init_method=url, world_size=world_size, rank=rank)


def _worker(local_rank, main, world_size, per_machine, machine_rank, url, args):
    _init(machine_rank * per_machine + local_rank, world_size, url, local_rank)
    try:
        main(*args)
    finally:
        dist.destroy_process_group()
