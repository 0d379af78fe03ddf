"""Training and test data loaders (dataset mixing, training samplers); a batch is
the plain list of mapped dicts (``collate_fn=list``, Detectron2's trivial collate)."""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Dataset

from ..errors import ConfigError
from .catalog import DatasetCatalog, DatasetError
from .mappers import MAPPER_REGISTRY, build_mapper
from .samplers import ClipKey, InferenceSampler, MixedTrainingBatchSampler

logger = logging.getLogger(__name__)


class SerializedList:
    """A list of dicts kept as one pickled byte buffer, so data-loader workers do not copy the
    Python objects on access (copy-on-read of refcounts); items come back as fresh copies."""

    def __init__(self, items: Sequence[Any]):
        blobs = [
            np.frombuffer(pickle.dumps(x, protocol=pickle.HIGHEST_PROTOCOL), dtype=np.uint8)
            for x in items
        ]
        self._ends = np.cumsum([len(b) for b in blobs], dtype=np.int64)
        self._data = np.concatenate(blobs) if blobs else np.zeros(0, dtype=np.uint8)

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, i: int) -> Any:
        i = range(len(self))[i]  # a negative index counts from the end; IndexError out of range
        return pickle.loads(
            memoryview(self._data[int(self._ends[i - 1]) if i else 0 : int(self._ends[i])])
        )


class WorkerErrorLoader(DataLoader):
    """A ``DataLoader`` whose worker errors reach the caller as they were raised in the worker:
    same type, the worker's own message first (e.g. the file a dataset error is about), instead
    of PyTorch's "Caught DatasetError in DataLoader worker process 0." above a traceback text.
    Workers leave SIGINT and SIGTERM to the main process, which decides how to stop (the trainer
    finishes its step and saves a checkpoint first); see :class:`_WorkerSignals`."""

    def __init__(self, *args, worker_init_fn: Callable[[int], None] | None = None, **kwargs):
        super().__init__(
            *args, worker_init_fn=_WorkerSignals(_main_ending(), worker_init_fn), **kwargs
        )

    def __iter__(self):
        return _NamedErrors(super().__iter__())


class _NamedErrors:
    def __init__(self, batches):
        self._batches = batches

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self._batches)
        except StopIteration:
            raise
        except Exception as e:
            original = _worker_message(e)
            if original is None:
                raise
            try:
                unwrapped = type(e)(original)
            except Exception:
                raise e from None
            raise unwrapped from e

    def __len__(self) -> int:
        return len(self._batches)


def _worker_message(e: Exception) -> str | None:
    """The message a loader worker's exception had in the worker, or None when ``e`` is not a
    worker error re-raised by PyTorch."""
    text = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], str) else ""
    if not text.startswith(f"Caught {type(e).__name__} in DataLoader worker process"):
        return None
    cls = type(e)
    label = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    start = text.rfind(f"\n{label}: ")
    return text[start + len(label) + 3 :].strip() if start >= 0 else None


_MAIN_ENDING: Any = None  # shared flag (multiprocessing.RawValue), 1 once this process exits


def _main_ending() -> Any:
    """A flag shared with the loader workers, set to 1 when this process exits (created with
    its first loader; a plain shared byte: no lock or semaphore to leak if the process is
    killed)."""
    global _MAIN_ENDING
    if _MAIN_ENDING is None:
        _MAIN_ENDING = multiprocessing.RawValue("b", 0)
        # atexit runs its functions last-registered first: this one before multiprocessing's,
        # which sends SIGTERM to the workers still alive and waits for them
        atexit.register(_set_main_ending)
    return _MAIN_ENDING


def _set_main_ending() -> None:
    _MAIN_ENDING.value = 1


class _WorkerSignals:
    """``worker_init_fn`` of our loaders: Ctrl-C and SIGTERM are the main process's to handle.

    A cluster preempting a job sends SIGTERM to all of its processes, loader workers included. A
    worker that died then would leave its main process, if waiting for a batch, with "DataLoader
    worker exited unexpectedly" (and the other processes of a multi-GPU run waiting for it)
    instead of finishing the step and saving a checkpoint; so a worker ignores SIGTERM while its
    main process runs, and exits quietly (status 0, no "killed by signal" error) on the SIGTERM
    that multiprocessing sends its workers when the main process exits.
    """

    def __init__(self, main_ending: Any, then: Callable[[int], None] | None = None):
        self.main_ending, self.then = main_ending, then

    def __call__(self, worker_id: int) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        if self.then is not None:
            self.then(worker_id)

    def _on_sigterm(self, signum, frame) -> None:
        if self.main_ending.value:
            os._exit(0)


class ClipDataset(Dataset):
    """A :class:`ClipKey` -> its dict mapped by its dataset's mapper, with a generator seeded by
    (seed, position)."""

    def __init__(self, datasets: Sequence[Sequence[dict]], mappers: Sequence[Callable], seed: int):
        if len(datasets) != len(mappers):
            raise ValueError(f"{len(datasets)} datasets but {len(mappers)} mappers")
        self.datasets = [SerializedList(d) for d in datasets]
        self.mappers = list(mappers)
        self.seed = int(seed)

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)

    def __getitem__(self, key: ClipKey) -> dict:
        source, index, position = key
        rng = np.random.default_rng([self.seed, 0xC11B, int(position)])
        out = self.mappers[source](self.datasets[source][index], rng=rng)
        out["sample_position"] = int(
            position
        )  # global clip index: keys the model's random draws too
        return out


class _MappedList(Dataset):
    def __init__(self, dicts: Sequence[dict], mapper: Callable):
        self.dicts, self.mapper = SerializedList(dicts), mapper

    def __len__(self) -> int:
        return len(self.dicts)

    def __getitem__(self, i: int) -> dict:
        return self.mapper(self.dicts[i])


def filter_empty_annotations(dicts: list[dict], name: str = "dataset") -> list[dict]:
    """Drop videos (or images) without any non-crowd annotation, logging how many."""

    def objects(d: dict) -> list[dict]:  # videos: one list per frame
        annos = d.get("annotations") or []
        return [a for frame in annos for a in frame] if "file_names" in d else annos

    kept = [d for d in dicts if any(not a.get("iscrowd", 0) for a in objects(d))]
    logger.info(
        "Removed %d of %d videos/images without non-crowd annotations from '%s'; %d left.",
        len(dicts) - len(kept),
        len(dicts),
        name,
        len(kept),
    )
    if not kept:
        raise DatasetError(
            f"dataset '{name}': none of its {len(dicts)} videos/images has a non-crowd "
            "annotation (DATALOADER.FILTER_EMPTY_ANNOTATIONS removed them all)"
        )
    return kept


def _per_dataset(values: Sequence, n: int, key: str) -> list:
    values = list(values)
    if len(values) == 1 and n > 1:
        return values * n
    if len(values) != n:
        raise ConfigError(f"{key} has {len(values)} entries but DATASETS.TRAIN names {n} datasets")
    return values


def get_train_dataset_dicts(
    cfg, datasets: Sequence[Sequence[dict]] | None = None
) -> tuple[list[str], list[str], list[list[dict]]]:
    """Names, types and (filtered) dicts of ``DATASETS.TRAIN``; ``datasets`` replaces the catalog
    look-up."""
    names = list(cfg.DATASETS.TRAIN)  # an empty list is refused where training starts (Trainer)
    types = _per_dataset(cfg.DATASETS.DATASET_TYPE, len(names), "DATASETS.DATASET_TYPE")
    for t in types:
        MAPPER_REGISTRY.lookup(t, "DATASETS.DATASET_TYPE")  # before any dataset is loaded
    if datasets is None:
        datasets = [DatasetCatalog.get(n) for n in names]
    if len(datasets) != len(names):
        raise ValueError(
            f"{len(datasets)} dataset lists given for {len(names)} DATASETS.TRAIN names"
        )
    out = []
    for name, dtype, dicts in zip(names, types, datasets):
        dicts = list(dicts)
        if not dicts:
            raise DatasetError(f"training dataset '{name}' is empty")
        if dtype in ("video_instance", "image_instance") and all(
            d.get("annotations") is None for d in dicts
        ):
            raise DatasetError(
                f"training dataset '{name}' has no annotations (a test/validation split without "
                "ground truth cannot be trained on)"
            )
        if cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS and dtype in (
            "video_instance",
            "image_instance",
        ):
            dicts = filter_empty_annotations(dicts, name)
        out.append(dicts)
    return names, types, out


def build_train_loader(
    cfg,
    *,
    start_iter: int = 0,
    datasets: Sequence[Sequence[dict]] | None = None,
    mappers: Sequence[Callable] | None = None,
    rank: int | None = None,
    world_size: int | None = None,
) -> DataLoader:
    """Infinite loader of this rank's ``SOLVER.IMS_PER_BATCH / world_size`` mapped clips per
    iteration, mixing ``DATASETS.TRAIN`` by ``DATASETS.DATASET_RATIO``. Clips and their random
    augmentation are a pure function of ``(SEED, iteration)`` (:mod:`videomt.data.samplers`), so
    ``start_iter=i`` replays the uninterrupted run. ``datasets`` / ``mappers`` replace the catalog
    look-up / the type's mappers."""
    names, types, dicts = get_train_dataset_dicts(cfg, datasets)
    ratios = _per_dataset(cfg.DATASETS.DATASET_RATIO, len(names), "DATASETS.DATASET_RATIO")
    if mappers is None:
        mappers = [build_mapper(cfg, t, True, n) for n, t in zip(names, types)]
    seed = int(cfg.SEED)
    if seed < 0:  # draw one, logged (as Detectron2)
        seed = int(np.random.SeedSequence().generate_state(1)[0] & 0x7FFFFFFF)
        logger.info("SEED < 0: using randomly drawn seed %d for the data pipeline", seed)
    sampler = MixedTrainingBatchSampler(
        [len(d) for d in dicts],
        ratios,
        batch_size=cfg.SOLVER.IMS_PER_BATCH,
        seed=seed,
        rank=rank,
        world_size=world_size,
        start_iter=start_iter,
    )
    for name, d, r in zip(names, dicts, ratios):
        logger.info("Training set '%s': %d items, ratio %s", name, len(d), r)
    # NB: no worker_init_fn touching thread settings: cv2.setNumThreads / torch.set_num_threads
    # in a forked worker can deadlock (seen with OpenCV 5 / torch 2.x).
    return WorkerErrorLoader(
        ClipDataset(dicts, mappers, seed),
        batch_sampler=sampler,
        num_workers=int(cfg.DATALOADER.NUM_WORKERS),
        collate_fn=list,
    )


def build_test_loader(
    cfg,
    dataset_name: str,
    *,
    mapper: Callable | None = None,
    dataset_dicts: Sequence[dict] | None = None,
    rank: int | None = None,
    world_size: int | None = None,
) -> DataLoader:
    """Whole test videos, one mapped dict per batch: this rank's contiguous share of
    ``dataset_name``, in order."""
    dicts = list(DatasetCatalog.get(dataset_name) if dataset_dicts is None else dataset_dicts)
    dataset = _MappedList(
        dicts, mapper or build_mapper(cfg, is_train=False, dataset_name=dataset_name)
    )
    workers = int(cfg.DATALOADER.NUM_WORKERS)
    return WorkerErrorLoader(
        dataset,
        batch_size=1,
        sampler=InferenceSampler(len(dataset), rank=rank, world_size=world_size),
        num_workers=workers,
        collate_fn=list,
        **({"prefetch_factor": 1} if workers > 0 else {}),
    )
