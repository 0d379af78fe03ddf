"""YouTube-VIS / OVIS track AP and AR (SPEC 6.1) and the YouTube-VIS 2022 protocol (SPEC 6.2).

The protocol is COCO's, applied to *tracks* instead of image masks:

* every (video, category) pair plays the role of a COCO (image, category) pair;
* the IoU between a predicted track ``d`` and a ground-truth track ``g`` is
  ``sum_t |d_t & g_t| / sum_t |d_t | g_t|`` over the frames of the video, where a frame in which
  only one of them is present adds that mask's area to the union and nothing to the
  intersection (equivalently: the volumetric IoU of the two stacked masks);
* a track's size ("area") is the mean of its non-empty per-frame areas; for ground truth the
  JSON ``areas`` list is used when present (as the official tools do), otherwise the areas of the
  decoded masks;
* area ranges are small < 128^2 < medium < 256^2 < large (not COCO's 32/96);
* crowd ground truth (``iscrowd=1``) is ignored, may absorb any number of detections, and uses
  the same track IoU as everything else (the video tools do not use COCO's crowd IoU);
* at most ``max_dets[-1]`` (100) detections per (video, category), 10 IoU thresholds
  0.50:0.05:0.95, 101 recall points.

The per-(video, category) matching, accumulation and the precision/recall arrays are
pycocotools' own :class:`~pycocotools.cocoeval.COCOeval` code: :class:`_TrackEval` only replaces
how the ground truth and detections are gathered (``_prepare``) and how IoUs are computed
(``computeIoU``, from track IoUs computed here with vectorised RLE operations).

Public API: :func:`evaluate`, :func:`evaluate_ytvis22`, :func:`track_ious`, :func:`load_ytvis_gt`,
:func:`load_results`, and the area-range tables :data:`YTVIS_AREA_RANGES`,
:data:`COCO_AREA_RANGES`. Results are percentages; undefined values (e.g. APs when the ground
truth has no small objects) are ``nan``.
"""
from __future__ import annotations

import contextlib
import io
import logging
import math
import os
from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.cocoeval import COCOeval

from .errors import EvaluationError
from .panoptic_io import load_json

__all__ = [
    "evaluate",
    "evaluate_ytvis22",
    "track_ious",
    "load_ytvis_gt",
    "load_results",
    "YTVIS_AREA_RANGES",
    "COCO_AREA_RANGES",
]

logger = logging.getLogger(__name__)

AREA_LABELS = ("all", "small", "medium", "large")
#: Area ranges of the YouTube-VIS / OVIS protocol (object size = mean non-empty frame area).
YTVIS_AREA_RANGES: dict[str, tuple[float, float]] = {
    "all": (0.0, 1e10),
    "small": (0.0, 128.0**2),
    "medium": (128.0**2, 256.0**2),
    "large": (256.0**2, 1e10),
}
#: COCO's image area ranges (used by the tests to compare with pycocotools on images).
COCO_AREA_RANGES: dict[str, tuple[float, float]] = {
    "all": (0.0, 1e10),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e10),
}


# --------------------------------------------------------------------------------------------
# Loading and validating inputs
# --------------------------------------------------------------------------------------------
def _read_json(path: str | os.PathLike, what: str) -> Any:
    return load_json(os.fspath(path), what)


def load_ytvis_gt(gt: str | os.PathLike | Mapping) -> dict:
    """Return the YouTube-VIS ground-truth dict (``videos``, ``categories``, ``annotations``).

    ``gt`` may be a path to the JSON file or the already-loaded dict (returned unchanged).
    """
    if isinstance(gt, Mapping):
        data = gt
    else:
        data = _read_json(gt, "ground-truth file")
    if not isinstance(data, Mapping) or "videos" not in data or "categories" not in data:
        raise EvaluationError("ground truth must be a YouTube-VIS dict with 'videos' and 'categories'")
    return dict(data)


def load_results(results: str | os.PathLike | Iterable[Mapping]) -> list[dict]:
    """Return the result list; ``results`` is a list of dicts or a path to ``results.json``."""
    if isinstance(results, (str, os.PathLike)):
        results = _read_json(results, "results file")
    if isinstance(results, Mapping):
        raise EvaluationError("results must be a list of {video_id, category_id, score, segmentations}")
    return list(results)


def _frame_count(video: Mapping) -> int:
    if "file_names" in video and video["file_names"] is not None:
        return len(video["file_names"])
    if "length" in video:
        return int(video["length"])
    raise EvaluationError(f"ground-truth video {video.get('id')!r} has neither 'file_names' nor 'length'")


def _decode_counts(strings: Sequence[str], sizes: Sequence[int]) -> list[str | None]:
    """Check COCO compressed-RLE ``counts`` strings without decoding any mask.

    Vectorised over all strings at once: parses the 5-bit LEB128-like groups of the COCO RLE
    string format (6 bits per character offset by 48; bit 0x20 = "more characters follow", bit
    0x10 of the last character = sign), undoes the delta coding (run ``j >= 3`` is stored relative
    to run ``j - 2``) and checks that every run length is >= 0 and that the runs add up to the
    image size (``sizes[i] = h*w``). Returns one message (or None) per string.
    """
    n = len(strings)
    errors: list[str | None] = [None] * n
    if n == 0:
        return errors
    try:
        raw = "".join(strings).encode("ascii")
    except UnicodeEncodeError:
        for i, s in enumerate(strings):
            try:
                s.encode("ascii")
            except UnicodeEncodeError:
                errors[i] = "RLE counts contain non-ASCII characters"
        good = [i for i in range(n) if errors[i] is None]
        sub = _decode_counts([strings[i] for i in good], [sizes[i] for i in good])
        for i, e in zip(good, sub):
            errors[i] = e
        return errors
    lens = np.fromiter((len(s) for s in strings), dtype=np.int64, count=n)
    sizes_a = np.asarray(sizes, dtype=np.int64)
    ends_cum = np.cumsum(lens)
    starts = ends_cum - lens
    buf = np.frombuffer(raw, dtype=np.uint8)
    msg: dict[int, str] = {}

    def _flag(string_idx: Iterable[int], text: str) -> None:
        for i in np.unique(np.asarray(list(string_idx), dtype=np.int64)).tolist():
            msg.setdefault(i, text)

    empty = lens == 0
    _flag(np.flatnonzero(empty & (sizes_a != 0)), "RLE counts are empty")
    out_of_range = np.flatnonzero((buf < 48) | (buf > 111))
    if out_of_range.size:
        _flag(np.searchsorted(ends_cum, out_of_range, side="right"), "RLE counts contain invalid characters")
    c = buf - np.uint8(48)  # wraps for invalid characters, which are flagged already
    more = (c & 0x20) != 0
    nonempty = np.flatnonzero(~empty)
    last = ends_cum[nonempty] - 1
    _flag(nonempty[more[last]], "RLE counts string is truncated")
    more[last] = False  # a group never spans two strings
    group_end = np.flatnonzero(~more)
    num_groups = group_end.size
    totals = np.zeros(n, dtype=np.int64)
    if num_groups:
        group_start = np.empty_like(group_end)
        group_start[0] = 0
        group_start[1:] = group_end[:-1] + 1
        glen = group_end - group_start + 1
        string_of_group = np.searchsorted(ends_cum, group_end, side="right")
        too_long = glen > 12
        if too_long.any():
            _flag(string_of_group[too_long], "RLE counts contain an impossibly large run")
        x = (c[group_start] & 0x1F).astype(np.int64)
        for j in range(1, min(int(glen.max()), 12)):
            sel = np.flatnonzero(glen > j)
            x[sel] |= (c[group_start[sel] + j] & 0x1F).astype(np.int64) << (5 * j)
        neg = (c[group_end] & 0x10) != 0
        x[neg] -= np.int64(1) << np.minimum(5 * np.minimum(glen[neg], 12), 62)
        first_group = np.searchsorted(group_end, starts, side="left")
        base = first_group[string_of_group]
        j = np.arange(num_groups) - base
        odd = (j & 1) == 1
        even_chain = ((j & 1) == 0) & (j >= 2)
        cs_odd = np.zeros(num_groups + 1, dtype=np.int64)
        np.cumsum(np.where(odd, x, 0), out=cs_odd[1:])
        cs_even = np.zeros(num_groups + 1, dtype=np.int64)
        np.cumsum(np.where(even_chain, x, 0), out=cs_even[1:])
        counts = np.where(j == 0, x, np.where(odd, cs_odd[1:] - cs_odd[base], cs_even[1:] - cs_even[base]))
        limit = sizes_a[string_of_group]
        invalid_run = (counts < 0) | (counts > limit)
        if invalid_run.any():
            _flag(string_of_group[invalid_run], "RLE counts decode to a negative or oversized run")
            counts = np.clip(counts, 0, limit)
        csum = np.zeros(num_groups + 1, dtype=np.int64)
        np.cumsum(counts, out=csum[1:])
        last_group = np.searchsorted(group_end, ends_cum, side="left")  # one past each string's groups
        totals = csum[last_group] - csum[first_group]
    for i in np.flatnonzero((totals != sizes_a) & ~empty).tolist():
        msg.setdefault(i, f"RLE runs add up to {int(totals[i])} pixels, not height*width = {int(sizes_a[i])}")
    for i, text in msg.items():
        errors[i] = text
    return errors


def _check_pending(pending: list[tuple[str, int, str, int]], chunk_chars: int = 1 << 18) -> None:
    """Validate ``(where, frame, counts, h*w)`` entries in vectorised batches; raise on the first bad one."""
    start = 0
    while start < len(pending):
        stop, chars = start, 0
        while stop < len(pending) and (chars < chunk_chars or stop == start):
            chars += len(pending[stop][2])
            stop += 1
        part = pending[start:stop]
        errs = _decode_counts([p[2] for p in part], [p[3] for p in part])
        for (where, t, _, _), e in zip(part, errs):
            if e is not None:
                raise EvaluationError(f"{where}, frame {t}: malformed RLE: {e}")
        start = stop


def _normalise_rles(
    segs: list[tuple[int, Any]], h: int, w: int, where: str, allow_polygons: bool,
    pending: list | None = None,
) -> list[tuple[int, dict]]:
    """Turn ``[(frame, segmentation)]`` into ``[(frame, compressed RLE)]``, validating each one.

    ``where`` is a prefix for error messages (e.g. "result #3 (video 7)"). Compressed ``counts``
    strings are checked by :func:`_check_pending`: immediately, or later in one batch when a
    ``pending`` list is given (much faster over many tracks).
    """
    out: list[tuple[int, dict] | None] = [None] * len(segs)
    compressed_idx: list[int] = []
    uncompressed: list[tuple[int, dict]] = []
    polygons: list[tuple[int, list]] = []
    for i, (t, s) in enumerate(segs):
        if isinstance(s, dict) or isinstance(s, Mapping):
            if "counts" not in s or "size" not in s:
                raise EvaluationError(f"{where}, frame {t}: RLE needs 'size' and 'counts'")
            size = s["size"]
            try:
                sh, sw = (int(v) for v in size)
            except (TypeError, ValueError):
                raise EvaluationError(f"{where}, frame {t}: RLE size {size!r} is not [height, width]") from None
            if (sh, sw) != (h, w):
                raise EvaluationError(
                    f"{where}, frame {t}: RLE size [{sh}, {sw}] does not match the video size [{h}, {w}]"
                )
            counts = s["counts"]
            if isinstance(counts, bytes):
                try:
                    counts = counts.decode("ascii")
                except UnicodeDecodeError:
                    raise EvaluationError(f"{where}, frame {t}: RLE counts are not ASCII") from None
            if isinstance(counts, str):
                out[i] = (t, {"size": [h, w], "counts": counts})
                compressed_idx.append(i)
            elif isinstance(counts, (list, tuple)):
                try:
                    ok = all(isinstance(c, (int, np.integer)) for c in counts) and (
                        not counts or min(counts) >= 0) and sum(counts) == h * w
                except TypeError:
                    ok = False
                if not ok:
                    raise EvaluationError(
                        f"{where}, frame {t}: uncompressed RLE counts must be non-negative integers adding "
                        f"up to height*width = {h * w}"
                    )
                uncompressed.append((i, {"size": [h, w], "counts": list(counts)}))
            else:
                raise EvaluationError(f"{where}, frame {t}: RLE counts of type {type(counts).__name__}")
        elif allow_polygons and isinstance(s, list):
            polys = [p for p in s if len(p) >= 6]
            if not polys:
                out[i] = (t, mask_utils.encode(np.zeros((h, w, 1), dtype=np.uint8, order="F"))[0])
            else:
                polygons.append((i, polys))
        else:
            raise EvaluationError(f"{where}, frame {t}: segmentation must be an RLE dict or null")
    checks = [(where, segs[i][0], out[i][1]["counts"], h * w) for i in compressed_idx]
    if pending is None:
        _check_pending(checks)
    else:
        pending.extend(checks)
    if uncompressed:
        rles = mask_utils.frPyObjects([r for _, r in uncompressed], h, w)
        for (i, _), r in zip(uncompressed, rles):
            out[i] = (segs[i][0], r)
    for i, polys in polygons:
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
        out[i] = (segs[i][0], rle)
    return out  # type: ignore[return-value]


class _Video:
    __slots__ = ("id", "height", "width", "length")

    def __init__(self, vid: Any, height: int, width: int, length: int):
        self.id, self.height, self.width, self.length = vid, height, width, length


class _Track:
    """A GT or predicted track: per-frame compressed RLEs of its non-null frames."""

    __slots__ = ("uid", "video_id", "category_id", "score", "iscrowd", "area", "frames", "rles", "vol",
                 "frame_areas")

    def __init__(self, uid, video_id, category_id, score, iscrowd, frames, rles):
        self.uid = uid
        self.video_id = video_id
        self.category_id = category_id
        self.score = score
        self.iscrowd = iscrowd
        self.frames = frames  # list[int]
        self.rles = rles  # list[dict]
        self.area = 0.0
        self.vol = 0
        self.frame_areas = np.zeros(0)


def _key(vid: Any) -> Any:
    """Video ids compare as ints when they look like ints (JSON may carry "7" or 7)."""
    if isinstance(vid, bool):
        return vid
    if isinstance(vid, (int, np.integer)):
        return int(vid)
    if isinstance(vid, float) and vid.is_integer():
        return int(vid)
    if isinstance(vid, str):
        try:
            return int(vid)
        except ValueError:
            return vid
    return vid


def _parse_gt(gt: Mapping) -> tuple[dict, dict, list[_Track]]:
    videos: dict[Any, _Video] = {}
    for v in gt["videos"]:
        vid = _key(v["id"])
        videos[vid] = _Video(vid, int(v["height"]), int(v["width"]), _frame_count(v))
    categories = {int(c["id"]): c for c in gt["categories"]}
    anns = gt.get("annotations")
    if anns is None:
        raise EvaluationError("ground truth has no 'annotations': it cannot be scored locally")
    tracks: list[_Track] = []
    pending: list = []
    for k, a in enumerate(anns):
        vid = _key(a.get("video_id"))
        if vid not in videos:
            raise EvaluationError(f"ground-truth annotation #{k}: unknown video_id {a.get('video_id')!r}")
        v = videos[vid]
        segs = a.get("segmentations") or []
        where = f"ground-truth annotation #{k} (video {vid})"
        if len(segs) != v.length:
            raise EvaluationError(f"{where}: {len(segs)} segmentations for a video of {v.length} frames")
        present = [(t, s) for t, s in enumerate(segs) if s]
        norm = _normalise_rles(present, v.height, v.width, where, allow_polygons=True, pending=pending)
        tr = _Track(len(tracks) + 1, vid, int(a["category_id"]), None, int(bool(a.get("iscrowd", 0))),
                    [t for t, _ in norm], [r for _, r in norm])
        tr.area = None if a.get("areas") is None else _mean_nonempty(a["areas"])
        tracks.append(tr)
    _check_pending(pending)
    return videos, categories, tracks


def _mean_nonempty(areas: Iterable[Any]) -> float:
    vals = [float(x) for x in areas if x]
    return float(np.mean(vals)) if vals else 0.0


def _parse_results(results: list[Mapping], videos: Mapping, categories: Mapping) -> list[_Track]:
    tracks: list[_Track] = []
    pending: list = []
    for k, r in enumerate(results):
        if not isinstance(r, Mapping):
            raise EvaluationError(f"result #{k} is not a dict")
        for field in ("video_id", "category_id", "score", "segmentations"):
            if field not in r:
                raise EvaluationError(f"result #{k} has no '{field}'")
        vid = _key(r["video_id"])
        if vid not in videos:
            raise EvaluationError(f"result #{k}: unknown video_id {r['video_id']!r}")
        try:
            cat = int(r["category_id"])
        except (TypeError, ValueError):
            cat = None
        if cat not in categories or isinstance(r["category_id"], bool):
            raise EvaluationError(f"result #{k} (video {vid}): unknown category_id {r['category_id']!r}")
        try:
            score = float(r["score"])
        except (TypeError, ValueError):
            score = float("nan")
        if not math.isfinite(score):
            raise EvaluationError(f"result #{k} (video {vid}): score {r['score']!r} is not a finite number")
        v = videos[vid]
        segs = r["segmentations"]
        if not isinstance(segs, (list, tuple)):
            raise EvaluationError(f"result #{k} (video {vid}): 'segmentations' must be a list")
        if len(segs) != v.length:
            raise EvaluationError(
                f"result #{k} (video {vid}): {len(segs)} segmentations for a video of {v.length} frames"
            )
        present = [(t, s) for t, s in enumerate(segs) if s is not None]
        norm = _normalise_rles(present, v.height, v.width, f"result #{k} (video {vid})", allow_polygons=False,
                               pending=pending)
        tracks.append(_Track(len(tracks) + 1, vid, cat, score, 0, [t for t, _ in norm], [rr for _, rr in norm]))
    _check_pending(pending)
    return tracks


# --------------------------------------------------------------------------------------------
# Track IoU
# --------------------------------------------------------------------------------------------
def _video_ious(dets: list[_Track], gts: list[_Track], length: int) -> np.ndarray:
    """Track IoU matrix (len(dets), len(gts)) for the tracks of one video.

    Per frame, pairwise intersections come from one vectorised ``mask.iou`` call with every GT
    flagged as crowd (then ``iou = |d & g| / |d|``, so ``|d & g| = round(iou * |d|)``, exact in
    double precision); unions follow from the summed areas: ``U = |D| + |G| - I``.
    """
    inter = np.zeros((len(dets), len(gts)), dtype=np.float64)
    if not dets or not gts:
        return inter
    det_frames: list[list[tuple[int, dict, float]]] = [[] for _ in range(length)]
    gt_frames: list[list[tuple[int, dict]]] = [[] for _ in range(length)]
    for i, d in enumerate(dets):
        for t, r, a in zip(d.frames, d.rles, d.frame_areas.tolist()):
            if a > 0:
                det_frames[t].append((i, r, float(a)))
    for j, g in enumerate(gts):
        for t, r, a in zip(g.frames, g.rles, g.frame_areas.tolist()):
            if a > 0:
                gt_frames[t].append((j, r))
    for t in range(length):
        df, gf = det_frames[t], gt_frames[t]
        if not df or not gf:
            continue
        frac = np.asarray(mask_utils.iou([x[1] for x in df], [x[1] for x in gf], [1] * len(gf)))
        areas = np.array([x[2] for x in df])
        di = np.array([x[0] for x in df])
        gi = np.array([x[0] for x in gf])
        np.add.at(inter, (di[:, None], gi[None, :]), np.rint(frac * areas[:, None]))
    dvol = np.array([float(d.vol) for d in dets])
    gvol = np.array([float(g.vol) for g in gts])
    union = dvol[:, None] + gvol[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        ious = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return ious


def _set_areas(tracks: list[_Track], keep_given: bool) -> None:
    for tr in tracks:
        areas = mask_utils.area(tr.rles) if tr.rles else np.zeros(0, dtype=np.int64)
        tr.frame_areas = np.asarray(areas, dtype=np.int64)
        tr.vol = int(np.sum(areas, dtype=np.int64))
        if not (keep_given and tr.area is not None):
            tr.area = _mean_nonempty(areas.tolist())


def track_ious(
    dets: Sequence[Sequence[Mapping | None]], gts: Sequence[Sequence[Mapping | None]]
) -> np.ndarray:
    """Track IoU matrix ``(len(dets), len(gts))`` between tracks given as per-frame RLE lists.

    Each track is a list (one entry per frame) of a COCO RLE dict or ``None``; all tracks must
    have the same number of frames and the same frame size. IoU = sum of per-frame intersections
    / sum of per-frame unions (frames where only one track is present add its area to the union).
    """
    all_tracks = list(dets) + list(gts)
    if not all_tracks:
        return np.zeros((0, 0))
    length = len(all_tracks[0])
    size = None
    for tr in all_tracks:
        if len(tr) != length:
            raise EvaluationError("all tracks must have the same number of frames")
        for s in tr:
            if s is not None:
                size = tuple(int(x) for x in s["size"])
                break
        if size:
            break
    h, w = size if size else (1, 1)

    def mk(lst, kind):
        out = []
        for n, tr in enumerate(lst):
            present = [(t, s) for t, s in enumerate(tr) if s is not None]
            norm = _normalise_rles(present, h, w, f"{kind} track #{n}", allow_polygons=False)
            out.append(_Track(n + 1, 0, 0, 0.0, 0, [t for t, _ in norm], [r for _, r in norm]))
        _set_areas(out, keep_given=False)
        return out

    return _video_ious(mk(dets, "detection"), mk(gts, "ground-truth"), length)


# --------------------------------------------------------------------------------------------
# COCOeval driven with tracks
# --------------------------------------------------------------------------------------------
class _TrackEval(COCOeval):
    """pycocotools' COCOeval with (video, category) as the unit and precomputed track IoUs."""

    def __init__(self, gts: list[dict], dts: list[dict], ious: Mapping[Any, np.ndarray]):
        super().__init__(None, None, "segm")
        self._gt_list = gts
        self._dt_list = dts
        self._video_ious = ious  # video id -> (num dets in video, num gts in video)

    def _prepare(self) -> None:  # noqa: D401 - pycocotools hook
        self._gts = defaultdict(list)
        self._dts = defaultdict(list)
        for g in self._gt_list:
            g["ignore"] = int(bool(g["iscrowd"]))
            self._gts[g["image_id"], g["category_id"]].append(g)
        for d in self._dt_list:
            self._dts[d["image_id"], d["category_id"]].append(d)
        self.evalImgs = defaultdict(list)
        self.eval = {}

    def computeIoU(self, imgId, catId):  # noqa: N802, N803 - pycocotools hook
        gt = self._gts[imgId, catId]
        dt = self._dts[imgId, catId]
        if len(gt) == 0 or len(dt) == 0:
            return []
        order = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[i] for i in order][: self.params.maxDets[-1]]
        m = self._video_ious[imgId]
        return m[np.ix_([d["_row"] for d in dt], [g["_col"] for g in gt])]


def _area_ranges(area_ranges: Any) -> list[tuple[float, float]]:
    if area_ranges is None:
        area_ranges = YTVIS_AREA_RANGES
    if isinstance(area_ranges, str):
        table = {"ytvis": YTVIS_AREA_RANGES, "coco": COCO_AREA_RANGES}
        if area_ranges not in table:
            raise EvaluationError(f"unknown area ranges {area_ranges!r} (use 'ytvis' or 'coco')")
        area_ranges = table[area_ranges]
    if isinstance(area_ranges, Mapping):
        missing = [k for k in AREA_LABELS if k not in area_ranges]
        if missing:
            raise EvaluationError(f"area_ranges lacks {missing}")
        return [tuple(float(x) for x in area_ranges[k]) for k in AREA_LABELS]  # type: ignore[misc]
    rngs = [tuple(float(x) for x in r) for r in area_ranges]
    if len(rngs) != 4:
        raise EvaluationError("area_ranges needs 4 ranges: all, small, medium, large")
    return rngs  # type: ignore[return-value]


def _summarize(ev: COCOeval, ap: bool, iou_thr: float | None, area: str, max_det: int) -> float:
    """Mean of the valid (> -1) precision / recall entries, as COCOeval.summarize does."""
    p = ev.params
    a = list(p.areaRngLbl).index(area)
    m = list(p.maxDets).index(max_det)
    s = ev.eval["precision"][..., a, m] if ap else ev.eval["recall"][..., a, m]
    if iou_thr is not None:
        s = s[np.flatnonzero(np.isclose(p.iouThrs, iou_thr))]
    valid = s[s > -1]
    return float(np.mean(valid)) if valid.size else -1.0


def _pct(x: float) -> float:
    return float(x) * 100.0 if x >= 0 else float("nan")


def _evaluate_parsed(
    videos: Mapping, categories: Mapping, gt_tracks: list[_Track], det_tracks: list[_Track],
    area_ranges: Any, max_dets: Sequence[int], per_category: bool,
) -> dict[str, float]:
    max_dets = sorted(int(m) for m in max_dets)
    if not max_dets:
        raise EvaluationError("max_dets must not be empty")
    gts_by_video: dict[Any, list[_Track]] = defaultdict(list)
    dets_by_video: dict[Any, list[_Track]] = defaultdict(list)
    for g in gt_tracks:
        gts_by_video[g.video_id].append(g)
    for d in det_tracks:
        dets_by_video[d.video_id].append(d)
    ious: dict[Any, np.ndarray] = {}
    for vid, v in videos.items():
        ious[vid] = _video_ious(dets_by_video.get(vid, []), gts_by_video.get(vid, []), v.length)

    gt_dicts, dt_dicts = [], []
    for vid in videos:
        for col, g in enumerate(gts_by_video.get(vid, [])):
            gt_dicts.append({"id": g.uid, "image_id": vid, "category_id": g.category_id,
                             "iscrowd": g.iscrowd, "area": g.area, "_col": col})
        for row, d in enumerate(dets_by_video.get(vid, [])):
            dt_dicts.append({"id": d.uid, "image_id": vid, "category_id": d.category_id,
                             "score": d.score, "area": d.area, "_row": row})

    ev = _TrackEval(gt_dicts, dt_dicts, ious)
    p = ev.params
    p.imgIds = list(videos.keys())
    p.catIds = sorted(categories.keys())
    p.maxDets = max_dets
    p.areaRng = [list(r) for r in _area_ranges(area_ranges)]
    p.areaRngLbl = list(AREA_LABELS)
    with contextlib.redirect_stdout(io.StringIO()):
        # COCOeval.evaluate runs np.unique on imgIds, which needs one comparable type.
        keys = list(videos.keys())
        if len({type(k) for k in keys}) > 1:
            remap = {k: n for n, k in enumerate(keys)}
            for dct in gt_dicts + dt_dicts:
                dct["image_id"] = remap[dct["image_id"]]
            ev._video_ious = {remap[k]: m for k, m in ious.items()}
            p.imgIds = list(range(len(keys)))
        ev.evaluate()
        ev.accumulate()

    top = max_dets[-1]
    out = {
        "AP": _pct(_summarize(ev, True, None, "all", top)),
        "AP50": _pct(_summarize(ev, True, 0.5, "all", top)),
        "AP75": _pct(_summarize(ev, True, 0.75, "all", top)),
        "APs": _pct(_summarize(ev, True, None, "small", top)),
        "APm": _pct(_summarize(ev, True, None, "medium", top)),
        "APl": _pct(_summarize(ev, True, None, "large", top)),
    }
    for m in max_dets:
        out[f"AR{m}"] = _pct(_summarize(ev, False, None, "all", m))
    if per_category:
        prec = ev.eval["precision"]  # (T, R, K, A, M)
        for k, cid in enumerate(p.catIds):
            s = prec[:, :, k, 0, -1]
            s = s[s > -1]
            name = categories[cid].get("name", str(cid))
            out[f"AP-{name}"] = float(np.mean(s)) * 100.0 if s.size else float("nan")
    return out


def evaluate(
    gt: str | os.PathLike | Mapping,
    results: str | os.PathLike | Iterable[Mapping],
    *,
    area_ranges: Mapping[str, Sequence[float]] | Sequence[Sequence[float]] | str | None = None,
    max_dets: Sequence[int] = (1, 10, 100),
    per_category: bool = False,
) -> dict[str, float]:
    """Score YouTube-VIS / OVIS style track predictions (SPEC 6.1).

    Args:
        gt: ground-truth JSON path or dict (``videos`` with ``height``, ``width`` and
            ``file_names`` or ``length``; ``categories``; ``annotations`` with per-frame
            ``segmentations`` (RLE, uncompressed RLE, polygons or null) and optional ``areas``,
            ``iscrowd``).
        results: list (or JSON path) of ``{"video_id", "category_id", "score",
            "segmentations": [RLE or None per frame]}`` (the server format). Every track must
            have exactly one entry per frame of its video.
        area_ranges: ``{"all", "small", "medium", "large"} -> (lo, hi)``, a list of 4 ranges in
            that order, or ``"ytvis"`` (default: 128^2 / 256^2) / ``"coco"`` (32^2 / 96^2).
        max_dets: detection limits for AR; AP uses the last (largest) one.
        per_category: also return ``AP-<category name>`` entries.

    Returns:
        ``{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100"}`` in percent
        (``nan`` where COCO reports -1, i.e. no ground truth in that area range).

    Raises:
        EvaluationError: unknown video or category, wrong number of frames, malformed RLE or an
            RLE whose size differs from the video's.
    """
    gt = load_ytvis_gt(gt)
    results = load_results(results)
    if not results:
        logger.warning("no predictions to score: every AP and AR is 0")
    videos, categories, gt_tracks = _parse_gt(gt)
    det_tracks = _parse_results(results, videos, categories)
    _set_areas(gt_tracks, keep_given=True)
    _set_areas(det_tracks, keep_given=False)
    return _evaluate_parsed(videos, categories, gt_tracks, det_tracks, area_ranges, max_dets, per_category)


# --------------------------------------------------------------------------------------------
# YouTube-VIS 2022 (short + long videos)
# --------------------------------------------------------------------------------------------
def _ytvis22_paths(gt: Any) -> tuple[Any, Any, Any]:
    if isinstance(gt, (str, os.PathLike)):
        d = os.fspath(gt)
        if not os.path.isdir(d):
            raise EvaluationError(f"YouTube-VIS 2022 ground-truth folder not found: {d}")
        full = os.path.join(d, "gt.json")
        return (os.path.join(d, "gt_short.json"), os.path.join(d, "gt_long.json"),
                full if os.path.exists(full) else None)
    if isinstance(gt, Mapping):
        if "short" not in gt or "long" not in gt:
            raise EvaluationError("YouTube-VIS 2022 ground truth needs 'short' and 'long' entries")
        return gt["short"], gt["long"], gt.get("full")
    items = list(gt)
    if len(items) not in (2, 3):
        raise EvaluationError("YouTube-VIS 2022 ground truth: give (gt_short, gt_long[, gt])")
    return items[0], items[1], (items[2] if len(items) == 3 else None)


def evaluate_ytvis22(
    gt: str | os.PathLike | Mapping | Sequence,
    results: str | os.PathLike | Iterable[Mapping],
    *,
    area_ranges: Any = None,
    max_dets: Sequence[int] = (1, 10, 100),
) -> dict[str, float]:
    """YouTube-VIS 2022 validation protocol (SPEC 6.2): short and long videos scored apart.

    Args:
        gt: the folder holding ``gt_short.json`` and ``gt_long.json`` (and optionally ``gt.json``,
            all validation videos), or ``{"short": ..., "long": ..., "full": ...}`` / a
            ``(short, long[, full])`` sequence of paths or dicts.
        results: the full ``results.json`` (list or path). Results are checked against the full
            ground truth (``gt.json`` if given, else short + long); each subset is then scored on
            the results of its own videos.

    Returns:
        ``mAP_S, AP50_S, AP75_S, AR1_S, AR10_S, mAP_L, AP50_L, AP75_L, AR1_L, AR10_L``,
        ``mAP = (mAP_S + mAP_L) / 2`` and the model-zoo names ``AP^L`` (= mAP_L) and
        ``AR^L_10`` (= AR10_L), all in percent.
    """
    short_src, long_src, full_src = _ytvis22_paths(gt)
    results = load_results(results)
    subsets = {"S": load_ytvis_gt(short_src), "L": load_ytvis_gt(long_src)}
    if full_src is not None:
        full = load_ytvis_gt(full_src)
        known = {_key(v["id"]) for v in full["videos"]}
    else:
        known = {_key(v["id"]) for s in subsets.values() for v in s["videos"]}
    for k, r in enumerate(results):
        if isinstance(r, Mapping) and _key(r.get("video_id")) not in known:
            raise EvaluationError(f"result #{k}: unknown video_id {r.get('video_id')!r}")
    out: dict[str, float] = {}
    for tag, sub in subsets.items():
        ids = {_key(v["id"]) for v in sub["videos"]}
        mine = [r for r in results if not isinstance(r, Mapping) or _key(r.get("video_id")) in ids]
        m = evaluate(sub, mine, area_ranges=area_ranges, max_dets=max_dets)
        out[f"mAP_{tag}"] = m["AP"]
        out[f"AP50_{tag}"] = m["AP50"]
        out[f"AP75_{tag}"] = m["AP75"]
        out[f"AR1_{tag}"] = m.get("AR1", float("nan"))
        out[f"AR10_{tag}"] = m.get("AR10", float("nan"))
    out["mAP"] = (out["mAP_S"] + out["mAP_L"]) / 2.0
    out["AP^L"] = out["mAP_L"]
    out["AR^L_10"] = out["AR10_L"]
    return out
