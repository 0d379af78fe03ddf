"""YouTube-VIS / OVIS track AP and AR and the YouTube-VIS 2022 protocol.

COCO's protocol on *tracks*: each (video, category) pair plays a COCO (image, category) pair and
pycocotools' ``COCOeval`` matches, accumulates and summarises; only the IoU is ours:

* track IoU = ``sum_t |d_t & g_t| / sum_t |d_t | g_t|`` over the video's frames (a frame where only
  one track is present adds its area to the union);
* a track's area is the mean of its non-empty frame areas (ground truth: the JSON ``areas`` when
  given, as the official tools do); area ranges small < 128^2 < medium < 256^2 < large;
* crowd ground truth (``iscrowd=1``) is ignored and may absorb any number of detections (track IoU);
* at most ``max_dets[-1]`` (100) detections per (video, category), IoU thresholds 0.50:0.05:0.95,
  101 recall points. Results are percentages; undefined values (e.g. APs without small objects) are
  ``nan``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.cocoeval import COCOeval

from ..data.rle import check_counts, to_rle
from .errors import EvaluationError
from .panoptic_io import load_json

logger = logging.getLogger(__name__)

AREA_LABELS = ("all", "small", "medium", "large")
#: Area ranges of YouTube-VIS / OVIS (object size = mean non-empty frame area).
YTVIS_AREA_RANGES = {
    "all": (0.0, 1e10),
    "small": (0.0, 128.0**2),
    "medium": (128.0**2, 256.0**2),
    "large": (256.0**2, 1e10),
}
#: COCO's image area ranges.
COCO_AREA_RANGES = {
    "all": (0.0, 1e10),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e10),
}


def load_ytvis_gt(gt: str | os.PathLike | Mapping) -> dict:
    """The YouTube-VIS ground-truth dict (``videos``, ``categories``, ``annotations``) from a path
    or a dict."""
    data = load_json(gt, "ground-truth file")
    if not isinstance(data, Mapping) or "videos" not in data or "categories" not in data:
        raise EvaluationError(
            "ground truth must be a YouTube-VIS dict with 'videos' and 'categories'"
        )
    return dict(data)


def load_results(results: str | os.PathLike | Iterable[Mapping]) -> list[dict]:
    """The result list, from a path to ``results.json`` or a list of dicts."""
    results = load_json(results, "results file")
    if isinstance(results, Mapping):
        raise EvaluationError(
            "results must be a list of {video_id, category_id, score, segmentations}"
        )
    return list(results)


def _key(vid: Any) -> Any:
    """Video ids compare as ints when they look like ints (JSON may carry "7" or 7)."""
    if isinstance(vid, (str, float, np.integer)) and not isinstance(vid, bool):
        with contextlib.suppress(ValueError, OverflowError):
            if float(vid).is_integer():
                return int(float(vid))
    return vid


@dataclass
class _Track:
    """A ground-truth or predicted track: compressed RLEs of its non-empty frames."""

    video: int  # index of the video
    category: int
    rles: dict[int, dict]  # frame -> RLE
    score: float = 0.0
    iscrowd: int = 0
    area: float | None = None  # mean non-empty frame area
    areas: dict[int, int] = field(default_factory=dict)  # frame -> pixels


def _frames(
    segs: Any,
    video: tuple[int, int, int],
    where: str,
    polygons: bool,
    pending: list[tuple[str, dict]],
) -> dict[int, dict]:
    """Frame -> RLE of a track's non-null segmentations; their counts are queued in ``pending``."""
    h, w, length = video
    if not isinstance(segs, (list, tuple)):
        raise EvaluationError(f"{where}: 'segmentations' must be a list")
    if len(segs) != length:
        raise EvaluationError(f"{where}: {len(segs)} segmentations for a video of {length} frames")
    rles = {
        t: to_rle(s, h, w, f"{where}, frame {t}", EvaluationError, polygons)
        for t, s in enumerate(segs)
        if s is not None
    }
    rles = {
        t: rle for t, rle in rles.items() if rle is not None
    }  # polygons without 3+ points: empty
    pending.extend((f"{where}, frame {t}", rle) for t, rle in rles.items())
    return rles


def _set_areas(tracks: list[_Track]) -> None:
    """Frame areas of checked tracks; empty frames are dropped (they add nothing to any IoU)."""
    for tr in tracks:
        areas = mask_utils.area(list(tr.rles.values())) if tr.rles else []
        tr.areas = {t: int(a) for t, a in zip(tr.rles, areas) if a > 0}
        tr.rles = {t: tr.rles[t] for t in tr.areas}
        if tr.area is None:
            tr.area = float(np.mean(list(tr.areas.values()))) if tr.areas else 0.0


def _iou_matrix(dets: Sequence[_Track], gts: Sequence[_Track]) -> np.ndarray:
    """Track IoUs ``(len(dets), len(gts))``. Per frame, one ``mask.iou`` call with every GT flagged
    as crowd gives ``|d & g| / |d|``, so ``|d & g| = round(iou * |d|)`` (exact in double precision);
    unions follow from the summed areas: ``U = |D| + |G| - I``."""
    inter = np.zeros((len(dets), len(gts)))
    for t in sorted({t for d in dets for t in d.rles} & {t for g in gts for t in g.rles}):
        di = [i for i, d in enumerate(dets) if t in d.rles]
        gi = [j for j, g in enumerate(gts) if t in g.rles]
        frac = np.asarray(
            mask_utils.iou(
                [dets[i].rles[t] for i in di], [gts[j].rles[t] for j in gi], [1] * len(gi)
            )
        )
        inter[np.ix_(di, gi)] += np.rint(frac * np.array([dets[i].areas[t] for i in di])[:, None])
    volume = [
        np.array([sum(tr.areas.values()) for tr in trs], dtype=np.float64) for trs in (dets, gts)
    ]
    union = volume[0][:, None] + volume[1][None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def track_ious(
    dets: Sequence[Sequence[Mapping | None]], gts: Sequence[Sequence[Mapping | None]]
) -> np.ndarray:
    """Track IoUs ``(len(dets), len(gts))`` of tracks given as per-frame RLE dicts or ``None`` (one
    length and size)."""
    tracks = list(dets) + list(gts)
    length = len(tracks[0]) if tracks else 0
    h, w = next(
        (tuple(int(x) for x in s["size"]) for tr in tracks for s in tr if s is not None), (1, 1)
    )
    pending: list[tuple[str, dict]] = []
    parsed = [
        _Track(0, 0, _frames(tr, (h, w, length), f"track #{n}", False, pending))
        for n, tr in enumerate(tracks)
    ]
    check_counts(pending, EvaluationError)
    _set_areas(parsed)
    return _iou_matrix(parsed[: len(dets)], parsed[len(dets) :])


def _parse(gt: Mapping, results: list) -> tuple[dict, dict, list[_Track], list[_Track]]:
    """Videos ``{id: (h, w, length)}``, category names and the checked GT and predicted tracks
    (whose ``video`` is the video's index: COCOeval sorts image ids, so they must be of one
    type)."""
    videos = {}
    for v in gt["videos"]:
        length = len(v["file_names"]) if v.get("file_names") is not None else v.get("length")
        if length is None:
            raise EvaluationError(
                f"ground-truth video {v.get('id')!r} has neither 'file_names' nor 'length'"
            )
        videos[_key(v["id"])] = (int(v["height"]), int(v["width"]), int(length))
    index = {vid: n for n, vid in enumerate(videos)}
    categories = {int(c["id"]): c.get("name", str(c["id"])) for c in gt["categories"]}
    if gt.get("annotations") is None:
        raise EvaluationError("ground truth has no 'annotations': it cannot be scored locally")
    pending: list[tuple[str, dict]] = []
    gts = []
    for k, a in enumerate(gt["annotations"]):
        vid = _key(a.get("video_id"))
        if vid not in videos:
            raise EvaluationError(
                f"ground-truth annotation #{k}: unknown video_id {a.get('video_id')!r}"
            )
        where = f"ground-truth annotation #{k} (video {vid})"
        rles = _frames(a.get("segmentations") or [], videos[vid], where, True, pending)
        area = (
            None
            if a.get("areas") is None
            else float(np.mean([x for x in a["areas"] if x] or [0.0]))
        )
        gts.append(
            _Track(
                index[vid],
                int(a["category_id"]),
                rles,
                iscrowd=int(bool(a.get("iscrowd", 0))),
                area=area,
            )
        )
    dets = []
    for k, r in enumerate(results):
        if not isinstance(r, Mapping):
            raise EvaluationError(f"result #{k} is not a dict")
        for key in ("video_id", "category_id", "score", "segmentations"):
            if key not in r:
                raise EvaluationError(f"result #{k} has no '{key}'")
        vid = _key(r["video_id"])
        if vid not in videos:
            raise EvaluationError(f"result #{k}: unknown video_id {r['video_id']!r}")
        where = f"result #{k} (video {vid})"
        cat = _key(r["category_id"])
        if isinstance(cat, bool) or not isinstance(cat, int) or cat not in categories:
            raise EvaluationError(f"{where}: unknown category_id {r['category_id']!r}")
        score = math.nan
        with contextlib.suppress(TypeError, ValueError):
            score = float(r["score"])
        if not math.isfinite(score):
            raise EvaluationError(f"{where}: score {r['score']!r} is not a finite number")
        dets.append(
            _Track(
                index[vid],
                cat,
                _frames(r["segmentations"], videos[vid], where, False, pending),
                score,
            )
        )
    check_counts(pending, EvaluationError)
    _set_areas(gts + dets)
    return videos, categories, gts, dets


class _TrackEval(COCOeval):
    """COCOeval over (video, category) pairs with track IoUs."""

    def __init__(self, gts: list[_Track], dets: list[_Track]):
        super().__init__(iouType="segm")
        self.gt_tracks, self.det_tracks = gts, dets

    def _prepare(self) -> None:  # pycocotools hook: the GT / detection dicts per (video, category)
        self._gts, self._dts = defaultdict(list), defaultdict(list)
        for n, g in enumerate(self.gt_tracks):
            self._gts[g.video, g.category].append(
                {"id": n + 1, "area": g.area, "iscrowd": g.iscrowd, "ignore": g.iscrowd, "track": g}
            )
        for n, d in enumerate(self.det_tracks):
            self._dts[d.video, d.category].append(
                {"id": n + 1, "area": d.area, "score": d.score, "track": d}
            )
        self.evalImgs, self.eval = defaultdict(list), {}

    def computeIoU(self, imgId, catId):  # noqa: N802, N803 - pycocotools hook
        gts, dts = self._gts[imgId, catId], self._dts[imgId, catId]
        if not gts or not dts:
            return []
        dts = sorted(dts, key=lambda d: -d["score"])[
            : self.params.maxDets[-1]
        ]  # stable, as COCOeval
        return _iou_matrix([d["track"] for d in dts], [g["track"] for g in gts])


def _area_ranges(area_ranges: Any) -> list[list[float]]:
    table = {None: YTVIS_AREA_RANGES, "ytvis": YTVIS_AREA_RANGES, "coco": COCO_AREA_RANGES}
    if area_ranges is None or isinstance(area_ranges, str):
        if area_ranges not in table:
            raise EvaluationError(f"unknown area ranges {area_ranges!r} (use 'ytvis' or 'coco')")
        area_ranges = table[area_ranges]
    if not isinstance(area_ranges, Mapping) or any(k not in area_ranges for k in AREA_LABELS):
        raise EvaluationError(f"area_ranges needs the keys {AREA_LABELS}")
    return [[float(x) for x in area_ranges[k]] for k in AREA_LABELS]


def evaluate(
    gt: str | os.PathLike | Mapping,
    results: str | os.PathLike | Iterable[Mapping],
    *,
    area_ranges: Mapping[str, Sequence[float]] | str | None = None,
    max_dets: Sequence[int] = (1, 10, 100),
    per_category: bool = False,
) -> dict[str, float]:
    """``AP, AP50, AP75, APs, APm, APl``, ``AR<m>`` per ``max_dets`` (AP uses the largest) and, with
    ``per_category``, ``AP-<category name>`` of YouTube-VIS / OVIS track predictions. ``gt``: JSON
    path or dict with ``videos`` (``height``, ``width``, ``file_names`` or ``length``),
    ``categories`` and ``annotations`` (per-frame ``segmentations``: RLE, uncompressed RLE, polygons
    or null; optional ``areas``, ``iscrowd``). ``results``: the server format, a list (or JSON path)
    of ``{"video_id", "category_id", "score", "segmentations": [RLE or None per frame]}``.
    ``area_ranges``: ``"ytvis"`` (default), ``"coco"`` or ``{label: (lo, hi)}`` for all 4 labels."""
    gt, results = load_ytvis_gt(gt), load_results(results)
    if not results:
        logger.warning("no predictions to score: every AP and AR is 0")
    videos, categories, gts, dets = _parse(gt, results)
    max_dets = sorted(int(m) for m in max_dets)
    if not max_dets:
        raise EvaluationError("max_dets must not be empty")
    ev = _TrackEval(gts, dets)
    p = ev.params
    p.imgIds, p.catIds, p.maxDets = list(range(len(videos))), sorted(categories), max_dets
    p.areaRng, p.areaRngLbl = _area_ranges(area_ranges), list(AREA_LABELS)
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()

    def mean(
        kind: str,
        area: str = "all",
        max_det: int = max_dets[-1],
        iou: float | None = None,
        category: int | None = None,
    ) -> float:
        s = ev.eval[kind][..., AREA_LABELS.index(area), max_dets.index(max_det)]  # (T, [R,] K)
        s = s if iou is None else s[np.isclose(p.iouThrs, iou)]
        s = s if category is None else s[..., category]
        s = s[s > -1]  # -1: no ground truth in that range (COCOeval's convention)
        return float(np.mean(s)) * 100.0 if s.size else math.nan

    out = {
        "AP": mean("precision"),
        "AP50": mean("precision", iou=0.5),
        "AP75": mean("precision", iou=0.75),
        "APs": mean("precision", "small"),
        "APm": mean("precision", "medium"),
        "APl": mean("precision", "large"),
    }
    out.update({f"AR{m}": mean("recall", max_det=m) for m in max_dets})
    if per_category:
        out.update(
            {f"AP-{categories[c]}": mean("precision", category=k) for k, c in enumerate(p.catIds)}
        )
    return out


def _ytvis22_sources(gt: Any) -> tuple[Any, Any, Any]:
    """(short, long, full or None) ground truths from a folder or a dict."""
    if isinstance(gt, (str, os.PathLike)):
        if not os.path.isdir(gt):
            raise EvaluationError(
                f"YouTube-VIS 2022 ground-truth folder not found: {os.fspath(gt)}"
            )
        full = os.path.join(gt, "gt.json")
        return (
            os.path.join(gt, "gt_short.json"),
            os.path.join(gt, "gt_long.json"),
            full if os.path.exists(full) else None,
        )
    if not isinstance(gt, Mapping) or "short" not in gt or "long" not in gt:
        raise EvaluationError(
            "YouTube-VIS 2022 ground truth: give a folder or {'short', 'long'[, 'full']}"
        )
    return gt["short"], gt["long"], gt.get("full")


def evaluate_ytvis22(
    gt: str | os.PathLike | Mapping,
    results: str | os.PathLike | Iterable[Mapping],
    *,
    area_ranges: Any = None,
    max_dets: Sequence[int] = (1, 10, 100),
) -> dict[str, float]:
    """YouTube-VIS 2022 validation, short and long videos scored apart, in percent: ``mAP, AP50,
    AP75, AR1, AR10`` with suffixes ``_S`` / ``_L``, ``mAP = (mAP_S + mAP_L) / 2`` and the model-zoo
    names ``AP^L`` (= mAP_L) and ``AR^L_10`` (= AR10_L). ``gt``: a folder with ``gt_short.json``,
    ``gt_long.json`` (and optionally ``gt.json``, all videos), or ``{"short", "long"[, "full"]}``
    paths or dicts. Every result must belong to a known video (of ``gt.json`` if given, else short +
    long)."""
    short, long, full = _ytvis22_sources(gt)
    results = load_results(results)
    subsets = {"S": load_ytvis_gt(short), "L": load_ytvis_gt(long)}
    known = [load_ytvis_gt(full)] if full is not None else list(subsets.values())
    known_ids = {_key(v["id"]) for g in known for v in g["videos"]}
    for k, r in enumerate(results):
        if isinstance(r, Mapping) and _key(r.get("video_id")) not in known_ids:
            raise EvaluationError(f"result #{k}: unknown video_id {r.get('video_id')!r}")
    out: dict[str, float] = {}
    for tag, sub in subsets.items():
        ids = {_key(v["id"]) for v in sub["videos"]}
        mine = [r for r in results if not isinstance(r, Mapping) or _key(r.get("video_id")) in ids]
        m = evaluate(sub, mine, area_ranges=area_ranges, max_dets=max_dets)
        for name, key in (
            ("mAP", "AP"),
            ("AP50", "AP50"),
            ("AP75", "AP75"),
            ("AR1", "AR1"),
            ("AR10", "AR10"),
        ):
            out[f"{name}_{tag}"] = m.get(key, math.nan)
    out.update(
        {"mAP": (out["mAP_S"] + out["mAP_L"]) / 2.0, "AP^L": out["mAP_L"], "AR^L_10": out["AR10_L"]}
    )
    return out
