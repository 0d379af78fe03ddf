"""torch.distributed helpers for the engine; the one implementation is :mod:`videomt.utils.dist`
(the evaluation and data layers below the engine use it too)."""

from ..utils.dist import all_gather_objects, get_rank, get_world_size, is_main_process, synchronize

__all__ = ["get_rank", "get_world_size", "is_main_process", "synchronize", "all_gather_objects"]
