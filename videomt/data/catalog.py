"""Dataset and metadata catalogs: a dataset name -> a loader of dataset dicts, and -> metadata.

Loaders are zero-argument callables registered by name; nothing is read from disk until
``DatasetCatalog.get(name)`` is called. The dataset root ``$DETECTRON2_DATASETS`` (default
``./datasets``) is read when a loader runs (and when a path attribute of a built-in metadata is
read), never at import time.

Dataset-dict contract (Detectron2 style; mappers and evaluators rely on it)
--------------------------------------------------------------------------
Masks stay encoded (RLE / polygons / PNG paths); decoding happens in the mappers.

Video instance segmentation (``ytvis_*``, ``ovis_*``, ``synthetic_vis_*``, ``ytvis_json:...``)::

    {"file_names": [str, ...],     # absolute frame paths, in temporal order, length T
     "height": int, "width": int,  # frame size from the JSON
     "length": int,                # T
     "video_id": int,              # the JSON's video id
     "annotations": [              # length T (absent for JSONs without annotations, e.g. test)
         [ {"id": int,              # track id (the JSON annotation id), same across frames
            "category_id": int,     # contiguous 0..K-1 (metadata.thing_dataset_id_to_contiguous_id)
            "iscrowd": 0 | 1,
            "bbox": [x, y, w, h], "bbox_mode": "XYWH_ABS",
            "segmentation": RLE dict {"size": [H, W], "counts": str | list[int]}
                            or polygons [[x0, y0, x1, y1, ...], ...]},
           ... ],                   # only the objects present in that frame
         ... ]}

COCO pseudo-videos (``coco2ytvis2019_*``, ``coco2ytvis2021_*``, ``coco2ovis_*``), one dict per
image; ``category_id`` is already the contiguous index of the TARGET video dataset: the COCO id is
mapped through ``metadata.coco_to_target`` (SPEC 5.2) inside ``ytvis.load_coco_pseudo_json``;
annotations of unmapped COCO categories are dropped there and their number is logged::

    {"file_name": str, "height": int, "width": int, "image_id": int,
     "annotations": [ {"id", "category_id", "iscrowd", "bbox", "bbox_mode": "XYWH_ABS",
                       "segmentation"}, ... ]}

Video panoptic (``panoVSPW_vps_video_*`` = VIPSeg 720p, ``synthetic_vps_*``)::

    {"file_names": [str, ...], "pan_seg_file_names": [str, ...],   # RGB id PNGs, id = R+256G+256^2B
     "segments_infos": [ [ {"id": int, "category_id": int (contiguous, things first),
                            "iscrowd": 0 | 1, "isthing": bool}, ... ], ... ],   # per frame
     "height": int, "width": int, "length": int, "video_id": str}

Video semantic (``VSPW_vss_video_*``, ``synthetic_vss_*``)::

    {"file_names": [str, ...], "sem_seg_file_names": [str, ...],
     "height": int, "width": int, "length": int, "video_id": str}

    Class PNGs hold raw values: 0 and 255 are ignore, value v is raw class id v-1 (the VIPSeg
    raw id order, 0 = wall). The model's contiguous index is things-first: the mapper converts
    with ``metadata.stuff_dataset_id_to_contiguous_id`` (raw id -> contiguous; a 256-entry lookup
    table is ``metadata.raw_value_to_contiguous`` which already folds in the ``v-1`` and the
    ignore values -> 255).

Test splits (no annotations) have no ``annotations`` / ``pan_seg_file_names`` /
``segments_infos`` / ``sem_seg_file_names`` keys.

Bad input (missing folders, broken JSON, missing frames, mask sizes that disagree with the video,
empty videos) raises :class:`DatasetError` naming the file and the problem.
"""
from __future__ import annotations

import difflib
import hashlib
import os
import re
from typing import Any, Callable

__all__ = [
    "DatasetError",
    "UnknownDatasetError",
    "DatasetCatalog",
    "MetadataCatalog",
    "Metadata",
    "dataset_root",
    "YTVIS_JSON_PREFIX",
    "parse_ytvis_json_name",
    "ytvis_json_loader_args",
    "dataset_output_name",
]

YTVIS_JSON_PREFIX = "ytvis_json:"
_YTVIS_JSON_RE = re.compile(r"^ytvis_json:(?P<json>.+?\.json):(?P<root>.+)$")


class DatasetError(ValueError):
    """A dataset that cannot be loaded as it is (message names the file and the problem)."""


class UnknownDatasetError(KeyError):
    """A dataset name that is not registered (message lists close names)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def dataset_root() -> str:
    """The datasets root: ``$DETECTRON2_DATASETS`` or ``./datasets`` (read at each call)."""
    return os.path.expanduser(os.environ.get("DETECTRON2_DATASETS", "datasets"))


def parse_ytvis_json_name(name: str) -> tuple[str, str] | None:
    """``"ytvis_json:<json_path>:<image_root>"`` -> ``(json_path, image_root)``, else ``None``.

    The JSON path must end in ``.json``; paths are used as given (absolute, or relative to the
    current working directory).
    """
    m = _YTVIS_JSON_RE.match(name)
    if m is None:
        return None
    return m.group("json"), m.group("root")


def dataset_output_name(name: str) -> str:
    """A short, safe folder name for a dataset's outputs: the name itself when it is a plain name;
    for config-only names (paths, colons) ``<json file stem>_<8 hex digits of a hash>``."""
    if re.fullmatch(r"[\w.-]+", name):
        return name
    parsed = parse_ytvis_json_name(name)
    stem = os.path.splitext(os.path.basename(parsed[0]))[0] if parsed else "dataset"
    safe = re.sub(r"[^\w.-]", "_", stem)
    return f"{safe}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def ytvis_json_loader_args(name: str) -> tuple[str, str] | None:
    """``(json, image root)`` of a config-only ``ytvis_json:...`` name, ``None`` for other names;
    a malformed ``ytvis_json:`` name is a ``DatasetError``."""
    if not name.startswith(YTVIS_JSON_PREFIX):
        return None
    parsed = parse_ytvis_json_name(name)
    if parsed is None:
        raise DatasetError(
            f"dataset name '{name}': expected 'ytvis_json:<path/to/file.json>:<image_root>'"
        )
    return parsed


class _DatasetCatalog:
    """Name -> zero-argument callable returning ``list[dict]`` (see the module docstring)."""

    def __init__(self) -> None:
        self._loaders: dict[str, Callable[[], list[dict]]] = {}
        self._resolvers: list[Callable[[str], bool]] = []

    def add_resolver(self, resolver: Callable[[str], bool]) -> None:
        """``resolver(name)`` registers a config-only name on first use and returns True if it
        did (how ``ytvis_json:<json>:<root>`` names work)."""
        self._resolvers.append(resolver)

    def resolve(self, name: str) -> bool:
        """True if ``name`` is registered, registering it through a resolver if needed."""
        return name in self._loaders or any(r(name) for r in self._resolvers)

    def register(self, name: str, func: Callable[[], list[dict]]) -> None:
        if not callable(func):
            raise TypeError(f"DatasetCatalog.register('{name}'): loader must be callable")
        if name in self._loaders:
            raise DatasetError(f"dataset '{name}' is already registered")
        self._loaders[name] = func

    def get(self, name: str) -> list[dict]:
        """Run the loader of ``name``; unknown names raise ``KeyError`` listing close names."""
        if not self.resolve(name):
            close = difflib.get_close_matches(name, list(self._loaders), n=5, cutoff=0.6)
            hint = f"; close names: {', '.join(close)}" if close else ""
            raise UnknownDatasetError(
                f"dataset '{name}' is not registered{hint} "
                f"(DatasetCatalog.list() shows all {len(self._loaders)} names; a YouTube-VIS "
                f"JSON can be named as 'ytvis_json:<file.json>:<image_root>')"
            )
        try:
            return self._loaders[name]()
        except DatasetError as e:
            if str(e).startswith("dataset '"):
                raise
            raise DatasetError(f"dataset '{name}': {e}") from None

    def list(self) -> list[str]:
        return sorted(self._loaders)

    def remove(self, name: str) -> None:
        self._loaders.pop(name)

    def __contains__(self, name: str) -> bool:
        return name in self._loaders

    def __repr__(self) -> str:
        return f"DatasetCatalog({len(self._loaders)} datasets)"


class Metadata:
    """Attributes of a dataset (class names, colours, paths, id mappings, evaluator type...).

    Attributes are plain values, or "lazy" ones computed by a zero-argument function on every
    read (paths under ``$DETECTRON2_DATASETS``) or on the first read (``cache=True``, e.g. class
    names taken from a JSON's categories).
    """

    def __init__(self, name: str, **kwargs: Any) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "_lazy", {})
        self.set(**kwargs)

    def set(self, **kwargs: Any) -> "Metadata":
        for k, v in kwargs.items():
            setattr(self, k, v)
        return self

    def set_lazy(self, key: str, func: Callable[[], Any], cache: bool = False) -> "Metadata":
        self.__dict__.pop(key, None)
        self._lazy[key] = (func, cache)
        return self

    def __setattr__(self, key: str, value: Any) -> None:
        self._lazy.pop(key, None)
        object.__setattr__(self, key, value)

    def __getattr__(self, key: str) -> Any:  # only called when normal lookup fails
        lazy = self.__dict__.get("_lazy", {})
        if key in lazy:
            func, cache = lazy[key]
            value = func()
            if cache:
                lazy.pop(key)
                object.__setattr__(self, key, value)
            return value
        if key.startswith("__"):
            raise AttributeError(key)
        raise AttributeError(
            f"metadata of dataset '{self.__dict__.get('name')}' has no attribute '{key}' "
            f"(available: {', '.join(sorted(self.keys()))})"
        )

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

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.keys()}

    def __getstate__(self) -> dict[str, Any]:
        # lazy attributes are resolved (their functions are closures, not picklable)
        return self.as_dict()

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "_lazy", {})
        for k, v in state.items():
            object.__setattr__(self, k, v)

    def __repr__(self) -> str:
        return f"Metadata(name={self.name!r}, keys={sorted(self.keys())})"


class _MetadataCatalog:
    """Name -> :class:`Metadata`; ``get`` creates an empty one for a new name (Detectron2)."""

    def __init__(self) -> None:
        self._metas: dict[str, Metadata] = {}

    def get(self, name: str) -> Metadata:
        if name not in self._metas:
            DatasetCatalog.resolve(name)
            if name not in self._metas:
                self._metas[name] = Metadata(name)
        return self._metas[name]

    def list(self) -> list[str]:
        return sorted(self._metas)

    def remove(self, name: str) -> None:
        self._metas.pop(name, None)

    def __contains__(self, name: str) -> bool:
        return name in self._metas


DatasetCatalog = _DatasetCatalog()
MetadataCatalog = _MetadataCatalog()
