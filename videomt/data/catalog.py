"""Dataset and metadata catalogs: a name -> a loader of dataset dicts, and -> :class:`Metadata`.

Loaders take no argument and read nothing (not even ``$DETECTRON2_DATASETS``, default
``./datasets``) before ``DatasetCatalog.get``. Dataset dicts are Detectron2-style with masks still
encoded (the mappers decode them); bad input raises :class:`DatasetError` naming the file and the
problem. A video dict holds ``"file_names": [T absolute frame paths], "height", "width", "length":
T, "video_id"`` and, except in test splits:

* instances (``ytvis_*``, ``ovis_*``, ``synthetic_vis_*``, ``ytvis_json:...``): ``"annotations"``,
  per frame ``[{"id": track id, "category_id": contiguous 0..K-1, "iscrowd", "bbox": [x, y, w, h],
  "bbox_mode": "XYWH_ABS", "segmentation": RLE dict or polygons}]``;
* panoptic (``panoVSPW_vps_video_*`` = VIPSeg 720p, ``synthetic_vps_*``): ``"pan_seg_file_names"``
  (RGB id PNGs, id = R + 256 G + 256^2 B) and ``"segments_infos"``, per frame ``[{"id",
  "category_id": contiguous (things first), "iscrowd", "isthing"}]``;
* semantic (``VSPW_vss_video_*``, ``synthetic_vss_*``): ``"sem_seg_file_names"``, class PNGs whose
  value v is raw class v-1 (0 and 255 ignored; ``metadata.raw_value_to_contiguous`` maps values).

COCO pseudo-videos (``coco2ytvis2019_*``, ``coco2ytvis2021_*``, ``coco2ovis_*``) hold one dict per
image, ``{"file_name", "height", "width", "image_id", "annotations": [objects as above]}``, with
``category_id`` already the TARGET dataset's contiguous index.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Callable
from typing import Any

from ..errors import UserError


class DatasetError(UserError):
    """A dataset that cannot be loaded as it is (message names the file and the problem)."""


class UnknownDatasetError(DatasetError, KeyError):
    """A dataset name that is not registered (message lists close names)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def dataset_root() -> str:
    """The datasets root: ``$DETECTRON2_DATASETS`` or ``./datasets`` (read at each call)."""
    return os.path.expanduser(os.environ.get("DETECTRON2_DATASETS", "datasets"))


def parse_ytvis_json_name(name: str) -> tuple[str, str] | None:
    """``"ytvis_json:<path ending in .json>:<image_root>"`` -> ``(json_path, image_root)``; a bare
    ``"<path>.json"`` -> ``(path, its frame folder)`` (see :func:`default_image_root`); else
    ``None``."""
    m = re.match(r"^ytvis_json:(?P<json>.+?\.json):(?P<root>.+)$", name)
    if m:
        return m.group("json"), m.group("root")
    if name.endswith(".json") and not name.startswith("ytvis_json:"):
        return name, default_image_root(name)
    return None


def image_root_candidates(json_file: str) -> list[str]:
    """Where a bare JSON path's frames may be: ``<dir>/<stem>/JPEGImages`` (YouTube-VIS:
    ``train.json`` next to ``train/JPEGImages``), then ``<dir>/JPEGImages``."""
    stem = os.path.splitext(json_file)[0]
    return [
        os.path.join(stem, "JPEGImages"),
        os.path.join(os.path.dirname(json_file), "JPEGImages"),
    ]


def default_image_root(json_file: str) -> str:
    """The first existing folder of :func:`image_root_candidates`, else the first candidate."""
    candidates = image_root_candidates(json_file)
    return next((c for c in candidates if os.path.isdir(c)), candidates[0])


def dataset_output_name(name: str) -> str:
    """A safe folder name for a dataset's outputs: ``name`` if plain, else ``<json stem>_<8 hex of a
    hash>``."""
    if re.fullmatch(r"[\w.-]+", name):
        return name
    parsed = parse_ytvis_json_name(name)
    stem = re.sub(
        r"[^\w.-]", "_", os.path.splitext(os.path.basename(parsed[0]))[0] if parsed else "dataset"
    )
    return f"{stem}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"


class _DatasetCatalog(dict):
    """Name -> loader returning ``list[dict]``. ``resolvers`` register a config-only name
    (``ytvis_json:<json>:<root>``) on first use and return whether they did."""

    def __init__(self) -> None:
        super().__init__()
        self.resolvers: list[Callable[[str], bool]] = []

    def resolve(self, name: str) -> bool:
        """True if ``name`` is registered, registering it through a resolver if needed."""
        return name in self or any(r(name) for r in self.resolvers)

    def register(self, name: str, func: Callable[[], list[dict]]) -> None:
        if not callable(func):
            raise TypeError(f"DatasetCatalog.register('{name}'): loader must be callable")
        if name in self:
            raise DatasetError(f"dataset '{name}' is already registered")
        self[name] = func

    def require(self, name: str) -> None:
        """Check that ``name`` is registered (or resolvable) without loading it; an unknown name
        raises :class:`UnknownDatasetError` (a ``KeyError``) listing close names."""
        if not self.resolve(name):
            close = difflib.get_close_matches(name, list(self), n=5, cutoff=0.6)
            hint = "; close names: " + ", ".join(close) if close else ""
            raise UnknownDatasetError(
                f"dataset '{name}' is not registered{hint} (DatasetCatalog.list() shows all "
                f"{len(self)} names; a YouTube-VIS JSON can be named as "
                "'ytvis_json:<file.json>:<image_root>')"
            )

    def get(self, name: str) -> list[dict]:
        """Run the loader of ``name``; an unknown name raises ``KeyError`` listing close names."""
        self.require(name)
        try:
            return self[name]()
        except DatasetError as e:
            if str(e).startswith("dataset '"):
                raise
            raise DatasetError(f"dataset '{name}': {e}") from None

    def list(self) -> list[str]:
        return sorted(self)

    def remove(self, name: str) -> None:
        self.pop(name)


class Metadata:
    """Attributes of a dataset (classes, colours, paths, id maps, evaluator type...): plain values,
    or lazy ones computed by a function at every read (paths under ``$DETECTRON2_DATASETS``) or at
    the first (``cache=True``, e.g. classes from a JSON)."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        object.__setattr__(self, "_lazy", {})
        self.set(name=name, **kwargs)

    def set(self, **kwargs: Any) -> Metadata:
        for k, v in kwargs.items():
            setattr(self, k, v)
        return self

    def set_lazy(self, key: str, func: Callable[[], Any], cache: bool = False) -> Metadata:
        self.__dict__.pop(key, None)
        self._lazy[key] = (func, cache)
        return self

    def __setattr__(self, key: str, value: Any) -> None:
        self._lazy.pop(key, None)
        object.__setattr__(self, key, value)

    def __getattr__(self, key: str) -> Any:  # only called when the normal lookup fails
        lazy = self.__dict__.get("_lazy", {})
        if key not in lazy:
            if key.startswith("__"):
                raise AttributeError(key)
            raise AttributeError(
                f"metadata of dataset '{self.__dict__.get('name')}' has no attribute '{key}' "
                f"(available: {', '.join(sorted(self.keys()))})"
            )
        func, cache = lazy[key]
        value = func()
        if cache:
            setattr(self, key, value)
        return value

    def is_set(self, key: str) -> bool:
        """True if ``key`` holds a plain (non-lazy or already computed) value."""
        return key in self.__dict__ and not key.startswith("_")

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            return default

    def keys(self) -> list[str]:
        return [k for k in self.__dict__ if not k.startswith("_")] + list(self._lazy)

    def __getstate__(self) -> dict[str, Any]:  # lazy values resolved: their functions do not pickle
        return {k: getattr(self, k) for k in self.keys()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "_lazy", {})
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"Metadata(name={self.name!r}, keys={sorted(self.keys())})"


class _MetadataCatalog(dict):
    """Name -> :class:`Metadata`; ``get`` creates an empty one for a new name (Detectron2)."""

    def get(self, name: str) -> Metadata:
        if name not in self:
            DatasetCatalog.resolve(name)  # a config-only name sets its metadata when registered
            self.setdefault(name, Metadata(name))
        return self[name]

    def remove(self, name: str) -> None:
        self.pop(name, None)


DatasetCatalog = _DatasetCatalog()
MetadataCatalog = _MetadataCatalog()
