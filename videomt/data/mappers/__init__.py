"""Clip mappers: dataset dict -> model input dict (one training clip, or a whole test video). Each
class takes plain arguments; ``cls(**cls.from_config(cfg, is_train, dataset_name))`` is the config
route."""

from __future__ import annotations

from .dense import PanopticDatasetVideoMapper, SemanticDatasetVideoMapper
from .inference import PASS_THROUGH_KEYS, VideoTestMapper
from .instance import CocoClipDatasetMapper, YTVISDatasetMapper, instance_clip_targets

__all__ = [
    "YTVISDatasetMapper",
    "CocoClipDatasetMapper",
    "PanopticDatasetVideoMapper",
    "SemanticDatasetVideoMapper",
    "VideoTestMapper",
    "MAPPER_BY_TYPE",
    "PASS_THROUGH_KEYS",
    "build_mapper",
    "instance_clip_targets",
]

MAPPER_BY_TYPE = {
    "video_instance": YTVISDatasetMapper,
    "image_instance": CocoClipDatasetMapper,
    "video_panoptic": PanopticDatasetVideoMapper,
    "video_semantic": SemanticDatasetVideoMapper,
}


def build_mapper(
    cfg,
    dataset_type: str = "video_instance",
    is_train: bool = True,
    dataset_name: str | None = None,
):
    """The training mapper of a ``DATASETS.DATASET_TYPE`` (a key of ``MAPPER_BY_TYPE``), or
    :class:`VideoTestMapper` when ``is_train`` is False."""
    if is_train and dataset_type not in MAPPER_BY_TYPE:
        raise ValueError(f"unknown dataset type '{dataset_type}'; known: {sorted(MAPPER_BY_TYPE)}")
    cls = MAPPER_BY_TYPE[dataset_type] if is_train else VideoTestMapper
    return cls(**cls.from_config(cfg, is_train, dataset_name))
