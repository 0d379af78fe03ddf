"""Training mappers with instance targets: YouTube-VIS / OVIS videos and
COCO still images turned into pseudo-clips."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from fvcore.transforms.transform import TransformList

from ..augmentation import (
    ClipAugmentation,
    apply_clip_augmentations,
    build_clip_augmentation,
    build_pseudo_augmentation,
)
from ..catalog import DatasetError
from .common import (
    MAPPER_REGISTRY,
    ClipMapper,
    check_image_format,
    clip_output,
    read_frame,
    transform_segmentations,
)


def instance_clip_targets(
    frame_objects: Sequence[dict[int, tuple[int, np.ndarray]]], out_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Track slots of a clip from ``frame_objects[t]``: track id -> (class, mask (H, W) uint8) of
    augmented frame t. One slot per track id (ascending), labelled with the class of its first
    non-empty frame (never a dummy class); ``ids[n, t]`` is the track id, -1 where
    the mask is absent or empty; tracks empty in every frame are dropped. Returns ids int64 (N, T),
    labels int64 (N,), masks bool (N, T, H, W)."""
    T = len(frame_objects)
    track_ids = sorted({tid for objs in frame_objects for tid in objs})
    ids = np.full((len(track_ids), T), -1, dtype=np.int64)
    labels = np.full((len(track_ids),), -1, dtype=np.int64)
    masks = np.zeros((len(track_ids), T, *out_hw), dtype=np.bool_)
    for n, tid in enumerate(track_ids):
        for t, objs in enumerate(frame_objects):
            cls, mask = objs.get(tid, (-1, None))
            if mask is not None and mask.any():
                ids[n, t], masks[n, t] = tid, mask.astype(np.bool_)
                if labels[n] < 0:
                    labels[n] = cls
    keep = (ids >= 0).any(axis=1)
    return ids[keep], labels[keep], masks[keep]


@MAPPER_REGISTRY.register_as("video_instance")
class YTVISDatasetMapper(ClipMapper):
    """Video instance dataset dict -> one augmented training clip (format of
    :func:`~videomt.data.mappers.common.clip_output`); crowd objects are left out."""

    label_key, what = "annotations", "annotation list"
    build_augmentation = staticmethod(build_clip_augmentation)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, dataset_name: str | None = None) -> dict:
        return dict(
            super().from_config(cfg, is_train, dataset_name),
            sampling_frame_shuffle=cfg.INPUT.SAMPLING_FRAME_SHUFFLE,
        )

    def targets(self, dataset_dict, frame_idx, tfms, in_hw, out_hw):
        frame_objects: list[dict[int, tuple[int, np.ndarray]]] = []
        for i, tfm in zip(frame_idx, tfms):
            annos = [a for a in dataset_dict["annotations"][i] if not a.get("iscrowd", 0)]
            where = f"{dataset_dict['file_names'][i]} (video {dataset_dict.get('video_id')})"
            tids = [a["id"] for a in annos]
            twice = [tid for k, tid in enumerate(tids) if tid in tids[:k]]
            if twice:
                raise DatasetError(f"{where}: track id {twice[0]} appears twice in the frame")
            stack = transform_segmentations(
                [a["segmentation"] for a in annos],
                tfm,
                in_hw,
                out_hw,
                [f"{where}, annotation id {a['id']}" for a in annos],
            )
            frame_objects.append(
                {int(a["id"]): (int(a["category_id"]), m) for a, m in zip(annos, stack)}
            )
        return instance_clip_targets(frame_objects, out_hw)


@MAPPER_REGISTRY.register_as("image_instance")
class CocoClipDatasetMapper:
    """COCO image dict -> a ``sampling_frame_num``-frame pseudo-clip of the image: ``shared``
    augmentations (crop / resize / flip) are drawn once for the image, then ``per_frame`` ones make
    the T frames differ (sorted-angle rotation, colour). Track slots are the non-crowd annotations
    in order, ids ``0..n-1`` (-1 where the augmentation emptied the mask); ``frame_idx`` is all 0
    and ``video_id`` the ``image_id``."""

    def __init__(
        self,
        *,
        shared_augmentations: Sequence[ClipAugmentation],
        frame_augmentations: Sequence[ClipAugmentation],
        image_format: str = "RGB",
        sampling_frame_num: int = 2,
        seed: int | None = None,
    ):
        self.shared_augmentations, self.frame_augmentations = (
            list(shared_augmentations),
            list(frame_augmentations),
        )
        self.image_format = check_image_format(image_format)
        self.sampling_frame_num = int(sampling_frame_num)
        self._rng = np.random.default_rng(seed)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, dataset_name: str | None = None) -> dict:
        if not is_train:
            raise ValueError("CocoClipDatasetMapper is train-only (image_instance datasets)")
        shared, per_frame = build_pseudo_augmentation(cfg)
        return dict(
            shared_augmentations=shared,
            frame_augmentations=per_frame,
            image_format=cfg.INPUT.FORMAT,
            sampling_frame_num=cfg.INPUT.SAMPLING_FRAME_NUM,
        )

    def __call__(
        self, dataset_dict: dict[str, Any], rng: np.random.Generator | None = None
    ) -> dict[str, Any]:
        rng = rng if rng is not None else self._rng
        path = dataset_dict["file_name"]
        image = read_frame(path, dataset_dict)  # (H, W, 3)
        in_hw = image.shape[:2]
        annos = [a for a in dataset_dict.get("annotations", []) if not a.get("iscrowd", 0)]
        segms, wheres = (
            [a["segmentation"] for a in annos],
            [f"{path}, annotation id {a.get('id')}" for a in annos],
        )
        (image,), (shared_tfm,) = apply_clip_augmentations(self.shared_augmentations, [image], rng)
        T = self.sampling_frame_num
        frames, tfms = apply_clip_augmentations(self.frame_augmentations, [image] * T, rng)
        out_hw = frames[0].shape[:2]
        unique = {id(tfm): tfm for tfm in tfms}  # frames with the same transforms share their masks
        masks = {
            key: transform_segmentations(
                segms, TransformList([shared_tfm, tfm]), in_hw, out_hw, wheres
            )
            for key, tfm in unique.items()
        }  # (n, H', W') each
        frame_objects = [
            {n: (int(a["category_id"]), m) for n, (a, m) in enumerate(zip(annos, masks[id(tfm)]))}
            for tfm in tfms
        ]
        ids, labels, clip_masks = instance_clip_targets(frame_objects, out_hw)
        return clip_output(
            dataset_dict,
            in_hw,
            frames,
            self.image_format,
            ids,
            labels,
            clip_masks,
            [0] * T,
            [path] * T,
            dataset_dict.get("image_id"),
        )
