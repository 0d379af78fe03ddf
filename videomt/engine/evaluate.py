"""Evaluate a model on every ``DATASETS.TEST`` set (``--eval-only`` and the periodic evaluation)."""

from __future__ import annotations

import logging

from torch import nn

from ..data.build import build_test_loader
from ..errors import ConfigError
from ..evaluation.build import build_evaluator, inference_output_dir
from ..evaluation.evaluator import inference_on_dataset, print_csv_format, save_metrics

__all__ = ["evaluate_model"]

logger = logging.getLogger(__name__)


def evaluate_model(cfg, model: nn.Module, build_evaluator=build_evaluator) -> dict:
    """``{dataset name: metrics}``; outputs and ``metrics.json`` under
    ``OUTPUT_DIR/inference/<dataset>/`` (a short folder name for ``ytvis_json:...`` sets).
    ``build_evaluator(cfg, dataset_name, output_dir)`` makes each set's evaluator."""
    if cfg.TEST.AUG.ENABLED:
        raise ConfigError(
            "TEST.AUG.ENABLED: test-time augmentation is not supported (as in the reference)"
        )
    results = {}
    for name in cfg.DATASETS.TEST:
        output_dir = inference_output_dir(cfg, name)
        loader = build_test_loader(cfg, name)
        evaluator = build_evaluator(cfg, name, output_dir)
        results[name] = inference_on_dataset(model, loader, evaluator)
        if results[name]:
            save_metrics(results[name], output_dir)
            logger.info(f"evaluation results for {name}:")
            print_csv_format(results[name])
    return results
