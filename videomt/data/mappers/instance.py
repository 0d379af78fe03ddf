"""Training mapper for video instance segmentation (YouTube-VIS / OVIS; SPEC 3.2, 3.6, 3.7, 5.3)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..augmentation import ClipAugmentation, apply_clip_augmentations, build_clip_augmentation
from ..catalog import DatasetError
from ..clip_sampling import sample_clip_indices
from .common import (check_image_format, decode_segmentation, frames_to_tensor, new_rng,
                     pack_instances, read_clip_frames, transform_masks)

__all__ = ["YTVISDatasetMapper", "instance_clip_targets"]


def instance_clip_targets(frame_objects: Sequence[dict[int, tuple[int, np.ndarray]]],
                          out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Track slots of a clip from the objects of each (augmented) frame.

    ``frame_objects[t]`` maps track id -> (class, mask (H, W) uint8) for frame t. One slot per
    track id (ascending id); ``ids[n, t]`` is the track id, or -1 where the track is absent or its
    mask is empty. Tracks empty in every frame are dropped. The class comes from the first frame
    where the track is present (SPEC decision 5: never a dummy class).

    Returns ids int64 (N, T), labels int64 (N,), masks bool (N, T, H, W).
    """
    T = len(frame_objects)
    track_ids = sorted({tid for objs in frame_objects for tid in objs})
    ids = np.full((len(track_ids), T), -1, dtype=np.int64)
    labels = np.full((len(track_ids),), -1, dtype=np.int64)
    masks = np.zeros((len(track_ids), T, *out_hw), dtype=np.bool_)
    for n, tid in enumerate(track_ids):
        for t, objs in enumerate(frame_objects):
            if tid not in objs:
                continue
            cls, mask = objs[tid]
            if not mask.any():
                continue
            ids[n, t] = tid
            masks[n, t] = mask.astype(np.bool_)
            if labels[n] < 0:
                labels[n] = cls
    keep = (ids >= 0).any(axis=1)
    return ids[keep], labels[keep], masks[keep]


class YTVISDatasetMapper:
    """Video instance dataset dict -> one augmented training clip.

    Output: ``{"image": uint8 (T, 3, H, W), "instances": {"ids": int64 (N, T), "labels": int64
    (N,), "masks": bool (N, T, H, W)}, "height", "width" (original), "video_id", "frame_idx",
    "file_names"}``.
    """

    def __init__(self, *, augmentations: Sequence[ClipAugmentation], image_format: str = "RGB",
                 sampling_frame_num: int = 2, sampling_frame_range: int = 20,
                 sampling_frame_shuffle: bool = False, reverse_agu: bool = False,
                 seed: int | None = None):
        self.augmentations = list(augmentations)
        self.image_format = check_image_format(image_format)
        self.sampling_frame_num = int(sampling_frame_num)
        self.sampling_frame_range = int(sampling_frame_range)
        self.sampling_frame_shuffle = bool(sampling_frame_shuffle)
        self.reverse_agu = bool(reverse_agu)
        self._rng = np.random.default_rng(seed)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, dataset_name: str | None = None) -> dict:
        if not is_train:
            raise ValueError("YTVISDatasetMapper is for training; use VideoTestMapper at test time")
        return dict(
            augmentations=build_clip_augmentation(cfg),
            image_format=cfg.INPUT.FORMAT,
            sampling_frame_num=cfg.INPUT.SAMPLING_FRAME_NUM,
            sampling_frame_range=cfg.INPUT.SAMPLING_FRAME_RANGE,
            sampling_frame_shuffle=cfg.INPUT.SAMPLING_FRAME_SHUFFLE,
            reverse_agu=cfg.INPUT.REVERSE_AGU,
        )

    def __call__(self, dataset_dict: dict[str, Any], rng: np.random.Generator | None = None
                 ) -> dict[str, Any]:
        rng = new_rng(rng, self._rng)
        file_names = list(dataset_dict["file_names"])
        length = len(file_names)
        if length == 0:
            raise DatasetError(f"video {dataset_dict.get('video_id')}: has no frames")
        all_annos = dataset_dict.get("annotations")
        if all_annos is None:
            raise DatasetError(f"video {dataset_dict.get('video_id')}: no 'annotations' (a test split "
                               "cannot be used for training)")
        if len(all_annos) != length:
            raise DatasetError(f"video {dataset_dict.get('video_id')}: {len(all_annos)} annotation lists "
                               f"for {length} frames")
        frame_idx = sample_clip_indices(length, self.sampling_frame_num, self.sampling_frame_range,
                                        rng, self.sampling_frame_shuffle, self.reverse_agu)
        frames = read_clip_frames(dataset_dict, frame_idx)  # T x (H, W, 3)
        h, w = frames[0].shape[:2]

        frames, tfms = apply_clip_augmentations(self.augmentations, frames, rng)
        out_hw = frames[0].shape[:2]

        frame_objects: list[dict[int, tuple[int, np.ndarray]]] = []
        for i, tfm in zip(frame_idx, tfms):
            annos = [a for a in all_annos[i] if not a.get("iscrowd", 0)]
            where = f"{file_names[i]} (video {dataset_dict.get('video_id')})"
            seen: set[int] = set()
            for a in annos:
                if a["id"] in seen:
                    raise DatasetError(f"{where}: track id {a['id']} appears twice in the frame")
                seen.add(a["id"])
            decoded = [decode_segmentation(a["segmentation"], h, w, f"{where}, annotation id {a['id']}")
                       for a in annos]
            stack = np.stack(decoded) if decoded else np.zeros((0, h, w), np.uint8)  # (n, H, W)
            stack = transform_masks(tfm, stack, out_hw)  # (n, H', W')
            frame_objects.append({int(a["id"]): (int(a["category_id"]), m) for a, m in zip(annos, stack)})

        ids, labels, masks = instance_clip_targets(frame_objects, out_hw)
        return {
            "image": frames_to_tensor(frames, self.image_format),
            "instances": pack_instances(ids, labels, masks),
            "height": dataset_dict.get("height", h),
            "width": dataset_dict.get("width", w),
            "video_id": dataset_dict.get("video_id"),
            "frame_idx": frame_idx,
            "file_names": [file_names[i] for i in frame_idx],
        }
