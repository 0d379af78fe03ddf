"""File readers shared by the loaders, mappers, converters and the evaluation: each raises ``error``
(default :class:`~videomt.data.catalog.DatasetError`) with one line naming the file and the problem,
never a bare ``OSError``."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .catalog import DatasetError, dataset_root


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building big dict/list trees (2x faster loads of
    large JSONs: the collector otherwise rescans the growing tree many times)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def _open(path: str, what: str, error: type[Exception]) -> Iterator[Image.Image]:
    try:
        with Image.open(path) as img:
            yield img
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise error(f"{path}: unreadable {what} ({type(e).__name__}: {e})") from None


def read_image_rgb(path: str) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 RGB, EXIF orientation applied (as Detectron2's
    ``read_image``); grayscale (also 16-bit), palette, RGBA / LA and CMYK files are converted."""
    with _open(path, "image file", DatasetError) as img:
        img = ImageOps.exif_transpose(img)
        if img.mode in ("I;16", "I"):
            arr = np.asarray(img, dtype=np.float64)
            arr = np.clip(
                arr * (255.0 / (65535.0 if arr.max(initial=0) > 255 else 255.0)), 0, 255
            ).astype(np.uint8)
            return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
        return np.ascontiguousarray(
            np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)
        )


def rgb2id(rgb: np.ndarray) -> np.ndarray | int:
    """RGB ``(..., 3)`` -> segment id ``R + 256 G + 256^2 B`` (int64; an int for one colour)."""
    c = np.asarray(rgb).astype(np.int64)
    ids = c[..., 0] + (c[..., 1] << 8) + (c[..., 2] << 16)
    return int(ids) if ids.ndim == 0 else ids


def id2rgb(ids: np.ndarray | int) -> np.ndarray | list[int]:
    """Inverse of :func:`rgb2id`: ``(...)`` ints -> ``(..., 3)`` uint8 RGB (a list for one int)."""
    i = np.asarray(ids, dtype=np.int64)
    out = np.stack([i & 255, (i >> 8) & 255, (i >> 16) & 255], axis=-1).astype(np.uint8)
    return out.tolist() if out.ndim == 1 else out


def read_panoptic_ids(
    path: str, what: str = "panoptic mask", error: type[Exception] = DatasetError
) -> np.ndarray:
    """A panoptic PNG (RGB-encoded ids, 0 = void) as an ``(H, W)`` int64 id map."""
    with _open(path, what, error) as img:
        arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise error(f"{path}: {what} must be an RGB PNG, got array shape {arr.shape}")
    return rgb2id(arr[:, :, :3])


def read_semantic_png(
    path: str, what: str = "semantic mask", error: type[Exception] = DatasetError
) -> np.ndarray:
    """A class-value PNG (VSPW masks, predictions) as ``(H, W)`` uint8: palette indices as stored,
    channel 0 of an RGB file (as the reference loaders read it)."""
    with _open(path, what, error) as img:
        arr = np.asarray(img)
    arr = arr[:, :, 0] if arr.ndim == 3 else arr
    if arr.dtype != np.uint8 and arr.max(initial=0) > 255:
        raise error(f"{path}: {what} has values > 255 (dtype {arr.dtype})")
    return arr.astype(np.uint8, copy=False)


def image_size(path: str) -> tuple[int, int]:
    """``(height, width)`` of an image, reading only its header."""
    with _open(path, "image file", DatasetError) as img:
        return img.size[1], img.size[0]


def list_dir(folder: str, what: str = "folder") -> set[str]:
    """Names in ``folder`` (one ``os.listdir`` call); a missing folder raises ``DatasetError``."""
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        raise DatasetError(f"{folder}: {what} not found") from None
    except NotADirectoryError:
        raise DatasetError(f"{folder}: {what} is not a directory") from None


def require_dir(folder: str, what: str) -> None:
    """Raise ``DatasetError`` if ``folder`` is not a directory (naming ``$DETECTRON2_DATASETS`` if
    under it)."""
    if os.path.isdir(folder):
        return
    root, hint = os.path.abspath(dataset_root()), ""
    if os.path.commonpath([root, os.path.abspath(folder)]) == root:
        hint = (
            f" (datasets are looked up under $DETECTRON2_DATASETS, now "
            f"{os.environ.get('DETECTRON2_DATASETS', 'unset: ./datasets')})"
        )
    raise DatasetError(f"{folder}: {what} not found{hint}")


def check_files_exist(paths: Iterable[str], what: str, context: str) -> None:
    """Check that every path exists with one ``os.listdir`` per parent folder (fast on big sets);
    ``context`` (e.g. ``"train.json: video 12"``) names where the paths come from in the
    messages."""
    listed: dict[str, set[str]] = {}
    for p in paths:
        parent, base = os.path.split(p)
        if parent not in listed:
            listed[parent] = list_dir(parent, f"{what} folder ({context})")
        if base not in listed[parent]:
            raise DatasetError(f"{context}: {what} {p} not found")
