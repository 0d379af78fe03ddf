"""Reading and writing the official VIPSeg video-panoptic formats (SPEC 4.3, 5.4).

* Panoptic PNGs are RGB images encoding a segment id as ``id = R + 256 G + 256^2 B`` (0 = void),
  read with :func:`videomt.data.io.read_panoptic_ids`.
* JSON files (both ``panoptic_gt_VIPSeg_<split>.json`` and the prediction ``pred.json``) hold
  ``{"annotations": [{"video_id": str, "annotations": [{"file_name": ..., "segments_info":
  [{"id", "category_id", "iscrowd", ...}]} per frame]}]}``; the ground truth also carries
  ``categories`` (``id``, ``name``, ``isthing``).
* On disk: ground truth ``<gt_dir>/<video_id>/<frame_stem>.png``; predictions
  ``<pred_dir>/<video_id>/<frame_stem>.png``. Frames are paired by file stem (the prediction JSON
  lists the input ``.jpg`` names, the ground truth the ``.png`` names).

:func:`pair_vps_videos` pairs ground truth and predictions per video and checks, before any
worker starts, that every video and frame has a prediction and every PNG exists.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..data.io import read_panoptic_ids
from ..utils.files import read_json
from .errors import EvaluationError

__all__ = [
    "load_json",
    "load_vps_json",
    "normalize_categories",
    "VideoFrames",
    "pair_vps_videos",
    "VideoTables",
    "video_tables",
    "read_video_tables",
]


def load_json(path_or_obj: Any, what: str) -> Any:
    """A JSON file's content (one-line :class:`EvaluationError` for bad files); non-paths as given."""
    if isinstance(path_or_obj, (str, os.PathLike)):
        return read_json(os.fspath(path_or_obj), what, EvaluationError)
    return path_or_obj


def load_vps_json(path_or_obj: Any, what: str = "panoptic JSON") -> tuple[dict[str, list[dict]], list[str]]:
    """Return ``({video_id: [frame dicts in order]}, [video ids in file order])``."""
    data = load_json(path_or_obj, what)
    anns = data.get("annotations") if isinstance(data, Mapping) else None
    if not isinstance(anns, list):
        raise EvaluationError(f"{what} has no 'annotations' list")
    out: dict[str, list[dict]] = {}
    order: list[str] = []
    for k, v in enumerate(anns):
        if not isinstance(v, Mapping) or "video_id" not in v or not isinstance(v.get("annotations"), list):
            raise EvaluationError(f"{what}: entry #{k} lacks 'video_id' or its per-frame 'annotations'")
        vid = str(v["video_id"])
        if vid in out:
            raise EvaluationError(f"{what}: video {vid} is listed twice")
        for t, fr in enumerate(v["annotations"]):
            if not isinstance(fr, Mapping) or "file_name" not in fr or not isinstance(fr.get("segments_info"), list):
                raise EvaluationError(f"{what}: video {vid}, frame #{t} lacks 'file_name' or 'segments_info'")
        out[vid] = list(v["annotations"])
        order.append(vid)
    return out, order


def normalize_categories(categories: Any) -> dict[int, dict]:
    """Categories as ``{id: {"id", "name", "isthing"}}`` from a list of dicts, a dict, or a JSON dict
    that has a ``categories`` entry."""
    if isinstance(categories, Mapping) and "categories" in categories:
        categories = categories["categories"]
    if isinstance(categories, Mapping):
        out = {}
        for k, v in categories.items():
            if isinstance(v, Mapping):
                out[int(k)] = {"id": int(k), "name": v.get("name", str(k)), "isthing": int(bool(v.get("isthing", 0)))}
            else:
                out[int(k)] = {"id": int(k), "name": str(k), "isthing": int(bool(v))}
        return out
    out = {}
    for c in categories:
        out[int(c["id"])] = {"id": int(c["id"]), "name": c.get("name", str(c["id"])),
                             "isthing": int(bool(c.get("isthing", 0)))}
    return out


def _stem(name: str) -> str:
    return os.path.splitext(os.path.basename(name))[0]


@dataclass
class VideoFrames:
    """One video's paired inputs (what a worker process needs, cheap to pickle)."""

    video_id: str
    stems: list[str]
    gt_pngs: list[str]
    pred_pngs: list[str]
    gt_segments: list[list[dict]]
    pred_segments: list[list[dict]]
    extra: dict = field(default_factory=dict)


def pair_vps_videos(
    pred_json: Any, pred_dir: str | os.PathLike, gt_json: Any, gt_dir: str | os.PathLike,
    *, check_files: bool = True,
) -> tuple[list[VideoFrames], dict]:
    """Pair every ground-truth video frame with its prediction.

    Returns ``(videos, gt_data)`` (``gt_data`` is the loaded GT JSON, for its categories).
    Raises :class:`EvaluationError` for predictions of unknown videos, ground-truth videos or
    frames without prediction, and missing PNG files.
    """
    gt_data = load_json(gt_json, "ground-truth JSON")
    gt_videos, gt_order = load_vps_json(gt_data, "ground-truth JSON")
    pred_videos, _ = load_vps_json(pred_json, "prediction JSON")
    unknown = [v for v in pred_videos if v not in gt_videos]
    if unknown:
        raise EvaluationError(f"predictions for unknown video_id {unknown[0]!r}"
                              + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
    videos = []
    for vid in gt_order:
        if vid not in pred_videos:
            raise EvaluationError(f"video {vid}: no predictions in the prediction JSON")
        pred_by_stem: dict[str, dict] = {}
        for fr in pred_videos[vid]:
            s = _stem(fr["file_name"])
            if s in pred_by_stem:
                raise EvaluationError(f"video {vid}, frame {s}: listed twice in the prediction JSON")
            pred_by_stem[s] = fr
        gt_stems = [_stem(fr["file_name"]) for fr in gt_videos[vid]]
        extra = sorted(set(pred_by_stem) - set(gt_stems))
        if extra:
            raise EvaluationError(f"video {vid}, frame {extra[0]}: prediction for a frame not in the ground truth")
        stems, gt_pngs, pred_pngs, gsegs, psegs = [], [], [], [], []
        for fr, s in zip(gt_videos[vid], gt_stems):
            if s not in pred_by_stem:
                raise EvaluationError(f"video {vid}, frame {s}: no prediction in the prediction JSON")
            gp = os.path.join(os.fspath(gt_dir), vid, s + ".png")
            pp = os.path.join(os.fspath(pred_dir), vid, s + ".png")
            if check_files:
                if not os.path.isfile(gp):
                    raise EvaluationError(f"video {vid}, frame {s}: ground-truth PNG missing: {gp}")
                if not os.path.isfile(pp):
                    raise EvaluationError(f"video {vid}, frame {s}: prediction PNG missing: {pp}")
            stems.append(s)
            gt_pngs.append(gp)
            pred_pngs.append(pp)
            gsegs.append(list(fr["segments_info"]))
            psegs.append(list(pred_by_stem[s]["segments_info"]))
        videos.append(VideoFrames(vid, stems, gt_pngs, pred_pngs, gsegs, psegs))
    return videos, gt_data


# --------------------------------------------------------------------------------------------
# Per-video contingency tables: the one pass over the pixels that VPQ and STQ both need
# --------------------------------------------------------------------------------------------
@dataclass
class VideoTables:
    """Pixel statistics of one video, enough for VPQ (any window) and STQ.

    ``counts[t, i, j]`` = number of pixels of frame ``t`` whose ground-truth id is
    ``gt_vocab[i]`` and predicted id is ``pred_vocab[j]``; the extra last row counts
    ground-truth ids that no frame of the video lists in its ``segments_info``. Index 0 of both
    vocabularies is id 0 (void). ``gt_cat[t, i]`` is the category of ``gt_vocab[i]`` as listed in
    frame ``t`` (-1 if that frame does not list it), ``gt_crowd[t, i]`` its ``iscrowd``;
    ``gt_rank[i]`` / ``pred_rank[j]`` the rank of the id in order of first appearance in the
    video's JSON (-1 for void); ``gt_pos[t, i]`` the position of ``gt_vocab[i]`` in frame ``t``'s
    ``segments_info`` (-1 if not listed).
    """

    video_id: str
    stems: list[str]
    gt_vocab: np.ndarray
    pred_vocab: np.ndarray
    counts: np.ndarray
    gt_cat: np.ndarray
    gt_crowd: np.ndarray
    pred_cat: np.ndarray
    gt_rank: np.ndarray
    pred_rank: np.ndarray
    gt_pos: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.counts.shape[0])


def _vocab(segments: Sequence[Sequence[Mapping]], where: str, strict: bool):
    """ids in order of first appearance, per-frame {id: (category, iscrowd)}."""
    order: list[int] = []
    seen: set[int] = set()
    per_frame: list[dict[int, tuple[int, int]]] = []
    for t, segs in enumerate(segments):
        d: dict[int, tuple[int, int]] = {}
        for s in segs:
            try:
                sid, cat = int(s["id"]), int(s["category_id"])
            except (KeyError, TypeError, ValueError):
                raise EvaluationError(f"{where(t)}: segment {s!r} lacks an integer 'id' or 'category_id'") from None
            if sid in d and strict:
                raise EvaluationError(f"{where(t)}: segment id {sid} listed twice")
            if sid == 0:
                if strict:
                    raise EvaluationError(f"{where(t)}: segment id 0 is reserved for void")
                continue
            d[sid] = (cat, int(bool(s.get("iscrowd", 0))))  # a repeated id: last entry, first place
            if sid not in seen:
                seen.add(sid)
                order.append(sid)
        per_frame.append(d)
    return order, per_frame


def video_tables(
    video_id: str,
    gt_segments: Sequence[Sequence[Mapping]],
    pred_segments: Sequence[Sequence[Mapping]],
    frames: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    stems: Sequence[str] | None = None,
    categories: Mapping[int, Any] | None = None,
) -> VideoTables:
    """Build :class:`VideoTables` from per-frame segment lists and ``(gt_ids, pred_ids)`` maps.

    ``frames`` may be a generator (PNG files are then read one frame at a time). Predictions
    are checked as the official scripts do: every non-void id in a prediction map must be listed
    in that frame's ``segments_info`` and every listed id must have pixels; categories must be
    known (when ``categories`` is given); sizes must agree with the ground truth.
    """
    num = len(gt_segments)
    if len(pred_segments) != num:
        raise EvaluationError(f"video {video_id}: {len(pred_segments)} predicted frames for {num} ground-truth frames")
    stems = list(stems) if stems is not None else [str(t) for t in range(num)]

    def gwhere(t):
        return f"video {video_id}, frame {stems[t]} (ground truth)"

    def pwhere(t):
        return f"video {video_id}, frame {stems[t]} (prediction)"

    g_order, g_frames = _vocab(gt_segments, gwhere, strict=False)
    p_order, p_frames = _vocab(pred_segments, pwhere, strict=True)
    if categories is not None:
        for t, d in enumerate(p_frames):
            for sid, (cat, _) in d.items():
                if cat not in categories:
                    raise EvaluationError(f"{pwhere(t)}: segment {sid} has unknown category_id {cat}")
        for t, d in enumerate(g_frames):
            for sid, (cat, _) in d.items():
                if cat not in categories:
                    raise EvaluationError(f"{gwhere(t)}: segment {sid} has unknown category_id {cat}")
    gt_vocab = np.array([0] + sorted(g_order), dtype=np.int64)
    pred_vocab = np.array([0] + sorted(p_order), dtype=np.int64)
    g_index = {int(v): i for i, v in enumerate(gt_vocab)}
    p_index = {int(v): i for i, v in enumerate(pred_vocab)}
    ng, np_ = len(gt_vocab), len(pred_vocab)
    gt_cat = np.full((num, ng), -1, dtype=np.int64)
    gt_crowd = np.zeros((num, ng), dtype=bool)
    gt_pos = np.full((num, ng), -1, dtype=np.int64)
    pred_cat = np.full((num, np_), -1, dtype=np.int64)
    for t in range(num):
        for pos, (sid, (cat, crowd)) in enumerate(g_frames[t].items()):
            gt_cat[t, g_index[sid]] = cat
            gt_crowd[t, g_index[sid]] = bool(crowd)
            gt_pos[t, g_index[sid]] = pos
        for sid, (cat, _) in p_frames[t].items():
            pred_cat[t, p_index[sid]] = cat
    gt_rank = np.full(ng, -1, dtype=np.int64)
    for r, sid in enumerate(g_order):
        gt_rank[g_index[sid]] = r
    pred_rank = np.full(np_, -1, dtype=np.int64)
    for r, sid in enumerate(p_order):
        pred_rank[p_index[sid]] = r

    counts = np.zeros((num, ng + 1, np_), dtype=np.int64)
    t = -1
    for t, (gmap, pmap) in enumerate(frames):
        if t >= num:
            raise EvaluationError(f"video {video_id}: more frames than listed in the ground-truth JSON")
        gmap = np.asarray(gmap)
        pmap = np.asarray(pmap)
        if gmap.shape != pmap.shape:
            raise EvaluationError(
                f"video {video_id}, frame {stems[t]}: prediction size {tuple(pmap.shape[:2])} differs from "
                f"ground-truth size {tuple(gmap.shape[:2])}"
            )
        g = gmap.ravel().astype(np.int64, copy=False)
        p = pmap.ravel().astype(np.int64, copy=False)
        gi = np.searchsorted(gt_vocab, g)
        np.minimum(gi, ng - 1, out=gi)
        gi[gt_vocab[gi] != g] = ng  # ids not listed anywhere in the video
        pi = np.searchsorted(pred_vocab, p)
        np.minimum(pi, np_ - 1, out=pi)
        unknown = pred_vocab[pi] != p
        if unknown.any():
            bad = np.unique(p[unknown])[:5].tolist()
            raise EvaluationError(f"{pwhere(t)}: PNG has segment ids {bad} not listed in the prediction JSON")
        table = np.bincount(gi * np_ + pi, minlength=(ng + 1) * np_).reshape(ng + 1, np_)
        present = table.sum(axis=0) > 0
        listed = pred_cat[t] >= 0
        not_listed = np.flatnonzero(present & ~listed)
        not_listed = not_listed[not_listed > 0]
        if not_listed.size:
            raise EvaluationError(
                f"{pwhere(t)}: PNG has segment ids {pred_vocab[not_listed][:5].tolist()} not listed in this "
                "frame's segments_info"
            )
        absent = np.flatnonzero(listed & ~present)
        if absent.size:
            raise EvaluationError(
                f"{pwhere(t)}: segments_info lists ids {pred_vocab[absent][:5].tolist()} that have no pixels in the PNG"
            )
        counts[t] = table
    if t + 1 != num:
        raise EvaluationError(f"video {video_id}: {t + 1} frames given for {num} listed in the JSON")
    return VideoTables(str(video_id), stems, gt_vocab, pred_vocab, counts, gt_cat, gt_crowd, pred_cat,
                       gt_rank, pred_rank, gt_pos)


def _png_frames(video: VideoFrames):
    for t, (gp, pp) in enumerate(zip(video.gt_pngs, video.pred_pngs)):
        g = read_panoptic_ids(gp, "ground-truth PNG", EvaluationError)
        p = read_panoptic_ids(pp, "prediction PNG", EvaluationError)
        yield g, p


def read_video_tables(video: VideoFrames, categories: Mapping[int, Any] | None = None) -> VideoTables:
    """:func:`video_tables` for one video of :func:`pair_vps_videos`, reading its PNGs."""
    return video_tables(video.video_id, video.gt_segments, video.pred_segments, _png_frames(video),
                        stems=video.stems, categories=categories)
