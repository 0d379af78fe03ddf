"""Registration of every reference dataset name (SPEC 5.1) and of the synthetic datasets.

Paths are relative to ``$DETECTRON2_DATASETS`` (default ``./datasets``), which is read when a
dataset is loaded or a path attribute of its metadata is read, not at import time.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from .catalog import DatasetCatalog, Metadata, MetadataCatalog, dataset_root, ytvis_json_loader_args
from .metadata import (
    COCO_TO_TARGET,
    OVIS_CLASSES,
    TARGET_CLASSES,
    YTVIS_2019_CLASSES,
    YTVIS_2021_CLASSES,
    things_first_metadata,
    thing_metadata,
    vipseg_categories,
    vipseg_metadata,
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

__all__ = ["register_all_builtin", "BUILTIN_YTVIS", "BUILTIN_COCO_PSEUDO", "BUILTIN_VIPSEG",
           "BUILTIN_VSPW"]


def _r(rel: str) -> str:
    """``rel`` under the datasets root, read now (not at import time)."""
    return os.path.join(dataset_root(), rel)


def _set_paths(meta: Metadata, **rel: str) -> None:
    for key, r in rel.items():
        meta.set_lazy(key, lambda r=r: _r(r))


# name -> (image root, json, classes); relative to $DETECTRON2_DATASETS.
BUILTIN_YTVIS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "ytvis_2019_train": ("ytvis_2019/train/JPEGImages", "ytvis_2019/train.json",
                         YTVIS_2019_CLASSES),
    "ytvis_2019_val": ("ytvis_2019/valid/JPEGImages", "ytvis_2019/valid.json", YTVIS_2019_CLASSES),
    "ytvis_2019_test": ("ytvis_2019/test/JPEGImages", "ytvis_2019/test.json", YTVIS_2019_CLASSES),
    "ytvis_2021_train": ("ytvis_2021/train/JPEGImages", "ytvis_2021/train.json",
                         YTVIS_2021_CLASSES),
    "ytvis_2021_val": ("ytvis_2021/valid/JPEGImages", "ytvis_2021/valid.json", YTVIS_2021_CLASSES),
    "ytvis_2021_test": ("ytvis_2021/test/JPEGImages", "ytvis_2021/test.json", YTVIS_2021_CLASSES),
    "ytvis_2022_val": ("ytvis_2022/valid/JPEGImages", "ytvis_2022/valid.json", YTVIS_2021_CLASSES),
    "ovis_train": ("ovis/train", "ovis/annotations/annotations_train.json", OVIS_CLASSES),
    "ovis_val": ("ovis/valid", "ovis/annotations/annotations_valid.json", OVIS_CLASSES),
    "ovis_test": ("ovis/test", "ovis/annotations/annotations_test.json", OVIS_CLASSES),
}

# name -> (image root, json, target key of COCO_TO_TARGET).
BUILTIN_COCO_PSEUDO: dict[str, tuple[str, str, str]] = {
    f"coco2{tag}_{split}": (f"coco/{split}2017", f"coco/annotations/coco2{tag}_{split}.json", tgt)
    for tag, tgt in (("ytvis2019", "ytvis_2019"), ("ytvis2021", "ytvis_2021"), ("ovis", "ovis"))
    for split in ("train", "val")
}

_VIPSEG = "VIPSeg/VIPSeg_720P"
BUILTIN_VIPSEG: dict[str, tuple[str, str, str]] = {
    f"panoVSPW_vps_video_{s}": (f"{_VIPSEG}/images", f"{_VIPSEG}/panomasksRGB",
                                f"{_VIPSEG}/panoptic_gt_VIPSeg_{s}.json")
    for s in ("train", "val", "test")
}

BUILTIN_VSPW: dict[str, tuple[str, str, bool]] = {
    f"VSPW_vss_video_{s}": ("VSPW_480p/data", f"VSPW_480p/{s}.txt", s != "test")
    for s in ("train", "val", "test")
}


def _register_ytvis(name: str, img: str, js: str, classes: tuple[str, ...]) -> None:
    DatasetCatalog.register(name, lambda: load_ytvis_json(_r(js), _r(img), name))
    meta = MetadataCatalog.get(name)
    meta.set(evaluator_type="ytvis", ignore_label=255, **thing_metadata(classes))
    _set_paths(meta, json_file=js, image_root=img, dataset_root=js.split("/")[0])
    if name == "ytvis_2022_val":
        _set_paths(meta, gt_json="ytvis_2022/gt.json", gt_short_json="ytvis_2022/gt_short.json",
                   gt_long_json="ytvis_2022/gt_long.json")


def _register_coco(name: str, img: str, js: str, target: str) -> None:
    coco_to_target = dict(COCO_TO_TARGET[target])
    coco_to_contig = {c: t - 1 for c, t in coco_to_target.items()}
    DatasetCatalog.register(name, lambda: load_coco_pseudo_json(_r(js), _r(img), coco_to_contig))
    meta = MetadataCatalog.get(name)
    meta.set(evaluator_type="ytvis", ignore_label=255, coco_to_target=coco_to_target,
             target_dataset=target, **thing_metadata(TARGET_CLASSES[target]))
    _set_paths(meta, json_file=js, image_root=img, dataset_root="coco")


def _register_vipseg(name: str, img: str, pan: str, js: str) -> None:
    cats = vipseg_categories()
    DatasetCatalog.register(name, lambda: load_vipseg_json(_r(js), _r(img), _r(pan), cats))
    meta = MetadataCatalog.get(name)
    meta.set(evaluator_type="vps", **vipseg_metadata())
    _set_paths(meta, json_file=js, image_root=img, panoptic_root=pan, dataset_root=_VIPSEG)


def _register_vspw(name: str, data: str, split: str, with_masks: bool) -> None:
    DatasetCatalog.register(name, lambda: load_vspw(_r(data), _r(split), with_masks))
    meta = MetadataCatalog.get(name)
    meta.set(evaluator_type="vss", **vipseg_metadata())
    _set_paths(meta, image_root=data, split_file=split, dataset_root="VSPW_480p")


def _synthetic_loader(name: str) -> Callable[[], list[dict]]:
    kind = SYNTHETIC_SPECS[name]["kind"]

    def load() -> list[dict]:
        lay = synthetic_layout(name, ensure_synthetic(name))
        if kind == "vis":
            return load_ytvis_json(lay["json_file"], lay["image_root"], name)
        if kind == "vps":
            return load_vipseg_json(lay["json_file"], lay["image_root"], lay["panoptic_root"],
                                    SYNTHETIC_PANOPTIC_CATEGORIES)
        if kind == "vss":
            return load_vspw(lay["image_root"], lay["split_file"], True)
        contig = {c: t - 1 for c, t in SYNTHETIC_COCO_TO_TARGET.items()}
        return load_coco_pseudo_json(lay["json_file"], lay["image_root"], contig)

    return load


def _register_synthetic(name: str) -> None:
    kind = SYNTHETIC_SPECS[name]["kind"]
    DatasetCatalog.register(name, _synthetic_loader(name))
    meta = MetadataCatalog.get(name)
    extra: dict[str, Any]
    if kind in ("vis", "coco"):
        extra = dict(evaluator_type="ytvis", ignore_label=255,
                     **thing_metadata(SYNTHETIC_THING_CLASSES))
        if kind == "coco":
            extra["coco_to_target"] = dict(SYNTHETIC_COCO_TO_TARGET)
    else:
        extra = dict(evaluator_type=kind, **things_first_metadata(SYNTHETIC_PANOPTIC_CATEGORIES))
    meta.set(synthetic=True, **extra)
    folder = f"synthetic/{name}"
    meta.set_lazy("dataset_root", lambda: _r(folder))
    for key in synthetic_layout(name, "."):
        rel = os.path.normpath(os.path.join(folder, synthetic_layout(name, ".")[key]))
        meta.set_lazy(key, lambda rel=rel: _r(rel))


def _resolve_ytvis_json(name: str) -> bool:
    args = ytvis_json_loader_args(name)
    if args is not None:
        register_ytvis_instances(name, {}, *args)
    return args is not None


def register_all_builtin() -> None:
    """Register all reference and synthetic names and the ``ytvis_json:`` names (idempotent)."""
    if "ytvis_2019_train" in DatasetCatalog:
        return
    DatasetCatalog.add_resolver(_resolve_ytvis_json)
    for name, args in BUILTIN_YTVIS.items():
        _register_ytvis(name, *args)
    for name, args in BUILTIN_COCO_PSEUDO.items():
        _register_coco(name, *args)
    for name, args in BUILTIN_VIPSEG.items():
        _register_vipseg(name, *args)
    for name, args in BUILTIN_VSPW.items():
        _register_vspw(name, *args)
    for name in SYNTHETIC_SPECS:
        _register_synthetic(name)
