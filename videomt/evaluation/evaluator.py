"""Detectron2-style evaluators (reset / process / evaluate), the YouTube-VIS one, and
``inference_on_dataset``."""

from __future__ import annotations

import contextlib
import logging
import os
import time
import zipfile

import numpy as np
import torch
from pycocotools import mask as mask_util

from ..data.catalog import MetadataCatalog
from ..utils.dist import all_gather_objects, get_world_size, is_main_process
from ..utils.files import read_json, write_json
from ..utils.progress import progress_bar
from .errors import EvaluationError
from .ytvis import evaluate as evaluate_ytvis

logger = logging.getLogger(__name__)


class DatasetEvaluator:
    """``reset()``; per batch the subclass hook ``process(inputs, outputs)`` fills
    ``self._records``; ``evaluate()`` passes all ranks' records to the hook ``score(records)``
    (write official files, score) on rank 0, else ``{}``."""

    def reset(self) -> None:
        self._records: list = []

    def evaluate(self) -> dict:
        gathered = all_gather_objects(self._records)
        return self.score([r for part in gathered for r in part]) if is_main_process() else {}


def check_class(dataset_name: str, label: int, num_classes: int) -> None:
    """A predicted contiguous class must be one of the dataset's."""
    if not 0 <= label < num_classes:
        raise EvaluationError(
            f"{dataset_name}: predicted class {label} is outside the dataset's {num_classes} "
            f"classes (MODEL.BACKBONE.NUM_CLASSES too large?)"
        )


def save_metrics(results: dict, output_dir: str) -> None:
    """``output_dir/metrics.json``; undefined values (NaN) are written as ``null``."""
    write_json(os.path.join(output_dir, "metrics.json"), results)


def print_csv_format(results: dict) -> None:
    """Log metrics in Detectron2's ``copypaste:`` format (one block per task)."""
    for task, metrics in results.items():
        if isinstance(metrics, dict):
            names = [k for k, v in metrics.items() if isinstance(v, (int, float))]
            logger.info(f"copypaste: Task: {task}")
            logger.info("copypaste: " + ",".join(names))
            logger.info("copypaste: " + ",".join(f"{metrics[k]:.4f}" for k in names))


class YTVISEvaluator(DatasetEvaluator):
    """YouTube-VIS / OVIS: ``results.json`` (+ ``.zip``) in the server format; AP/AR when the JSON
    has annotations."""

    def __init__(self, dataset_name: str, output_dir: str):
        meta = MetadataCatalog.get(dataset_name)
        self.dataset_name, self.output_dir, self.json_file = (
            dataset_name,
            output_dir,
            getattr(meta, "json_file", None),
        )
        forward = getattr(meta, "thing_dataset_id_to_contiguous_id", None) or {}
        self.contiguous_to_dataset_id = {v: k for k, v in forward.items()}
        if not self.contiguous_to_dataset_id:
            raise ValueError(
                f"dataset {dataset_name}: metadata has no thing_dataset_id_to_contiguous_id "
                f"(load the dataset before building its evaluator)"
            )
        self.reset()

    def process(self, inputs: list[dict], outputs: list[dict]) -> None:
        for inp, out in zip(inputs, outputs):
            masks = out["pred_masks"].cpu().numpy()  # (N, T, H, W) bool
            for score, label, track in zip(
                out["pred_scores"].tolist(), out["pred_labels"].tolist(), masks
            ):
                check_class(self.dataset_name, int(label), len(self.contiguous_to_dataset_id))
                rles = mask_util.encode(
                    np.asfortranarray(track.transpose(1, 2, 0).astype(np.uint8))
                )  # per frame
                self._records.append(
                    {
                        "video_id": inp["video_id"],
                        "score": float(score),
                        "category_id": int(self.contiguous_to_dataset_id[int(label)]),
                        "segmentations": [dict(r, counts=r["counts"].decode()) for r in rles],
                    }
                )

    def score(self, records: list) -> dict:
        path = os.path.join(self.output_dir, "results.json")
        write_json(path, records, indent=None)
        with zipfile.ZipFile(
            os.path.join(self.output_dir, "results.zip"), "w", zipfile.ZIP_DEFLATED
        ) as z:
            z.write(path, arcname="results.json")
        logger.info(
            f"wrote {len(records)} tracks to {path} (and results.zip for the evaluation server)"
        )
        gt = (
            read_json(self.json_file, "ground-truth file", EvaluationError)
            if self.json_file
            else {}
        )
        if not isinstance(gt, dict) or not gt.get("annotations"):
            logger.info(
                f"{self.dataset_name}: no ground-truth annotations; upload results.zip to the "
                "server"
            )
            return {}
        return {"segm": evaluate_ytvis(gt, records)}


def inference_on_dataset(model: torch.nn.Module, data_loader, evaluator: DatasetEvaluator) -> dict:
    """Run ``model`` (no_grad; fp16 autocast on CUDA) on ``data_loader`` and evaluate; no
    trainer."""
    device = next(model.parameters()).device
    amp = (
        torch.autocast("cuda", dtype=torch.float16)
        if device.type == "cuda"
        else contextlib.nullcontext()
    )
    evaluator.reset()
    frames, start = 0, time.perf_counter()
    was_training = model.training
    model.eval()
    with (
        torch.no_grad(),
        progress_bar(
            data_loader,
            enabled=is_main_process(),
            unit="video",
            desc=f"inference ({get_world_size()} proc)",
        ) as bar,
    ):
        for inputs in bar:
            with amp:
                outputs = model(inputs)
            evaluator.process(inputs, outputs)
            frames += sum(int(inp["image"].shape[0]) for inp in inputs)
            bar.set_postfix(frames_per_s=f"{frames / (time.perf_counter() - start):.1f}")
    model.train(was_training)
    logger.info(f"inference: {frames} frames in {time.perf_counter() - start:.1f}s on this process")
    return evaluator.evaluate()
