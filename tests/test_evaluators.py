"""In-loop evaluators: ground truth fed back as predictions must score perfectly through the files
the evaluators write (server / official formats) and the metric code that reads them back."""

import json
import os

import numpy as np
import pytest
import torch
from model_fixtures import small_cfg
from PIL import Image
from pycocotools import mask as mask_util

from videomt.data import DatasetCatalog, MetadataCatalog
from videomt.data.io import read_semantic_png
from videomt.evaluation.build import build_evaluator, inference_output_dir
from videomt.evaluation.dense_evaluators import VPSEvaluator, VSSEvaluator
from videomt.evaluation.errors import EvaluationError
from videomt.evaluation.evaluator import YTVISEvaluator, save_metrics


@pytest.fixture(autouse=True)
def datasets_root(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path_factory.getbasetemp() / "datasets"))


def _decode(seg, h, w):
    if isinstance(seg, dict):
        rle = seg if isinstance(seg["counts"], (str, bytes)) else mask_util.frPyObjects(seg, h, w)
        return mask_util.decode(rle).astype(bool)
    return mask_util.decode(mask_util.merge(mask_util.frPyObjects(seg, h, w))).astype(bool)


def _vis_outputs_from_gt(d, label_shift=0):
    tracks = {}
    for t, objs in enumerate(d["annotations"]):
        for o in objs:
            empty = np.zeros((d["length"], d["height"], d["width"]), bool)
            entry = tracks.setdefault(o["id"], (o["category_id"], empty))
            entry[1][t] = _decode(o["segmentation"], d["height"], d["width"])
    labels = torch.tensor([(c + label_shift) % 5 for c, _ in tracks.values()])
    return {
        "pred_scores": torch.ones(len(tracks)),
        "pred_labels": labels,
        "pred_masks": torch.from_numpy(np.stack([m for _, m in tracks.values()])),
    }


@pytest.mark.parametrize("shift, perfect", [(0, True), (1, False)])
def test_ytvis_evaluator_scores_ground_truth_100(tmp_path, shift, perfect):
    dicts = DatasetCatalog.get("synthetic_vis_val")
    ev = YTVISEvaluator("synthetic_vis_val", str(tmp_path))
    ev.reset()
    for d in dicts:
        ev.process([{"video_id": d["video_id"]}], [_vis_outputs_from_gt(d, shift)])
    metrics = ev.evaluate()["segm"]
    assert (metrics["AP"] == pytest.approx(100.0)) == perfect
    records = json.loads((tmp_path / "results.json").read_text())
    assert {r["video_id"] for r in records} == {d["video_id"] for d in dicts}


def test_vps_evaluator_writes_official_format_and_scores_ground_truth_100(tmp_path):
    name = "synthetic_vps_val"
    meta = MetadataCatalog.get(name)
    ev = VPSEvaluator(name, str(tmp_path), num_processes=1)
    ev.reset()
    for d in DatasetCatalog.get(name):
        frames = [
            np.asarray(Image.open(p).convert("RGB")).astype(np.int64)
            for p in d["pan_seg_file_names"]
        ]
        ids = [f[..., 0] + 256 * f[..., 1] + 65536 * f[..., 2] for f in frames]
        segs = {}
        for infos in d["segments_infos"]:
            for s in infos:
                if not s["iscrowd"]:
                    segs.setdefault(s["id"], s)
        new_id = {sid: i + 1 for i, sid in enumerate(segs)}
        pan = np.zeros((d["length"], d["height"], d["width"]), np.int32)
        for t, frame in enumerate(ids):
            for sid, nid in new_id.items():
                pan[t][frame == sid] = nid
        out = {
            "pred_masks": torch.from_numpy(pan),
            "segments_infos": [
                {"id": new_id[sid], "isthing": bool(s["isthing"]), "category_id": s["category_id"]}
                for sid, s in segs.items()
            ],
        }
        ev.process([{"video_id": d["video_id"], "file_names": d["file_names"]}], [out])
    scores = ev.evaluate()["vps"]
    pred = json.loads((tmp_path / "pred.json").read_text())["annotations"]
    assert pred[0]["annotations"][0]["file_name"].endswith(".jpg")
    assert os.path.isdir(tmp_path / "pan_pred" / pred[0]["video_id"])
    assert scores["VPQ"] == pytest.approx(100.0)
    assert scores["STQ"] == pytest.approx(100.0)
    assert meta.num_things < meta.num_classes


def test_vss_evaluator_scores_ground_truth_100(tmp_path):
    name = "synthetic_vss_val"
    meta = MetadataCatalog.get(name)
    lut = np.asarray(meta.raw_value_to_contiguous)
    ev = VSSEvaluator(name, str(tmp_path))
    ev.reset()
    for d in DatasetCatalog.get(name):
        classes = np.stack([lut[read_semantic_png(p)] for p in d["sem_seg_file_names"]])
        classes[classes == 255] = 0  # ignored pixels: any prediction
        ev.process([d], [{"pred_sem_seg": torch.from_numpy(classes.astype(np.int64))}])
    scores = ev.evaluate()["vss"]
    assert scores["mIoU"] == pytest.approx(100.0)
    assert scores["VC8"] == pytest.approx(100.0)


def test_build_evaluator_checks_task_and_classes():
    cfg = small_cfg()
    assert isinstance(build_evaluator(cfg, "synthetic_vis_val", "/tmp/x"), YTVISEvaluator)
    with pytest.raises(ValueError, match="evaluated as 'vss'"):
        build_evaluator(cfg, "synthetic_vss_val", "/tmp/x")
    for task, n in (("vis", 5), ("vps", 8), ("vss", 8)):
        name = f"synthetic_{task}_val"
        cfg = small_cfg(**{"MODEL.BACKBONE.TEST.TASK": task, "MODEL.BACKBONE.NUM_CLASSES": n})
        build_evaluator(cfg, name, "/tmp/x")
        cfg.MODEL.BACKBONE.NUM_CLASSES = n + 1
        with pytest.raises(
            ValueError, match=f"NUM_CLASSES is {n + 1} but dataset {name} has {n} classes"
        ):
            build_evaluator(cfg, name, "/tmp/x")


def test_dense_evaluators_reject_classes_outside_the_dataset(tmp_path):
    vps = VPSEvaluator("synthetic_vps_val", str(tmp_path))
    out = {
        "pred_masks": torch.ones(1, 4, 4, dtype=torch.int32),
        "segments_infos": [{"id": 1, "isthing": False, "category_id": 8}],
    }
    with pytest.raises(EvaluationError, match="predicted class 8 .* 8 classes"):
        vps.process([{"video_id": "v", "file_names": ["a.jpg"]}], [out])
    vss = VSSEvaluator("synthetic_vss_val", str(tmp_path))
    with pytest.raises(EvaluationError, match="predicted class 9 .* 8 classes"):
        vss.process(
            [{"video_id": "v", "file_names": ["a.jpg"]}],
            [{"pred_sem_seg": torch.full((1, 4, 4), 9)}],
        )


def test_no_predictions_warn_and_nan_is_written_as_null(tmp_path, caplog):
    ev = YTVISEvaluator("synthetic_vis_val", str(tmp_path))
    ev.reset()
    with caplog.at_level("WARNING"):
        metrics = ev.evaluate()
    assert "no predictions to score" in caplog.text and metrics["segm"]["AP"] == 0.0
    save_metrics({"synthetic_vis_val": metrics}, str(tmp_path))
    text = (tmp_path / "metrics.json").read_text()
    strict = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in metrics.json"))
    assert strict["synthetic_vis_val"]["segm"]["APl"] is None  # no large objects: undefined


def test_config_only_dataset_gets_a_short_output_folder(tmp_path):
    cfg = small_cfg(OUTPUT_DIR=str(tmp_path))
    assert inference_output_dir(cfg, "synthetic_vis_val") == str(
        tmp_path / "inference" / "synthetic_vis_val"
    )
    folder = os.path.basename(
        inference_output_dir(cfg, f"ytvis_json:{tmp_path}/my valid.json:{tmp_path}/img")
    )
    assert folder.startswith("my_valid_") and len(folder) == len("my_valid_") + 8


def test_ytvis_evaluator_rejects_classes_outside_the_dataset(tmp_path):
    ev = YTVISEvaluator("synthetic_vis_val", str(tmp_path))
    out = {
        "pred_scores": torch.ones(1),
        "pred_labels": torch.tensor([7]),
        "pred_masks": torch.zeros(1, 2, 4, 4, dtype=torch.bool),
    }
    with pytest.raises(EvaluationError, match="predicted class 7 .* 5 classes"):
        ev.process([{"video_id": 1}], [out])
