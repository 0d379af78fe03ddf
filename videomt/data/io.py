"""Small file readers shared by the loaders, the mappers and the converters.

Every reader raises :class:`videomt.data.catalog.DatasetError` with a one-line message that names
the file and the problem (never a bare ``OSError`` / ``JSONDecodeError``).
"""
from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..utils.files import read_json
from .catalog import DatasetError, dataset_root

__all__ = [
    "read_image_rgb",
    "read_panoptic_ids",
    "read_semantic_png",
    "rgb2id",
    "id2rgb",
    "load_json",
    "list_dir",
    "image_size",
    "require_dir",
    "root_hint",
    "check_files_exist",
    "gc_paused",
]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building big dict/list trees (2x faster loads
    of large JSONs: the collector otherwise rescans the growing tree many times)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_image_rgb(path: str) -> np.ndarray:
    """Read an image file as an ``(H, W, 3)`` uint8 RGB array.

    Grayscale (L, I;16, 1), palette (P), RGBA / LA and CMYK files are converted to RGB (alpha is
    dropped); the EXIF orientation is applied (as Detectron2's ``read_image``). A missing or
    unreadable file raises ``DatasetError`` naming the path.
    """
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            if img.mode == "I;16" or img.mode == "I":
                arr = np.asarray(img, dtype=np.float64)
                peak = 65535.0 if arr.max(initial=0) > 255 else 255.0
                arr = np.clip(arr * (255.0 / peak), 0, 255).astype(np.uint8)
                return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
            if img.mode != "RGB":
                img = img.convert("RGB")
            return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    except FileNotFoundError:
        raise DatasetError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DatasetError(f"{path}: unreadable image ({type(e).__name__}: {e})") from None


def _read_array(path: str, what: str, error: type[Exception]) -> np.ndarray:
    try:
        with Image.open(path) as img:
            return np.asarray(img)
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise error(f"{path}: unreadable {what} ({type(e).__name__}: {e})") from None


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


def read_panoptic_ids(path: str, what: str = "panoptic mask",
                      error: type[Exception] = DatasetError) -> np.ndarray:
    """Read a panoptic PNG (RGB-encoded ids, 0 = void) as an ``(H, W)`` int64 id map; a missing,
    unreadable or non-RGB file raises ``error`` naming it."""
    arr = _read_array(path, what, error)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise error(f"{path}: {what} must be an RGB PNG, got array shape {arr.shape}")
    return rgb2id(arr[:, :, :3])


def read_semantic_png(path: str, what: str = "semantic mask",
                      error: type[Exception] = DatasetError) -> np.ndarray:
    """Read a class-value PNG (VSPW masks, predictions) as an ``(H, W)`` uint8 array: palette
    indices as stored, channel 0 of an RGB file (as the reference loaders read it)."""
    arr = _read_array(path, what, error)
    if arr.ndim == 3:
        arr = arr[:, :, 0]
    if arr.dtype != np.uint8:
        if arr.max(initial=0) > 255:
            raise error(f"{path}: {what} has values > 255 (dtype {arr.dtype})")
        arr = arr.astype(np.uint8)
    return arr


def image_size(path: str) -> tuple[int, int]:
    """``(height, width)`` of an image, reading only its header."""
    try:
        with Image.open(path) as img:
            w, h = img.size
            return h, w
    except FileNotFoundError:
        raise DatasetError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DatasetError(f"{path}: unreadable image ({type(e).__name__}: {e})") from None


def load_json(path: str, what: str = "annotation file") -> Any:
    """Parse a JSON file; missing, empty, truncated or non-JSON files raise ``DatasetError``."""
    return read_json(path, what, DatasetError)


def list_dir(folder: str, what: str = "folder") -> set[str]:
    """Names in ``folder`` (one ``os.listdir`` call); a missing folder raises ``DatasetError``."""
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        raise DatasetError(f"{folder}: {what} not found") from None
    except NotADirectoryError:
        raise DatasetError(f"{folder}: {what} is not a directory") from None


def root_hint(path: str) -> str:
    """A hint naming ``$DETECTRON2_DATASETS``, only for paths under the datasets root."""
    root = os.path.abspath(dataset_root())
    if os.path.commonpath([root, os.path.abspath(path)]) != root:
        return ""
    return (f" (datasets are looked up under $DETECTRON2_DATASETS, now "
            f"{os.environ.get('DETECTRON2_DATASETS', 'unset: ./datasets')})")


def require_dir(folder: str, what: str, hint: str = "") -> None:
    """Raise ``DatasetError`` if ``folder`` is not an existing directory."""
    if not os.path.isdir(folder):
        raise DatasetError(f"{folder}: {what} not found{hint}")


def check_files_exist(paths: Iterable[str], what: str, context: str) -> None:
    """Check that every path exists with one ``os.listdir`` per parent folder (fast on big sets).

    ``context`` (e.g. ``"train.json, video 12"``) is added to the message of the first missing
    file.
    """
    cache: dict[str, set[str]] = {}
    for p in paths:
        parent, base = os.path.split(p)
        names = cache.get(parent)
        if names is None:
            try:
                names = set(os.listdir(parent))
            except (FileNotFoundError, NotADirectoryError):
                raise DatasetError(f"{context}: {what} folder {parent} not found") from None
            cache[parent] = names
        if base not in names:
            raise DatasetError(f"{context}: {what} {p} not found")
