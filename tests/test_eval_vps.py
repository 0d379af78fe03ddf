"""VIPSeg VPQ and STQ: an independent image PQ, hand-computed windows, void/crowd rules, STQ by
hand."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from PIL import Image

from videomt.evaluation import (
    EvaluationError,
    STQuality,
    evaluate_stq,
    evaluate_vpq,
    evaluate_vps,
    id2rgb,
    rgb2id,
    stq_from_arrays,
    vpq_from_arrays,
)
from videomt.evaluation.stq import encode_stq_frames
from videomt.evaluation.vpq import summarize_vpq, vpq_video_stats

THINGS = (2, 4, 8)
CATS = [{"id": c, "name": f"c{c}", "isthing": int(c in THINGS)} for c in range(10)]


# ---------------------------------------------------------------------------------------------
# An image PQ written independently of the library (dense masks, one pair at a time)
# ---------------------------------------------------------------------------------------------
def image_pq(images, categories):
    """panopticapi-style PQ over images ``(gt_ids, gt_segs, pred_ids, pred_segs)``."""
    stat = {c["id"]: [0.0, 0, 0, 0] for c in categories}
    for gt_ids, gt_segs, pred_ids, pred_segs in images:
        void = gt_ids == 0
        gtm, prm = set(), set()
        for g in gt_segs:
            if g.get("iscrowd", 0):
                continue
            G = gt_ids == g["id"]
            for p in pred_segs:
                if p["category_id"] != g["category_id"]:
                    continue
                P = pred_ids == p["id"]
                inter = np.sum(G & P)
                union = G.sum() + P.sum() - inter - np.sum(P & void)
                if inter and inter / union > 0.5:
                    stat[g["category_id"]][0] += inter / union
                    stat[g["category_id"]][1] += 1
                    gtm.add(g["id"])
                    prm.add(p["id"])
        for g in gt_segs:
            if g["id"] not in gtm and not g.get("iscrowd", 0):
                stat[g["category_id"]][3] += 1
        for p in pred_segs:
            if p["id"] in prm:
                continue
            P = pred_ids == p["id"]
            crowd_of = {
                g["category_id"]: g["id"] for g in gt_segs if g.get("iscrowd", 0)
            }  # last wins
            crowd = gt_ids == crowd_of.get(p["category_id"], -1)
            if np.sum(P & (void | crowd)) / P.sum() > 0.5:
                continue
            stat[p["category_id"]][2] += 1
    out = {}
    for name, sel in (("All", None), ("Things", True), ("Stuff", False)):
        vals = []
        for c in categories:
            if sel is not None and bool(c["isthing"]) != sel:
                continue
            iou, tp, fp, fn = stat[c["id"]]
            if tp + fp + fn:
                vals.append(iou / (tp + fp / 2 + fn / 2))
        out[name] = float(np.mean(vals)) if vals else float("nan")
    return out


def random_scene(rng, h=24, w=32):
    """GT and prediction id maps with stuff, things, crowd, void and assorted prediction errors."""
    gt = np.zeros((h, w), np.int32)
    segs = []
    nid = [1]

    def new(cat, crowd=0):
        sid = nid[0] * 7 + 3
        nid[0] += 1
        segs.append({"id": sid, "category_id": cat, "iscrowd": crowd})
        return sid

    cut = int(rng.integers(6, h - 6))
    gt[:cut] = new(int(rng.choice([0, 1, 3])))
    gt[cut:] = new(int(rng.choice([5, 6, 7, 9])))
    for _ in range(int(rng.integers(1, 5))):
        y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
        gt[y : y + int(rng.integers(3, 9)), x : x + int(rng.integers(3, 11))] = new(
            int(rng.choice(THINGS)), int(rng.random() < 0.15)
        )
    gt[:, : int(rng.integers(0, 4))] = 0  # void strip
    if rng.random() < 0.5:
        gt[rng.integers(0, h), :] = 0
    segs = [s for s in segs if (gt == s["id"]).any()]
    # prediction: shifted copy with relabelled ids, some category errors, some extra segments
    pred = np.roll(gt, (int(rng.integers(-1, 2)), int(rng.integers(-2, 3))), axis=(0, 1))
    out = np.zeros_like(pred)
    psegs = []
    for s in segs:
        m = pred == s["id"]
        if rng.random() < 0.1:
            continue  # missed
        pid = s["id"] * 11 + 1
        cat = s["category_id"] if rng.random() < 0.85 else int(rng.integers(0, 10))
        out[m] = pid
        psegs.append({"id": pid, "category_id": cat})
    for _ in range(int(rng.integers(0, 3))):
        y, x = rng.integers(0, h - 3), rng.integers(0, w - 3)
        pid = 5000 + len(psegs)
        out[y : y + 3, x : x + int(rng.integers(2, 6))] = pid
        psegs.append({"id": pid, "category_id": int(rng.integers(0, 10))})
    psegs = [p for p in psegs if (out == p["id"]).any()]
    return gt, segs, out, psegs


def test_one_frame_videos_equal_image_pq():
    rng = np.random.default_rng(0)
    images = [random_scene(rng) for _ in range(30)]
    ref = image_pq(images, CATS)
    total = sum(
        vpq_video_stats([g], gs, [p], ps, CATS, windows=(1,), video_id=str(k))
        for k, (g, gs, p, ps) in enumerate(images)
    )
    ours = summarize_vpq(total, CATS, windows=(1,))
    assert 0.2 < ref["All"] < 0.95
    assert ours["VPQ_k0"] == pytest.approx(ref["All"] * 100, abs=1e-9)
    assert ours["VPQ_th_k0"] == pytest.approx(ref["Things"] * 100, abs=1e-9)
    assert ours["VPQ_st_k0"] == pytest.approx(ref["Stuff"] * 100, abs=1e-9)
    # With all five windows a one-frame video only contributes to the 1-frame window.
    five = summarize_vpq(
        sum(vpq_video_stats([g], gs, [p], ps, CATS) for g, gs, p, ps in images), CATS
    )
    assert five["VPQ_k0"] == ours["VPQ_k0"] and math.isnan(five["VPQ_k5"])


def test_windows_by_hand_identity_switch():
    """One thing tracked over 8 frames, predicted as id 7 in frames 0-3 and id 8 in frames 4-7,
    plus a perfectly predicted stuff region."""
    T = 8
    gt = [np.array([[1, 1, 9, 9]]) for _ in range(T)]
    pred = [np.array([[7 if t < 4 else 8] * 2 + [5, 5]]) for t in range(T)]
    gsegs = [{"id": 1, "category_id": 2}, {"id": 9, "category_id": 0}]
    psegs = [
        [{"id": 7 if t < 4 else 8, "category_id": 2}, {"id": 5, "category_id": 0}] for t in range(T)
    ]
    out = vpq_from_arrays(gt, gsegs, pred, psegs, CATS)
    thing = {
        0: 1.0,  # n=1: 8 perfect windows
        5: 6 / (6 + 2 / 2 + 1 / 2),  # n=2: 6 perfect, the window over the switch: 1 FN + 2 FP
        15: 3.5 / (4 + 4 / 2 + 1 / 2),  # n=4: IoU 1, .75, (tie: FN+2FP), .75, 1
        25: (8 / 6) / (2 + 4 / 2 + 1 / 2),  # n=6: IoU 4/6, (tie), 4/6
        35: 0.0,  # n=8: one window, 4 frames each: tie, IoU 0.5 is not > 0.5
    }
    for k, v in thing.items():
        assert out[f"VPQ_th_k{k}"] == pytest.approx(100 * v)
        assert out[f"VPQ_st_k{k}"] == pytest.approx(100.0)
        assert out[f"VPQ_k{k}"] == pytest.approx(100 * (v + 1) / 2)
    assert out["VPQ_th"] == pytest.approx(100 * np.mean(list(thing.values())))
    assert out["VPQ"] == pytest.approx(np.mean([out[f"VPQ_k{k}"] for k in thing]))


def test_void_rule():
    # GT: thing 1 (4 px) and void (0) elsewhere
    gt = np.array([[1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]])
    gsegs = [{"id": 1, "category_id": 2}]
    cats = CATS
    # p10 covers the object and 4 void pixels: IoU = 4 / (4 + 8 - 4 - 4) = 1 (void subtracted)
    pred = np.array([[10, 10, 10, 10, 0, 0], [10, 10, 10, 10, 0, 0]])
    out = vpq_from_arrays(
        [gt], gsegs, [pred], [{"id": 10, "category_id": 2}], cats, windows=(1,), detail=True
    )
    assert out["per_class"][1][2] == {"iou": 1.0, "tp": 1, "fp": 0, "fn": 0}
    # an unmatched prediction lying more than half on void is not a false positive ...
    pred2 = pred.copy()
    pred2[:, 4:] = 11
    out = vpq_from_arrays(
        [gt],
        gsegs,
        [pred2],
        [{"id": 10, "category_id": 2}, {"id": 11, "category_id": 4}],
        cats,
        windows=(1,),
        detail=True,
    )
    assert out["per_class"][1][4]["fp"] == 0
    # ... but one with exactly half of its area on void is
    gt3 = np.array([[1, 1, 0, 0, 3, 3], [1, 1, 0, 0, 3, 3]])
    pred3 = np.array(
        [[10, 10, 12, 12, 12, 12], [10, 10, 0, 0, 0, 0]]
    )  # p12: 2 px void, 2 px on stuff 3
    out = vpq_from_arrays(
        [gt3],
        gsegs + [{"id": 3, "category_id": 0}],
        [pred3],
        [{"id": 10, "category_id": 2}, {"id": 12, "category_id": 4}],
        cats,
        windows=(1,),
        detail=True,
    )
    assert out["per_class"][1][4]["fp"] == 1
    assert out["per_class"][1][0]["fn"] == 1


def test_crowd_rule():
    gt = np.array([[1, 1, 2, 2, 2, 2], [1, 1, 2, 2, 2, 2]])
    gsegs = [{"id": 1, "category_id": 2}, {"id": 2, "category_id": 4, "iscrowd": 1}]
    pred = np.array([[10, 10, 20, 20, 20, 21], [10, 10, 20, 20, 20, 21]])
    psegs = [
        {"id": 10, "category_id": 2},
        {"id": 20, "category_id": 4},
        {"id": 21, "category_id": 8},
    ]
    out = vpq_from_arrays([gt], gsegs, [pred], psegs, CATS, windows=(1,), detail=True)
    pc = out["per_class"][1]
    assert pc[2] == {"iou": 1.0, "tp": 1, "fp": 0, "fn": 0}
    assert pc[4] == {
        "iou": 0.0,
        "tp": 0,
        "fp": 0,
        "fn": 0,
    }  # on the crowd of its class: ignored, crowd not FN
    assert pc[8]["fp"] == 1  # on a crowd region of another class: a false positive
    assert out["VPQ_th_k0"] == pytest.approx(100 * (1 + 0) / 2)


def two_crowds_of_one_class(crowd_order):
    """4x5 frame: crowd tubes A (id 10, 6 px) and B (id 20, 2 px) of thing class 2, stuff S (id 30,
    class 0, 12 px). p1 (class 2) covers A and 4 px of S; p2 (class 0) the other 10 px."""
    gt = np.array(
        [[10, 10, 10, 20, 20], [10, 10, 10, 30, 30], [30, 30, 30, 30, 30], [30, 30, 30, 30, 30]]
    )
    pred = np.array([[1, 1, 1, 2, 2], [1, 1, 1, 1, 2], [1, 1, 1, 2, 2], [2, 2, 2, 2, 2]])
    crowds = {
        10: {"id": 10, "category_id": 2, "iscrowd": 1},
        20: {"id": 20, "category_id": 2, "iscrowd": 1},
    }
    gsegs = [crowds[c] for c in crowd_order] + [{"id": 30, "category_id": 0}]
    psegs = [{"id": 1, "category_id": 2}, {"id": 2, "category_id": 0}]
    return gt, gsegs, pred, psegs


def test_crowd_rule_keeps_the_last_crowd_region_of_a_class():
    """The official script keeps one crowd region per class (the last one listed). p2 matches S:
    IoU = 8 / (10 + 12 - 8) = 4/7. p1 lies 6/10 on crowd A: excused only when A is the kept one."""
    gt, gsegs, pred, psegs = two_crowds_of_one_class([20, 10])  # A listed last: p1 is ignored
    out = vpq_from_arrays([gt], gsegs, [pred], psegs, CATS, windows=(1,), detail=True)
    assert out["per_class"][1][2] == {"iou": 0.0, "tp": 0, "fp": 0, "fn": 0}
    assert out["VPQ_k0"] == pytest.approx(100 * 4 / 7)  # class 0 alone
    gt, gsegs, pred, psegs = two_crowds_of_one_class([10, 20])  # B kept: p1 covers none of it
    out = vpq_from_arrays([gt], gsegs, [pred], psegs, CATS, windows=(1,), detail=True)
    assert out["per_class"][1][2] == {"iou": 0.0, "tp": 0, "fp": 1, "fn": 0}
    assert out["VPQ_k0"] == pytest.approx(100 * (4 / 7 + 0.0) / 2)


def test_crowd_rule_order_is_the_windows_first_appearance():
    """Frame 0 lists only B; frame 1 lists A then B. In the 2-frame window B appears first and
    A last, so A is kept and p1 (6 of 10 px per frame on A) is excused; in the 1-frame window
    of frame 1 alone, B is last and p1 is a false positive there."""
    gt, gsegs, pred, psegs = two_crowds_of_one_class([10, 20])
    first = [s for s in gsegs if s["id"] != 10]
    out = vpq_from_arrays(
        [gt, gt], [first, gsegs], [pred, pred], [psegs, psegs], CATS, windows=(1, 2), detail=True
    )
    assert out["per_class"][2][2]["fp"] == 0
    # frame 0: A is not listed -> unlisted GT, p1 is 6/10 on non-void, non-crowd -> FP; frame 1: FP
    assert out["per_class"][1][2]["fp"] == 2


def test_tube_category_comes_from_the_first_frame_of_the_window():
    gt = [np.array([[1, 1, 0]])] * 2
    pred = [np.array([[5, 5, 0]])] * 2
    gsegs = [{"id": 1, "category_id": 2}]
    psegs = [
        [{"id": 5, "category_id": 2}],
        [{"id": 5, "category_id": 4}],
    ]  # class changes in frame 1
    out = vpq_from_arrays(gt, gsegs, pred, psegs, CATS, windows=(2,), detail=True)
    assert out["per_class"][2][2] == {"iou": 1.0, "tp": 1, "fp": 0, "fn": 0}
    assert out["per_class"][2][4] == {"iou": 0.0, "tp": 0, "fp": 0, "fn": 0}


# ---------------------------------------------------------------------------------------------
# Files in the official format
# ---------------------------------------------------------------------------------------------
def write_vps(root, videos, categories=CATS):
    """videos: {vid: [(gt_ids, gt_segs, pred_ids, pred_segs) per frame]} -> the four paths."""
    gt_dir, pred_dir = os.path.join(root, "panomasksRGB"), os.path.join(root, "pan_pred")
    gj = {"categories": categories, "videos": [], "annotations": []}
    pj = {"annotations": []}
    for vid, frames in videos.items():
        os.makedirs(os.path.join(gt_dir, vid), exist_ok=True)
        os.makedirs(os.path.join(pred_dir, vid), exist_ok=True)
        ga, pa = [], []
        for t, (g, gs, p, ps) in enumerate(frames):
            Image.fromarray(id2rgb(np.asarray(g))).save(os.path.join(gt_dir, vid, f"{t:05d}.png"))
            Image.fromarray(id2rgb(np.asarray(p))).save(os.path.join(pred_dir, vid, f"{t:05d}.png"))
            ga.append({"file_name": f"{t:05d}.png", "segments_info": [dict(s) for s in gs]})
            pa.append(
                {
                    "file_name": f"{t:05d}.jpg",
                    "segments_info": [
                        dict(s, iscrowd=0) for s in ps if (np.asarray(p) == s["id"]).any()
                    ],
                }
            )
        gj["videos"].append({"video_id": vid})
        gj["annotations"].append({"video_id": vid, "annotations": ga})
        pj["annotations"].append({"video_id": vid, "annotations": pa})
    gp, pp = os.path.join(root, "gt.json"), os.path.join(root, "pred.json")
    with open(gp, "w") as f:
        json.dump(gj, f)
    with open(pp, "w") as f:
        json.dump(pj, f)
    return pp, pred_dir, gp, gt_dir


def moving_video(rng, T, h=20, w=28, first_is_thing=False):
    """Frames of a scene whose things move; predictions with an id switch and noise."""
    base_g, gs, base_p, ps = random_scene(rng, h, w)
    if first_is_thing:
        things = [s for s in gs if s["category_id"] in THINGS]
        gs = things[:1] + [s for s in gs if s not in things[:1]]
    frames = []
    for t in range(T):
        g = np.roll(base_g, t // 2, axis=1)
        p = np.roll(base_p, t // 2, axis=1).copy()
        if t >= T // 2 and ps:  # identity switch of the first predicted segment
            p[p == ps[0]["id"]] = 9999
            pst = [dict(ps[0], id=9999)] + ps[1:]
        else:
            pst = ps
        pst = [s for s in pst if (p == s["id"]).any()]
        frames.append((g, gs, p, pst))
    return frames


@pytest.fixture(scope="module")
def vps_files(tmp_path_factory):
    rng = np.random.default_rng(5)
    root = str(tmp_path_factory.mktemp("vps"))
    videos = {
        f"v{k}": moving_video(rng, T, first_is_thing=(k == 1)) for k, T in enumerate((9, 3, 1, 10))
    }
    return videos, write_vps(root, videos)


def test_files_equal_arrays_and_parallel(vps_files):
    videos, paths = vps_files
    seq = evaluate_vps(*paths, num_processes=1)
    par = evaluate_vps(*paths, num_processes=2)
    assert seq == par
    total = sum(
        vpq_video_stats(
            [f[0] for f in fr],
            [f[1] for f in fr],
            [f[2] for f in fr],
            [f[3] for f in fr],
            CATS,
            video_id=v,
        )
        for v, fr in videos.items()
    )
    arr = summarize_vpq(total, CATS)
    for k, v in arr.items():
        assert seq[k] == pytest.approx(v, abs=1e-12, nan_ok=True), k
    assert 10 < seq["VPQ"] < 95
    # STQ through the per-pixel encoder + STQuality equals STQ from the pixel-pair tables
    ref = stq_from_arrays(
        [
            (v, [f[0] for f in fr], [f[1] for f in fr], [f[2] for f in fr], [f[3] for f in fr])
            for v, fr in videos.items()
        ],
        CATS,
    )
    for k in ("STQ", "AQ", "IoU"):
        assert seq[k] == pytest.approx(ref[k], abs=1e-9)
    assert seq["STQ_per_sequence"].keys() == ref["STQ_per_sequence"].keys() == videos.keys()
    for v, r in ref["STQ_per_sequence"].items():
        assert seq["STQ_per_sequence"][v] == pytest.approx(r)
    assert 5 < seq["STQ"] < 95
    assert evaluate_vpq(*paths, num_processes=1)["VPQ"] == seq["VPQ"]
    assert evaluate_stq(*paths, num_processes=1)["STQ"] == seq["STQ"]


# ---------------------------------------------------------------------------------------------
# STQ by hand
# ---------------------------------------------------------------------------------------------
STQ_CATS = [{"id": 0, "isthing": 0}, {"id": 1, "isthing": 1}, {"id": 2, "isthing": 1}]


def stq_case(first="s"):
    """Two frames of 1x6 pixels: stuff s (id 10), things a (20) and b (30), both class 1."""
    g = [np.array([[10, 10, 20, 20, 30, 30]])] * 2
    p = [np.array([[4, 4, 5, 5, 5, 6]]), np.array([[4, 4, 5, 6, 6, 7]])]
    order = {"s": [10, 20, 30], "a": [20, 10, 30]}[first]
    cat = {10: 0, 20: 1, 30: 1}
    gs = [[{"id": i, "category_id": cat[i]} for i in order]] * 2
    ps = [
        [{"id": 4, "category_id": 0}, {"id": 5, "category_id": 1}, {"id": 6, "category_id": 1}],
        [
            {"id": 4, "category_id": 0},
            {"id": 5, "category_id": 1},
            {"id": 6, "category_id": 1},
            {"id": 7, "category_id": 2},
        ],
    ]
    return g, gs, p, ps


def test_stq_by_hand(tmp_path):
    g, gs, p, ps = stq_case()
    # sizes: a = b = 4, p5 = 4, p6 = 3, p7 = 1; TPA(a,5)=3, TPA(a,6)=1, TPA(b,5)=1, TPA(b,6)=2,
    # TPA(b,7)=1
    aq_a = (3 * 3 / (4 + 4 - 3) + 1 * 1 / (3 + 4 - 1)) / 4
    aq_b = (1 * 1 / (4 + 4 - 1) + 2 * 2 / (3 + 4 - 2) + 1 * 1 / (1 + 4 - 1)) / 4
    aq = (aq_a + aq_b) / 2
    # semantic IoU: class 0 perfect, class 1: TP 7 of GT 8 / pred 7, class 2: pred 1, no GT -> 0
    iou = (1 + 7 / 8 + 0) / 3
    out = stq_from_arrays([("seq", g, gs, p, ps)], STQ_CATS)
    assert out["AQ"] == pytest.approx(100 * aq)
    assert out["IoU"] == pytest.approx(100 * iou)
    assert out["STQ"] == pytest.approx(100 * math.sqrt(aq * iou))
    paths = write_vps(str(tmp_path), {"seq": list(zip(g, gs, p, ps))}, STQ_CATS)
    files = evaluate_stq(*paths, num_processes=1)
    assert files["AQ"] == pytest.approx(100 * aq) and files["IoU"] == pytest.approx(100 * iou)
    assert files["STQ_per_sequence"]["seq"]["STQ"] == pytest.approx(100 * math.sqrt(aq * iou))


def test_stq_first_segment_is_crowd_quirk():
    g, gs, p, ps = stq_case(first="a")  # a is listed first -> instance 0 -> treated as crowd
    # a's pixels leave AQ entirely (also from prediction sizes): p5 = 1, p6 = 2, p7 = 1
    aq = (1 * 1 / (1 + 4 - 1) + 2 * 2 / (2 + 4 - 2) + 1 * 1 / (1 + 4 - 1)) / 4
    out = stq_from_arrays([("seq", g, gs, p, ps)], STQ_CATS)
    assert out["AQ"] == pytest.approx(100 * aq)
    assert out["IoU"] == pytest.approx(100 * (1 + 7 / 8 + 0) / 3)  # semantic part unchanged


def test_stq_void_prediction_counts_the_ignore_index_like_the_reference():
    y_true = (np.zeros((1, 4), np.int64) << 16) + 0  # class 0, instance 0
    y_pred = np.array([[0, 0, 0, (255 << 16) + 255]])
    acc = STQuality(num_classes=3, things=(1, 2))
    acc.update(y_true, y_pred, "s")
    # class 0: TP 3, FN 1 -> 3/4; the ignore index has a non-zero union (1 FP) and IoU 0
    assert acc.result()["IoU"] == pytest.approx((3 / 4 + 0) / 2)
    # GT-ignore pixels are dropped entirely
    acc = STQuality(num_classes=3, things=(1, 2))
    acc.update(np.array([[0, 0, (255 << 16) + 255]]), np.array([[0, 0, 0]]), "s")
    assert acc.result()["IoU"] == pytest.approx(1.0)


def test_stq_encoding_ranks_in_first_appearance_order():
    ids = [np.array([[3, 5, 0]]), np.array([[8, 5, 3]])]
    segs = [
        [{"id": 5, "category_id": 2}, {"id": 3, "category_id": 1}],
        [{"id": 3, "category_id": 1}, {"id": 8, "category_id": 4}],
    ]  # 5 unlisted in frame 1
    enc = encode_stq_frames(ids, segs)
    unl = (255 << 16) + 255
    assert enc[0].tolist() == [[(1 << 16) + 1, (2 << 16) + 0, unl]]
    assert enc[1].tolist() == [[(4 << 16) + 2, unl, (1 << 16) + 1]]


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------
def small_video():
    g = np.array([[1, 1, 2, 2], [1, 1, 2, 2]])
    p = np.array([[5, 5, 6, 6], [5, 5, 6, 6]])
    return [
        (
            g,
            [{"id": 1, "category_id": 2}, {"id": 2, "category_id": 0}],
            p,
            [{"id": 5, "category_id": 2}, {"id": 6, "category_id": 0}],
        )
    ] * 3


def test_bad_vps_inputs(tmp_path):
    paths = write_vps(str(tmp_path), {"vid": small_video()})
    pp, pdir, gp, gdir = paths
    ok = evaluate_vpq(*paths, num_processes=1)
    assert ok["VPQ_k0"] == ok["VPQ_k5"] == pytest.approx(100.0)
    assert math.isnan(ok["VPQ_k15"]) and math.isnan(ok["VPQ"])  # 3 frames: no 4/6/8-frame windows
    pj = json.load(open(pp))

    def with_pred(mut):
        d = json.loads(json.dumps(pj))
        mut(d)
        q = str(tmp_path / "p2.json")
        json.dump(d, open(q, "w"))
        return q

    q = with_pred(lambda d: d["annotations"].append({"video_id": "ghost", "annotations": []}))
    with pytest.raises(EvaluationError, match="unknown video_id 'ghost'"):
        evaluate_vpq(q, pdir, gp, gdir, num_processes=1)
    q = with_pred(lambda d: d["annotations"][0].pop("video_id"))
    with pytest.raises(EvaluationError, match=r"prediction JSON: annotations\[0\] "):
        evaluate_vpq(q, pdir, gp, gdir, num_processes=1)
    q = with_pred(lambda d: d["annotations"][0]["annotations"][1].pop("segments_info"))
    with pytest.raises(EvaluationError, match="prediction JSON: video vid frame 1: "):
        evaluate_vpq(q, pdir, gp, gdir, num_processes=1)
    q = with_pred(lambda d: d["annotations"][0]["annotations"].pop(1))
    with pytest.raises(EvaluationError, match="video vid, frame 00001: no prediction"):
        evaluate_vpq(q, pdir, gp, gdir, num_processes=1)
    q = with_pred(
        lambda d: d["annotations"][0]["annotations"][2]["segments_info"][0].update(category_id=77)
    )
    with pytest.raises(EvaluationError, match="video vid, frame 00002 .*unknown category_id 77"):
        evaluate_vpq(q, pdir, gp, gdir, num_processes=1)
    q = with_pred(lambda d: d["annotations"][0]["annotations"][1]["segments_info"].pop(0))
    with pytest.raises(
        EvaluationError, match=r"frame 00001 \(prediction\): PNG has segment ids \[5\]"
    ):
        evaluate_vpq(q, pdir, gp, gdir, num_processes=1)
    q = with_pred(
        lambda d: d["annotations"][0]["annotations"][0]["segments_info"].append(
            {"id": 99, "category_id": 2}
        )
    )
    with pytest.raises(EvaluationError, match=r"frame 00000.*ids \[99\].*no pixels"):
        evaluate_vpq(q, pdir, gp, gdir, num_processes=1)
    # a missing PNG and a PNG of the wrong size, named by video and frame
    os.rename(os.path.join(pdir, "vid", "00002.png"), str(tmp_path / "moved.png"))
    with pytest.raises(EvaluationError, match="video vid, frame 00002: prediction PNG missing"):
        evaluate_stq(pp, pdir, gp, gdir, num_processes=1)
    Image.fromarray(id2rgb(np.full((3, 4), 5))).save(os.path.join(pdir, "vid", "00002.png"))
    with pytest.raises(
        EvaluationError, match=r"video vid, frame 00002: prediction size \(3, 4\) differs"
    ):
        evaluate_vps(pp, pdir, gp, gdir, num_processes=2)


def test_rgb_id_round_trip():
    ids = np.random.default_rng(0).integers(0, 2**24, (7, 9))
    assert (rgb2id(id2rgb(ids)) == ids).all()
    assert rgb2id(id2rgb(123456)) == 123456
