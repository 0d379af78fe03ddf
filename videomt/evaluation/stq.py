"""Segmentation and Tracking Quality (STQ) for VIPSeg, as the official script computes it.

Every pixel is coded ``(semantic << 16) + instance``: semantic = raw category id (255 = unlabelled:
void and ids missing from the frame's ``segments_info``), instance = rank of the segment id in the
order of first appearance in the video's JSON (255 for unlabelled). ``STQ = sqrt(AQ * IoU)``,
overall and per video (sequence).

* **AQ** uses the pixels of thing classes minus GT "crowd" pixels (GT thing pixels with instance 0).
  **[quirk]** With the rank coding, instance 0 is the first segment listed in the video, so a video
  whose first segment is a thing loses that object from AQ, kept for parity with published numbers.
  Per sequence ``sum_g 1/|g| sum_p TPA(p,g) * TPA / (TPA + FPA + FNA)`` (sizes over the sequence);
  AQ = their sum / GT tubes.
* **IoU**: one confusion matrix over the classes plus the ignore label (an extra index when it is >=
  num_classes). GT-ignore pixels are dropped; predictions of ignore on labelled GT stay false
  negatives, so, as in the reference, the ignore index then counts (with IoU 0) among the classes
  with a non-zero union over which the IoU is averaged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..data.metadata import VIPSEG_THING_IDS
from .errors import EvaluationError
from .panoptic_io import VideoTables, normalize_categories


def default_stq_config(categories: Any) -> dict:
    """STQ settings of a category set: ``num_classes = max id + 1``, things from ``isthing``."""
    cats = normalize_categories(categories)
    return {
        "num_classes": max(cats) + 1,
        "things": tuple(sorted(c for c, v in cats.items() if v["isthing"])),
    }


class STQuality:
    """STQ accumulator over frames given as coded maps (:meth:`update`) or as pixel counts of (GT
    code, predicted code) pairs (:meth:`add_counts`). ``bit_shift``: instance bits; ``offset``: GT
    code multiplier in a pair key."""

    def __init__(
        self,
        num_classes: int = 124,
        things: Iterable[int] = VIPSEG_THING_IDS,
        ignore_label: int = 255,
        bit_shift: int = 16,
        offset: int = 2**24,
    ):
        self.num_classes, self.things = int(num_classes), np.asarray(tuple(things), dtype=np.int64)
        self.ignore_label, self.bit_shift, self.offset = (
            int(ignore_label),
            int(bit_shift),
            int(offset),
        )
        self.size = (
            self.num_classes + 1 if self.ignore_label >= self.num_classes else self.num_classes
        )
        self.ignore_index = (
            self.size - 1 if self.ignore_label >= self.num_classes else self.ignore_label
        )
        self.sequences: dict[Any, dict] = {}  # id -> {"confusion", "keys", "counts", "frames"}

    def update(self, y_true: np.ndarray, y_pred: np.ndarray, sequence_id: Any = 0) -> None:
        """Add one frame: coded GT and prediction maps of one shape."""
        y_true, y_pred = (
            np.asarray(y_true, dtype=np.int64).ravel(),
            np.asarray(y_pred, dtype=np.int64).ravel(),
        )
        if y_true.shape != y_pred.shape:
            raise EvaluationError(
                f"sequence {sequence_id}: prediction and ground truth differ in size"
            )
        keys, counts = np.unique(y_true * self.offset + y_pred, return_counts=True)
        self.add_counts(keys // self.offset, keys % self.offset, counts, sequence_id)

    def add_counts(
        self, gt_codes: np.ndarray, pred_codes: np.ndarray, counts: np.ndarray, sequence_id: Any = 0
    ) -> None:
        """Add one frame given as ``counts[k]`` pixels coded ``gt_codes[k]`` / ``pred_codes[k]``."""
        seq = self.sequence(sequence_id)
        sem = [self._class_index(c >> self.bit_shift, sequence_id) for c in (gt_codes, pred_codes)]
        np.add.at(seq["confusion"], tuple(sem), counts)
        seq["keys"].append(gt_codes * self.offset + pred_codes)
        seq["counts"].append(counts)
        seq["frames"] += 1

    def sequence(self, sequence_id: Any) -> dict:
        """The statistics of one sequence (created empty if new)."""
        return self.sequences.setdefault(
            sequence_id,
            {
                "confusion": np.zeros((self.size, self.size), dtype=np.int64),
                "keys": [],
                "counts": [],
                "frames": 0,
            },
        )

    def _class_index(self, sem: np.ndarray, sequence_id: Any) -> np.ndarray:
        sem = np.where(sem == self.ignore_label, self.ignore_index, sem)
        if sem.size and (sem.min() < 0 or sem.max() >= self.size):
            raise EvaluationError(
                f"sequence {sequence_id}: semantic label outside [0, {self.num_classes}) and not "
                "the ignore label"
            )
        return sem

    def _iou(self, confusion: np.ndarray) -> float:
        confusion = confusion.copy()
        confusion[self.ignore_index, :] = 0
        tp = np.diag(confusion).astype(np.float64)
        union = confusion.sum(axis=0) + confusion.sum(axis=1) - tp
        return (
            float(np.sum(tp[union > 0] / union[union > 0]) / np.count_nonzero(union))
            if union.any()
            else math.nan
        )

    def _aq(self, seq: dict) -> tuple[float, int]:
        """``(sum_g 1/|g| sum_p TPA^2 / (|p| + |g| - TPA), number of GT tubes)`` of one sequence."""
        keys, inverse = np.unique(
            np.concatenate(seq["keys"] or [np.zeros(0, np.int64)]), return_inverse=True
        )
        counts = np.bincount(
            inverse, np.concatenate(seq["counts"] or [np.zeros(0)]), minlength=len(keys)
        )
        g, p = keys // self.offset, keys % self.offset
        g_thing = np.isin(g >> self.bit_shift, self.things)
        crowd = g_thing & (g & ((1 << self.bit_shift) - 1) == 0)
        label, pred = g_thing & ~crowd, np.isin(p >> self.bit_shift, self.things) & ~crowd
        g_ids, g_of = np.unique(g, return_inverse=True)
        p_ids, p_of = np.unique(p, return_inverse=True)
        g_size = np.bincount(g_of[label], counts[label], minlength=len(g_ids))
        p_size = np.bincount(p_of[pred], counts[pred], minlength=len(p_ids))
        both = label & pred
        tpa, gs, ps = counts[both], g_size[g_of[both]], p_size[p_of[both]]
        return float(np.sum(tpa * tpa / (ps + gs - tpa) / gs)), int(np.count_nonzero(g_size))

    def result(self) -> dict[str, Any]:
        """Fractions ``STQ``, ``AQ``, ``IoU`` and per-sequence lists, as the reference returns
        them."""
        ids = list(self.sequences)
        aq = [self._aq(self.sequences[s]) for s in ids]
        ious = [self._iou(self.sequences[s]["confusion"]) for s in ids]
        aq_all = sum(a for a, _ in aq) / max(sum(n for _, n in aq), 1e-15) if ids else math.nan
        iou_all = self._iou(sum(self.sequences[s]["confusion"] for s in ids)) if ids else math.nan
        aq_seq = [a / max(n, 1e-15) for a, n in aq]
        return {
            "STQ": math.sqrt(aq_all * iou_all),
            "AQ": aq_all,
            "IoU": iou_all,
            "STQ_per_seq": [math.sqrt(a * i) for a, i in zip(aq_seq, ious)],
            "AQ_per_seq": aq_seq,
            "IoU_per_seq": ious,
            "ID_per_seq": ids,
            "Length_per_seq": [self.sequences[s]["frames"] for s in ids],
        }

    def summary(self) -> dict[str, Any]:
        """Percentages ``STQ``, ``AQ``, ``IoU`` and ``STQ_per_sequence``: ``{id: {"STQ", "AQ",
        "IoU", "frames"}}``."""
        r = self.result()
        per = {
            str(s): {"STQ": q * 100.0, "AQ": a * 100.0, "IoU": i * 100.0, "frames": n}
            for s, q, a, i, n in zip(
                r["ID_per_seq"],
                r["STQ_per_seq"],
                r["AQ_per_seq"],
                r["IoU_per_seq"],
                r["Length_per_seq"],
            )
        }
        return {
            "STQ": r["STQ"] * 100.0,
            "AQ": r["AQ"] * 100.0,
            "IoU": r["IoU"] * 100.0,
            "STQ_per_sequence": per,
        }


def add_video_tables(acc: STQuality, tables: VideoTables) -> dict:
    """Add one video's tables (as :meth:`STQuality.update` on :func:`encode_stq_frames`); returns
    its statistics."""
    if max(len(tables.gt_vocab), len(tables.pred_vocab)) > 1 << acc.bit_shift:
        raise EvaluationError(
            f"video {tables.video_id}: too many segments for {acc.bit_shift} instance bits"
        )
    unlabelled = (acc.ignore_label << acc.bit_shift) + acc.ignore_label
    for t, counts in enumerate(tables.counts):  # (G + 1, P)
        g_code = np.where(
            tables.gt_cat[t] >= 0, (tables.gt_cat[t] << acc.bit_shift) + tables.gt_rank, unlabelled
        )
        p_code = np.where(
            tables.pred_cat[t] >= 0,
            (tables.pred_cat[t] << acc.bit_shift) + tables.pred_rank,
            unlabelled,
        )
        rows, cols = np.nonzero(counts)
        acc.add_counts(
            np.append(g_code, unlabelled)[rows], p_code[cols], counts[rows, cols], tables.video_id
        )
    return acc.sequence(tables.video_id)


def encode_stq_frames(
    id_frames: Sequence[np.ndarray],
    segments: Sequence[Sequence[Mapping]],
    *,
    ignore_label: int = 255,
    bit_shift: int = 16,
) -> list[np.ndarray]:
    """A video's id maps coded ``(category << bit_shift) + rank`` per pixel (int64): ranks in the
    order of first appearance over the video; void and ids unlisted in their frame are
    unlabelled."""
    rank = {
        sid: r
        for r, sid in enumerate(
            dict.fromkeys(int(s["id"]) for segs in segments for s in segs if int(s["id"]) != 0)
        )
    }
    out = []
    for ids, segs in zip(id_frames, segments):
        ids = np.asarray(ids)
        code = np.full(ids.shape, (ignore_label << bit_shift) + ignore_label, dtype=np.int64)
        for s in segs:
            if int(s["id"]) != 0:
                code[ids == int(s["id"])] = (int(s["category_id"]) << bit_shift) + rank[
                    int(s["id"])
                ]
        out.append(code)
    return out


def stq_from_arrays(
    videos: Iterable[tuple],
    categories: Any = None,
    *,
    num_classes: int | None = None,
    things: Sequence[int] | None = None,
    ignore_label: int = 255,
) -> dict[str, Any]:
    """STQ (:meth:`STQuality.summary`) of videos yielding ``(sequence_id, gt_id_frames, gt_segments,
    pred_id_frames, pred_segments)`` (per-frame id maps and ``segments_info`` lists).
    ``num_classes`` and ``things`` default to those of ``categories`` (with ``isthing``), else to
    the 124 VIPSeg classes and things."""
    config = default_stq_config(categories) if categories is not None else {}
    acc = STQuality(
        num_classes if num_classes is not None else config.get("num_classes", 124),
        things if things is not None else config.get("things", VIPSEG_THING_IDS),
        ignore_label,
    )
    for sid, gf, gs, pf, ps in videos:
        gf, pf = list(gf), list(pf)
        if len(gf) != len(pf):
            raise EvaluationError(
                f"sequence {sid}: {len(pf)} predicted frames for {len(gf)} ground-truth frames"
            )
        if len(gs) != len(gf) or len(ps) != len(pf):
            raise EvaluationError(f"sequence {sid}: need one segments_info list per frame")
        for yt, yp in zip(
            encode_stq_frames(gf, gs, ignore_label=ignore_label),
            encode_stq_frames(pf, ps, ignore_label=ignore_label),
        ):
            acc.update(yt, yp, sid)
    return acc.summary()
