"""Registration of every reference dataset name (SPEC 5.1) and of the synthetic datasets; paths
are relative to the datasets root, read when a dataset is loaded or a path attribute read."""
from __future__ import annotations

import os

from .catalog import DatasetCatalog, DatasetError, Metadata, MetadataCatalog, dataset_root, parse_ytvis_json_name
from .metadata import (COCO_TO_TARGET, OVIS_CLASSES, TARGET_CLASSES, YTVIS_2019_CLASSES, YTVIS_2021_CLASSES,
                       thing_metadata, things_first_metadata, vipseg_categories, vipseg_metadata)
from .synthetic import (SYNTHETIC_COCO_TO_TARGET, SYNTHETIC_PANOPTIC_CATEGORIES, SYNTHETIC_SPECS,
                        SYNTHETIC_THING_CLASSES, ensure_synthetic, synthetic_layout)
from .vipseg import load_vipseg_json
from .vspw import load_vspw
from .ytvis import load_coco_pseudo_json, load_ytvis_json, register_ytvis_instances


def _path(rel: str) -> str:
    """``rel`` under the datasets root, read now (not at import time)."""
    return os.path.join(dataset_root(), rel)


def _set_paths(meta: Metadata, **rel: str) -> None:
    for key, r in rel.items():
        meta.set_lazy(key, lambda r=r: _path(r))


# name -> (image root, json, classes) of YouTube-VIS / OVIS.
BUILTIN_YTVIS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    **{f"ytvis_{y}_{s}": (f"ytvis_{y}/{d}/JPEGImages", f"ytvis_{y}/{d}.json", c)
       for y, c in (("2019", YTVIS_2019_CLASSES), ("2021", YTVIS_2021_CLASSES))
       for s, d in (("train", "train"), ("val", "valid"), ("test", "test"))},
    "ytvis_2022_val": ("ytvis_2022/valid/JPEGImages", "ytvis_2022/valid.json", YTVIS_2021_CLASSES),
    **{f"ovis_{s}": (f"ovis/{d}", f"ovis/annotations/annotations_{d}.json", OVIS_CLASSES)
       for s, d in (("train", "train"), ("val", "valid"), ("test", "test"))},
}
# name -> (image root, json, target key of COCO_TO_TARGET).
BUILTIN_COCO_PSEUDO: dict[str, tuple[str, str, str]] = {
    f"coco2{tag}_{split}": (f"coco/{split}2017", f"coco/annotations/coco2{tag}_{split}.json", target)
    for tag, target in (("ytvis2019", "ytvis_2019"), ("ytvis2021", "ytvis_2021"), ("ovis", "ovis"))
    for split in ("train", "val")
}
_VIPSEG = "VIPSeg/VIPSeg_720P"
# name -> (image root, panoptic mask root, json) of VIPSeg; name -> (data folder, split file, masks?) of VSPW.
BUILTIN_VIPSEG = {f"panoVSPW_vps_video_{s}": (f"{_VIPSEG}/images", f"{_VIPSEG}/panomasksRGB",
                                              f"{_VIPSEG}/panoptic_gt_VIPSeg_{s}.json")
                  for s in ("train", "val", "test")}
BUILTIN_VSPW = {f"VSPW_vss_video_{s}": ("VSPW_480p/data", f"VSPW_480p/{s}.txt", s != "test")
                for s in ("train", "val", "test")}


def _register_ytvis(name: str, img: str, js: str, classes: tuple[str, ...]) -> None:
    DatasetCatalog.register(name, lambda: load_ytvis_json(_path(js), _path(img), name))
    meta = MetadataCatalog.get(name).set(evaluator_type="ytvis", ignore_label=255, **thing_metadata(classes))
    _set_paths(meta, json_file=js, image_root=img, dataset_root=js.split("/")[0])
    if name == "ytvis_2022_val":
        _set_paths(meta, gt_json="ytvis_2022/gt.json", gt_short_json="ytvis_2022/gt_short.json",
                   gt_long_json="ytvis_2022/gt_long.json")


def _register_coco(name: str, img: str, js: str, target: str) -> None:
    coco_to_contiguous = {c: t - 1 for c, t in COCO_TO_TARGET[target].items()}
    DatasetCatalog.register(name, lambda: load_coco_pseudo_json(_path(js), _path(img), coco_to_contiguous))
    meta = MetadataCatalog.get(name).set(evaluator_type="ytvis", ignore_label=255, target_dataset=target,
                                         coco_to_target=dict(COCO_TO_TARGET[target]),
                                         **thing_metadata(TARGET_CLASSES[target]))
    _set_paths(meta, json_file=js, image_root=img, dataset_root="coco")


def _register_vipseg(name: str, img: str, pan: str, js: str) -> None:
    cats = vipseg_categories()
    DatasetCatalog.register(name, lambda: load_vipseg_json(_path(js), _path(img), _path(pan), cats))
    meta = MetadataCatalog.get(name).set(evaluator_type="vps", **vipseg_metadata())
    _set_paths(meta, json_file=js, image_root=img, panoptic_root=pan, dataset_root=_VIPSEG)


def _register_vspw(name: str, data: str, split: str, with_masks: bool) -> None:
    DatasetCatalog.register(name, lambda: load_vspw(_path(data), _path(split), with_masks))
    meta = MetadataCatalog.get(name).set(evaluator_type="vss", **vipseg_metadata())
    _set_paths(meta, image_root=data, split_file=split, dataset_root="VSPW_480p")


def _register_synthetic(name: str) -> None:
    kind = SYNTHETIC_SPECS[name]["kind"]

    def load() -> list[dict]:
        paths = synthetic_layout(name, ensure_synthetic(name))
        if kind == "vis":
            return load_ytvis_json(paths["json_file"], paths["image_root"], name)
        if kind == "vps":
            return load_vipseg_json(paths["json_file"], paths["image_root"], paths["panoptic_root"],
                                    SYNTHETIC_PANOPTIC_CATEGORIES)
        if kind == "vss":
            return load_vspw(paths["image_root"], paths["split_file"], True)
        return load_coco_pseudo_json(paths["json_file"], paths["image_root"],
                                     {c: t - 1 for c, t in SYNTHETIC_COCO_TO_TARGET.items()})

    DatasetCatalog.register(name, load)
    meta = MetadataCatalog.get(name).set(synthetic=True)
    if kind in ("vis", "coco"):
        meta.set(evaluator_type="ytvis", ignore_label=255, **thing_metadata(SYNTHETIC_THING_CLASSES))
        if kind == "coco":
            meta.set(coco_to_target=dict(SYNTHETIC_COCO_TO_TARGET))
    else:
        meta.set(evaluator_type=kind, **things_first_metadata(SYNTHETIC_PANOPTIC_CATEGORIES))
    folder = f"synthetic/{name}"
    _set_paths(meta, dataset_root=folder,
               **{k: os.path.normpath(os.path.join(folder, p)) for k, p in synthetic_layout(name, ".").items()})


def _resolve_ytvis_json(name: str) -> bool:
    """Register a config-only ``ytvis_json:<json>:<image_root>`` name."""
    if not name.startswith("ytvis_json:"):
        return False
    parsed = parse_ytvis_json_name(name)
    if parsed is None:
        raise DatasetError(f"dataset name '{name}': expected 'ytvis_json:<path/to/file.json>:<image_root>'")
    register_ytvis_instances(name, {}, *parsed)
    return True


def register_all_builtin() -> None:
    """Register all reference and synthetic names and the ``ytvis_json:`` names (idempotent)."""
    if "ytvis_2019_train" in DatasetCatalog:
        return
    DatasetCatalog.add_resolver(_resolve_ytvis_json)
    for table, register in ((BUILTIN_YTVIS, _register_ytvis), (BUILTIN_COCO_PSEUDO, _register_coco),
                            (BUILTIN_VIPSEG, _register_vipseg), (BUILTIN_VSPW, _register_vspw)):
        for name, args in table.items():
            register(name, *args)
    for name in SYNTHETIC_SPECS:
        _register_synthetic(name)
