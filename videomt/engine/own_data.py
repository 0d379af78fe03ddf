"""Training on a dataset of one's own with no code: the config follows the training data.

``fit_config_to_training_data`` runs once per training run, before the config is saved: it takes
the number of classes from the training sets' metadata (for a YouTube-VIS JSON named by path, its
``categories``) and gives JSON-path training sets the per-dataset list entries they need.
``class_head_differs`` tells the trainer when ``MODEL.WEIGHTS`` was trained for another number
of classes, so its class head is re-initialised instead of refused.
"""

from __future__ import annotations

import logging

import torch

from ..checkpoint import detect_layout, read_state_dict, to_videomt_layout
from ..config import CfgNode
from ..data.catalog import DatasetCatalog, DatasetError, MetadataCatalog, parse_ytvis_json_name

__all__ = ["fit_config_to_training_data", "class_head_differs"]

logger = logging.getLogger(__name__)

# Per-dataset list keys and the value a YouTube-VIS JSON training set takes.
_OWN_DATA_LIST_DEFAULTS = {
    "DATASET_RATIO": 1.0,
    "DATASET_TYPE": "video_instance",
}
_INSTANCE_TYPES = ("video_instance", "image_instance")


def fit_config_to_training_data(cfg: CfgNode) -> CfgNode:
    """A copy of ``cfg`` whose ``DATASETS`` lists and ``MODEL.BACKBONE.NUM_CLASSES`` fit
    ``DATASETS.TRAIN``; each change is logged. Instance tasks only (panoptic and semantic class
    counts are fixed by their configs)."""
    names = list(cfg.DATASETS.TRAIN)
    if not names or cfg.MODEL.BACKBONE.TEST.TASK != "vis":
        return cfg
    cfg = cfg.clone()
    cfg.defrost()
    if all(parse_ytvis_json_name(n) is not None for n in names):
        for key, value in _OWN_DATA_LIST_DEFAULTS.items():
            current = list(cfg.DATASETS[key])
            if len(current) != len(names) and len(current) != 1:
                cfg.DATASETS[key] = [value] * len(names)
                logger.info(
                    f"DATASETS.{key}: {current} -> {cfg.DATASETS[key]} "
                    f"(one entry per JSON training set)"
                )
    types = list(cfg.DATASETS.DATASET_TYPE)
    types = types * len(names) if len(types) == 1 else types
    classes = _training_classes(
        [n for n, t in zip(names, types) if t in _INSTANCE_TYPES and DatasetCatalog.resolve(n)]
    )
    if classes is not None and len(classes) != cfg.MODEL.BACKBONE.NUM_CLASSES:
        shown = ", ".join(classes[:10]) + (", ..." if len(classes) > 10 else "")
        logger.info(
            f"MODEL.BACKBONE.NUM_CLASSES: {cfg.MODEL.BACKBONE.NUM_CLASSES} -> {len(classes)}, "
            f"the classes of the training data ({shown})"
        )
        cfg.MODEL.BACKBONE.NUM_CLASSES = len(classes)
    cfg.freeze()
    return cfg


def _training_classes(names: list[str]) -> list[str] | None:
    """The class names the training sets share (None without instance sets); sets with another
    number of classes, or a JSON without categories, are errors."""
    found: list[tuple[str, list[str]]] = []
    for name in names:
        classes = list(MetadataCatalog.get(name).get("thing_classes", None) or [])
        if not classes:
            parsed = parse_ytvis_json_name(name)
            where = parsed[0] if parsed else f"dataset '{name}'"
            raise DatasetError(
                f"{where}: no categories: the class names and count come from its "
                f"'categories' list of {{'id', 'name'}}"
            )
        found.append((name, classes))
    if not found:
        return None
    first_name, first = found[0]
    for name, classes in found[1:]:
        if len(classes) != len(first):
            raise DatasetError(
                f"DATASETS.TRAIN: '{first_name}' has {len(first)} classes but '{name}' has "
                f"{len(classes)}: training sets must share one label set"
            )
    return first


def class_head_differs(weights: str, model: torch.nn.Module) -> str | None:
    """Why the class head of ``weights`` cannot initialise ``model``'s (another number of
    classes), or None when it can or the file has none."""
    state = read_state_dict(weights)
    state = to_videomt_layout(state, detect_layout(state))
    key = "core.class_head.weight"
    target = model.state_dict().get(key)
    if key not in state or target is None or state[key].shape == target.shape:
        return None
    return (
        f"{weights} has a class head for {state[key].shape[0] - 1} classes, the model "
        f"{target.shape[0] - 1}"
    )
