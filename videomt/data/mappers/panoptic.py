"""Training mapper for video panoptic segmentation (VIPSeg, RGB-encoded id PNGs; SPEC 3.2, 5.4)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..augmentation import (ClipAugmentation, apply_clip_augmentations,
                            build_segmentation_augmentation)
from ..catalog import DatasetError
from ..clip_sampling import sample_clip_indices
from ..io import read_panoptic_ids
from .common import (check_image_format, dense_clip_output, expect_same_size, new_rng,
                     read_frame)

__all__ = ["PanopticDatasetVideoMapper", "read_clip_frames"]


def read_clip_frames(dataset_dict: dict[str, Any], frame_idx: Sequence[int]) -> list[np.ndarray]:
    """Read the sampled frames (H, W, 3) RGB, checking them against the dict's size."""
    files = dataset_dict["file_names"]
    dict_hw = (dataset_dict.get("height"), dataset_dict.get("width"))
    expected = dict_hw if None not in dict_hw else None
    frames = [read_frame(files[i], expected) for i in frame_idx]
    for i, fr in zip(frame_idx, frames):
        expect_same_size(fr.shape[:2], frames[0].shape[:2], files[i], "frame",
                         f"frame {files[frame_idx[0]]}")
    return frames


class PanopticDatasetVideoMapper:
    """VIPSeg-style dict -> one training clip with one target per segment.

    Every non-crowd segment id listed in the sampled frames' ``segments_infos`` and present in
    the clip's (augmented) masks becomes a slot ``n``: ``ids[n, t] = n`` in every frame, masks
    may be empty in some frames, label = the segment's contiguous ``category_id`` (from the first
    sampled frame listing it). Output format as :class:`YTVISDatasetMapper`.
    """

    def __init__(self, *, augmentations: Sequence[ClipAugmentation], image_format: str = "RGB",
                 sampling_frame_num: int = 2, sampling_frame_range: int = 20,
                 reverse_agu: bool = False, seed: int | None = None):
        self.augmentations = list(augmentations)
        self.image_format = check_image_format(image_format)
        self.sampling_frame_num = int(sampling_frame_num)
        self.sampling_frame_range = int(sampling_frame_range)
        self.reverse_agu = bool(reverse_agu)
        self._rng = np.random.default_rng(seed)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, dataset_name: str | None = None) -> dict:
        if not is_train:
            raise ValueError("PanopticDatasetVideoMapper is for training; use VideoTestMapper")
        return dict(augmentations=build_segmentation_augmentation(cfg), image_format=cfg.INPUT.FORMAT,
                    sampling_frame_num=cfg.INPUT.SAMPLING_FRAME_NUM,
                    sampling_frame_range=cfg.INPUT.SAMPLING_FRAME_RANGE,
                    reverse_agu=cfg.INPUT.REVERSE_AGU)

    def __call__(self, dataset_dict: dict[str, Any], rng: np.random.Generator | None = None
                 ) -> dict[str, Any]:
        rng = new_rng(rng, self._rng)
        files = dataset_dict["file_names"]
        pan_files = dataset_dict.get("pan_seg_file_names")
        infos = dataset_dict.get("segments_infos")
        vid = dataset_dict.get("video_id")
        if pan_files is None or infos is None:
            raise DatasetError(f"video {vid}: no 'pan_seg_file_names'/'segments_infos' (a test split "
                               "cannot be used for training)")
        if not (len(files) == len(pan_files) == len(infos)) or not files:
            raise DatasetError(f"video {vid}: {len(files)} frames, {len(pan_files)} panoptic masks and "
                               f"{len(infos)} segments_infos lists must agree and be non-empty")
        frame_idx = sample_clip_indices(len(files), self.sampling_frame_num, self.sampling_frame_range,
                                        rng, False, self.reverse_agu)
        frames = read_clip_frames(dataset_dict, frame_idx)
        id_maps = []
        for i, fr in zip(frame_idx, frames):
            ids = read_panoptic_ids(pan_files[i])  # (H, W) int32
            expect_same_size(ids.shape, fr.shape[:2], pan_files[i], "panoptic mask", f"frame {files[i]}")
            id_maps.append(ids)

        frames, tfms = apply_clip_augmentations(self.augmentations, frames, rng)
        id_maps = [tfm.apply_segmentation(m) for tfm, m in zip(tfms, id_maps)]  # T x (H', W')

        segment_class: dict[int, int] = {}
        for i in frame_idx:
            for s in infos[i]:
                if not s.get("iscrowd", 0) and int(s["id"]) not in segment_class:
                    segment_class[int(s["id"])] = int(s["category_id"])
        present = set()
        for m in id_maps:
            present.update(int(v) for v in np.unique(m))
        seg_ids = [sid for sid in segment_class if sid in present]  # first-listed order

        labels = [segment_class[sid] for sid in seg_ids]
        return dense_clip_output(dataset_dict, frames, self.image_format, id_maps, seg_ids, labels, frame_idx,
                                 files, vid)
