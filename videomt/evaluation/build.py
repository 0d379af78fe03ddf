"""Pick the evaluator for a test dataset (by its metadata's ``evaluator_type``, else the config task)."""
from __future__ import annotations

from .evaluator import DatasetEvaluator, YTVISEvaluator

__all__ = ["build_evaluator"]


def build_evaluator(cfg, dataset_name: str, output_dir: str) -> DatasetEvaluator:
    from ..data import MetadataCatalog

    kind = getattr(MetadataCatalog.get(dataset_name), "evaluator_type", None)
    kind = {"ytvis": "vis"}.get(kind, kind) or cfg.MODEL.BACKBONE.TEST.TASK
    if kind != cfg.MODEL.BACKBONE.TEST.TASK:
        raise ValueError(f"dataset {dataset_name} is evaluated as '{kind}' but MODEL.BACKBONE.TEST.TASK is "
                         f"'{cfg.MODEL.BACKBONE.TEST.TASK}'")
    if kind == "vis":
        return YTVISEvaluator(dataset_name, output_dir)
    from .dense_evaluators import VPSEvaluator, VSSEvaluator

    if kind == "vps":
        return VPSEvaluator(dataset_name, output_dir)
    if kind == "vss":
        return VSSEvaluator(dataset_name, output_dir)
    raise ValueError(f"no evaluator for task '{kind}' (dataset {dataset_name})")
