"""Shared by the clip mappers: frame reading, mask decoding, the training-clip base class and its
output format."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
import torch

from ...errors import ConfigError
from ...utils.registry import Registry
from ..augmentation import ClipAugmentation, apply_clip_augmentations
from ..catalog import DatasetError
from ..clip_sampling import sample_clip_indices
from ..io import read_image_rgb
from ..rle import check_counts, to_rle


def check_image_format(fmt: str) -> str:
    """Validate ``INPUT.FORMAT`` (``"RGB"`` or ``"BGR"``)."""
    if fmt not in ("RGB", "BGR"):
        raise ConfigError(f"INPUT.FORMAT must be one of ('RGB', 'BGR'), got '{fmt}'")
    return fmt


def expect_same_size(
    arr_hw: tuple[int, int], want_hw: tuple[int, int], path: str, what: str, against: str
) -> None:
    """Raise ``DatasetError`` naming ``path`` when two sizes disagree."""
    if tuple(arr_hw) != tuple(want_hw):
        raise DatasetError(
            f"{path}: {what} is {arr_hw[0]}x{arr_hw[1]} (HxW) but {against} is "
            f"{want_hw[0]}x{want_hw[1]}"
        )


def read_frame(path: str, dataset_dict: dict[str, Any]) -> np.ndarray:
    """A frame as (H, W, 3) uint8 RGB; its size must be the dict's height x width when it has
    them."""
    img = read_image_rgb(path)
    dict_hw = (dataset_dict.get("height"), dataset_dict.get("width"))
    if None not in dict_hw:
        expect_same_size(img.shape[:2], dict_hw, path, "frame", "the dataset dict's height x width")
    return img


def read_clip_frames(dataset_dict: dict[str, Any], frame_idx: Sequence[int]) -> list[np.ndarray]:
    """The sampled frames (H, W, 3) RGB, checked against the dict's size and each other."""
    files = dataset_dict["file_names"]
    frames = [read_frame(files[i], dataset_dict) for i in frame_idx]
    for i, fr in zip(frame_idx, frames):
        expect_same_size(
            fr.shape[:2], frames[0].shape[:2], files[i], "frame", f"frame {files[frame_idx[0]]}"
        )
    return frames


def decode_segmentation(segm: Any, h: int, w: int, where: str) -> np.ndarray:
    """A COCO-style segmentation (polygons, compressed or uncompressed RLE) as an (h, w) uint8
    mask; ``where`` names the frame / annotation in error messages."""
    rle = to_rle(segm, h, w, where, DatasetError)
    if rle is None:
        return np.zeros((h, w), dtype=np.uint8)
    check_counts([(where, rle)], DatasetError)
    with warnings.catch_warnings():  # pycocotools + numpy 2 emit a copy-keyword DeprecationWarning
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.ascontiguousarray(mask_util.decode(rle), dtype=np.uint8)


def frames_to_tensor(frames: Sequence[np.ndarray], fmt: str) -> torch.Tensor:
    """T frames (H, W, 3) uint8 RGB -> uint8 tensor (T, 3, H, W) in ``fmt`` channel order."""
    arr = np.stack(frames, axis=0)  # (T, H, W, 3)
    return torch.from_numpy(
        np.ascontiguousarray((arr[..., ::-1] if fmt == "BGR" else arr).transpose(0, 3, 1, 2))
    )


def transform_segmentations(
    segms: Sequence[Any],
    tfm,
    in_hw: tuple[int, int],
    out_hw: tuple[int, int],
    wheres: Sequence[str],
) -> np.ndarray:
    """Masks (n, H', W') uint8 of n COCO-style segmentations after ``tfm``, in Detectron2's order:
    polygons are transformed as coordinates (a crop clips them, fvcore's ``apply_polygons``) and
    rasterised at the output size; RLEs are decoded and transformed as images (nearest)."""
    out = np.zeros((len(segms), *out_hw), dtype=np.uint8)
    rle_rows = [i for i, segm in enumerate(segms) if not isinstance(segm, (list, tuple))]
    if rle_rows:  # stacked as channels: one transform call for all of them
        decoded = np.stack(
            [decode_segmentation(segms[i], *in_hw, wheres[i]) for i in rle_rows], axis=2
        )  # (H, W, r)
        out[rle_rows] = (
            tfm.apply_segmentation(decoded).reshape(*out_hw, len(rle_rows)).transpose(2, 0, 1)
        )
    for i, segm in enumerate(segms):
        if isinstance(segm, (list, tuple)):
            polygons = [np.asarray(p, dtype=np.float64).ravel() for p in segm]
            if any(len(p) % 2 for p in polygons):
                raise DatasetError(f"{wheres[i]}: a polygon has an odd number of coordinates")
            polygons = tfm.apply_polygons(
                [p.reshape(-1, 2) for p in polygons if len(p) >= 6]
            )  # k x (m, 2)
            out[i] = decode_segmentation([p.ravel() for p in polygons], *out_hw, wheres[i])
    return out


def clip_output(
    dataset_dict: dict,
    in_hw: tuple[int, int],
    frames: Sequence[np.ndarray],
    fmt: str,
    ids: np.ndarray,
    labels: np.ndarray,
    masks: np.ndarray,
    frame_idx: list[int],
    file_names: list[str],
    video_id: Any,
) -> dict:
    """A training clip: ``{"image": uint8 (T, 3, H, W), "instances": {"ids": int64 (N, T), "labels":
    int64 (N,), "masks": bool (N, T, H, W)}, "height", "width" (original), "video_id", "frame_idx",
    "file_names"}``."""
    return {
        "image": frames_to_tensor(frames, fmt),
        "instances": {
            "ids": torch.as_tensor(np.asarray(ids, dtype=np.int64)).reshape(masks.shape[:2]),
            "labels": torch.as_tensor(np.asarray(labels, dtype=np.int64)).reshape(-1),
            "masks": torch.from_numpy(np.ascontiguousarray(masks, dtype=np.bool_)),
        },
        "height": dataset_dict.get("height", in_hw[0]),
        "width": dataset_dict.get("width", in_hw[1]),
        "video_id": video_id,
        "frame_idx": frame_idx,
        "file_names": file_names,
    }


MAPPER_REGISTRY = Registry("dataset type")
MAPPER_REGISTRY.__doc__ = """Training mappers by ``DATASETS.DATASET_TYPE`` name. A class registered
with ``@MAPPER_REGISTRY.register_as("my_type")`` is used for the training sets of that type; it
is built as ``cls(**cls.from_config(cfg, is_train, dataset_name))``."""


class ClipMapper:
    """Training mapper of a video dict: samples the clip's frames, reads and augments them.
    Subclasses name the dict's per-frame label lists (``label_key``, ``extra_keys``; ``what`` an
    entry is, in messages), give ``build_augmentation(cfg)`` and ``targets`` -> ``ids`` (N, T),
    ``labels`` (N,), ``masks`` (N, T, H', W') of the augmented clip."""

    extra_keys: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        augmentations: Sequence[ClipAugmentation],
        image_format: str = "RGB",
        sampling_frame_num: int = 2,
        sampling_frame_range: int = 20,
        sampling_frame_shuffle: bool = False,
        reverse_agu: bool = False,
        seed: int | None = None,
    ):
        self.augmentations = list(augmentations)
        self.image_format = check_image_format(image_format)
        self.sampling_frame_num, self.sampling_frame_range = (
            int(sampling_frame_num),
            int(sampling_frame_range),
        )
        self.sampling_frame_shuffle, self.reverse_agu = (
            bool(sampling_frame_shuffle),
            bool(reverse_agu),
        )
        self._rng = np.random.default_rng(seed)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, dataset_name: str | None = None) -> dict:
        if not is_train:
            raise ValueError(f"{cls.__name__} is for training; use VideoTestMapper at test time")
        return dict(
            augmentations=cls.build_augmentation(cfg),
            image_format=cfg.INPUT.FORMAT,
            sampling_frame_num=cfg.INPUT.SAMPLING_FRAME_NUM,
            sampling_frame_range=cfg.INPUT.SAMPLING_FRAME_RANGE,
            reverse_agu=cfg.INPUT.REVERSE_AGU,
        )

    def __call__(
        self, dataset_dict: dict[str, Any], rng: np.random.Generator | None = None
    ) -> dict[str, Any]:
        rng = rng if rng is not None else self._rng
        files, vid, labels = (
            dataset_dict["file_names"],
            dataset_dict.get("video_id"),
            dataset_dict.get(self.label_key),
        )
        if not files:
            raise DatasetError(f"video {vid}: has no frames")
        if labels is None or any(k not in dataset_dict for k in self.extra_keys):
            raise DatasetError(
                f"video {vid}: no '{self.label_key}' (a test split cannot be used for training)"
            )
        if len({len(x) for x in [files, labels] + [dataset_dict[k] for k in self.extra_keys]}) != 1:
            raise DatasetError(
                f"video {vid}: {len(files)} frames and {len(labels)} {self.what}s must agree"
            )
        frame_idx = sample_clip_indices(
            len(files),
            self.sampling_frame_num,
            self.sampling_frame_range,
            rng,
            self.sampling_frame_shuffle,
            self.reverse_agu,
        )
        frames = read_clip_frames(dataset_dict, frame_idx)  # T x (H, W, 3)
        in_hw = frames[0].shape[:2]
        frames, tfms = apply_clip_augmentations(self.augmentations, frames, rng)
        ids, labels, masks = self.targets(dataset_dict, frame_idx, tfms, in_hw, frames[0].shape[:2])
        return clip_output(
            dataset_dict,
            in_hw,
            frames,
            self.image_format,
            ids,
            labels,
            masks,
            frame_idx,
            [files[i] for i in frame_idx],
            vid,
        )
