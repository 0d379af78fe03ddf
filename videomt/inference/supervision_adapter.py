"""Per-frame results <-> ``supervision.Detections`` (Roboflow's ``supervision``, optional: ``pip
install supervision``; nothing else in the package imports this module).

Instance results map one to one: ``mask`` = masks, ``class_id`` = labels, ``confidence`` =
scores, ``tracker_id`` = our track ids (the query following the object), ``xyxy`` = each mask's
box, ``data["class_name"]`` = the class names. Panoptic results become one detection per segment
(``tracker_id`` = the segment id, which is the track id for things), semantic ones one per class
present (no confidence, no tracker id). ``from_detections`` gives an instance result back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import supervision as sv
import torch

__all__ = ["to_detections", "from_detections"]


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _detections(
    masks: np.ndarray,
    class_ids: np.ndarray,
    confidence: np.ndarray | None,
    tracker_ids: np.ndarray | None,
    class_names: Sequence[str] | None,
) -> sv.Detections:
    """``masks`` (N, H, W) bool and per-detection arrays -> Detections with mask boxes."""
    if len(masks) == 0:
        xyxy = np.zeros((0, 4), dtype=np.float32)
    else:
        xyxy = sv.mask_to_xyxy(masks).astype(np.float32)  # (N, 4)
    data = {}
    if class_names is not None:
        names = [class_names[c] if 0 <= c < len(class_names) else f"class {c}" for c in class_ids]
        data["class_name"] = np.asarray(names, dtype=object).reshape(-1)
    return sv.Detections(
        xyxy=xyxy,
        mask=masks,
        confidence=confidence,
        class_id=class_ids,
        tracker_id=tracker_ids,
        data=data,
    )


def to_detections(result: dict, class_names: Sequence[str] | None = None) -> sv.Detections:
    """One frame's result (instance, panoptic or semantic, as the predictor yields it) ->
    ``supervision.Detections``; empty masks stay (their box is all zeros)."""
    if "masks" in result:  # instance: N tracks
        masks = _np(result["masks"]).astype(bool)  # (N, H, W)
        return _detections(
            masks,
            _np(result["labels"]).astype(np.int64).reshape(-1),
            _np(result["scores"]).astype(np.float32).reshape(-1),
            _np(result["track_ids"]).astype(np.int64).reshape(-1),
            class_names,
        )
    if "panoptic_seg" in result:  # one detection per segment
        pan = _np(result["panoptic_seg"])  # (H, W) int32, 0 = void
        segments = list(result["segments_info"])
        masks = np.stack([pan == s["id"] for s in segments]) if segments else _no_masks(pan)
        return _detections(
            masks,
            np.asarray([s["category_id"] for s in segments], dtype=np.int64),
            np.asarray([s.get("score", 1.0) for s in segments], dtype=np.float32),
            np.asarray([s.get("track_id", s["id"]) for s in segments], dtype=np.int64),
            class_names,
        )
    if "sem_seg" in result:  # one detection per class present
        sem = _np(result["sem_seg"])  # (H, W) class ids
        classes = np.unique(sem).astype(np.int64)
        masks = np.stack([sem == c for c in classes]) if len(classes) else _no_masks(sem)
        return _detections(masks, classes, None, None, class_names)
    raise ValueError(
        f"result with keys {sorted(result)}: expected 'masks' (instance), 'panoptic_seg' or "
        f"'sem_seg'"
    )


def _no_masks(label_map: np.ndarray) -> np.ndarray:
    return np.zeros((0, *label_map.shape), dtype=bool)


def from_detections(detections: sv.Detections) -> dict:
    """``supervision.Detections`` with masks -> an instance result ``{"masks", "labels",
    "scores", "track_ids"}`` (tensors, as the predictor yields them). Missing confidences read as
    1, missing tracker ids as -1 (no track); detections without masks cannot be converted."""
    n = len(detections)
    if detections.mask is None:
        raise ValueError("Detections without masks: a segmentation result needs one mask each")
    if detections.class_id is None:
        raise ValueError("Detections without class_id: a result needs one class per detection")
    scores = np.ones(n) if detections.confidence is None else detections.confidence
    tracks = np.full(n, -1) if detections.tracker_id is None else detections.tracker_id
    return {
        "masks": torch.from_numpy(np.asarray(detections.mask, dtype=bool)),
        "labels": torch.as_tensor(np.asarray(detections.class_id), dtype=torch.int64),
        "scores": torch.as_tensor(np.asarray(scores), dtype=torch.float32),
        "track_ids": torch.as_tensor(np.asarray(tracks), dtype=torch.int64),
    }
