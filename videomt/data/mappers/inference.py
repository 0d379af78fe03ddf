"""Test-time mapper: a whole video, resized, no targets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..augmentation import ClipAugmentation, apply_clip_augmentations, build_test_augmentation
from ..catalog import DatasetError
from .common import check_image_format, frames_to_tensor, read_clip_frames

# annotation keys handed to the evaluators untouched (not decoded)
PASS_THROUGH_KEYS = ("pan_seg_file_names", "segments_infos", "sem_seg_file_names")


class VideoTestMapper:
    """Dataset dict (any task) -> ``{"image": uint8 (T, 3, H, W) all frames resized, "height",
    "width" (original), "video_id", "file_names", "length"}`` plus the dict's
    ``PASS_THROUGH_KEYS``."""

    def __init__(self, *, augmentations: Sequence[ClipAugmentation], image_format: str = "RGB"):
        self.augmentations = list(augmentations)
        self.image_format = check_image_format(image_format)

    @classmethod
    def from_config(cls, cfg, is_train: bool = False, dataset_name: str | None = None) -> dict:
        return dict(augmentations=build_test_augmentation(cfg), image_format=cfg.INPUT.FORMAT)

    def __call__(
        self, dataset_dict: dict[str, Any], rng: np.random.Generator | None = None
    ) -> dict[str, Any]:
        files = list(dataset_dict.get("file_names") or [])
        if not files:  # e.g. a COCO image dict: still images make training pseudo-clips only
            raise DatasetError(f"video {dataset_dict.get('video_id')}: no frames ('file_names')")
        frames = read_clip_frames(dataset_dict, range(len(files)))
        h, w = frames[0].shape[:2]
        frames, _ = apply_clip_augmentations(
            self.augmentations, frames, rng if rng is not None else np.random.default_rng(0)
        )
        out = {
            "image": frames_to_tensor(frames, self.image_format),
            "height": dataset_dict.get("height", h),
            "width": dataset_dict.get("width", w),
            "video_id": dataset_dict.get("video_id"),
            "file_names": files,
            "length": dataset_dict.get("length", len(files)),
        }
        out.update({key: dataset_dict[key] for key in PASS_THROUGH_KEYS if key in dataset_dict})
        return out
