"""Per-frame results <-> supervision.Detections (skipped without supervision)."""

import numpy as np
import pytest
import torch

import videomt
from tests.model_fixtures import small_cfg
from tests.video_fixtures import moving_squares

sv = pytest.importorskip("supervision")
from videomt.inference.supervision_adapter import from_detections, to_detections  # noqa: E402

CLASSES = {"vis": ("synthetic_vis_val", 5), "vps": ("synthetic_vps_val", 8)}
CLASSES["vss"] = ("synthetic_vss_val", 8)


@pytest.fixture(scope="module")
def results():
    """Two frames of results of a tiny random model per task, with its class names."""
    out = {}
    for task, (dataset, num_classes) in CLASSES.items():
        torch.manual_seed(0)
        cfg = small_cfg(
            **{
                "MODEL.BACKBONE.DEPTH": 3,
                "MODEL.BACKBONE.SEGMENTER_BLOCKS": [1, 2],
                "MODEL.BACKBONE.TEST.TASK": task,
                "MODEL.BACKBONE.TEST.MAX_NUM": 4,
                "MODEL.BACKBONE.TEST.OBJECT_MASK_THRESHOLD": 0.2,
                "MODEL.BACKBONE.TEST.OVERLAP_THRESHOLD": 0.3,
                "MODEL.BACKBONE.NUM_CLASSES": num_classes,
                "INPUT.MIN_SIZE_TEST": 32,
                "INPUT.MAX_SIZE_TEST": 64,
                "DATASETS.TEST": (dataset,),
            }
        )
        predictor = videomt.VideoPredictor(cfg, device="cpu")
        out[task] = (list(predictor(moving_squares(num_frames=2))), predictor.class_names)
    return out


def test_instance_results_round_trip(results):
    frames, names = results["vis"]
    for r in frames:
        det = to_detections(r, names)
        n = len(r["scores"])
        assert len(det) == n > 0
        assert det.mask.shape == tuple(r["masks"].shape) and det.mask.dtype == bool
        assert np.array_equal(det.tracker_id, np.asarray(r["track_ids"]))
        assert np.array_equal(det.class_id, np.asarray(r["labels"]))
        assert np.allclose(det.confidence, np.asarray(r["scores"]))
        assert list(det.data["class_name"]) == [names[int(c)] for c in r["labels"]]
        for i in range(n):  # boxes enclose each mask
            ys, xs = np.nonzero(det.mask[i])
            if len(ys):
                assert det.xyxy[i].tolist() == [xs.min(), ys.min(), xs.max(), ys.max()]
        back = from_detections(det)
        for key in ("masks", "labels", "track_ids"):
            assert torch.equal(torch.as_tensor(back[key]), torch.as_tensor(r[key])), key
        assert torch.allclose(back["scores"], torch.as_tensor(r["scores"], dtype=torch.float32))
        # supervision's own annotators accept them, coloured by our track ids
        frame = np.zeros((*det.mask.shape[1:], 3), np.uint8)
        drawn = sv.MaskAnnotator(color_lookup=sv.ColorLookup.TRACK).annotate(frame.copy(), det)
        assert drawn.shape == frame.shape


def test_panoptic_and_semantic_results(results):
    frames, names = results["vps"]
    assert any(r["segments_info"] for r in frames)
    for r in frames:
        det = to_detections(r, names)
        pan = np.asarray(r["panoptic_seg"])
        assert len(det) == len(r["segments_info"])
        for i, s in enumerate(r["segments_info"]):
            assert np.array_equal(det.mask[i], pan == s["id"])
            assert det.class_id[i] == s["category_id"]
            assert det.tracker_id[i] == s.get("track_id", s["id"])
    frames, names = results["vss"]
    for r in frames:
        det = to_detections(r, names)
        sem = np.asarray(r["sem_seg"])
        assert det.class_id.tolist() == np.unique(sem).tolist()
        assert det.confidence is None and det.tracker_id is None
        assert (det.mask.sum(axis=0) == 1).all()  # the classes tile the frame


def test_conversion_errors():
    with pytest.raises(ValueError, match="expected 'masks'"):
        to_detections({"boxes": []})
    boxes_only = sv.Detections(xyxy=np.zeros((1, 4), np.float32), class_id=np.array([0]))
    with pytest.raises(ValueError, match="without masks"):
        from_detections(boxes_only)
