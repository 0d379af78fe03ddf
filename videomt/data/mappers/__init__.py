"""Clip mappers: dataset dict -> model input dict (one training clip, or a whole test video). Each
class takes plain arguments; ``cls(**cls.from_config(cfg, is_train, dataset_name))`` is the config
route. Training mappers are chosen by ``DATASETS.DATASET_TYPE`` from :data:`MAPPER_REGISTRY`."""

from __future__ import annotations

from .common import MAPPER_REGISTRY
from .dense import PanopticDatasetVideoMapper, SemanticDatasetVideoMapper
from .inference import PASS_THROUGH_KEYS, VideoTestMapper
from .instance import CocoClipDatasetMapper, YTVISDatasetMapper, instance_clip_targets

__all__ = [
    "YTVISDatasetMapper",
    "CocoClipDatasetMapper",
    "PanopticDatasetVideoMapper",
    "SemanticDatasetVideoMapper",
    "VideoTestMapper",
    "MAPPER_REGISTRY",
    "PASS_THROUGH_KEYS",
    "build_mapper",
    "instance_clip_targets",
]


def build_mapper(
    cfg,
    dataset_type: str = "video_instance",
    is_train: bool = True,
    dataset_name: str | None = None,
):
    """The training mapper registered for a ``DATASETS.DATASET_TYPE`` in :data:`MAPPER_REGISTRY`,
    or :class:`VideoTestMapper` when ``is_train`` is False."""
    if is_train:
        cls = MAPPER_REGISTRY.lookup(dataset_type, "DATASETS.DATASET_TYPE")
    else:
        cls = VideoTestMapper
    return cls(**cls.from_config(cfg, is_train, dataset_name))
