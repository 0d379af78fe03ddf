"""Training mappers for dense video labels: panoptic (VIPSeg RGB id PNGs) and semantic (VSPW class
PNGs). Both sample a clip, augment frames and label maps alike, and make one target per segment
(panoptic) or per class (semantic), present as ``ids[n, t] = n`` in every frame with a mask that
may be empty in some frames. Output format as :class:`~videomt.data.mappers.YTVISDatasetMapper`.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..augmentation import ClipAugmentation, apply_clip_augmentations, build_segmentation_augmentation
from ..catalog import DatasetError, MetadataCatalog
from ..clip_sampling import sample_clip_indices
from ..io import read_panoptic_ids, read_semantic_png
from .common import (check_image_format, dense_clip_output, expect_same_size, new_rng,
                     read_clip_frames)

__all__ = ["PanopticDatasetVideoMapper", "SemanticDatasetVideoMapper", "default_value_to_class",
           "IGNORE_LABEL"]

IGNORE_LABEL = 255


def default_value_to_class() -> np.ndarray:
    """256-entry lookup: PNG value v -> class v-1; 0 and 255 -> ignore (255)."""
    lut = (np.arange(256) - 1).astype(np.uint8)
    lut[[0, 255]] = IGNORE_LABEL
    return lut


class _DenseClipMapper:
    """Clip sampling, reading and augmentation shared by the panoptic and semantic mappers;
    subclasses name their label files (``label_key``), read one (``read_label``) and turn the
    augmented maps into targets (``targets``)."""

    label_key = ""
    what = ""

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
            raise ValueError(f"{cls.__name__} is for training; use VideoTestMapper")
        return dict(augmentations=build_segmentation_augmentation(cfg), image_format=cfg.INPUT.FORMAT,
                    sampling_frame_num=cfg.INPUT.SAMPLING_FRAME_NUM,
                    sampling_frame_range=cfg.INPUT.SAMPLING_FRAME_RANGE, reverse_agu=cfg.INPUT.REVERSE_AGU)

    def read_label(self, path: str) -> np.ndarray:
        raise NotImplementedError

    def targets(self, dataset_dict: dict, frame_idx: list[int], maps: list[np.ndarray]
                ) -> tuple[list[np.ndarray], list[int], list[int]]:
        """(label maps, values, labels): one target per value of the maps."""
        raise NotImplementedError

    def __call__(self, dataset_dict: dict[str, Any], rng: np.random.Generator | None = None
                 ) -> dict[str, Any]:
        rng = new_rng(rng, self._rng)
        files, vid = dataset_dict["file_names"], dataset_dict.get("video_id")
        labels = dataset_dict.get(self.label_key)
        if labels is None or any(k not in dataset_dict for k in self.extra_keys):
            raise DatasetError(f"video {vid}: no '{self.label_key}' (a test split cannot be used for "
                               "training)")
        lists = [files, labels] + [dataset_dict[k] for k in self.extra_keys]
        if len({len(x) for x in lists}) != 1 or not files:
            raise DatasetError(f"video {vid}: {len(files)} frames and {len(labels)} {self.what}s "
                               "must agree and be non-empty")
        frame_idx = sample_clip_indices(len(files), self.sampling_frame_num, self.sampling_frame_range,
                                        rng, False, self.reverse_agu)
        frames = read_clip_frames(dataset_dict, frame_idx)
        maps = []
        for i, fr in zip(frame_idx, frames):
            m = self.read_label(labels[i])  # (H, W)
            expect_same_size(m.shape, fr.shape[:2], labels[i], self.what, f"frame {files[i]}")
            maps.append(m)
        frames, tfms = apply_clip_augmentations(self.augmentations, frames, rng)
        maps = [tfm.apply_segmentation(m) for tfm, m in zip(tfms, maps)]  # T x (H', W')
        maps, values, classes = self.targets(dataset_dict, frame_idx, maps)
        return dense_clip_output(dataset_dict, frames, self.image_format, maps, values, classes, frame_idx,
                                 files, vid)


class PanopticDatasetVideoMapper(_DenseClipMapper):
    """VIPSeg-style dict -> one training clip with one target per segment: every non-crowd
    segment listed in the sampled frames' ``segments_infos`` and present in the augmented masks,
    in first-listed order, labelled with its contiguous ``category_id``."""

    label_key, extra_keys, what = "pan_seg_file_names", ("segments_infos",), "panoptic mask"

    def read_label(self, path: str) -> np.ndarray:
        return read_panoptic_ids(path)

    def targets(self, dataset_dict, frame_idx, maps):
        segment_class: dict[int, int] = {}
        for i in frame_idx:
            for s in dataset_dict["segments_infos"][i]:
                if not s.get("iscrowd", 0):
                    segment_class.setdefault(int(s["id"]), int(s["category_id"]))
        present = set(np.unique(np.stack(maps)).tolist())
        seg_ids = [sid for sid in segment_class if sid in present]
        return maps, seg_ids, [segment_class[sid] for sid in seg_ids]


class SemanticDatasetVideoMapper(_DenseClipMapper):
    """VSPW-style dict -> one training clip with one target per class present in the clip.

    PNG values become classes through ``value_to_class`` (256 entries, 255 = ignore; default
    v -> v-1 with 0/255 ignored; ``from_config`` uses the dataset metadata's
    ``raw_value_to_contiguous`` table when there is one). Ignore pixels belong to no mask; classes
    ascend.
    """

    label_key, extra_keys, what = "sem_seg_file_names", (), "class PNG"

    def __init__(self, *, value_to_class: np.ndarray | None = None, **kwargs):
        super().__init__(**kwargs)
        lut = default_value_to_class() if value_to_class is None else np.asarray(value_to_class)
        if lut.shape != (256,):
            raise ValueError(f"value_to_class must have 256 entries, got shape {lut.shape}")
        self.value_to_class = lut.astype(np.uint8)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, dataset_name: str | None = None) -> dict:
        lut = MetadataCatalog.get(dataset_name).get("raw_value_to_contiguous") if dataset_name else None
        return dict(super().from_config(cfg, is_train, dataset_name), value_to_class=lut)

    def read_label(self, path: str) -> np.ndarray:
        return read_semantic_png(path)  # raw PNG values

    def targets(self, dataset_dict, frame_idx, maps):
        # raw value 0 is "ignore", so pixels uncovered by an augmentation stay ignored
        class_maps = [self.value_to_class[m] for m in maps]
        classes = sorted(set(np.unique(np.stack(class_maps)).tolist()) - {IGNORE_LABEL})
        return class_maps, classes, classes
