"""VIPSeg video-panoptic files and the per-video pixel tables VPQ and STQ share.

* ``panoptic_gt_VIPSeg_<split>.json`` and the prediction ``pred.json`` hold ``{"annotations":
  [{"video_id", "annotations": [{"file_name", "segments_info": [{"id", "category_id", "iscrowd"}]}
  per frame]}]}``; the ground truth also has ``categories`` (``id``, ``name``, ``isthing``).
* PNGs (ids as :func:`~videomt.data.io.rgb2id`, 0 = void) are ``<gt_dir or
  pred_dir>/<video_id>/<stem>.png``; frames pair by file stem (predictions list the ``.jpg`` inputs,
  the ground truth ``.png`` masks).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import numpy as np

from ..data.vipseg import vipseg_video_annotations
from ..utils.files import read_json
from .errors import EvaluationError


def load_json(path_or_obj: Any, what: str) -> Any:
    """A JSON file's content (one-line :class:`EvaluationError` for bad files); non-paths as
    given."""
    if isinstance(path_or_obj, (str, os.PathLike)):
        return read_json(os.fspath(path_or_obj), what, EvaluationError)
    return path_or_obj


def normalize_categories(categories: Any) -> dict[int, dict]:
    """``{id: {"id", "name", "isthing"}}`` of category dicts, ``{id: dict or isthing}`` or JSON with
    ``categories``."""
    if isinstance(categories, Mapping) and "categories" in categories:
        categories = categories["categories"]
    if isinstance(categories, Mapping):
        categories = [
            dict(v, id=k) if isinstance(v, Mapping) else {"id": k, "isthing": v}
            for k, v in categories.items()
        ]
    return {
        int(c["id"]): {
            "id": int(c["id"]),
            "name": c.get("name", str(c["id"])),
            "isthing": int(bool(c.get("isthing", 0))),
        }
        for c in categories
    }


def _videos(path_or_obj: Any, what: str) -> dict[str, list[dict]]:
    """``{video_id: [frame dicts]}`` of a VIPSeg-format JSON, in file order."""
    data = load_json(path_or_obj, what)
    anns = data.get("annotations") if isinstance(data, Mapping) else None
    if not isinstance(anns, list):
        raise EvaluationError(f"{what} has no 'annotations' list")
    out: dict[str, list[dict]] = {}
    for vid, frames in vipseg_video_annotations(anns, what, EvaluationError):
        if vid in out:
            raise EvaluationError(f"{what}: video {vid} is listed twice")
        out[vid] = frames
    return out


@dataclass
class VideoFrames:
    """One video's paired inputs (what a worker process needs)."""

    video_id: str
    stems: list[str]
    gt_pngs: list[str]
    pred_pngs: list[str]
    gt_segments: list[list[dict]]
    pred_segments: list[list[dict]]


def pair_vps_videos(
    pred_json: Any, pred_dir: str | os.PathLike, gt_json: Any, gt_dir: str | os.PathLike
) -> tuple[list[VideoFrames], Any]:
    """``(videos, gt JSON)``, GT frames paired with predictions; unknown or missing frames and PNGs
    fail here."""
    gt_data = load_json(gt_json, "ground-truth JSON")
    gt_videos, pred_videos = (
        _videos(gt_data, "ground-truth JSON"),
        _videos(pred_json, "prediction JSON"),
    )
    unknown = [v for v in pred_videos if v not in gt_videos]
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise EvaluationError(f"predictions for unknown video_id {unknown[0]!r}{more}")
    videos = []
    for vid, gt_frames in gt_videos.items():
        if vid not in pred_videos:
            raise EvaluationError(f"video {vid}: no predictions in the prediction JSON")
        preds: dict[str, dict] = {}
        for fr in pred_videos[vid]:
            stem = PurePath(fr["file_name"]).stem
            if stem in preds:
                raise EvaluationError(
                    f"video {vid}, frame {stem}: listed twice in the prediction JSON"
                )
            preds[stem] = fr
        stems = [PurePath(fr["file_name"]).stem for fr in gt_frames]
        extra = sorted(set(preds) - set(stems))
        if extra:
            raise EvaluationError(
                f"video {vid}, frame {extra[0]}: prediction for a frame not in the ground truth"
            )
        video = VideoFrames(vid, stems, [], [], [list(fr["segments_info"]) for fr in gt_frames], [])
        for s in stems:
            if s not in preds:
                raise EvaluationError(
                    f"video {vid}, frame {s}: no prediction in the prediction JSON"
                )
            for pngs, folder, what in (
                (video.gt_pngs, gt_dir, "ground-truth"),
                (video.pred_pngs, pred_dir, "prediction"),
            ):
                pngs.append(os.path.join(os.fspath(folder), vid, s + ".png"))
                if not os.path.isfile(pngs[-1]):
                    raise EvaluationError(f"video {vid}, frame {s}: {what} PNG missing: {pngs[-1]}")
            video.pred_segments.append(list(preds[s]["segments_info"]))
        videos.append(video)
    return videos, gt_data


@dataclass
class VideoTables:
    """Pixel statistics of one video, enough for VPQ (any window) and STQ."""

    video_id: str
    stems: list[str]
    gt_vocab: np.ndarray  # (G,) sorted segment ids; index 0 is void (id 0)
    pred_vocab: np.ndarray  # (P,) the same for the prediction
    counts: (
        np.ndarray
    )  # (T, G + 1, P) pixels per (GT id, predicted id); last row: GT ids that no frame lists
    gt_cat: np.ndarray  # (T, G) category listed in frame t (-1: not listed)
    gt_crowd: np.ndarray  # (T, G) iscrowd listed in frame t
    gt_pos: np.ndarray  # (T, G) place in frame t's segments_info
    pred_cat: np.ndarray  # (T, P) as gt_cat
    gt_rank: np.ndarray  # (G,) rank in the order of first appearance in the video (-1: void)
    pred_rank: np.ndarray  # (P,) as gt_rank


def _segment_tables(
    segments: Sequence[Sequence[Mapping]], where: list[str], strict: bool, categories
) -> tuple[np.ndarray, ...]:
    """``(vocab, cat, crowd, pos, rank)`` of one side, as in :class:`VideoTables`; void and, unless
    strict, repeated ids are dropped (a repeat: last entry, first place). ``where[t]`` names frame
    ``t`` in errors."""
    frames = []
    for w, segs in zip(where, segments):
        d: dict[int, tuple[int, int]] = {}
        for s in segs:
            try:
                sid, cat = int(s["id"]), int(s["category_id"])
            except (KeyError, TypeError, ValueError):
                raise EvaluationError(
                    f"{w}: segment {s!r} lacks an integer 'id' or 'category_id'"
                ) from None
            if strict and (sid in d or sid == 0):
                problem = "is reserved for void" if sid == 0 else "listed twice"
                raise EvaluationError(f"{w}: segment id {sid} {problem}")
            if sid == 0:
                continue
            if categories is not None and cat not in categories:
                raise EvaluationError(f"{w}: segment {sid} has unknown category_id {cat}")
            d[sid] = (cat, int(bool(s.get("iscrowd", 0))))
        frames.append(d)
    first_seen = list(dict.fromkeys(sid for d in frames for sid in d))
    vocab = np.array([0] + sorted(first_seen), dtype=np.int64)
    index = {int(v): i for i, v in enumerate(vocab)}
    cat = np.full((len(frames), len(vocab)), -1, dtype=np.int64)
    crowd, pos = np.zeros(cat.shape, dtype=bool), np.full(cat.shape, -1, dtype=np.int64)
    for t, d in enumerate(frames):
        for k, (sid, (c, iscrowd)) in enumerate(d.items()):
            cat[t, index[sid]], crowd[t, index[sid]], pos[t, index[sid]] = c, iscrowd, k
    rank = np.full(len(vocab), -1, dtype=np.int64)
    rank[[index[sid] for sid in first_seen]] = np.arange(len(first_seen))
    return vocab, cat, crowd, pos, rank


def video_tables(
    video_id: str,
    gt_segments: Sequence[Sequence[Mapping]],
    pred_segments: Sequence[Sequence[Mapping]],
    frames: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    stems: Sequence[str] | None = None,
    categories: Mapping[int, Any] | None = None,
) -> VideoTables:
    """:class:`VideoTables` from per-frame segment lists and ``(gt_ids, pred_ids)`` maps (one per
    frame, as the callers ensure; may be a generator). Checked as the official scripts do: each
    non-void predicted id is listed in its frame's ``segments_info``, each listed one has pixels,
    categories are known (if given), sizes agree."""
    stems = list(stems) if stems is not None else [str(t) for t in range(len(gt_segments))]
    where = [f"video {video_id}, frame {s}" for s in stems]
    pwhere = [w + " (prediction)" for w in where]
    gt_vocab, gt_cat, gt_crowd, gt_pos, gt_rank = _segment_tables(
        gt_segments, [w + " (ground truth)" for w in where], False, categories
    )
    pred_vocab, pred_cat, _, _, pred_rank = _segment_tables(pred_segments, pwhere, True, categories)
    G, P = len(gt_vocab), len(pred_vocab)
    counts = np.zeros((len(stems), G + 1, P), dtype=np.int64)
    for t, (gmap, pmap) in enumerate(frames):
        gmap, pmap = np.asarray(gmap, dtype=np.int64), np.asarray(pmap, dtype=np.int64)
        if gmap.shape != pmap.shape:
            raise EvaluationError(
                f"{where[t]}: prediction size {pmap.shape[:2]} differs from ground-truth size "
                f"{gmap.shape[:2]}"
            )
        gi = np.minimum(np.searchsorted(gt_vocab, gmap.ravel()), G - 1)
        gi[gt_vocab[gi] != gmap.ravel()] = G  # ids that no frame of the video lists
        pi = np.minimum(np.searchsorted(pred_vocab, pmap.ravel()), P - 1)
        unknown = pred_vocab[pi] != pmap.ravel()
        if unknown.any():
            bad = np.unique(pmap.ravel()[unknown])[:5].tolist()
            raise EvaluationError(
                f"{pwhere[t]}: PNG has segment ids {bad} not listed in the prediction JSON"
            )
        counts[t] = np.bincount(gi * P + pi, minlength=(G + 1) * P).reshape(G + 1, P)
        present, listed = counts[t].sum(axis=0) > 0, pred_cat[t] >= 0
        not_listed = np.flatnonzero((present & ~listed)[1:]) + 1  # void (index 0) is never listed
        if not_listed.size:
            raise EvaluationError(
                f"{pwhere[t]}: PNG has segment ids {pred_vocab[not_listed][:5].tolist()} not "
                "listed in this frame's segments_info"
            )
        absent = np.flatnonzero(listed & ~present)
        if absent.size:
            raise EvaluationError(
                f"{pwhere[t]}: segments_info lists ids {pred_vocab[absent][:5].tolist()} that have "
                "no pixels in the PNG"
            )
    return VideoTables(
        str(video_id),
        stems,
        gt_vocab,
        pred_vocab,
        counts,
        gt_cat,
        gt_crowd,
        gt_pos,
        pred_cat,
        gt_rank,
        pred_rank,
    )
