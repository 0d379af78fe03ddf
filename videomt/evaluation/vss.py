"""VSPW video semantic segmentation metrics: mIoU and video consistency VC_n.

* Ground truth (``data/<video>/mask/<frame>.png``): value ``v`` in 1..num_classes is class ``v -
  1``; others ignored.
* Predictions (``<pred_dir>/<video>/<frame>.png``): class index + ``pred_offset``; others on scored
  pixels: errors.
* mIoU: one confusion matrix over all frames of all videos, ``IoU_c = TP / (TP + FP + FN)`` averaged
  over the classes present in the ground truth; also pixel / class accuracy and frequency-weighted
  IoU.
* VC_n: for each video longer than n frames and each start ``i = 0 .. len-n-1`` (the reference stops
  one window short), ``G`` = pixels whose GT value is the same in frames i..i+n-1, ``Pc`` = pixels
  whose predicted value is, ``acc_i = |G & Pc| / |G|`` (raw values); ``VC_n`` = nanmean over all
  windows of all videos.
* mVC16: the reference keeps one list of window accuracies for n = 8 and then n = 16 without
  clearing it, so the VC16 it prints (published as "mVC16") is the mean over the VC8 *and* VC16
  windows together. Reported: ``VC8``, ``VC16`` (each over its own windows), ``VC16_official`` =
  ``mVC16`` (the reference's) and ``mVC8`` = ``VC8``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import Any

import numpy as np

from ..data.io import read_semantic_png
from ..data.vspw import read_split_file
from ..utils.dist import process_map
from .errors import EvaluationError

VC_WINDOWS: tuple[int, ...] = (8, 16)


def confusion_matrix(
    gt: np.ndarray,
    pred: np.ndarray,
    num_classes: int = 124,
    *,
    pred_offset: int = 0,
    where: str = "frame",
) -> np.ndarray:
    """Confusion matrix (rows GT class, columns predicted class) of one frame's raw GT values and
    predictions."""
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape:
        raise EvaluationError(
            f"{where}: prediction size {pred.shape} differs from ground-truth size {gt.shape}"
        )
    g = gt.astype(np.int64).ravel() - 1
    valid = (g >= 0) & (g < num_classes)
    g, p = g[valid], pred.astype(np.int64).ravel()[valid] - pred_offset
    bad = p[(p < 0) | (p >= num_classes)]
    if bad.size:
        raise EvaluationError(
            f"{where}: predicted value {int(bad[0]) + pred_offset} is not a class in [0, "
            f"{num_classes})" + (f" after offset {pred_offset}" if pred_offset else "")
        )
    return np.bincount(g * num_classes + p, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def segmentation_scores(conf: np.ndarray) -> dict[str, Any]:
    """mIoU (over GT-present classes), pixel acc, class acc, FWIoU (fractions) and per-class IoU."""
    conf = np.asarray(conf, dtype=np.float64)
    tp, gt_count, total = np.diag(conf), conf.sum(axis=1), conf.sum()
    present, union = gt_count > 0, gt_count + conf.sum(axis=0) - tp
    iou = np.divide(tp, union, out=np.full_like(tp, np.nan), where=union > 0)
    return {
        "mIoU": float(np.mean(iou[present])) if present.any() else np.nan,
        "pixel_acc": float(tp.sum() / total) if total else np.nan,
        "class_acc": float(np.mean(tp[present] / gt_count[present])) if present.any() else np.nan,
        "FWIoU": float(np.sum(gt_count[present] / total * iou[present])) if total else np.nan,
        "IoU_per_class": iou,
    }


def _frame(x: Any, what: str) -> np.ndarray:
    return (
        read_semantic_png(x, what, EvaluationError)
        if isinstance(x, (str, os.PathLike))
        else np.asarray(x)
    )


def vss_video_stats(
    gt_frames: Sequence,
    pred_frames: Sequence,
    num_classes: int | None = 124,
    vc_windows: Sequence[int] = VC_WINDOWS,
    *,
    pred_offset: int = 0,
    video_id: str = "video",
    stems: Sequence[str] | None = None,
) -> dict[str, Any]:
    """``{"confusion": (K, K) int64 (None without ``num_classes``), "vc": {n: window accuracies}}``
    of one video, in one backward pass over its frames (arrays or PNG paths, each read once)."""
    T = len(gt_frames)
    if len(pred_frames) != T:
        raise EvaluationError(
            f"video {video_id}: {len(pred_frames)} predicted frames for {T} ground-truth frames"
        )
    stems = list(stems) if stems is not None else [str(t) for t in range(T)]
    accs = {int(n): np.full(max(T - int(n), 0), np.nan) for n in vc_windows}
    conf = None if num_classes is None else np.zeros((num_classes, num_classes), dtype=np.int64)
    nxt = None  # (gt, pred) of frame t + 1
    run_g = run_p = None  # per-pixel run lengths of frame t + 1 (set once nxt is)
    for t in range(T - 1, -1, -1):
        g, p = _frame(gt_frames[t], "ground-truth mask"), _frame(pred_frames[t], "prediction PNG")
        where = f"video {video_id}, frame {stems[t]}"
        if g.shape != p.shape:
            raise EvaluationError(
                f"{where}: prediction size {p.shape} differs from ground-truth size {g.shape}"
            )
        if nxt is not None and g.shape != nxt[0].shape:
            raise EvaluationError(
                f"{where}: frame size {g.shape} differs from the next frame's {nxt[0].shape}"
            )
        if conf is not None:
            conf += confusion_matrix(g, p, num_classes, pred_offset=pred_offset, where=where)
        # run_x: number of following frames with the same value as frame t, per pixel
        run_g = (
            np.zeros(g.shape, np.int32)
            if nxt is None
            else np.where(g == nxt[0], run_g + 1, 0).astype(np.int32)
        )
        run_p = (
            np.zeros(g.shape, np.int32)
            if nxt is None
            else np.where(p == nxt[1], run_p + 1, 0).astype(np.int32)
        )
        for n, acc in accs.items():
            stable = run_g >= n - 1 if t < T - n else None  # starts 0 .. len-n-1
            if stable is not None and stable.any():
                acc[t] = np.count_nonzero(stable & (run_p >= n - 1)) / np.count_nonzero(stable)
        nxt = g, p
    return {"confusion": conf, "vc": accs}


def vc_window_accuracies(
    gt_frames: Sequence[np.ndarray], pred_frames: Sequence[np.ndarray], n: int
) -> np.ndarray:
    """Per-window ``|G & Pc| / |G|`` of one video (nan where ``|G| = 0``), windows i =
    0..len-n-1."""
    return vss_video_stats(gt_frames, pred_frames, None, (n,))["vc"][int(n)]


def summarize_vss(
    stats: Iterable[dict],
    num_classes: int = 124,
    vc_windows: Sequence[int] = VC_WINDOWS,
    *,
    detail: bool = False,
) -> dict[str, Any]:
    """Percentages from per-video :func:`vss_video_stats` results: ``mIoU, pixel_acc, class_acc,
    FWIoU`` and per window ``VC<n>``, ``VC<n>_official``, ``mVC<n>`` (``IoU_per_class`` too with
    ``detail``)."""
    stats = list(stats)
    seg = segmentation_scores(
        sum((s["confusion"] for s in stats), np.zeros((num_classes, num_classes), np.int64))
    )
    out: dict[str, Any] = {k: seg[k] * 100.0 for k in ("mIoU", "pixel_acc", "class_acc", "FWIoU")}

    def nanmean(n_values: list[int]) -> float:
        a = np.concatenate([np.zeros(0)] + [s["vc"][n] for s in stats for n in n_values])
        return float(np.nanmean(a)) * 100.0 if np.isfinite(a).any() else float("nan")

    windows = sorted(int(n) for n in vc_windows)
    for k, n in enumerate(windows):
        out[f"VC{n}"], out[f"VC{n}_official"] = nanmean([n]), nanmean(windows[: k + 1])
    out.update({f"mVC{n}": out[f"VC{n}_official"] for n in windows})
    if detail:
        out["IoU_per_class"] = (seg["IoU_per_class"] * 100.0).tolist()
    return out


def vss_from_arrays(
    videos: Iterable[tuple[Sequence[np.ndarray], Sequence[np.ndarray]]],
    num_classes: int = 124,
    vc_windows: Sequence[int] = VC_WINDOWS,
    *,
    pred_offset: int = 0,
) -> dict[str, Any]:
    """mIoU and VC of in-memory videos: ``videos`` yields ``(gt_frames, pred_frames)`` per video."""
    stats = [
        vss_video_stats(g, p, num_classes, vc_windows, pred_offset=pred_offset, video_id=str(k))
        for k, (g, p) in enumerate(videos)
    ]
    return summarize_vss(stats, num_classes, vc_windows)


def _vss_job(args: tuple) -> dict[str, Any]:
    vid, gt_paths, pred_paths, num_classes, windows, pred_offset = args
    return vss_video_stats(
        gt_paths,
        pred_paths,
        num_classes,
        windows,
        pred_offset=pred_offset,
        video_id=vid,
        stems=[PurePath(p).stem for p in gt_paths],
    )


def evaluate_vss_files(
    videos: Iterable[tuple[str, Sequence[str], Sequence[str]]],
    num_classes: int = 124,
    *,
    vc_windows: Sequence[int] = VC_WINDOWS,
    pred_offset: int = 0,
    num_processes: int | None = None,
    detail: bool = False,
) -> dict[str, Any]:
    """mIoU and VC of listed files: ``videos`` yields ``(video_id, gt_paths, pred_paths)``, one GT
    mask and one prediction PNG per frame in frame order; ``num_processes`` workers over videos
    (default CPU count; 1 = here)."""
    jobs = []
    for vid, gt_paths, pred_paths in videos:
        gt_paths, pred_paths = [os.fspath(p) for p in gt_paths], [os.fspath(p) for p in pred_paths]
        if len(gt_paths) != len(pred_paths):
            raise EvaluationError(
                f"video {vid}: {len(pred_paths)} prediction PNGs for {len(gt_paths)} "
                "ground-truth masks"
            )
        for gp, pp in zip(gt_paths, pred_paths):
            for path, what in ((gp, "ground-truth mask"), (pp, "prediction PNG")):
                if not os.path.isfile(path):
                    raise EvaluationError(
                        f"video {vid}, frame {PurePath(gp).stem}: {what} missing: {path}"
                    )
        jobs.append(
            (str(vid), gt_paths, pred_paths, int(num_classes), tuple(vc_windows), int(pred_offset))
        )
    stats = process_map(_vss_job, jobs, num_processes, desc="mIoU / VC (videos)")
    return summarize_vss(stats, num_classes, vc_windows, detail=detail)


def evaluate_vss(
    pred_dir: str | os.PathLike,
    data_root: str | os.PathLike,
    split: str = "val",
    *,
    videos: Sequence[str] | None = None,
    num_classes: int = 124,
    vc_windows: Sequence[int] = VC_WINDOWS,
    pred_offset: int = 0,
    num_processes: int | None = None,
    detail: bool = False,
) -> dict[str, Any]:
    """mIoU and VC (percent, the keys of :func:`summarize_vss`) of
    ``<pred_dir>/<video>/<frame_stem>.png`` against the ``VSPW_480p`` folder ``data_root``
    (``data/<video>/mask/*.png``). ``split``: a split name or a txt file with one video per line
    (ignored when ``videos`` is given); ``num_processes`` as :func:`evaluate_vss_files`."""
    if videos is None:
        videos = read_split_file(
            split if os.path.isfile(split) else os.path.join(data_root, f"{split}.txt"),
            EvaluationError,
        )
    lists = []
    for vid in videos:
        mask_dir = os.path.join(data_root, "data", vid, "mask")
        if not os.path.isdir(mask_dir):
            raise EvaluationError(f"video {vid}: ground-truth folder missing: {mask_dir}")
        stems = sorted(os.path.splitext(f)[0] for f in os.listdir(mask_dir) if f.endswith(".png"))
        if not stems:
            raise EvaluationError(f"video {vid}: no ground-truth masks in {mask_dir}")
        lists.append(
            (
                vid,
                [os.path.join(mask_dir, s + ".png") for s in stems],
                [os.path.join(os.fspath(pred_dir), vid, s + ".png") for s in stems],
            )
        )
    return evaluate_vss_files(
        lists,
        num_classes,
        vc_windows=vc_windows,
        pred_offset=pred_offset,
        num_processes=num_processes,
        detail=detail,
    )
