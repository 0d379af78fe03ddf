"""Samplers: what each rank loads at each training iteration, computed from ``(seed, iteration)``
directly so that a resumed run sees exactly the clips of the uninterrupted one, whatever the number
of workers; and each rank's share at test time."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError
from ..utils.dist import get_rank, get_world_size

_TAG_SOURCE, _TAG_PERM = 0x50C, 0x9E3  # domain separators for the seed sequences


def _resolve_rank_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    rank = get_rank() if rank is None else int(rank)
    world_size = get_world_size() if world_size is None else int(world_size)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"invalid rank {rank} for world size {world_size}")
    return rank, world_size


class ClipKey(NamedTuple):
    """One training sample: dataset ``source``, dict ``index`` in it, global stream ``position``
    (seeds the mapper)."""

    source: int
    index: int
    position: int


class ShuffledStream:
    """Successive random permutations of ``range(size)``: element ``at(k)`` is in epoch ``k //
    size``, whose permutation is seeded by (seed, tag, epoch), so any element is computable without
    replaying the stream."""

    def __init__(self, size: int, seed: int, shuffle: bool = True, tag: int = 0):
        if size <= 0:
            raise ValueError(f"cannot sample from an empty dataset (size {size})")
        self.size, self.seed, self.shuffle, self.tag = int(size), int(seed), bool(shuffle), int(tag)
        self._perms: dict[int, np.ndarray] = {}  # the current and the previous epoch

    def at(self, k: int) -> int:
        if not self.shuffle:
            return k % self.size
        epoch = k // self.size
        if epoch not in self._perms:
            if len(self._perms) >= 2:
                self._perms.pop(min(self._perms))
            self._perms[epoch] = np.random.default_rng(
                [self.seed, _TAG_PERM, self.tag, epoch]
            ).permutation(self.size)
        return int(self._perms[epoch][k % self.size])


class MixedTrainingBatchSampler:
    """Infinite per-rank batches of :class:`ClipKey` from several datasets: each stream position
    picks its dataset by weighted random choice (``ratios``, deterministic in (seed, position)); the
    k-th pick of dataset s is element k of its own :class:`ShuffledStream`, so each dataset is
    covered epoch by epoch. Iterating yields the batches of iterations ``start_iter, start_iter + 1,
    ...``; ``batch(i)`` any one."""

    CHUNK = 8192  # positions whose dataset choices are drawn together

    def __init__(
        self,
        sizes: Sequence[int],
        ratios: Sequence[float] | None = None,
        *,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        rank: int | None = None,
        world_size: int | None = None,
        start_iter: int = 0,
    ):
        self.sizes = [int(s) for s in sizes]
        ratios = [1.0] * len(self.sizes) if ratios is None else [float(r) for r in ratios]
        if len(ratios) != len(self.sizes) or any(r < 0 for r in ratios) or sum(ratios) <= 0:
            raise ConfigError(
                f"DATASETS.DATASET_RATIO {ratios} must be {len(self.sizes)} non-negative numbers "
                "with a positive sum"
            )
        self.probs = np.asarray(ratios, dtype=np.float64) / sum(ratios)
        self.rank, self.world_size = _resolve_rank_world(rank, world_size)
        if batch_size % self.world_size:
            raise ConfigError(
                f"SOLVER.IMS_PER_BATCH {batch_size} is not divisible by the world size "
                f"{self.world_size}"
            )
        self.batch_size, self.per_rank = int(batch_size), int(batch_size) // self.world_size
        self.seed, self.start_iter = int(seed), int(start_iter)
        self.streams = [
            ShuffledStream(n, self.seed, shuffle, tag=s) for s, n in enumerate(self.sizes)
        ]
        self._cum: list[np.ndarray] = [
            np.zeros(len(self.sizes), dtype=np.int64)
        ]  # counts before chunk c
        self._chunk_cache: tuple[int, np.ndarray] | None = None

    def _choices(self, chunk: int) -> np.ndarray:
        """Dataset chosen at each position of ``chunk`` (CHUNK,) int64."""
        if self._chunk_cache is None or self._chunk_cache[0] != chunk:
            rng = np.random.default_rng([self.seed, _TAG_SOURCE, chunk])
            self._chunk_cache = (
                chunk,
                rng.choice(len(self.sizes), size=self.CHUNK, p=self.probs).astype(np.int64),
            )
        return self._chunk_cache[1]

    def _counts_before_chunk(self, chunk: int) -> np.ndarray:
        while len(self._cum) <= chunk:
            counts = np.bincount(self._choices(len(self._cum) - 1), minlength=len(self.sizes))
            self._cum.append(self._cum[-1] + counts)
        return self._cum[chunk]

    def key_at(self, position: int) -> ClipKey:
        """The sample at a global stream position."""
        chunk, offset = divmod(int(position), self.CHUNK)
        before = self._counts_before_chunk(chunk)
        choices = self._choices(chunk)
        source = int(choices[offset])
        k = int(before[source]) + int(np.count_nonzero(choices[:offset] == source))
        return ClipKey(source, self.streams[source].at(k), int(position))

    def batch(self, iteration: int) -> list[ClipKey]:
        """This rank's share of the global batch of ``iteration`` (stream positions ``iteration *
        batch_size`` on)."""
        first = iteration * self.batch_size + self.rank * self.per_rank
        return [self.key_at(first + b) for b in range(self.per_rank)]

    def __iter__(self) -> Iterator[list[ClipKey]]:
        for it in itertools.count(self.start_iter):
            yield self.batch(it)


class InferenceSampler:
    """Indices ``0..size-1`` in contiguous shares, one per rank (the first ``size % world_size`` get
    one more)."""

    def __init__(self, size: int, *, rank: int | None = None, world_size: int | None = None):
        self.rank, self.world_size = _resolve_rank_world(rank, world_size)
        self.indices = np.array_split(np.arange(int(size)), self.world_size)[self.rank].tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
