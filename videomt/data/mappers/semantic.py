"""Training mapper for video semantic segmentation (VSPW class PNGs; SPEC 3.2, 5.4)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..augmentation import (ClipAugmentation, apply_clip_augmentations,
                            build_segmentation_augmentation)
from ..catalog import DatasetError
from ..clip_sampling import sample_clip_indices
from ..io import read_semantic_png
from .common import check_image_format, dense_clip_output, expect_same_size, new_rng
from .panoptic import read_clip_frames

__all__ = ["SemanticDatasetVideoMapper", "default_value_to_class", "IGNORE_LABEL"]

IGNORE_LABEL = 255


def default_value_to_class() -> np.ndarray:
    """256-entry lookup: PNG value v -> class v-1; 0 and 255 -> ignore (255)."""
    lut = np.arange(256, dtype=np.int64) - 1
    lut[0] = IGNORE_LABEL
    lut[255] = IGNORE_LABEL
    return lut.astype(np.uint8)


class SemanticDatasetVideoMapper:
    """VSPW-style dict -> one training clip with one target per class present in the clip.

    PNG values become classes through ``value_to_class`` (256 entries, 255 = ignore; default
    v -> v-1 with 0/255 ignored; ``from_config`` uses the dataset metadata's
    ``raw_value_to_contiguous`` table when there is one). Ignore pixels belong to no mask.
    Each present class c is slot n (ascending class): ``ids[n, t] = n`` in every frame,
    ``masks[n, t] = (class map == c)`` (may be empty in some frames), label c.
    """

    def __init__(self, *, augmentations: Sequence[ClipAugmentation], image_format: str = "RGB",
                 sampling_frame_num: int = 2, sampling_frame_range: int = 20,
                 reverse_agu: bool = False, value_to_class: np.ndarray | None = None,
                 seed: int | None = None):
        self.augmentations = list(augmentations)
        self.image_format = check_image_format(image_format)
        self.sampling_frame_num = int(sampling_frame_num)
        self.sampling_frame_range = int(sampling_frame_range)
        self.reverse_agu = bool(reverse_agu)
        lut = default_value_to_class() if value_to_class is None else np.asarray(value_to_class)
        if lut.shape != (256,):
            raise ValueError(f"value_to_class must have 256 entries, got shape {lut.shape}")
        self.value_to_class = lut.astype(np.uint8)
        self._rng = np.random.default_rng(seed)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, dataset_name: str | None = None) -> dict:
        if not is_train:
            raise ValueError("SemanticDatasetVideoMapper is for training; use VideoTestMapper")
        lut = None
        if dataset_name is not None:
            from ..catalog import MetadataCatalog

            lut = MetadataCatalog.get(dataset_name).get("raw_value_to_contiguous")
        return dict(augmentations=build_segmentation_augmentation(cfg), image_format=cfg.INPUT.FORMAT,
                    sampling_frame_num=cfg.INPUT.SAMPLING_FRAME_NUM,
                    sampling_frame_range=cfg.INPUT.SAMPLING_FRAME_RANGE,
                    reverse_agu=cfg.INPUT.REVERSE_AGU, value_to_class=lut)

    def __call__(self, dataset_dict: dict[str, Any], rng: np.random.Generator | None = None
                 ) -> dict[str, Any]:
        rng = new_rng(rng, self._rng)
        files = dataset_dict["file_names"]
        sem_files = dataset_dict.get("sem_seg_file_names")
        vid = dataset_dict.get("video_id")
        if sem_files is None:
            raise DatasetError(f"video {vid}: no 'sem_seg_file_names' (a test split cannot be used "
                               "for training)")
        if len(files) != len(sem_files) or not files:
            raise DatasetError(f"video {vid}: {len(files)} frames and {len(sem_files)} class PNGs "
                               "must agree and be non-empty")
        frame_idx = sample_clip_indices(len(files), self.sampling_frame_num, self.sampling_frame_range,
                                        rng, False, self.reverse_agu)
        frames = read_clip_frames(dataset_dict, frame_idx)
        raw_maps = []
        for i, fr in zip(frame_idx, frames):
            raw = read_semantic_png(sem_files[i])  # (H, W) uint8 raw PNG values
            expect_same_size(raw.shape, fr.shape[:2], sem_files[i], "class PNG", f"frame {files[i]}")
            raw_maps.append(raw)

        frames, tfms = apply_clip_augmentations(self.augmentations, frames, rng)
        # raw value 0 is "ignore", so pixels uncovered by an augmentation stay ignored
        class_maps = [self.value_to_class[tfm.apply_segmentation(m)] for tfm, m in zip(tfms, raw_maps)]

        classes = sorted(set(np.unique(np.stack(class_maps)).tolist()) - {IGNORE_LABEL})
        return dense_clip_output(dataset_dict, frames, self.image_format, class_maps, classes, classes, frame_idx,
                                 files, vid)
