"""Training mapper that turns a COCO still image into a pseudo-clip (SPEC 3.7)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..augmentation import ClipAugmentation, apply_clip_augmentations, build_pseudo_augmentation
from .common import (check_image_format, decode_segmentation, frames_to_tensor, new_rng,
                     pack_instances, read_frame, transform_masks)
from .instance import instance_clip_targets

__all__ = ["CocoClipDatasetMapper"]


class CocoClipDatasetMapper:
    """COCO image dict -> a ``num_frames``-frame pseudo-clip of the same image.

    ``shared`` augmentations are drawn once and applied to the image (crop/resize/flip), then
    ``per_frame`` ones make the T frames differ (sorted-angle rotation, colour). Track slots are
    the non-crowd annotations in order, ids ``0..n-1`` (-1 in frames where the augmentation
    emptied the mask). Same output format as :class:`YTVISDatasetMapper` (``frame_idx`` is all 0,
    ``video_id`` is the ``image_id``).
    """

    def __init__(self, *, shared_augmentations: Sequence[ClipAugmentation],
                 frame_augmentations: Sequence[ClipAugmentation], image_format: str = "RGB",
                 sampling_frame_num: int = 2, seed: int | None = None):
        self.shared_augmentations = list(shared_augmentations)
        self.frame_augmentations = list(frame_augmentations)
        self.image_format = check_image_format(image_format)
        self.sampling_frame_num = int(sampling_frame_num)
        self._rng = np.random.default_rng(seed)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, dataset_name: str | None = None) -> dict:
        if not is_train:
            raise ValueError("CocoClipDatasetMapper is train-only (image_instance datasets)")
        shared, per_frame = build_pseudo_augmentation(cfg)
        return dict(shared_augmentations=shared, frame_augmentations=per_frame,
                    image_format=cfg.INPUT.FORMAT, sampling_frame_num=cfg.INPUT.SAMPLING_FRAME_NUM)

    def __call__(self, dataset_dict: dict[str, Any], rng: np.random.Generator | None = None
                 ) -> dict[str, Any]:
        rng = new_rng(rng, self._rng)
        path = dataset_dict["file_name"]
        dict_hw = (dataset_dict.get("height"), dataset_dict.get("width"))
        image = read_frame(path, dict_hw if None not in dict_hw else None)  # (H, W, 3)
        h, w = image.shape[:2]
        annos = [a for a in dataset_dict.get("annotations", []) if not a.get("iscrowd", 0)]
        decoded = [decode_segmentation(a["segmentation"], h, w, f"{path}, annotation id {a.get('id')}")
                   for a in annos]
        masks = np.stack(decoded) if decoded else np.zeros((0, h, w), np.uint8)  # (n, H, W)

        (image,), (shared_tfm,) = apply_clip_augmentations(self.shared_augmentations, [image], rng)
        masks = transform_masks(shared_tfm, masks, image.shape[:2])

        T = self.sampling_frame_num
        frames, tfms = apply_clip_augmentations(self.frame_augmentations, [image] * T, rng)
        out_hw = frames[0].shape[:2]
        per_tfm: dict[int, np.ndarray] = {}
        frame_objects = []
        for tfm in tfms:
            if id(tfm) not in per_tfm:
                per_tfm[id(tfm)] = transform_masks(tfm, masks, out_hw)
            frame_objects.append({n: (int(a["category_id"]), m)
                                  for n, (a, m) in enumerate(zip(annos, per_tfm[id(tfm)]))})
        ids, labels, clip_masks = instance_clip_targets(frame_objects, out_hw)
        return {
            "image": frames_to_tensor(frames, self.image_format),
            "instances": pack_instances(ids, labels, clip_masks),
            "height": dataset_dict.get("height", h),
            "width": dataset_dict.get("width", w),
            "video_id": dataset_dict.get("image_id"),
            "frame_idx": [0] * T,
            "file_names": [path] * T,
        }
