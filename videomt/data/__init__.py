"""Datasets: catalog (name -> dataset dicts + metadata, contract in :mod:`videomt.data.catalog`),
loaders, synthetic videos. Importing it registers every reference name and the ``synthetic_*``
sets."""

from .builtin import DATASET_FORMATS, register_all_builtin, register_dataset
from .catalog import (
    DatasetCatalog,
    DatasetError,
    Metadata,
    MetadataCatalog,
    dataset_root,
    parse_ytvis_json_name,
)
from .io import id2rgb, read_image_rgb, read_panoptic_ids, read_semantic_png, rgb2id
from .synthetic import ensure_synthetic, generate_coco, generate_vis, generate_vps, generate_vss
from .vipseg import load_vipseg_json, register_vipseg_panoptic
from .vspw import load_vspw, register_vspw_semantic
from .ytvis import (
    load_coco_pseudo_json,
    load_ytvis_json,
    register_coco_pseudo_instances,
    register_ytvis_instances,
)

register_all_builtin()

__all__ = [
    "DatasetCatalog",
    "MetadataCatalog",
    "Metadata",
    "DatasetError",
    "dataset_root",
    "parse_ytvis_json_name",
    "register_all_builtin",
    "DATASET_FORMATS",
    "register_dataset",
    "register_ytvis_instances",
    "register_coco_pseudo_instances",
    "register_vipseg_panoptic",
    "register_vspw_semantic",
    "load_ytvis_json",
    "load_coco_pseudo_json",
    "load_vipseg_json",
    "load_vspw",
    "read_image_rgb",
    "read_panoptic_ids",
    "read_semantic_png",
    "rgb2id",
    "id2rgb",
    "ensure_synthetic",
    "generate_vis",
    "generate_vps",
    "generate_vss",
    "generate_coco",
]
