"""Pick the evaluator for a test dataset (by its metadata's ``evaluator_type``, else the config
task)."""

from __future__ import annotations

import os

from ..data.catalog import MetadataCatalog, dataset_output_name
from ..errors import ConfigError
from .dense_evaluators import VPSEvaluator, VSSEvaluator
from .evaluator import DatasetEvaluator, YTVISEvaluator

_EVALUATORS = {"vis": YTVISEvaluator, "vps": VPSEvaluator, "vss": VSSEvaluator}


def inference_output_dir(cfg, dataset_name: str) -> str:
    """``OUTPUT_DIR/inference/<name>``: a short, safe folder name even for ``ytvis_json:...``."""
    return os.path.join(cfg.OUTPUT_DIR, "inference", dataset_output_name(dataset_name))


def build_evaluator(cfg, dataset_name: str, output_dir: str) -> DatasetEvaluator:
    """The evaluator of ``dataset_name``; a config that cannot be scored on it is an error."""
    meta = MetadataCatalog.get(dataset_name)
    task = cfg.MODEL.BACKBONE.TEST.TASK
    kind = {"ytvis": "vis"}.get(meta.get("evaluator_type"), meta.get("evaluator_type")) or task
    if kind != task:
        raise ConfigError(
            f"dataset {dataset_name} is evaluated as '{kind}' but MODEL.BACKBONE.TEST.TASK is "
            f"'{task}'"
        )
    if kind not in _EVALUATORS:
        raise ConfigError(f"no evaluator for task '{kind}' (dataset {dataset_name})")
    classes = meta.get("thing_classes" if kind == "vis" else "stuff_classes")
    if classes is not None and cfg.MODEL.BACKBONE.NUM_CLASSES > len(classes):
        raise ConfigError(
            f"MODEL.BACKBONE.NUM_CLASSES is {cfg.MODEL.BACKBONE.NUM_CLASSES} but dataset "
            f"{dataset_name} has {len(classes)} classes: the model's extra classes cannot be scored"
        )
    return _EVALUATORS[kind](dataset_name, output_dir)
