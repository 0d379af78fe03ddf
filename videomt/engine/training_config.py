"""The config values a training needs, checked before anything is built or written.

``train_net_video.py`` runs these checks once, before it starts any process (a wrong
``SOLVER.MAX_ITER`` or warmup, or a misspelt dataset name, is one line in a few seconds, not after
the dataset and the model are ready, or after the whole training for a ``DATASETS.TEST`` name);
:class:`~videomt.engine.trainer.Trainer` runs :func:`check_training_config` again for callers
that build it directly.
"""

from __future__ import annotations

from ..errors import ConfigError

__all__ = ["check_training_config", "check_dataset_names"]


def check_training_config(cfg, world_size: int) -> int:
    """Clips per micro-batch per process for ``world_size`` processes; a one-line
    :class:`ConfigError` when the batch does not split evenly, no training set is named or
    ``SOLVER.MAX_ITER`` is below 1."""
    total, accum = int(cfg.SOLVER.IMS_PER_BATCH), int(cfg.SOLVER.ACCUMULATION_STEPS)
    if accum < 1:
        raise ConfigError(f"SOLVER.ACCUMULATION_STEPS must be >= 1, got {accum}")
    if total < 1:
        raise ConfigError(
            f"SOLVER.IMS_PER_BATCH must be >= 1 (clips per optimizer step), got {total}"
        )
    if total % (world_size * accum):
        raise ConfigError(
            f"SOLVER.IMS_PER_BATCH ({total}) must be divisible by processes x accumulation "
            f"steps ({world_size} x {accum} = {world_size * accum})"
        )
    if not cfg.DATASETS.TRAIN:
        raise ConfigError("DATASETS.TRAIN is empty: name at least one training dataset")
    max_iter = int(cfg.SOLVER.MAX_ITER)
    if max_iter < 1:
        raise ConfigError(
            f"SOLVER.MAX_ITER must be >= 1 (optimizer steps to train), got {max_iter}"
        )
    return total // (world_size * accum)


def check_dataset_names(cfg, keys: tuple[str, ...] = ("TRAIN", "TEST")) -> None:
    """Every name of ``DATASETS.<key>`` for ``keys`` is registered (or a resolvable
    ``ytvis_json:`` / ``.json`` name), without reading any data; else a one-line
    :class:`~videomt.data.catalog.DatasetError` naming the key."""
    from ..data import DatasetCatalog  # registers the built-in names
    from ..data.catalog import DatasetError

    for key in keys:
        for name in cfg.DATASETS.get(key):
            try:
                DatasetCatalog.require(name)
            except DatasetError as e:
                raise DatasetError(f"DATASETS.{key}: {e}") from None
