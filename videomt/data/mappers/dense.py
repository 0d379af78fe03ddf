"""Training mappers for dense video labels: panoptic (VIPSeg RGB id PNGs) and semantic (VSPW class
PNGs). Label maps go through the clip's transforms like the frames; there is one target per
segment (panoptic) or per class (semantic), present as ``ids[n, t] = n`` in every frame with a
mask that may be empty in some frames."""

from __future__ import annotations

import numpy as np

from ..augmentation import build_segmentation_augmentation
from ..catalog import MetadataCatalog
from ..io import read_panoptic_ids, read_semantic_png
from .common import MAPPER_REGISTRY, ClipMapper, expect_same_size

IGNORE_LABEL = 255


class _DenseClipMapper(ClipMapper):
    """Subclasses name their reader of one label file (``read_label``: path -> (H, W) map) and give
    ``values(dataset_dict, frame_idx, maps)`` -> ``(maps, values, labels)``: the augmented (T, H, W)
    maps to compare with one value per target."""

    build_augmentation = staticmethod(build_segmentation_augmentation)

    def targets(self, dataset_dict, frame_idx, tfms, in_hw, out_hw):
        maps = []
        for i, tfm in zip(frame_idx, tfms):
            path = dataset_dict[self.label_key][i]
            m = self.read_label(path)  # (H, W)
            expect_same_size(
                m.shape, in_hw, path, self.what, f"frame {dataset_dict['file_names'][i]}"
            )
            maps.append(tfm.apply_segmentation(m))
        maps, values, labels = self.values(dataset_dict, frame_idx, np.stack(maps))  # (T, H', W')
        masks = (
            maps[None] == np.asarray(values, dtype=np.int64)[:, None, None, None]
        )  # (N, T, H', W')
        ids = np.tile(
            np.arange(len(values), dtype=np.int64)[:, None], (1, len(frame_idx))
        )  # (N, T)
        return ids, np.asarray(labels, dtype=np.int64), masks


@MAPPER_REGISTRY.register_as("video_panoptic")
class PanopticDatasetVideoMapper(_DenseClipMapper):
    """VIPSeg-style dict -> one training clip with one target per non-crowd segment listed in the
    sampled frames' ``segments_infos`` and present in the augmented masks, in first-listed order,
    labelled with its contiguous ``category_id``."""

    label_key, extra_keys, what = "pan_seg_file_names", ("segments_infos",), "panoptic mask"
    read_label = staticmethod(read_panoptic_ids)

    def values(self, dataset_dict, frame_idx, maps):
        segment_class: dict[int, int] = {}
        for i in frame_idx:
            for s in dataset_dict["segments_infos"][i]:
                if not s.get("iscrowd", 0):
                    segment_class.setdefault(int(s["id"]), int(s["category_id"]))
        present = set(np.unique(maps).tolist())
        seg_ids = [sid for sid in segment_class if sid in present]
        return maps, seg_ids, [segment_class[sid] for sid in seg_ids]


@MAPPER_REGISTRY.register_as("video_semantic")
class SemanticDatasetVideoMapper(_DenseClipMapper):
    """VSPW-style dict -> one training clip with one target per class present in the clip
    (ascending); PNG values become classes through ``value_to_class`` (256 entries, 255 =
    ignore; default v -> v-1 with 0 and 255 ignored; ``from_config`` takes the dataset metadata's
    ``raw_value_to_contiguous``). Ignored pixels belong to no mask."""

    label_key, extra_keys, what = "sem_seg_file_names", (), "class PNG"
    read_label = staticmethod(
        read_semantic_png
    )  # raw values: 0 = ignore, so pixels an augmentation uncovers stay so

    def __init__(self, *, value_to_class: np.ndarray | None = None, **kwargs):
        super().__init__(**kwargs)
        if value_to_class is None:  # PNG value v -> class v-1; 0 and 255 ignored
            value_to_class = (np.arange(256) - 1).astype(np.uint8)
            value_to_class[[0, 255]] = IGNORE_LABEL
        lut = np.asarray(value_to_class)
        if lut.shape != (256,):
            raise ValueError(f"value_to_class must have 256 entries, got shape {lut.shape}")
        self.value_to_class = lut.astype(np.uint8)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, dataset_name: str | None = None) -> dict:
        lut = (
            MetadataCatalog.get(dataset_name).get("raw_value_to_contiguous")
            if dataset_name
            else None
        )
        return dict(super().from_config(cfg, is_train, dataset_name), value_to_class=lut)

    def values(self, dataset_dict, frame_idx, maps):
        classes = self.value_to_class[maps]
        labels = sorted(set(np.unique(classes).tolist()) - {IGNORE_LABEL})
        return classes, labels, labels
