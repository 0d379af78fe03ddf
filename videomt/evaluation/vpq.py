"""Video Panoptic Quality for VIPSeg (SPEC 6.3), the official windowed protocol.

For each window length ``n`` in ``windows`` (default {1, 2, 4, 6, 8}; the official script labels
them ``k = 5(n-1)`` = 0, 5, 15, 25, 35) and every start ``i = 0 .. len-n`` of every video, the
``n`` frames are stacked into tubes:

* a tube is a segment id listed in the ``segments_info`` of at least one frame of the window;
  its category / iscrowd come from the first such frame; its area is its pixel count over the
  window (for predictions exactly as the official script, which recounts the PNG; for the
  ground truth also from the PNG, which equals the JSON ``area`` sums when they are consistent);
* a GT tube ``g`` and a predicted tube ``p`` of the same category match when
  ``IoU = |g & p| / (|g| + |p| - |g & p| - |void & p|) > 0.5`` (void = GT id 0);
  crowd GT tubes are never matched;
* matched: TP += 1 and the IoU is accumulated; unmatched non-crowd GT tubes: FN; unmatched
  predicted tubes: FP unless more than half of their area lies on void plus ONE crowd GT tube
  of their category. **Crowd rule** (as the official script, whose ``crowd_labels_dict`` keeps
  one region per category): that tube is the last crowd tube of the category in the window's
  order of first appearance (earlier frame first, then the order of the frame's
  ``segments_info``); other crowd tubes of the category do not excuse a prediction;
* statistics accumulate over all windows of all videos; per category
  ``PQ = sum IoU / (TP + FP/2 + FN/2)``, averaged over the categories with ``TP+FP+FN > 0``
  (all, things, stuff); the final VPQ is the mean of the per-window PQs.

Statistics are kept as float arrays ``(num_windows, num_categories, 4)`` with columns
``[iou_sum, tp, fp, fn]`` so videos can be processed in any order (and in worker processes)
and summed.

Public API: :func:`vpq_from_arrays` (one video from id maps), :func:`vpq_video_stats`,
:func:`vpq_stats_from_tables`, :func:`summarize_vpq`, :func:`pq_average`, :data:`VPQ_WINDOWS`;
files in the official format are scored by :mod:`videomt.evaluation.vps`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .errors import EvaluationError
from .panoptic_io import VideoTables, normalize_categories, video_tables

__all__ = [
    "VPQ_WINDOWS",
    "vpq_from_arrays",
    "vpq_video_stats",
    "vpq_stats_from_tables",
    "summarize_vpq",
    "pq_average",
    "window_label",
]

#: Window lengths (frames) of the official VIPSeg VPQ script.
VPQ_WINDOWS: tuple[int, ...] = (1, 2, 4, 6, 8)


def window_label(n: int) -> int:
    """The official label ``k`` of an ``n``-frame window: ``5 (n - 1)``."""
    return 5 * (int(n) - 1)


def _category_index(categories: Mapping[int, Any]) -> tuple[list[int], dict[int, int]]:
    ids = sorted(categories)
    return ids, {c: i for i, c in enumerate(ids)}


def vpq_stats_from_tables(
    tables: VideoTables, categories: Mapping[int, Any], windows: Sequence[int] = VPQ_WINDOWS
) -> np.ndarray:
    """VPQ statistics ``(len(windows), len(categories), 4)`` = ``[iou, tp, fp, fn]`` of one video.

    Category axis in ascending category id order.
    """
    cat_ids, cat_pos = _category_index(categories)
    lut_size = max(max(cat_ids) + 1, int(max(tables.gt_cat.max(initial=-1), tables.pred_cat.max(initial=-1))) + 1)
    lut = np.full(lut_size + 1, -1, dtype=np.int64)  # category id -> column, last entry for -1
    for c, i in cat_pos.items():
        lut[c] = i
    for name, arr in (("ground-truth", tables.gt_cat), ("predicted", tables.pred_cat)):
        listed = arr[arr >= 0]
        if listed.size and (lut[listed] < 0).any():
            bad = int(listed[lut[listed] < 0][0])
            raise EvaluationError(f"video {tables.video_id}: {name} segment with unknown category_id {bad}")
    stats = np.zeros((len(windows), len(cat_ids), 4), dtype=np.float64)
    T = tables.num_frames
    if T == 0:
        return stats
    ng = len(tables.gt_vocab)
    prefix = np.zeros((T + 1,) + tables.counts.shape[1:], dtype=np.int64)
    np.cumsum(tables.counts, axis=0, out=prefix[1:])
    for w, n in enumerate(windows):
        n = int(n)
        if n < 1:
            raise EvaluationError(f"window length must be >= 1, got {n}")
        for i in range(0, T - n + 1):
            C = prefix[i + n] - prefix[i]  # (ng + 1, np)
            # tube category / crowd: the first frame of the window that lists the id
            g_cat = np.full(ng, -1, dtype=np.int64)
            g_crowd = np.zeros(ng, dtype=bool)
            g_order = np.zeros(ng, dtype=np.int64)  # order of first appearance in the window
            p_cat = np.full(C.shape[1], -1, dtype=np.int64)
            for t in range(i + n - 1, i - 1, -1):
                lg = tables.gt_cat[t] >= 0
                g_cat[lg] = tables.gt_cat[t][lg]
                g_crowd[lg] = tables.gt_crowd[t][lg]
                g_order[lg] = (t - i) * (ng + 1) + tables.gt_pos[t][lg]
                lp = tables.pred_cat[t] >= 0
                p_cat[lp] = tables.pred_cat[t][lp]
            _window_stats(C, g_cat, g_crowd, g_order, p_cat, lut, stats[w])
    return stats


def _window_stats(C, g_cat, g_crowd, g_order, p_cat, lut, out) -> None:
    ng = len(g_cat)
    inter = C[:ng]  # rows of listed-anywhere GT ids (row 0 = void)
    area_g = inter.sum(axis=1)
    area_p = C.sum(axis=0)
    void_p = C[0]
    g_listed = g_cat >= 0
    p_listed = p_cat >= 0
    cand = (g_listed & ~g_crowd)[:, None] & p_listed[None, :] & (g_cat[:, None] == p_cat[None, :]) & (inter > 0)
    gi, pi = np.nonzero(cand)
    matched_g = np.zeros(ng, dtype=bool)
    matched_p = np.zeros(C.shape[1], dtype=bool)
    if gi.size:
        I = inter[gi, pi].astype(np.float64)
        union = area_p[pi] + area_g[gi] - inter[gi, pi] - void_p[pi]
        iou = I / union
        ok = iou > 0.5
        gi, pi, iou = gi[ok], pi[ok], iou[ok]
        cols = lut[g_cat[gi]]
        np.add.at(out[:, 0], cols, iou)
        np.add.at(out[:, 1], cols, 1.0)
        matched_g[gi] = True
        matched_p[pi] = True
    fn = np.flatnonzero(g_listed & ~g_crowd & ~matched_g)
    if fn.size:
        np.add.at(out[:, 3], lut[g_cat[fn]], 1.0)
    fp = np.flatnonzero(p_listed & ~matched_p)
    if fp.size:
        covered = void_p[fp].astype(np.float64)
        crowd = np.flatnonzero(g_listed & g_crowd)
        if crowd.size:  # one crowd tube per category: the last in the window's order
            last = {int(g_cat[j]): j for j in crowd[np.argsort(g_order[crowd])]}
            crowd = np.array(list(last.values()))
            same = g_cat[crowd][:, None] == p_cat[fp][None, :]
            covered += (inter[crowd][:, fp] * same).sum(axis=0)
        keep = ~(covered / area_p[fp] > 0.5)
        np.add.at(out[:, 2], lut[p_cat[fp[keep]]], 1.0)


def pq_average(stats: np.ndarray, categories: Mapping[int, Any], isthing: bool | None = None) -> dict[str, float]:
    """Category-averaged PQ / SQ / RQ of ``stats`` ``(num_categories, 4)`` (panopticapi's rule).

    Categories with ``TP + FP + FN = 0`` are left out of the mean; ``isthing`` selects things
    (True), stuff (False) or all (None). Values are fractions; ``nan`` when no category counts.
    """
    cat_ids, _ = _category_index(categories)
    pq = sq = rq = 0.0
    n = 0
    for k, c in enumerate(cat_ids):
        if isthing is not None and bool(categories[c].get("isthing", 0)) != isthing:
            continue
        iou, tp, fp, fn = stats[k]
        if tp + fp + fn == 0:
            continue
        n += 1
        pq += iou / (tp + 0.5 * fp + 0.5 * fn)
        sq += iou / tp if tp else 0.0
        rq += tp / (tp + 0.5 * fp + 0.5 * fn)
    if n == 0:
        return {"pq": float("nan"), "sq": float("nan"), "rq": float("nan"), "n": 0}
    return {"pq": pq / n, "sq": sq / n, "rq": rq / n, "n": n}


def summarize_vpq(
    stats: np.ndarray, categories: Mapping[int, Any], windows: Sequence[int] = VPQ_WINDOWS, *, detail: bool = False
) -> dict[str, Any]:
    """Turn summed statistics ``(len(windows), K, 4)`` into the reported numbers (percent).

    Returns ``VPQ``, ``VPQ_th``, ``VPQ_st`` (means over the windows) and per window
    ``VPQ_k{k}``, ``VPQ_th_k{k}``, ``VPQ_st_k{k}`` with ``k = 5(n-1)``. With ``detail=True`` also
    ``per_window``: ``{n: {"All"|"Things"|"Stuff": {"pq","sq","rq","n"}}}`` (fractions) and
    ``per_class`` for every window.
    """
    categories = normalize_categories(categories)
    out: dict[str, Any] = {}
    per_window: dict[int, dict] = {}
    rows = {"": None, "_th": True, "_st": False}
    acc = {s: [] for s in rows}
    for w, n in enumerate(windows):
        k = window_label(n)
        res = {name: pq_average(stats[w], categories, flag)
               for name, flag in (("All", None), ("Things", True), ("Stuff", False))}
        per_window[int(n)] = res
        for suffix, name in (("", "All"), ("_th", "Things"), ("_st", "Stuff")):
            v = res[name]["pq"] * 100.0
            out[f"VPQ{suffix}_k{k}"] = v
            acc[suffix].append(v)
    for suffix in rows:
        vals = acc[suffix]
        out[f"VPQ{suffix}"] = float(np.mean(vals)) if vals else float("nan")
    ordered = {"VPQ": out.pop("VPQ"), "VPQ_th": out.pop("VPQ_th"), "VPQ_st": out.pop("VPQ_st")}
    ordered.update(out)
    if detail:
        ordered["per_window"] = per_window
        cat_ids, _ = _category_index(categories)
        ordered["per_class"] = {
            int(n): {c: {"iou": float(stats[w, i, 0]), "tp": int(stats[w, i, 1]), "fp": int(stats[w, i, 2]),
                         "fn": int(stats[w, i, 3])} for i, c in enumerate(cat_ids)}
            for w, n in enumerate(windows)
        }
    return ordered


def _as_frames(segments: Any, num_frames: int) -> list[list[Mapping]]:
    """Per-frame segment lists; a single list/dict of segments applies to every frame."""
    if isinstance(segments, Mapping):
        one = [dict(v, id=int(k)) if isinstance(v, Mapping) else {"id": int(k), "category_id": int(v)}
               for k, v in segments.items()]
        return [one] * num_frames
    segments = list(segments)
    if segments and isinstance(segments[0], Mapping):
        return [segments] * num_frames
    if len(segments) != num_frames:
        raise EvaluationError(f"{len(segments)} segment lists for {num_frames} frames")
    return [list(s) for s in segments]


def vpq_video_stats(
    gt_ids_frames: Sequence[np.ndarray],
    gt_segments: Any,
    pred_ids_frames: Sequence[np.ndarray],
    pred_segments: Any,
    categories: Any,
    windows: Sequence[int] = VPQ_WINDOWS,
    *,
    video_id: str = "video",
) -> np.ndarray:
    """VPQ statistics of one video given as id maps (see :func:`vpq_from_arrays` for the inputs).

    Sum the results of several videos and pass them to :func:`summarize_vpq`.
    """
    categories = normalize_categories(categories)
    gt_ids_frames = list(gt_ids_frames)
    pred_ids_frames = list(pred_ids_frames)
    if len(gt_ids_frames) != len(pred_ids_frames):
        raise EvaluationError(f"video {video_id}: {len(pred_ids_frames)} predicted frames for "
                              f"{len(gt_ids_frames)} ground-truth frames")
    num = len(gt_ids_frames)
    tables = video_tables(video_id, _as_frames(gt_segments, num), _as_frames(pred_segments, num),
                          zip(gt_ids_frames, pred_ids_frames), categories=categories)
    return vpq_stats_from_tables(tables, categories, windows)


def vpq_from_arrays(
    gt_ids_frames: Sequence[np.ndarray],
    gt_segments: Any,
    pred_ids_frames: Sequence[np.ndarray],
    pred_segments: Any,
    categories: Any,
    windows: Sequence[int] = VPQ_WINDOWS,
    *,
    detail: bool = False,
) -> dict[str, Any]:
    """VPQ of a single video from in-memory id maps.

    Args:
        gt_ids_frames / pred_ids_frames: per frame an integer ``(H, W)`` segment-id map (0 = void).
        gt_segments / pred_segments: per frame a list of ``{"id", "category_id", "iscrowd"}``
            (the JSON ``segments_info``); a single list, or a ``{id: category_id}`` /
            ``{id: {"category_id", "iscrowd"}}`` dict, applies to every frame.
        categories: ``[{"id", "isthing", ...}]`` or ``{id: {"isthing": ...}}``.
        windows: window lengths in frames.

    Returns:
        the dict of :func:`summarize_vpq`.
    """
    stats = vpq_video_stats(gt_ids_frames, gt_segments, pred_ids_frames, pred_segments, categories, windows)
    return summarize_vpq(stats, categories, windows, detail=detail)
