"""Helpers shared by the clip mappers: frame reading, mask decoding, tensor conversion."""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pycocotools.mask as mask_util
import torch

from ..catalog import DatasetError
from ..io import read_image_rgb
from ..rle import check_counts, to_rle

__all__ = ["read_frame", "read_clip_frames", "decode_segmentation", "frames_to_tensor", "check_image_format",
           "new_rng", "expect_same_size", "pack_instances", "transform_masks", "dense_clip_output"]

_FORMATS = ("RGB", "BGR")


def check_image_format(fmt: str) -> str:
    """Validate ``INPUT.FORMAT`` (``"RGB"`` or ``"BGR"``)."""
    if fmt not in _FORMATS:
        raise ValueError(f"INPUT.FORMAT must be one of {_FORMATS}, got '{fmt}'")
    return fmt


def new_rng(rng: np.random.Generator | None, fallback: np.random.Generator) -> np.random.Generator:
    return rng if rng is not None else fallback


def expect_same_size(arr_hw: tuple[int, int], want_hw: tuple[int, int], path: str, what: str,
                     against: str) -> None:
    """Raise ``DatasetError`` naming ``path`` when two sizes disagree."""
    if tuple(arr_hw) != tuple(want_hw):
        raise DatasetError(
            f"{path}: {what} is {arr_hw[0]}x{arr_hw[1]} (HxW) but {against} is "
            f"{want_hw[0]}x{want_hw[1]}")


def read_frame(path: str, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Read a frame as (H, W, 3) uint8 RGB (grayscale / RGBA converted); if ``expected_hw``
    is given the size must match (the dataset dict's height/width)."""
    img = read_image_rgb(path)
    if expected_hw is not None:
        expect_same_size(img.shape[:2], expected_hw, path, "frame", "the dataset dict's height x width")
    return img


def read_clip_frames(dataset_dict: dict[str, Any], frame_idx: Sequence[int]) -> list[np.ndarray]:
    """Read the sampled frames (H, W, 3) RGB, checking them against the dict's size and each other."""
    files = dataset_dict["file_names"]
    dict_hw = (dataset_dict.get("height"), dataset_dict.get("width"))
    frames = [read_frame(files[i], dict_hw if None not in dict_hw else None) for i in frame_idx]
    for i, fr in zip(frame_idx, frames):
        expect_same_size(fr.shape[:2], frames[0].shape[:2], files[i], "frame", f"frame {files[frame_idx[0]]}")
    return frames


def decode_segmentation(segm: Any, h: int, w: int, where: str) -> np.ndarray:
    """Decode a COCO-style segmentation (polygons, compressed or uncompressed RLE) into an
    (h, w) uint8 mask. ``where`` names the frame / annotation in error messages."""
    rle = to_rle(segm, h, w, where, DatasetError)
    if rle is None:
        return np.zeros((h, w), dtype=np.uint8)
    check_counts([rle], [where], DatasetError)
    with warnings.catch_warnings():  # pycocotools + numpy 2 emit a copy-keyword DeprecationWarning
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.ascontiguousarray(mask_util.decode(rle), dtype=np.uint8)


def frames_to_tensor(frames: Sequence[np.ndarray], fmt: str) -> torch.Tensor:
    """T frames (H, W, 3) uint8 RGB -> uint8 tensor (T, 3, H, W) in ``fmt`` channel order."""
    arr = np.stack(frames, axis=0)  # (T, H, W, 3)
    if fmt == "BGR":
        arr = arr[..., ::-1]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))


def pack_instances(ids: np.ndarray, labels: np.ndarray, masks: np.ndarray) -> dict[str, torch.Tensor]:
    """Targets of one clip as tensors: ids int64 (N, T), labels int64 (N,), masks bool (N, T, H, W)."""
    return {"ids": torch.as_tensor(np.asarray(ids, dtype=np.int64)).reshape(masks.shape[:2]),
            "labels": torch.as_tensor(np.asarray(labels, dtype=np.int64)).reshape(-1),
            "masks": torch.from_numpy(np.ascontiguousarray(masks, dtype=np.bool_))}


def dense_clip_output(dataset_dict: dict, frames: Sequence[np.ndarray], fmt: str, label_maps: Sequence[np.ndarray],
                      values: Sequence[int], labels: Sequence[int], frame_idx: list[int], files: Sequence[str],
                      video_id: Any) -> dict:
    """Training output for dense (VPS / VSS) clips: one track per entry of ``values`` (a segment id
    or a class in the per-frame ``label_maps`` (H, W)), present as ``ids[n, t] = n`` in every frame
    with a mask that may be empty in some frames, class ``labels[n]``."""
    stack = np.stack(label_maps)  # (T, H, W)
    values = np.asarray(values, dtype=np.int64)
    masks = stack[None] == values[:, None, None, None]  # (N, T, H, W)
    ids = np.tile(np.arange(len(values), dtype=np.int64)[:, None], (1, len(label_maps)))  # (N, T)
    return {
        "image": frames_to_tensor(frames, fmt),
        "instances": pack_instances(ids, np.asarray(labels, dtype=np.int64), masks),
        "height": dataset_dict.get("height", frames[0].shape[0]),
        "width": dataset_dict.get("width", frames[0].shape[1]),
        "video_id": video_id,
        "frame_idx": frame_idx,
        "file_names": [files[i] for i in frame_idx],
    }


def transform_masks(tfm, masks: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Apply a transform to stacked masks (n, H, W) uint8 -> (n, H', W') uint8 (nearest)."""
    if masks.shape[0] == 0:
        return np.zeros((0, *out_hw), dtype=np.uint8)
    out = tfm.apply_segmentation(np.ascontiguousarray(masks.transpose(1, 2, 0)))  # (H', W', n)
    out = np.asarray(out).reshape(out_hw[0], out_hw[1], masks.shape[0])
    return np.ascontiguousarray(out.transpose(2, 0, 1))
