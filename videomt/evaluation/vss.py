"""VSPW video semantic segmentation metrics: mIoU and video consistency VC_n (SPEC 6.5).

Label conventions (kept consistent between the two sides and with SPEC 4.4 / 5.4):

* ground truth (``VSPW_480p/data/<video>/mask/<frame>.png``): value ``v`` in 1..124 is class
  ``v - 1``; 0 and 255 (and anything else outside 1..num_classes) are ignored for mIoU;
* predictions (``<pred_dir>/<video>/<frame>.png``, as our VSS evaluator writes them): the value
  *is* the class index 0..num_classes-1 (the VSPW raw id). ``pred_offset`` shifts it (class =
  value - pred_offset) for predictions stored in the GT convention. A prediction outside the
  class range on a scored pixel is an error, not a silent miss.

mIoU: one ``num_classes x num_classes`` confusion matrix over all frames of all videos;
``IoU_c = TP / (TP + FP + FN)``; ``mIoU`` = mean over the classes present in the ground truth
(SPEC 6.5); also pixel accuracy, class accuracy (mean over GT-present classes) and frequency
weighted IoU.

VC_n (n in {8, 16}): for each video with more than n frames and each start
``i = 0 .. len-n-1`` (the reference stops one window short of ``len-n``), ``G`` = pixels whose GT
value is the same in frames i..i+n-1, ``Pc`` = pixels whose predicted value is the same over those
frames, ``acc_i = |G & Pc| / |G|`` (raw values, nothing ignored, correctness not checked);
``VC_n`` = nanmean over all windows of all videos.

**mVC16 and the reference's VC16.** The reference script keeps one list of window accuracies for
n = 8 and then n = 16 without clearing it, so the VC16 it prints is the mean over the VC8 *and*
VC16 windows together (weighted by their counts, not ``(VC8 + VC16) / 2``). Published VSPW
tables ("mVC8", "mVC16", where the "m" is the mean over windows) and the VidEoMT model zoo's
"mVC16 95.0" are that printout. So we report:

* ``VC8``, ``VC16``: the strict definitions (each over its own windows);
* ``VC16_official``: the reference-compatible value (mean over the VC8 and VC16 windows);
* ``mVC8`` (= ``VC8``, the reference has nothing to mix in yet) and ``mVC16``
  (= ``VC16_official``): the names to compare with published numbers.

Public API: :func:`evaluate_vss` (VSPW folder layout), :func:`evaluate_vss_files` (explicit
file lists), :func:`vss_from_arrays`, :func:`vss_video_stats`,
:func:`confusion_matrix`, :func:`segmentation_scores`, :func:`vc_window_accuracies`,
:func:`summarize_vss`.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..data.io import read_semantic_png
from ..data.vspw import read_split_file
from ..utils.dist import process_map
from .errors import EvaluationError

__all__ = [
    "VC_WINDOWS",
    "confusion_matrix",
    "segmentation_scores",
    "vc_window_accuracies",
    "vss_video_stats",
    "vss_from_arrays",
    "summarize_vss",
    "evaluate_vss",
    "evaluate_vss_files",
]

VC_WINDOWS: tuple[int, ...] = (8, 16)


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int = 124, *, pred_offset: int = 0,
                     where: str = "frame") -> np.ndarray:
    """Confusion matrix (rows GT class, columns predicted class) of one frame.

    ``gt`` holds raw VSPW values (class = v - 1, 0/255 ignored), ``pred`` class indices
    (+ ``pred_offset``).
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.shape != pred.shape:
        raise EvaluationError(f"{where}: prediction size {pred.shape} differs from ground-truth size {gt.shape}")
    g = gt.astype(np.int64).ravel() - 1
    valid = (g >= 0) & (g < num_classes)
    p = pred.astype(np.int64).ravel()[valid] - pred_offset
    g = g[valid]
    if p.size and (p.min() < 0 or p.max() >= num_classes):
        bad = p[(p < 0) | (p >= num_classes)][0] + pred_offset
        raise EvaluationError(f"{where}: predicted value {int(bad)} is not a class in [0, {num_classes})"
                              + (f" after offset {pred_offset}" if pred_offset else ""))
    return np.bincount(g * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)


def segmentation_scores(conf: np.ndarray) -> dict[str, Any]:
    """mIoU (over GT-present classes), pixel acc, class acc, FWIoU (fractions) and per-class IoU."""
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf)
    gt_count = conf.sum(axis=1)
    pred_count = conf.sum(axis=0)
    total = conf.sum()
    present = gt_count > 0
    union = gt_count + pred_count - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)
        acc_c = np.where(present, tp / np.where(present, gt_count, 1), np.nan)
    nan = float("nan")
    return {
        "mIoU": float(np.mean(iou[present])) if present.any() else nan,
        "pixel_acc": float(tp.sum() / total) if total else nan,
        "class_acc": float(np.mean(acc_c[present])) if present.any() else nan,
        "FWIoU": float(np.sum(gt_count[present] / total * iou[present])) if total else nan,
        "IoU_per_class": iou,
    }


def vc_window_accuracies(gt_frames: Sequence[np.ndarray], pred_frames: Sequence[np.ndarray], n: int) -> np.ndarray:
    """Per-window ``|G & Pc| / |G|`` of one video (nan where ``|G| = 0``), windows i = 0..len-n-1."""
    accs, _ = _video_pass(gt_frames, pred_frames, (n,), None, 0, "video")
    return accs[int(n)]


def _video_pass(gt_frames, pred_frames, windows, num_classes, pred_offset, video_id, stems=None):
    """One backward pass over the frames: confusion matrix and VC window accuracies."""
    T = len(gt_frames)
    if len(pred_frames) != T:
        raise EvaluationError(f"video {video_id}: {len(pred_frames)} predicted frames for {T} ground-truth frames")
    stems = stems or [str(t) for t in range(T)]
    windows = tuple(int(n) for n in windows)
    accs = {n: np.full(max(T - n, 0), np.nan) for n in windows}
    conf = None if num_classes is None else np.zeros((num_classes, num_classes), dtype=np.int64)
    run_g = run_p = None  # run_x[t] = number of following frames with the same value as frame t
    nxt_g = nxt_p = None
    for t in range(T - 1, -1, -1):
        g = np.asarray(gt_frames[t])
        p = np.asarray(pred_frames[t])
        where = f"video {video_id}, frame {stems[t]}"
        if g.shape != p.shape:
            raise EvaluationError(f"{where}: prediction size {p.shape} differs from ground-truth size {g.shape}")
        if nxt_g is not None and g.shape != nxt_g.shape:
            raise EvaluationError(f"{where}: frame size {g.shape} differs from the next frame's {nxt_g.shape}")
        if conf is not None:
            conf += confusion_matrix(g, p, num_classes, pred_offset=pred_offset, where=where)
        if nxt_g is None:
            run_g = np.zeros(g.shape, dtype=np.int32)
            run_p = np.zeros(g.shape, dtype=np.int32)
        else:
            run_g = np.where(g == nxt_g, run_g + 1, 0).astype(np.int32)
            run_p = np.where(p == nxt_p, run_p + 1, 0).astype(np.int32)
        for n in windows:
            if t < T - n:  # starts 0 .. len-n-1
                G = run_g >= n - 1
                size = int(np.count_nonzero(G))
                if size:
                    accs[n][t] = np.count_nonzero(G & (run_p >= n - 1)) / size
        nxt_g, nxt_p = g, p
    return accs, conf


def vss_video_stats(gt_frames: Sequence[np.ndarray], pred_frames: Sequence[np.ndarray], num_classes: int = 124,
                    vc_windows: Sequence[int] = VC_WINDOWS, *, pred_offset: int = 0, video_id: str = "video",
                    stems: Sequence[str] | None = None) -> dict[str, Any]:
    """``{"confusion": (K, K) int64, "vc": {n: per-window accuracies}}`` of one video.

    ``gt_frames`` / ``pred_frames``: sequences (``len`` and indexing; frames are read once each,
    last to first) of ``(H, W)`` GT value maps and predicted class maps.
    """
    accs, conf = _video_pass(gt_frames, pred_frames, vc_windows, num_classes, pred_offset, video_id,
                             list(stems) if stems is not None else None)
    return {"confusion": conf, "vc": accs}


def summarize_vss(stats: Iterable[Mapping[str, Any]], num_classes: int = 124,
                  vc_windows: Sequence[int] = VC_WINDOWS, *, detail: bool = False) -> dict[str, Any]:
    """Reported numbers (percent) from per-video :func:`vss_video_stats` results."""
    conf = np.zeros((num_classes, num_classes), dtype=np.int64)
    lists: dict[int, list[np.ndarray]] = {int(n): [] for n in vc_windows}
    for s in stats:
        conf += s["confusion"]
        for n in lists:
            lists[n].append(np.asarray(s["vc"][n], dtype=np.float64))
    seg = segmentation_scores(conf)
    out: dict[str, Any] = {k: seg[k] * 100.0 for k in ("mIoU", "pixel_acc", "class_acc", "FWIoU")}
    mixed: list[np.ndarray] = []

    def _nanmean(parts):
        a = np.concatenate(parts) if parts else np.zeros(0)
        a = a[~np.isnan(a)]
        return float(a.mean()) * 100.0 if a.size else float("nan")

    for n in sorted(lists):
        mixed.extend(lists[n])
        out[f"VC{n}"] = _nanmean(lists[n])
        out[f"VC{n}_official"] = _nanmean(mixed)
    for n in sorted(lists):
        out[f"mVC{n}"] = out[f"VC{n}_official"]
    if detail:
        out["IoU_per_class"] = (seg["IoU_per_class"] * 100.0).tolist()
    return out


def vss_from_arrays(videos: Iterable[tuple[Sequence[np.ndarray], Sequence[np.ndarray]]], num_classes: int = 124,
                    vc_windows: Sequence[int] = VC_WINDOWS, *, pred_offset: int = 0) -> dict[str, Any]:
    """mIoU and VC of in-memory videos: ``videos`` yields ``(gt_frames, pred_frames)`` per video."""
    stats = [vss_video_stats(g, p, num_classes, vc_windows, pred_offset=pred_offset, video_id=str(k))
             for k, (g, p) in enumerate(videos)]
    return summarize_vss(stats, num_classes, vc_windows)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
class _LazyFrames:
    """The frames of one video, each PNG read when indexed."""

    def __init__(self, paths: list[str], what: str):
        self.paths, self.what = paths, what

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, t: int) -> np.ndarray:
        return read_semantic_png(self.paths[t], self.what, EvaluationError)


def _vss_worker(args):
    vid, gt_paths, pred_paths, stems, num_classes, windows, pred_offset = args
    g, p = _LazyFrames(gt_paths, "ground-truth mask"), _LazyFrames(pred_paths, "prediction PNG")
    return vss_video_stats(g, p, num_classes, windows, pred_offset=pred_offset, video_id=vid, stems=stems)


def evaluate_vss_files(videos: Iterable[tuple[str, Sequence[str], Sequence[str]]], num_classes: int = 124, *,
                       vc_windows: Sequence[int] = VC_WINDOWS, pred_offset: int = 0,
                       num_processes: int | None = None, detail: bool = False) -> dict[str, Any]:
    """mIoU and VC of explicitly listed files: ``videos`` yields ``(video_id, gt_paths, pred_paths)``
    with one GT mask and one prediction PNG per frame, in frame order (the in-loop evaluator's
    entry point; :func:`evaluate_vss` builds the lists from the VSPW folder layout)."""
    jobs = []
    for vid, gt_paths, pred_paths in videos:
        vid = str(vid)
        gt_paths, pred_paths = [os.fspath(p) for p in gt_paths], [os.fspath(p) for p in pred_paths]
        if len(gt_paths) != len(pred_paths):
            raise EvaluationError(f"video {vid}: {len(pred_paths)} prediction PNGs for {len(gt_paths)} "
                                  "ground-truth masks")
        stems = [os.path.splitext(os.path.basename(p))[0] for p in gt_paths]
        for s, gp, pp in zip(stems, gt_paths, pred_paths):
            if not os.path.isfile(gp):
                raise EvaluationError(f"video {vid}, frame {s}: ground-truth mask missing: {gp}")
            if not os.path.isfile(pp):
                raise EvaluationError(f"video {vid}, frame {s}: prediction PNG missing: {pp}")
        jobs.append((vid, gt_paths, pred_paths, stems, int(num_classes), tuple(vc_windows), int(pred_offset)))
    stats = process_map(_vss_worker, jobs, num_processes)
    return summarize_vss(stats, num_classes, vc_windows, detail=detail)


def evaluate_vss(pred_dir: str | os.PathLike, data_root: str | os.PathLike, split: str = "val", *,
                 videos: Sequence[str] | None = None, num_classes: int = 124,
                 vc_windows: Sequence[int] = VC_WINDOWS, pred_offset: int = 0,
                 num_processes: int | None = None, detail: bool = False) -> dict[str, Any]:
    """mIoU and VC of VSPW-format predictions on disk.

    Args:
        pred_dir: ``<pred_dir>/<video>/<frame_stem>.png`` (class index per pixel).
        data_root: the ``VSPW_480p`` folder (``data/<video>/mask/*.png`` and ``<split>.txt``).
        split: split name (or a path to a txt file with one video per line); ignored when
            ``videos`` is given.
        num_processes: worker processes over videos (default CPU count; 1 = in this process).

    Returns:
        ``mIoU, pixel_acc, class_acc, FWIoU, VC8, VC16, VC8_official, VC16_official, mVC8, mVC16``
        in percent (see the module docstring for the VC16 variants).
    """
    data_root = os.fspath(data_root)
    if videos is None:
        split_file = split if os.path.isfile(split) else os.path.join(data_root, f"{split}.txt")
        videos = read_split_file(split_file, EvaluationError)
    names = list(videos)
    lists = []
    for vid in names:
        mdir = os.path.join(data_root, "data", vid, "mask")
        if not os.path.isdir(mdir):
            raise EvaluationError(f"video {vid}: ground-truth folder missing: {mdir}")
        stems = sorted(os.path.splitext(f)[0] for f in os.listdir(mdir) if f.endswith(".png"))
        if not stems:
            raise EvaluationError(f"video {vid}: no ground-truth masks in {mdir}")
        lists.append((vid, [os.path.join(mdir, s + ".png") for s in stems],
                      [os.path.join(os.fspath(pred_dir), vid, s + ".png") for s in stems]))
    return evaluate_vss_files(lists, num_classes, vc_windows=vc_windows, pred_offset=pred_offset,
                              num_processes=num_processes, detail=detail)
