"""Segmentation and Tracking Quality (STQ) for VIPSeg, as the official script computes it (SPEC 6.4).

Every pixel is encoded as ``(semantic << 16) + instance``: semantic = raw category id (255 =
unlabelled, also void and ids missing from the frame's ``segments_info``), instance = rank of the
segment id in order of first appearance in the video's JSON (0, 1, 2, ...; 255 for unlabelled).
Each video is one sequence.

* **AQ** (association quality) uses only pixels of thing classes, minus GT "crowd" pixels, which
  are GT thing pixels with instance 0. **[quirk]** With the rank encoding, instance 0 is simply
  the first segment listed in the video, so a video whose first segment is a thing has that
  object removed from AQ (SPEC 11.11); kept for parity with published numbers. Per sequence,
  ``sum_g 1/|g| sum_p TPA(p,g) * TPA / (TPA + FPA + FNA)`` with sizes accumulated over the whole
  sequence; ``AQ = sum over sequences / total number of GT tubes``.
* **IoU** (the "SQ" of STQ): one confusion matrix over ``num_classes`` classes plus the ignore
  label (mapped to an extra index when it is >= num_classes). Pixels whose GT is ignore are
  removed (the row is zeroed); predictions of ignore on labelled GT stay as false negatives of the
  GT class and, as in the reference implementation, the ignore index then has a non-zero union and
  counts (with IoU 0) among the "classes with non-zero union" over which the IoU is averaged.
* ``STQ = sqrt(AQ * IoU)``, also per sequence.

Public API: :class:`STQuality` (``update(y_true, y_pred, sequence_id)`` on encoded maps, then
``result()``), :func:`encode_stq_frames`, :func:`stq_from_arrays`, :func:`stq_sequence_from_tables`,
:func:`summarize_stq`; files are scored by :mod:`videomt.evaluation.vps`.
"""
from __future__ import annotations

import math
import os
from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..data.metadata import VIPSEG_THING_IDS
from .errors import EvaluationError
from .panoptic_io import VideoTables, normalize_categories

__all__ = [
    "VIPSEG_THING_IDS",
    "STQuality",
    "encode_stq_frames",
    "stq_from_arrays",
    "stq_sequence_from_tables",
    "summarize_stq",
    "default_stq_config",
]

def default_stq_config(categories: Any) -> dict:
    """STQ settings for a category set: ``num_classes = max id + 1``, things from ``isthing``."""
    cats = normalize_categories(categories)
    return {
        "num_classes": max(cats) + 1,
        "things": tuple(sorted(c for c, v in cats.items() if v["isthing"])),
        "ignore_label": 255,
        "bit_shift": 16,
        "offset": 2**24,
    }


def _new_sequence(size: int) -> dict:
    return {"confusion": np.zeros((size, size), dtype=np.int64), "gt": defaultdict(int),
            "pred": defaultdict(int), "inter": defaultdict(int), "frames": 0}


def _add_counts(store: dict, keys: np.ndarray, counts: np.ndarray) -> None:
    for k, c in zip(keys.tolist(), counts.tolist()):
        if c:
            store[k] += c


class STQuality:
    """STQ accumulator on encoded ``(semantic << bit_shift) + instance`` maps.

    Args:
        num_classes: number of semantic classes (VIPSeg: 124).
        things: semantic ids of thing classes.
        ignore_label: semantic id of unlabelled pixels (255).
        bit_shift: instance bits (16).
        offset: multiplier that combines a GT and a predicted code into one key (2^24).
    """

    def __init__(self, num_classes: int, things: Iterable[int], ignore_label: int = 255,
                 bit_shift: int = 16, offset: int = 2**24):
        self.num_classes = int(num_classes)
        self.things = tuple(int(t) for t in things)
        self.ignore_label = int(ignore_label)
        self.bit_shift = int(bit_shift)
        self.offset = int(offset)
        self.sequences: dict[Any, dict] = {}

    @property
    def _size(self) -> int:
        return self.num_classes + 1 if self.ignore_label >= self.num_classes else self.num_classes

    def _sem_index(self, sem: np.ndarray) -> np.ndarray:
        sem = np.where(sem == self.ignore_label, self._size - 1 if self.ignore_label >= self.num_classes
                       else self.ignore_label, sem)
        if sem.size and (sem.min() < 0 or sem.max() >= self._size):
            raise EvaluationError(f"semantic label outside [0, {self.num_classes}) and not the ignore label")
        return sem

    def update(self, y_true: np.ndarray, y_pred: np.ndarray, sequence_id: Any = 0) -> None:
        """Add one frame (encoded GT and prediction of the same shape) to sequence ``sequence_id``."""
        y_true = np.asarray(y_true, dtype=np.int64).ravel()
        y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
        if y_true.shape != y_pred.shape:
            raise EvaluationError(f"sequence {sequence_id}: prediction and ground truth differ in size")
        seq = self.sequences.setdefault(sequence_id, _new_sequence(self._size))
        seq["frames"] += 1
        mask = (1 << self.bit_shift) - 1
        sem_t, sem_p = y_true >> self.bit_shift, y_pred >> self.bit_shift
        ins_t = y_true & mask
        st, sp = self._sem_index(sem_t), self._sem_index(sem_p)
        seq["confusion"] += np.bincount(st * self._size + sp, minlength=self._size**2).reshape(self._size, self._size)
        things = np.asarray(self.things, dtype=np.int64)
        label_mask = np.isin(sem_t, things)
        pred_mask = np.isin(sem_p, things)
        crowd = label_mask & (ins_t == 0)
        label_mask &= ~crowd
        pred_mask &= ~crowd
        _add_counts(seq["gt"], *np.unique(y_true[label_mask], return_counts=True))
        _add_counts(seq["pred"], *np.unique(y_pred[pred_mask], return_counts=True))
        both = label_mask & pred_mask
        _add_counts(seq["inter"], *np.unique(y_true[both] * self.offset + y_pred[both], return_counts=True))

    def result(self) -> dict[str, Any]:
        """Fractions: ``STQ``, ``AQ``, ``IoU`` and per-sequence lists (as the reference returns)."""
        return _stq_result(self.sequences, self.num_classes, self.ignore_label, self.offset)


def _iou_from_confusion(conf: np.ndarray, ignore_index: int) -> float:
    conf = conf.copy()
    conf[ignore_index, :] = 0
    tp = np.diag(conf).astype(np.float64)
    fp = conf.sum(axis=0) - tp
    fn = conf.sum(axis=1) - tp
    union = tp + fp + fn
    n = np.count_nonzero(union)
    if n == 0:
        return float("nan")
    return float(np.sum(tp / np.maximum(union, 1e-15)) / n)


def _stq_result(sequences: Mapping[Any, dict], num_classes: int, ignore_label: int, offset: int) -> dict[str, Any]:
    size = num_classes + 1 if ignore_label >= num_classes else num_classes
    ignore_index = size - 1 if ignore_label >= num_classes else ignore_label
    ids, aq_sums, tubes, ious, lengths = [], [], [], [], []
    total_conf = np.zeros((size, size), dtype=np.int64)
    for sid, seq in sequences.items():
        gts, preds, inters = seq["gt"], seq["pred"], seq["inter"]
        outer = 0.0
        per_gt: dict[int, float] = defaultdict(float)
        for key, tpa in inters.items():
            g, p = divmod(key, offset)
            per_gt[g] += tpa * (tpa / (preds[p] + gts[g] - tpa))
        for g, inner in per_gt.items():
            outer += inner / gts[g]
        ids.append(sid)
        aq_sums.append(outer)
        tubes.append(len(gts))
        conf = np.asarray(seq["confusion"])
        total_conf += conf
        ious.append(_iou_from_confusion(conf, ignore_index))
        lengths.append(int(seq["frames"]))
    aq = float(np.sum(aq_sums) / max(float(np.sum(tubes)), 1e-15)) if ids else float("nan")
    iou = _iou_from_confusion(total_conf, ignore_index) if ids else float("nan")
    aq_seq = [a / max(float(n), 1e-15) for a, n in zip(aq_sums, tubes)]
    stq_seq = [math.sqrt(a * i) if not math.isnan(i) else float("nan") for a, i in zip(aq_seq, ious)]
    return {
        "STQ": math.sqrt(aq * iou) if not (math.isnan(aq) or math.isnan(iou)) else float("nan"),
        "AQ": aq,
        "IoU": iou,
        "STQ_per_seq": stq_seq,
        "AQ_per_seq": aq_seq,
        "IoU_per_seq": ious,
        "ID_per_seq": ids,
        "Length_per_seq": lengths,
    }


def summarize_stq(sequences: Mapping[Any, dict], num_classes: int = 124, things: Sequence[int] = VIPSEG_THING_IDS,
                  ignore_label: int = 255, bit_shift: int = 16, offset: int = 2**24) -> dict[str, Any]:
    """Reported numbers in percent: ``STQ``, ``AQ``, ``IoU`` and ``STQ_per_sequence``
    (``{sequence: {"STQ", "AQ", "IoU", "frames"}}``) from per-sequence statistics."""
    r = _stq_result(sequences, num_classes, ignore_label, offset)
    per = {
        str(sid): {"STQ": s * 100.0, "AQ": a * 100.0, "IoU": i * 100.0, "frames": n}
        for sid, s, a, i, n in zip(r["ID_per_seq"], r["STQ_per_seq"], r["AQ_per_seq"], r["IoU_per_seq"],
                                   r["Length_per_seq"])
    }
    return {"STQ": r["STQ"] * 100.0, "AQ": r["AQ"] * 100.0, "IoU": r["IoU"] * 100.0, "STQ_per_sequence": per}


def stq_sequence_from_tables(tables: VideoTables, num_classes: int = 124, things: Sequence[int] = VIPSEG_THING_IDS,
                             ignore_label: int = 255, bit_shift: int = 16, offset: int = 2**24) -> dict:
    """Per-sequence STQ statistics of one video from its :class:`VideoTables` (no pixel pass).

    Equivalent to encoding every frame with :func:`encode_stq_frames` and calling
    :meth:`STQuality.update`, but works on the (GT id, predicted id) pixel counts.
    """
    acc = STQuality(num_classes, things, ignore_label, bit_shift, offset)
    size = acc._size
    seq = _new_sequence(size)
    things_a = np.asarray(acc.things, dtype=np.int64)
    unl = ignore_label
    for t in range(tables.num_frames):
        C = tables.counts[t]  # (ng + 1, np)
        g_listed = tables.gt_cat[t] >= 0
        g_sem = np.append(np.where(g_listed, tables.gt_cat[t], unl), unl)
        g_ins = np.append(np.where(g_listed, tables.gt_rank, unl), unl)
        p_listed = tables.pred_cat[t] >= 0
        p_sem = np.where(p_listed, tables.pred_cat[t], unl)
        p_ins = np.where(p_listed, tables.pred_rank, unl)
        for name, ins in (("ground-truth", g_ins), ("predicted", p_ins)):
            if (ins >= (1 << bit_shift)).any():
                raise EvaluationError(f"video {tables.video_id}: too many {name} segments for {bit_shift} instance bits")
        try:
            gs, ps = acc._sem_index(g_sem), acc._sem_index(p_sem)
        except EvaluationError:
            raise EvaluationError(f"video {tables.video_id}, frame {tables.stems[t]}: category id outside "
                                  f"[0, {num_classes})") from None
        np.add.at(seq["confusion"], (gs[:, None], ps[None, :]), C)
        g_thing = np.isin(g_sem, things_a)
        crowd = g_thing & (g_ins == 0)
        label = g_thing & ~crowd
        p_thing = np.isin(p_sem, things_a)
        g_code = (g_sem << bit_shift) + g_ins
        p_code = (p_sem << bit_shift) + p_ins
        rows = np.flatnonzero(label)
        _add_counts(seq["gt"], g_code[rows], C[rows].sum(axis=1))
        cols = np.flatnonzero(p_thing)
        _add_counts(seq["pred"], p_code[cols], C[~crowd][:, cols].sum(axis=0))
        sub = C[np.ix_(rows, cols)]
        r, c = np.nonzero(sub)
        _add_counts(seq["inter"], g_code[rows[r]] * offset + p_code[cols[c]], sub[r, c])
        seq["frames"] += 1
    return seq


def encode_stq_frames(id_frames: Sequence[np.ndarray], segments: Sequence[Sequence[Mapping]],
                      *, ignore_label: int = 255, bit_shift: int = 16) -> list[np.ndarray]:
    """Encode a video's id maps as ``(category << bit_shift) + rank`` per pixel (int64).

    ``segments[t]`` is frame ``t``'s ``segments_info``; ranks follow the order of first
    appearance over the whole video; pixels of void or of ids not listed in their frame get
    ``(ignore << bit_shift) + ignore``.
    """
    rank: dict[int, int] = {}
    for segs in segments:
        for s in segs:
            sid = int(s["id"])
            if sid != 0 and sid not in rank:
                rank[sid] = len(rank)
    unl = (ignore_label << bit_shift) + ignore_label
    out = []
    for ids, segs in zip(id_frames, segments):
        ids = np.asarray(ids)
        code = np.full(ids.shape, unl, dtype=np.int64)
        for s in segs:
            sid = int(s["id"])
            if sid == 0:
                continue
            code[ids == sid] = (int(s["category_id"]) << bit_shift) + rank[sid]
        out.append(code)
    return out


def stq_from_arrays(videos: Iterable[tuple], categories: Any = None, *, num_classes: int | None = None,
                    things: Sequence[int] | None = None, ignore_label: int = 255) -> dict[str, Any]:
    """STQ of in-memory videos.

    ``videos``: iterable of ``(sequence_id, gt_id_frames, gt_segments, pred_id_frames,
    pred_segments)`` with per-frame id maps and ``segments_info`` lists (as for VPQ).
    ``categories`` (list/dict with ``isthing``) give ``num_classes`` and ``things`` unless those
    are passed explicitly (defaults: 124 VIPSeg classes and :data:`VIPSEG_THING_IDS`).
    """
    if categories is not None:
        cfg = default_stq_config(categories)
        num_classes = num_classes if num_classes is not None else cfg["num_classes"]
        things = things if things is not None else cfg["things"]
    num_classes = 124 if num_classes is None else num_classes
    things = VIPSEG_THING_IDS if things is None else things
    acc = STQuality(num_classes, things, ignore_label)
    for sid, gf, gs, pf, ps in videos:
        gf, pf = list(gf), list(pf)
        if len(gf) != len(pf):
            raise EvaluationError(f"sequence {sid}: {len(pf)} predicted frames for {len(gf)} ground-truth frames")
        if len(gs) != len(gf) or len(ps) != len(pf):
            raise EvaluationError(f"sequence {sid}: need one segments_info list per frame")
        for yt, yp in zip(encode_stq_frames(gf, gs, ignore_label=ignore_label),
                          encode_stq_frames(pf, ps, ignore_label=ignore_label)):
            acc.update(yt, yp, sid)
    return summarize_stq(acc.sequences, num_classes, things, ignore_label)
