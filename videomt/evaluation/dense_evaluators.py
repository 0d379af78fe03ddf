"""In-loop VIPSeg (VPQ + STQ) and VSPW (mIoU + VC) evaluators: official prediction files first, then
scores."""

from __future__ import annotations

import logging
import os
from pathlib import PurePath

import numpy as np
from PIL import Image

from ..data.catalog import MetadataCatalog
from ..data.io import rgb2id
from ..utils.files import write_json
from .evaluator import DatasetEvaluator, check_class
from .vps import evaluate_vps
from .vss import evaluate_vss

logger = logging.getLogger(__name__)


class SegmentColours:
    """Unique RGB colours (= PNG segment ids): the category's if free, else a free one within +-30
    (as panopticapi)."""

    def __init__(self, category_colours: dict[int, list[int]], seed: int = 0):
        self.category_colours, self.used, self.rng = (
            category_colours,
            {(0, 0, 0)},
            np.random.default_rng(seed),
        )

    def next(self, category_id: int) -> tuple[int, int, int]:
        base = np.array(self.category_colours.get(category_id, [128, 128, 128]))
        colour = tuple(int(c) for c in base)
        while colour in self.used:
            colour = tuple(int(c) for c in np.clip(base + self.rng.integers(-30, 31, 3), 0, 255))
        self.used.add(colour)
        return colour


class VPSEvaluator(DatasetEvaluator):
    """Writes ``pan_pred/<video>/<frame>.png`` + ``pred.json``, then VPQ and STQ."""

    def __init__(self, dataset_name: str, output_dir: str, num_processes: int | None = None):
        self.meta = MetadataCatalog.get(dataset_name)
        self.dataset_name, self.output_dir, self.num_processes = (
            dataset_name,
            output_dir,
            num_processes,
        )
        self.to_dataset_id = list(self.meta.contiguous_id_to_dataset_id)
        self.colours = {c["id"]: c.get("color", [128, 128, 128]) for c in self.meta.categories}
        self.reset()

    def process(self, inputs: list[dict], outputs: list[dict]) -> None:
        for inp, out in zip(inputs, outputs):
            folder = os.path.join(self.output_dir, "pan_pred", str(inp["video_id"]))
            os.makedirs(folder, exist_ok=True)
            pan = out["pred_masks"].cpu().numpy()  # (T, H, W) int32 segment ids, 0 = void
            colours, segments = (
                SegmentColours(self.colours),
                {},
            )  # segment id -> (dataset category, colour)
            for seg in out["segments_infos"]:
                check_class(self.dataset_name, seg["category_id"], len(self.to_dataset_id))
                category = int(self.to_dataset_id[seg["category_id"]])
                segments[seg["id"]] = (category, colours.next(category))
            lut = np.zeros((max(segments, default=0) + 1, 3), dtype=np.uint8)
            for seg_id, (_, rgb) in segments.items():
                lut[seg_id] = rgb
            frames = []
            for t, file_name in enumerate(inp["file_names"]):
                Image.fromarray(lut[pan[t]]).save(
                    os.path.join(folder, PurePath(file_name).stem + ".png")
                )
                infos = []
                for seg_id, (category, rgb) in segments.items():
                    ys, xs = np.nonzero(pan[t] == seg_id)
                    if ys.size:
                        infos.append(
                            {
                                "id": rgb2id(rgb),
                                "category_id": category,
                                "iscrowd": 0,
                                "area": int(ys.size),
                                "bbox": [
                                    int(xs.min()),
                                    int(ys.min()),
                                    int(xs.max() - xs.min()),
                                    int(ys.max() - ys.min()),
                                ],
                            }
                        )
                frames.append({"file_name": os.path.basename(file_name), "segments_info": infos})
            self._records.append({"video_id": str(inp["video_id"]), "annotations": frames})

    def score(self, videos: list) -> dict:
        pred_json = os.path.join(self.output_dir, "pred.json")
        write_json(pred_json, {"annotations": videos}, indent=None)
        if not any(f["segments_info"] for v in videos for f in v["annotations"]):
            logger.warning(
                f"{self.dataset_name}: the model predicted no segment at all: every score is 0"
            )
        gt_json, gt_dir = (
            getattr(self.meta, "json_file", None),
            getattr(self.meta, "panoptic_root", None),
        )
        if not gt_json or not os.path.isfile(gt_json) or not gt_dir or not os.path.isdir(gt_dir):
            logger.info(
                f"{self.dataset_name}: no panoptic ground truth; predictions in {self.output_dir}"
            )
            return {}
        return {
            "vps": evaluate_vps(
                pred_json,
                os.path.join(self.output_dir, "pan_pred"),
                gt_json,
                gt_dir,
                num_processes=self.num_processes,
            )
        }


class VSSEvaluator(DatasetEvaluator):
    """Writes ``<video>/<frame>.png`` with raw class ids, then mIoU and VC."""

    def __init__(self, dataset_name: str, output_dir: str):
        self.meta = MetadataCatalog.get(dataset_name)
        self.dataset_name, self.output_dir = dataset_name, output_dir
        self.to_raw = np.asarray(self.meta.contiguous_id_to_dataset_id, dtype=np.uint8)
        self.reset()

    def process(self, inputs: list[dict], outputs: list[dict]) -> None:
        for inp, out in zip(inputs, outputs):
            folder = os.path.join(self.output_dir, str(inp["video_id"]))
            os.makedirs(folder, exist_ok=True)
            classes = out["pred_sem_seg"].cpu().numpy()  # (T, H, W) contiguous ids
            check_class(self.dataset_name, int(classes.max(initial=0)), len(self.to_raw))
            for t, file_name in enumerate(inp["file_names"]):
                Image.fromarray(self.to_raw[classes[t]]).save(
                    os.path.join(folder, PurePath(file_name).stem + ".png")
                )
            self._records.append(
                (str(inp["video_id"]), bool(inp.get("sem_seg_file_names")))
            )  # (video, has GT)

    def score(self, videos: list) -> dict:
        root = getattr(self.meta, "dataset_root", None)
        if not videos or not all(has_gt for _, has_gt in videos) or not root:
            logger.info(
                f"{self.dataset_name}: no semantic ground truth; predictions in {self.output_dir}"
            )
            return {}
        return {
            "vss": evaluate_vss(
                self.output_dir,
                root,
                videos=[vid for vid, _ in videos],
                num_classes=len(self.to_raw),
            )
        }
