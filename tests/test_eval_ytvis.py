"""YouTube-VIS AP/AR: oracles from pycocotools' COCOeval and hand-computed track IoUs."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from videomt.evaluation import EvaluationError, evaluate_ytvis, evaluate_ytvis22
from videomt.evaluation.ytvis import COCO_AREA_RANGES, YTVIS_AREA_RANGES, track_ious

KEYS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100"]


def rle(m: np.ndarray) -> dict:
    r = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    r["counts"] = r["counts"].decode("ascii")
    return r


def ellipse(h, w, cy, cx, ry, rx):
    yy, xx = np.ogrid[:h, :w]
    return (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1).astype(np.uint8)


def square(h, w, y, x, s):
    m = np.zeros((h, w), np.uint8)
    m[y : y + s, x : x + s] = 1
    return m


def make_scene(seed=0, n_images=25, h=180, w=240):
    """Random-ish images with overlapping objects of several sizes and categories, crowd-free.

    Returns the COCO image dataset and predictions (image view), plus the same data as
    single-frame YouTube-VIS videos.
    """
    rng = np.random.default_rng(seed)
    cats = [{"id": c, "name": f"cat{c}"} for c in (1, 2, 3, 5)]
    images, anns, dets = [], [], []
    for i in range(1, n_images + 1):
        images.append({"id": i, "height": h, "width": w})
        for _ in range(int(rng.integers(0, 6))):
            r = [rng.uniform(3, 12), rng.uniform(12, 50), rng.uniform(50, 90)][
                int(rng.integers(0, 3))
            ]
            m = ellipse(h, w, rng.uniform(0, h), rng.uniform(0, w), r * rng.uniform(0.6, 1.4), r)
            if m.sum() == 0:
                continue
            c = int(rng.choice([1, 2, 3, 5]))
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": c,
                    "segmentation": rle(m),
                    "area": float(m.sum()),
                    "iscrowd": 0,
                    "bbox": [0, 0, 1, 1],
                }
            )
            for _ in range(
                int(rng.integers(0, 3))
            ):  # shifted / dilated copies, sometimes wrong class
                mm = np.roll(m, (int(rng.integers(-8, 9)), int(rng.integers(-8, 9))), axis=(0, 1))
                cc = c if rng.random() < 0.8 else int(rng.choice([1, 2, 3, 5]))
                score = float(np.round(rng.random(), 1))  # ties on purpose
                dets.append(
                    {"image_id": i, "category_id": cc, "segmentation": rle(mm), "score": score}
                )
        for _ in range(int(rng.integers(0, 3))):  # pure false positives
            m = ellipse(
                h, w, rng.uniform(0, h), rng.uniform(0, w), rng.uniform(4, 60), rng.uniform(4, 60)
            )
            dets.append(
                {
                    "image_id": i,
                    "category_id": int(rng.choice([1, 2, 3, 5])),
                    "segmentation": rle(m),
                    "score": float(rng.random()),
                }
            )
    coco = {"images": images, "annotations": anns, "categories": cats}
    videos = [
        {"id": im["id"], "height": h, "width": w, "length": 1, "file_names": [f"{im['id']}/0.jpg"]}
        for im in images
    ]
    vanns = [
        {
            "id": a["id"],
            "video_id": a["image_id"],
            "category_id": a["category_id"],
            "iscrowd": 0,
            "segmentations": [a["segmentation"]],
            "areas": [a["area"]],
        }
        for a in anns
    ]
    vres = [
        {
            "video_id": d["image_id"],
            "category_id": d["category_id"],
            "score": d["score"],
            "segmentations": [d["segmentation"]],
        }
        for d in dets
    ]
    return coco, dets, {"videos": videos, "categories": cats, "annotations": vanns}, vres


def coco_stats(coco, dets, area_rng=None):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(coco)
        gt.createIndex()
        dt = gt.loadRes(copy.deepcopy(dets))
        ev = COCOeval(gt, dt, "segm")
        if area_rng is not None:
            ev.params.areaRng = [list(area_rng[k]) for k in ("all", "small", "medium", "large")]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [x * 100 if x >= 0 else float("nan") for x in ev.stats[:9]]


def same_dict(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a
    )


def assert_same(ours: dict, ref: list):
    for k, r in zip(KEYS, ref):
        if math.isnan(r):
            assert math.isnan(ours[k]), k
        else:
            assert ours[k] == pytest.approx(r, abs=1e-9), (k, ours[k], r)


@pytest.fixture(scope="module")
def scene():
    return make_scene()


def test_single_frame_videos_equal_cocoeval_with_coco_ranges(scene):
    coco, dets, vgt, vres = scene
    ref = coco_stats(coco, dets)
    assert not any(math.isnan(x) for x in ref)  # the scene exercises every area range
    assert 5 < ref[0] < 95
    assert_same(evaluate_ytvis(vgt, vres, area_ranges=COCO_AREA_RANGES), ref)


def test_single_frame_videos_equal_cocoeval_with_ytvis_ranges(scene):
    coco, dets, vgt, vres = scene
    ref = coco_stats(coco, dets, YTVIS_AREA_RANGES)
    ours = evaluate_ytvis(vgt, vres)  # default ranges are the YouTube-VIS ones
    assert_same(ours, ref)
    assert not same_dict(ours, evaluate_ytvis(vgt, vres, area_ranges="coco"))


def test_duplicated_frames_score_like_the_single_frame(scene):
    _, _, vgt, vres = scene
    k = 3
    vgt3 = copy.deepcopy(vgt)
    for v in vgt3["videos"]:
        v["length"] = k
        v["file_names"] = v["file_names"] * k
    for a in vgt3["annotations"]:
        a["segmentations"] = a["segmentations"] * k
        a["areas"] = a["areas"] * k
    vres3 = copy.deepcopy(vres)
    for r in vres3:
        r["segmentations"] = r["segmentations"] * k
    single = evaluate_ytvis(vgt, vres)
    assert same_dict(evaluate_ytvis(vgt3, vres3), single)
    # and a video with an absent (None) frame in every track still scores the same
    for a in vgt3["annotations"]:
        a["segmentations"][1] = None
        a["areas"][1] = None
    for r in vres3:
        r["segmentations"][1] = None
    assert same_dict(evaluate_ytvis(vgt3, vres3), single)


def one_video(h, w, length, tracks, cats=(1,)):
    return {
        "videos": [
            {
                "id": 1,
                "height": h,
                "width": w,
                "length": length,
                "file_names": [f"v/{t}.jpg" for t in range(length)],
            }
        ],
        "categories": [{"id": c, "name": str(c)} for c in cats],
        "annotations": [
            {
                "id": i + 1,
                "video_id": 1,
                "category_id": c,
                "iscrowd": 0,
                "segmentations": [rle(m) if m is not None else None for m in segs],
            }
            for i, (c, segs) in enumerate(tracks)
        ],
    }


def test_perfect_prediction_scores_100():
    h, w = 60, 80
    t1 = [square(h, w, 5 + t, 5, 10) for t in range(4)]
    t2 = [None, square(h, w, 30, 40, 20), square(h, w, 31, 41, 20), None]
    gt = one_video(h, w, 4, [(1, t1), (2, t2)], cats=(1, 2))
    res = [
        {
            "video_id": 1,
            "category_id": c,
            "score": 0.9,
            "segmentations": [rle(m) if m is not None else None for m in segs],
        }
        for c, segs in [(1, t1), (2, t2)]
    ]
    out = evaluate_ytvis(gt, res)
    for k in ("AP", "AP50", "AP75", "APs", "AR1", "AR10", "AR100"):
        assert out[k] == pytest.approx(100.0), k
    assert math.isnan(out["APm"]) and math.isnan(out["APl"])


def test_track_split_in_two_scores_what_the_iou_rule_says():
    h, w = 40, 40
    g = [square(h, w, 10, 10, 10) for _ in range(4)]  # 100 px per frame, 400 in total
    half = square(h, w, 10, 10, 10)
    half[:, 15:] = 0  # 50 px: the left half of the object
    other = g[2] - half
    d1 = [g[0], g[1], half, None]  # intersection 250, union 400 -> IoU 0.625
    d2 = [None, None, other, g[3]]  # intersection 150, union 400 -> IoU 0.375
    ious = track_ious(
        [[rle(m) if m is not None else None for m in d] for d in (d1, d2)], [[rle(m) for m in g]]
    )
    np.testing.assert_allclose(ious[:, 0], [250 / 400, 150 / 400])
    gt = one_video(h, w, 4, [(1, g)])
    res = [
        {
            "video_id": 1,
            "category_id": 1,
            "score": s,
            "segmentations": [rle(m) if m is not None else None for m in d],
        }
        for s, d in ((0.9, d1), (0.8, d2))
    ]
    out = evaluate_ytvis(gt, res)
    # d1 is a true positive at IoU thresholds 0.50, 0.55, 0.60 (3 of 10), d2 never matches.
    assert out["AP50"] == pytest.approx(100.0)
    assert out["AP75"] == pytest.approx(0.0)
    assert out["AP"] == pytest.approx(30.0)
    assert out["AR1"] == pytest.approx(30.0) and out["AR10"] == pytest.approx(30.0)


def dense_track_iou(d, g):
    inter = union = 0
    for a, b in zip(d, g):
        if a is None and b is None:
            continue
        a = np.zeros_like(b) if a is None else a
        b = np.zeros_like(a) if b is None else b
        inter += np.logical_and(a, b).sum()
        union += np.logical_or(a, b).sum()
    return inter / union if union else 0.0


def test_frame_shifted_prediction_iou_equals_formula():
    h, w, T = 50, 70, 6
    g = [ellipse(h, w, 20 + 2 * t, 15 + 6 * t, 9, 12) for t in range(T)]
    d = [None] + g[:-1]  # the same object one frame late
    expected = sum(np.logical_and(g[t - 1], g[t]).sum() for t in range(1, T)) / (
        g[0].sum() + sum(np.logical_or(g[t - 1], g[t]).sum() for t in range(1, T))
    )
    iou = track_ious([[rle(m) if m is not None else None for m in d]], [[rle(m) for m in g]])[0, 0]
    assert iou == pytest.approx(expected, abs=1e-12)
    assert 0.3 < iou < 0.9
    gt = one_video(h, w, T, [(1, g)])
    res = [
        {
            "video_id": 1,
            "category_id": 1,
            "score": 1.0,
            "segmentations": [rle(m) if m is not None else None for m in d],
        }
    ]
    n_thr = int(np.sum(np.linspace(0.5, 0.95, 10) <= iou + 1e-12))
    assert evaluate_ytvis(gt, res)["AP"] == pytest.approx(10.0 * n_thr)


def test_track_ious_match_dense_computation_on_random_tracks():
    rng = np.random.default_rng(3)
    h, w, T = 30, 40, 5

    def track():
        return [
            None
            if rng.random() < 0.25
            else (rng.random((h, w)) < rng.uniform(0.05, 0.6)).astype(np.uint8)
            for _ in range(T)
        ]

    dets = [track() for _ in range(4)]
    gts = [track() for _ in range(3)]
    ious = track_ious(
        [[rle(m) if m is not None else None for m in d] for d in dets],
        [[rle(m) if m is not None else None for m in g] for g in gts],
    )
    ref = np.array([[dense_track_iou(d, g) for g in gts] for d in dets])
    np.testing.assert_allclose(ious, ref, atol=1e-12)


def test_crowd_ground_truth_is_ignored_not_counted():
    h, w = 40, 40
    a = [square(h, w, 2, 2, 10)] * 2
    crowd = [square(h, w, 20, 20, 15)] * 2
    gt = one_video(h, w, 2, [(1, a), (1, crowd)])
    gt["annotations"][1]["iscrowd"] = 1
    res = [
        {"video_id": 1, "category_id": 1, "score": s, "segmentations": [rle(m) for m in segs]}
        for s, segs in ((0.9, a), (0.95, crowd), (0.8, crowd))
    ]
    out = evaluate_ytvis(gt, res)
    assert out["AP"] == pytest.approx(100.0)  # detections on the crowd region are neither TP nor FP


def test_results_from_json_file_and_per_category(tmp_path, scene):
    _, _, vgt, vres = scene
    gp, rp = tmp_path / "gt.json", tmp_path / "res.json"
    gp.write_text(json.dumps(vgt))
    rp.write_text(json.dumps(vres))
    a = evaluate_ytvis(str(gp), str(rp), per_category=True)
    b = evaluate_ytvis(vgt, vres)
    assert all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in KEYS)
    assert {"AP-cat1", "AP-cat2", "AP-cat3", "AP-cat5"} <= set(a)


def test_ytvis22_short_and_long(tmp_path, scene):
    _, _, vgt, vres = scene
    short_ids = {v["id"] for v in vgt["videos"] if v["id"] % 2}

    def subset(ids):
        return {
            "videos": [v for v in vgt["videos"] if v["id"] in ids],
            "categories": vgt["categories"],
            "annotations": [a for a in vgt["annotations"] if a["video_id"] in ids],
        }

    all_ids = {v["id"] for v in vgt["videos"]}
    short, long = subset(short_ids), subset(all_ids - short_ids)
    for name, d in (("gt_short.json", short), ("gt_long.json", long), ("gt.json", vgt)):
        (tmp_path / name).write_text(json.dumps(d))
    out = evaluate_ytvis22(str(tmp_path), vres)
    ref_s = evaluate_ytvis(short, [r for r in vres if r["video_id"] in short_ids])
    ref_l = evaluate_ytvis(long, [r for r in vres if r["video_id"] not in short_ids])
    assert (
        out["mAP_S"] == ref_s["AP"]
        and out["AR10_S"] == ref_s["AR10"]
        and out["AP75_S"] == ref_s["AP75"]
    )
    assert (
        out["mAP_L"] == ref_l["AP"]
        and out["AR1_L"] == ref_l["AR1"]
        and out["AP50_L"] == ref_l["AP50"]
    )
    assert out["mAP"] == pytest.approx((ref_s["AP"] + ref_l["AP"]) / 2)
    assert out["AP^L"] == out["mAP_L"] and out["AR^L_10"] == out["AR10_L"]
    assert out["mAP_S"] != out["mAP_L"]
    bad = vres + [dict(vres[0], video_id=999)]
    with pytest.raises(EvaluationError, match="999"):
        evaluate_ytvis22(str(tmp_path), bad)
    assert evaluate_ytvis22({"short": short, "long": str(tmp_path / "gt_long.json")}, vres) == out
    with pytest.raises(EvaluationError, match="give a folder or"):
        evaluate_ytvis22((short, long), vres)


# ---------------------------------------------------------------------------------------------
# Bad input: a clear error naming the video / frame, never a silently lower score
# ---------------------------------------------------------------------------------------------
@pytest.fixture()
def small():
    h, w = 20, 30
    g = [square(h, w, 2, 2, 6), square(h, w, 3, 3, 6), None]
    gt = one_video(h, w, 3, [(1, g)], cats=(1, 2))
    res = [
        {
            "video_id": 1,
            "category_id": 1,
            "score": 0.5,
            "segmentations": [rle(m) if m is not None else None for m in g],
        }
    ]
    assert evaluate_ytvis(gt, res)["AP"] == pytest.approx(100.0)
    return gt, res


def test_unknown_video_id(small):
    gt, res = small
    with pytest.raises(EvaluationError, match=r"unknown video_id 7"):
        evaluate_ytvis(gt, [dict(res[0], video_id=7)])


def test_unknown_category(small):
    gt, res = small
    with pytest.raises(EvaluationError, match=r"video 1\): unknown category_id 9"):
        evaluate_ytvis(gt, [dict(res[0], category_id=9)])


def test_wrong_number_of_frames(small):
    gt, res = small
    with pytest.raises(
        EvaluationError, match=r"video 1\): 2 segmentations for a video of 3 frames"
    ):
        evaluate_ytvis(gt, [dict(res[0], segmentations=res[0]["segmentations"][:2])])


def test_rle_size_mismatch(small):
    gt, res = small
    segs = list(res[0]["segmentations"])
    segs[1] = rle(np.ones((21, 30), np.uint8))
    with pytest.raises(EvaluationError, match=r"video 1\), frame 1: RLE size \[21, 30\]"):
        evaluate_ytvis(gt, [dict(res[0], segmentations=segs)])


@pytest.mark.parametrize("counts", ["", "0", "abc~", "PPPPPPPPPPPPPPPPP0", "ÿ0"])
def test_undecodable_rle_counts(small, counts):
    gt, res = small
    segs = list(res[0]["segmentations"])
    segs[0] = {"size": [20, 30], "counts": counts}
    with pytest.raises(EvaluationError, match=r"video 1\), frame 0: malformed RLE"):
        evaluate_ytvis(gt, [dict(res[0], segmentations=segs)])


def test_truncated_and_extended_rle_counts(small):
    gt, res = small
    good = res[0]["segmentations"][0]["counts"]
    for bad in (good[:-1], good + "1", good[:-2] + good[-1]):
        segs = list(res[0]["segmentations"])
        segs[0] = {"size": [20, 30], "counts": bad}
        with pytest.raises(EvaluationError, match=r"frame 0: malformed RLE"):
            evaluate_ytvis(gt, [dict(res[0], segmentations=segs)])


def test_bad_uncompressed_rle_and_score(small):
    gt, res = small
    segs = list(res[0]["segmentations"])
    segs[2] = {"size": [20, 30], "counts": [10, 5]}
    with pytest.raises(EvaluationError, match=r"frame 2: uncompressed RLE"):
        evaluate_ytvis(gt, [dict(res[0], segmentations=segs)])
    segs[2] = {"size": [20, 30], "counts": [590, 10]}  # valid uncompressed RLE is accepted
    assert evaluate_ytvis(gt, [dict(res[0], segmentations=segs)])["AP"] < 100.0
    with pytest.raises(EvaluationError, match="score"):
        evaluate_ytvis(gt, [dict(res[0], score=float("nan"))])
    with pytest.raises(EvaluationError, match="no 'segmentations'"):
        evaluate_ytvis(gt, [{"video_id": 1, "category_id": 1, "score": 1.0}])


def test_bad_area_ranges(small):
    gt, res = small
    with pytest.raises(EvaluationError, match="unknown area ranges 'lvis'"):
        evaluate_ytvis(gt, res, area_ranges="lvis")
    with pytest.raises(EvaluationError, match="area_ranges needs the keys"):
        evaluate_ytvis(gt, res, area_ranges={"all": (0, 1e10), "small": (0, 1024)})


def test_ground_truth_without_annotations(small):
    gt, res = small
    gt = dict(gt)
    del gt["annotations"]
    with pytest.raises(EvaluationError, match="no 'annotations'"):
        evaluate_ytvis(gt, res)
