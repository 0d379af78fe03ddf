"""Registration of every reference dataset name and of the synthetic datasets; paths
are relative to the datasets root, read when a dataset is loaded or a path attribute read."""

from __future__ import annotations

import os
from typing import Any

from ..utils.registry import Registry
from .catalog import (
    DatasetCatalog,
    DatasetError,
    MetadataCatalog,
    dataset_root,
    image_root_candidates,
    parse_ytvis_json_name,
)
from .metadata import (
    COCO_TO_TARGET,
    OVIS_CLASSES,
    TARGET_CLASSES,
    YTVIS_2019_CLASSES,
    YTVIS_2021_CLASSES,
    thing_metadata,
    things_first_metadata,
    vipseg_categories,
)
from .synthetic import (
    SYNTHETIC_COCO_TO_TARGET,
    SYNTHETIC_PANOPTIC_CATEGORIES,
    SYNTHETIC_SPECS,
    SYNTHETIC_THING_CLASSES,
    ensure_synthetic,
    synthetic_layout,
)
from .vipseg import load_vipseg_json
from .vspw import load_vspw
from .ytvis import load_coco_pseudo_json, load_ytvis_json, register_ytvis_instances

# name -> (image root, json, classes) of YouTube-VIS / OVIS.
BUILTIN_YTVIS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    **{
        f"ytvis_{y}_{s}": (f"ytvis_{y}/{d}/JPEGImages", f"ytvis_{y}/{d}.json", c)
        for y, c in (("2019", YTVIS_2019_CLASSES), ("2021", YTVIS_2021_CLASSES))
        for s, d in (("train", "train"), ("val", "valid"), ("test", "test"))
    },
    "ytvis_2022_val": ("ytvis_2022/valid/JPEGImages", "ytvis_2022/valid.json", YTVIS_2021_CLASSES),
    **{
        f"ovis_{s}": (f"ovis/{d}", f"ovis/annotations/annotations_{d}.json", OVIS_CLASSES)
        for s, d in (("train", "train"), ("val", "valid"), ("test", "test"))
    },
}
_YTVIS_2022_GT = {
    f"gt{s}_json": f"ytvis_2022/gt{s}.json" for s in ("", "_short", "_long")
}  # more ytvis_2022_val paths
# name -> (image root, json, target key of COCO_TO_TARGET).
BUILTIN_COCO_PSEUDO: dict[str, tuple[str, str, str]] = {
    f"coco2{tag}_{split}": (
        f"coco/{split}2017",
        f"coco/annotations/coco2{tag}_{split}.json",
        target,
    )
    for tag, target in (("ytvis2019", "ytvis_2019"), ("ytvis2021", "ytvis_2021"), ("ovis", "ovis"))
    for split in ("train", "val")
}
_VIPSEG = "VIPSeg/VIPSeg_720P"
# name -> (image root, panoptic mask root, json) of VIPSeg; name -> (data folder, split file,
# masks?) of VSPW.
BUILTIN_VIPSEG = {
    f"panoVSPW_vps_video_{s}": (
        f"{_VIPSEG}/images",
        f"{_VIPSEG}/panomasksRGB",
        f"{_VIPSEG}/panoptic_gt_VIPSeg_{s}.json",
    )
    for s in ("train", "val", "test")
}
BUILTIN_VSPW = {
    f"VSPW_vss_video_{s}": ("VSPW_480p/data", f"VSPW_480p/{s}.txt", s != "test")
    for s in ("train", "val", "test")
}


DATASET_FORMATS = Registry("dataset format")
DATASET_FORMATS.__doc__ = """Loaders of on-disk dataset formats by name. A loader is
``loader(paths, name, load_arg) -> list of dataset dicts``: ``paths`` maps metadata keys
(``json_file``, ``image_root``, ...) to absolute paths, ``load_arg`` is the format's extra argument.
A function registered with ``@DATASET_FORMATS.register_as("my_format")`` serves every dataset
registered with :func:`register_dataset` in that format."""


@DATASET_FORMATS.register_as("vis")
def _load_ytvis_format(paths: dict[str, str], name: str, load_arg: Any) -> list[dict]:
    return load_ytvis_json(paths["json_file"], paths["image_root"], name)


@DATASET_FORMATS.register_as("coco")
def _load_coco_pseudo_format(paths: dict[str, str], name: str, coco_to_contiguous) -> list[dict]:
    return load_coco_pseudo_json(paths["json_file"], paths["image_root"], coco_to_contiguous)


@DATASET_FORMATS.register_as("vps")
def _load_vipseg_format(paths: dict[str, str], name: str, categories) -> list[dict]:
    return load_vipseg_json(
        paths["json_file"], paths["image_root"], paths["panoptic_root"], categories
    )


@DATASET_FORMATS.register_as("vss")
def _load_vspw_format(paths: dict[str, str], name: str, with_masks) -> list[dict]:
    return load_vspw(paths["image_root"], paths["split_file"], with_masks)


def register_dataset(
    name: str, dataset_format: str, paths: dict[str, str], load_arg: Any = None, **meta: Any
) -> None:
    """Register ``name``, read by the loader of ``dataset_format`` (a name in
    :data:`DATASET_FORMATS`) from ``paths`` (metadata key -> path under the datasets root, also
    set as lazy metadata); ``load_arg``: the format's extra argument (COCO id map, VIPSeg
    categories, VSPW's ``with_masks``); ``meta``: the dataset's metadata."""
    loader = DATASET_FORMATS.lookup(dataset_format, "dataset format", where=f"dataset '{name}'")

    def load() -> list[dict]:
        if name in SYNTHETIC_SPECS:
            ensure_synthetic(name)
        absolute = {key: os.path.join(dataset_root(), rel) for key, rel in paths.items()}
        return loader(absolute, name, load_arg)

    DatasetCatalog.register(name, load)
    metadata = MetadataCatalog.get(name).set(**meta)
    for key, rel in paths.items():
        metadata.set_lazy(key, lambda rel=rel: os.path.join(dataset_root(), rel))


def _resolve_ytvis_json(name: str) -> bool:
    """Register a config-only ``ytvis_json:<json>:<image_root>`` or bare ``<path>.json`` name."""
    if not (name.startswith("ytvis_json:") or name.endswith(".json")):
        return False
    parsed = parse_ytvis_json_name(name)
    if parsed is None:
        raise DatasetError(
            f"dataset name '{name}': expected 'ytvis_json:<path/to/file.json>:<image_root>'"
        )
    json_file, image_root = parsed
    if not name.startswith("ytvis_json:"):
        if not os.path.isfile(json_file):
            raise DatasetError(f"dataset '{name}': no such JSON file")
        if not os.path.isdir(image_root):
            raise DatasetError(
                f"dataset '{name}': no frame folder at "
                + " or ".join(image_root_candidates(json_file))
                + f"; name it 'ytvis_json:{json_file}:<image_root>'"
            )
    register_ytvis_instances(name, {}, json_file, image_root)
    return True


def register_all_builtin() -> None:
    """Register all reference and synthetic names and the ``ytvis_json:`` names (idempotent)."""
    if "ytvis_2019_train" in DatasetCatalog:
        return
    DatasetCatalog.resolvers.append(_resolve_ytvis_json)
    for name, (img, js, classes) in BUILTIN_YTVIS.items():
        paths = dict(json_file=js, image_root=img, dataset_root=js.split("/")[0])
        register_dataset(
            name,
            "vis",
            dict(paths, **_YTVIS_2022_GT) if name == "ytvis_2022_val" else paths,
            evaluator_type="ytvis",
            ignore_label=255,
            **thing_metadata(classes),
        )
    for name, (img, js, target) in BUILTIN_COCO_PSEUDO.items():
        register_dataset(
            name,
            "coco",
            dict(json_file=js, image_root=img, dataset_root="coco"),
            {c: t - 1 for c, t in COCO_TO_TARGET[target].items()},
            evaluator_type="ytvis",
            ignore_label=255,
            target_dataset=target,
            coco_to_target=dict(COCO_TO_TARGET[target]),
            **thing_metadata(TARGET_CLASSES[target]),
        )
    for name, (img, pan, js) in BUILTIN_VIPSEG.items():
        register_dataset(
            name,
            "vps",
            dict(json_file=js, image_root=img, panoptic_root=pan, dataset_root=_VIPSEG),
            vipseg_categories(),
            evaluator_type="vps",
            **things_first_metadata(vipseg_categories()),
        )
    for name, (data, split, with_masks) in BUILTIN_VSPW.items():
        register_dataset(
            name,
            "vss",
            dict(image_root=data, split_file=split, dataset_root="VSPW_480p"),
            with_masks,
            evaluator_type="vss",
            **things_first_metadata(vipseg_categories()),
        )
    for name, spec in SYNTHETIC_SPECS.items():
        kind, folder = spec["kind"], f"synthetic/{name}"
        if kind in ("vis", "coco"):
            meta = dict(
                evaluator_type="ytvis", ignore_label=255, **thing_metadata(SYNTHETIC_THING_CLASSES)
            )
        else:
            meta = dict(evaluator_type=kind, **things_first_metadata(SYNTHETIC_PANOPTIC_CATEGORIES))
        if kind == "coco":
            meta["coco_to_target"] = dict(SYNTHETIC_COCO_TO_TARGET)
        load_arg = {
            "coco": {c: t - 1 for c, t in SYNTHETIC_COCO_TO_TARGET.items()},
            "vps": SYNTHETIC_PANOPTIC_CATEGORIES,
            "vss": True,
        }.get(kind)
        register_dataset(
            name,
            kind,
            dict(synthetic_layout(name, folder), dataset_root=folder),
            load_arg,
            synthetic=True,
            **meta,
        )
