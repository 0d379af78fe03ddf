"""Video Panoptic Quality for VIPSeg, the official windowed protocol.

For each window length ``n`` (official label ``k = 5(n-1)``) and start ``i = 0 .. len-n`` of every
video, the ``n`` frames are stacked into tubes; the statistics, ``(num_windows, num_categories, 4)``
= ``[iou_sum, tp, fp, fn]``, sum over videos in any order:

* a tube is a segment id listed in at least one frame of the window; its category / iscrowd come
  from the first such frame; its area is its pixel count over the window;
* a GT tube ``g`` and a predicted tube ``p`` of the same category match when
  ``|g & p| / (|g| + |p| - |g & p| - |void & p|) > 0.5``; crowd GT tubes never match;
* matches add their IoU and a TP; unmatched non-crowd GT tubes are FNs; unmatched predicted tubes
  are FPs unless more than half of them lies on void plus ONE crowd GT tube of their category: the
  last one in the window's order of first appearance (earlier frame first, then ``segments_info``
  order), as the official script keeps one crowd region per category;
* per category ``PQ = sum IoU / (TP + FP/2 + FN/2)`` over all windows of all videos, averaged over
  the categories with ``TP+FP+FN > 0`` (all / things / stuff); VPQ is the mean over the windows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import EvaluationError
from .panoptic_io import VideoTables, normalize_categories, video_tables

#: Window lengths (frames) of the official VIPSeg VPQ script.
VPQ_WINDOWS: tuple[int, ...] = (1, 2, 4, 6, 8)


def vpq_stats_from_tables(
    tables: VideoTables, categories: Mapping[int, Any], windows: Sequence[int] = VPQ_WINDOWS
) -> np.ndarray:
    """VPQ statistics ``(len(windows), len(categories), 4)`` of one video (categories by ascending
    id)."""
    cat_ids = np.array(
        sorted(categories)
    )  # the tables' categories are among them (checked by video_tables)
    stats = np.zeros((len(windows), len(cat_ids), 4))
    T, G, P = tables.counts.shape[0], len(tables.gt_vocab), len(tables.pred_vocab)
    prefix = np.concatenate(
        [np.zeros((1, G + 1, P), dtype=np.int64), np.cumsum(tables.counts, axis=0)]
    )
    for w, n in enumerate(int(n) for n in windows):
        if n < 1:
            raise EvaluationError(f"window length must be >= 1, got {n}")
        for i in range(T - n + 1):
            cat, crowd, pos, pcat = (
                a[i : i + n]
                for a in (tables.gt_cat, tables.gt_crowd, tables.gt_pos, tables.pred_cat)
            )
            f = np.argmax(cat >= 0, axis=0)  # first frame of the window that lists each GT id
            fp = np.argmax(pcat >= 0, axis=0)
            order = f * (G + 1) + pos[f, np.arange(G)]  # order of first appearance in the window
            _window_stats(
                prefix[i + n] - prefix[i],
                cat[f, np.arange(G)],
                crowd[f, np.arange(G)],
                order,
                pcat[fp, np.arange(P)],
                cat_ids,
                stats[w],
            )
    return stats


def _window_stats(
    C: np.ndarray,
    g_cat: np.ndarray,
    g_crowd: np.ndarray,
    g_order: np.ndarray,
    p_cat: np.ndarray,
    cat_ids: np.ndarray,
    out: np.ndarray,
) -> None:
    """Add one window's ``[iou, tp, fp, fn]`` to ``out`` (rows: ``cat_ids``) from its pixel counts
    ``C`` (G + 1, P) and the tubes' category (-1: not listed), crowd flag and order (G,) / category
    (P,)."""
    inter = C[: len(g_cat)]  # rows of listed GT ids; row 0 = void
    area_g, area_p, void_p = inter.sum(axis=1), C.sum(axis=0), C[0]
    g_listed, p_listed = g_cat >= 0, p_cat >= 0
    gi, pi = np.nonzero(
        (g_listed & ~g_crowd)[:, None]
        & p_listed[None, :]
        & (g_cat[:, None] == p_cat[None, :])
        & (inter > 0)
    )
    iou = inter[gi, pi] / (area_p[pi] + area_g[gi] - inter[gi, pi] - void_p[pi])
    gi, pi, iou = gi[iou > 0.5], pi[iou > 0.5], iou[iou > 0.5]
    g_row = np.searchsorted(cat_ids, g_cat)  # row of each listed GT tube's category
    np.add.at(out[:, 0], g_row[gi], iou)
    np.add.at(out[:, 1], g_row[gi], 1.0)
    fn = np.setdiff1d(np.flatnonzero(g_listed & ~g_crowd), gi)  # unmatched non-crowd GT tubes
    np.add.at(out[:, 3], g_row[fn], 1.0)
    fp = np.setdiff1d(np.flatnonzero(p_listed), pi)  # unmatched predicted tubes
    covered = void_p[fp].astype(np.float64)
    crowds = np.flatnonzero(g_listed & g_crowd)
    last = {
        int(g_cat[j]): j for j in crowds[np.argsort(g_order[crowds])]
    }  # the kept crowd tube per category
    for cat, j in last.items():
        covered += inter[j, fp] * (p_cat[fp] == cat)
    np.add.at(out[:, 2], np.searchsorted(cat_ids, p_cat[fp[~(covered / area_p[fp] > 0.5)]]), 1.0)


def pq_average(
    stats: np.ndarray, categories: Mapping[int, Any], isthing: bool | None = None
) -> dict[str, float]:
    """Mean PQ / SQ / RQ (fractions) of ``stats`` (K, 4) over things / stuff / all (``isthing``)
    with TP+FP+FN > 0."""
    sel = [
        k
        for k, c in enumerate(sorted(categories))
        if isthing is None or bool(categories[c]["isthing"]) == isthing
    ]
    iou, tp, fp, fn = stats[sel][
        stats[sel, 1:].sum(axis=1) > 0
    ].T  # categories with TP + FP + FN > 0
    if not tp.size:
        return {"pq": float("nan"), "sq": float("nan"), "rq": float("nan"), "n": 0}
    denominator = tp + 0.5 * fp + 0.5 * fn
    sq = np.divide(iou, tp, out=np.zeros_like(iou), where=tp > 0)
    return {
        "pq": float(np.mean(iou / denominator)),
        "sq": float(np.mean(sq)),
        "rq": float(np.mean(tp / denominator)),
        "n": len(tp),
    }


def summarize_vpq(
    stats: np.ndarray,
    categories: Any,
    windows: Sequence[int] = VPQ_WINDOWS,
    *,
    detail: bool = False,
) -> dict[str, Any]:
    """Percentages from summed statistics ``(len(windows), K, 4)``: ``VPQ``, ``VPQ_th``, ``VPQ_st``
    (means over the windows) and ``VPQ_k{k}``, ``VPQ_th_k{k}``, ``VPQ_st_k{k}`` per window (``k =
    5(n-1)``). ``detail=True`` adds ``per_window`` (``{n: {"All"|"Things"|"Stuff": {"pq", "sq",
    "rq", "n"}}}``, fractions) and ``per_class`` (``{n: {category: {"iou", "tp", "fp",
    "fn"}}}``)."""
    categories = normalize_categories(categories)
    groups = {"": ("All", None), "_th": ("Things", True), "_st": ("Stuff", False)}
    per_window = {
        int(n): {name: pq_average(stats[w], categories, flag) for name, flag in groups.values()}
        for w, n in enumerate(windows)
    }
    out: dict[str, Any] = {
        f"VPQ{suffix}": float(np.mean([per_window[n][name]["pq"] * 100.0 for n in per_window]))
        if per_window
        else float("nan")
        for suffix, (name, _) in groups.items()
    }
    out.update(
        {
            f"VPQ{suffix}_k{5 * (n - 1)}": res[name]["pq"] * 100.0
            for n, res in per_window.items()
            for suffix, (name, _) in groups.items()
        }
    )
    if detail:
        out["per_window"] = per_window
        out["per_class"] = {
            int(n): {
                c: {
                    "iou": float(stats[w, i, 0]),
                    "tp": int(stats[w, i, 1]),
                    "fp": int(stats[w, i, 2]),
                    "fn": int(stats[w, i, 3]),
                }
                for i, c in enumerate(sorted(categories))
            }
            for w, n in enumerate(windows)
        }
    return out


def _as_frames(segments: Any, num_frames: int) -> list[list[Mapping]]:
    """Per-frame segment lists; one list (or ``{id: category or dict}``) applies to every frame."""
    if isinstance(segments, Mapping):
        segments = [
            dict(v, id=int(k)) if isinstance(v, Mapping) else {"id": int(k), "category_id": int(v)}
            for k, v in segments.items()
        ]
    segments = list(segments)
    if not segments or isinstance(segments[0], Mapping):
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
    """VPQ statistics of one video (inputs as :func:`vpq_from_arrays`); summed over videos for
    :func:`summarize_vpq`."""
    categories = normalize_categories(categories)
    gt, pred = list(gt_ids_frames), list(pred_ids_frames)
    if len(gt) != len(pred):
        raise EvaluationError(
            f"video {video_id}: {len(pred)} predicted frames for {len(gt)} ground-truth frames"
        )
    tables = video_tables(
        video_id,
        _as_frames(gt_segments, len(gt)),
        _as_frames(pred_segments, len(gt)),
        zip(gt, pred),
        categories=categories,
    )
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
    """VPQ (the dict of :func:`summarize_vpq`) of one video from per-frame ``(H, W)`` segment-id
    maps (0 = void) and per-frame ``segments_info`` lists (``{"id", "category_id", "iscrowd"}``; one
    list, or ``{id: category_id or dict}``, applies to every frame). ``categories``: ``[{"id",
    "isthing", ...}]`` or ``{id: {"isthing": ...}}``."""
    stats = vpq_video_stats(
        gt_ids_frames, gt_segments, pred_ids_frames, pred_segments, categories, windows
    )
    return summarize_vpq(stats, categories, windows, detail=detail)
