#!/usr/bin/env python
"""Timing of the metric code on synthetic data (not a test; numbers go in the issue note).

    python tools/bench_evaluation.py ytvis [--videos 300 --frames 36 --tracks 10 --dets 10]
    python tools/bench_evaluation.py vpq   [--videos 16 --frames 20 --processes 1 2]

``ytvis``: ground truth of moving ellipses (720x1280, made with pycocotools' polygon rasteriser so
generation stays cheap), predictions = the GT tracks shifted, rescaled, with some frames dropped
and some wrong classes, ``--dets`` per video (MAX_NUM-like); times :func:`evaluate` alone.
``vpq``: VIPSeg-format PNG/JSON ground truth and predictions written to a temp folder, then times
``evaluate_vps`` (VPQ + STQ) with each ``--processes`` value.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _ellipse(cx, cy, rx, ry, n=24):
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], 1).ravel().tolist()


def make_ytvis(num_videos, num_frames, num_tracks, num_dets, h=720, w=1280, seed=0):
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(seed)
    cats = [{"id": i, "name": f"class{i}"} for i in range(1, 41)]
    videos, anns, results = [], [], []
    for v in range(1, num_videos + 1):
        videos.append(
            {
                "id": v,
                "height": h,
                "width": w,
                "length": num_frames,
                "file_names": [f"v{v}/{t:05d}.jpg" for t in range(num_frames)],
            }
        )
        tracks = []
        for _ in range(num_tracks):
            cx, cy = rng.uniform(100, w - 100), rng.uniform(100, h - 100)
            vx, vy = rng.normal(0, 4, 2)
            rx, ry = rng.uniform(10, 250), rng.uniform(10, 200)
            cat = int(rng.integers(1, 41))
            start, stop = sorted(rng.integers(0, num_frames + 1, 2))
            stop = max(stop, start + 1)
            tracks.append((cx, cy, vx, vy, rx, ry, cat, start, stop))
            segs = []
            for t in range(num_frames):
                if start <= t < stop:
                    rle = mask_utils.merge(
                        mask_utils.frPyObjects([_ellipse(cx + vx * t, cy + vy * t, rx, ry)], h, w)
                    )
                    rle["counts"] = rle["counts"].decode()
                    segs.append(rle)
                else:
                    segs.append(None)
            areas = [int(mask_utils.area(s)) if s else None for s in segs]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "video_id": v,
                    "category_id": cat,
                    "iscrowd": 0,
                    "segmentations": segs,
                    "areas": areas,
                }
            )
        for d in range(num_dets):
            cx, cy, vx, vy, rx, ry, cat, start, stop = tracks[d % num_tracks]
            jit = rng.normal(0, 8, 2)
            sc = rng.uniform(0.8, 1.2)
            if rng.random() < 0.2:
                cat = int(rng.integers(1, 41))
            segs = []
            for t in range(num_frames):
                if start <= t < stop and rng.random() > 0.05:
                    rle = mask_utils.merge(
                        mask_utils.frPyObjects(
                            [
                                _ellipse(
                                    cx + vx * t + jit[0], cy + vy * t + jit[1], rx * sc, ry * sc
                                )
                            ],
                            h,
                            w,
                        )
                    )
                else:
                    rle = mask_utils.encode(np.zeros((h, w, 1), np.uint8, order="F"))[0]
                rle["counts"] = rle["counts"].decode()
                segs.append(rle)
            results.append(
                {
                    "video_id": v,
                    "category_id": cat,
                    "score": float(rng.random()),
                    "segmentations": segs,
                }
            )
    return {"videos": videos, "categories": cats, "annotations": anns}, results


def bench_ytvis(args):
    from videomt.evaluation.ytvis import evaluate

    t0 = time.perf_counter()
    gt, res = make_ytvis(args.videos, args.frames, args.tracks, args.dets)
    t1 = time.perf_counter()
    print(
        f"generated {args.videos} videos x {args.frames} frames x {args.tracks} GT tracks, "
        f"{len(res)} predictions in {t1 - t0:.1f}s",
        flush=True,
    )
    if args.save:
        with open(os.path.join(args.save, "gt.json"), "w") as f:
            json.dump(gt, f)
        with open(os.path.join(args.save, "results.json"), "w") as f:
            json.dump(res, f)
    t2 = time.perf_counter()
    out = evaluate(gt, res)
    t3 = time.perf_counter()
    print(json.dumps({k: round(v, 3) for k, v in out.items()}))
    print(f"ytvis evaluate: {t3 - t2:.2f}s")


def make_vps(root, num_videos, num_frames, h=720, w=1280, seed=0):
    """Write VIPSeg-format GT and predictions; returns the four paths evaluate_vps needs."""
    from PIL import Image

    from videomt.data.io import id2rgb

    rng = np.random.default_rng(seed)
    things = [2, 4, 8, 10, 41, 43, 44, 46]
    stuff = [0, 1, 3, 5, 6, 7]
    cats = [{"id": c, "name": f"c{c}", "isthing": int(c in things)} for c in range(124)]
    gt_dir, pred_dir = os.path.join(root, "panomasksRGB"), os.path.join(root, "pan_pred")
    gt_json, pred_json = {"categories": cats, "videos": [], "annotations": []}, {"annotations": []}
    yy, xx = np.mgrid[:h, :w]
    for v in range(num_videos):
        vid = f"vid{v:03d}"
        os.makedirs(os.path.join(gt_dir, vid))
        os.makedirs(os.path.join(pred_dir, vid))
        objs = [
            (
                rng.uniform(0, w),
                rng.uniform(0, h),
                rng.normal(0, 5),
                rng.normal(0, 5),
                rng.uniform(20, 200),
                rng.uniform(20, 150),
                int(rng.choice(things)),
            )
            for _ in range(8)
        ]
        stuff_c = [int(c) for c in rng.choice(stuff, 3, replace=False)]
        gframes, pframes = [], []
        for t in range(num_frames):
            maps = []
            for pred in (False, True):
                ids = np.zeros((h, w), np.int32)
                cut = int(h * 0.4 + (10 if pred else 0))
                ids[:cut] = 1
                ids[cut:, : w // 2] = 2
                ids[cut:, w // 2 :] = 3
                ids[: h // 10] = 0  # void band
                info = {1: stuff_c[0], 2: stuff_c[1], 3: stuff_c[2]}
                for k, (cx, cy, vx, vy, rx, ry, c) in enumerate(objs):
                    sc = 1.1 if pred else 1.0
                    m = ((xx - cx - vx * t) / (rx * sc)) ** 2 + (
                        (yy - cy - vy * t) / (ry * sc)
                    ) ** 2 <= 1
                    sid = (
                        10 + k if not (pred and k == 0 and t >= num_frames // 2) else 50
                    )  # id switch
                    ids[m] = sid
                    info[sid] = c
                segs = []
                for sid in np.unique(ids):
                    if sid == 0:
                        continue
                    segs.append(
                        {
                            "id": int(sid),
                            "category_id": info[int(sid)],
                            "iscrowd": 0,
                            "area": int((ids == sid).sum()),
                        }
                    )
                maps.append((ids, segs))
            (gids, gsegs), (pids, psegs) = maps
            Image.fromarray(id2rgb(gids)).save(os.path.join(gt_dir, vid, f"{t:08d}.png"))
            Image.fromarray(id2rgb(pids)).save(os.path.join(pred_dir, vid, f"{t:08d}.png"))
            gframes.append({"file_name": f"{t:08d}.png", "segments_info": gsegs})
            pframes.append({"file_name": f"{t:08d}.jpg", "segments_info": psegs})
        gt_json["videos"].append({"video_id": vid})
        gt_json["annotations"].append({"video_id": vid, "annotations": gframes})
        pred_json["annotations"].append({"video_id": vid, "annotations": pframes})
    gp, pp = os.path.join(root, "panoptic_gt_VIPSeg_val.json"), os.path.join(root, "pred.json")
    with open(gp, "w") as f:
        json.dump(gt_json, f)
    with open(pp, "w") as f:
        json.dump(pred_json, f)
    return pp, pred_dir, gp, gt_dir


def bench_vpq(args):
    from videomt.evaluation.vps import evaluate_vps

    with tempfile.TemporaryDirectory() as root:
        t0 = time.perf_counter()
        paths = make_vps(root, args.videos, args.frames)
        print(
            f"wrote {args.videos} videos x {args.frames} frames (720x1280) in "
            f"{time.perf_counter() - t0:.1f}s",
            flush=True,
        )
        base = None
        for n in args.processes:
            t1 = time.perf_counter()
            out = evaluate_vps(*paths, num_processes=n)
            dt = time.perf_counter() - t1
            base = base or dt
            print(
                f"evaluate_vps num_processes={n}: {dt:.2f}s (speed-up {base / dt:.2f}x) "
                f"VPQ={out['VPQ']:.3f} STQ={out['STQ']:.3f}",
                flush=True,
            )


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="what", required=True)
    y = sub.add_parser("ytvis")
    y.add_argument("--videos", type=int, default=300)
    y.add_argument("--frames", type=int, default=36)
    y.add_argument("--tracks", type=int, default=10)
    y.add_argument("--dets", type=int, default=10)
    y.add_argument("--save", default=None, help="also write gt.json/results.json here")
    v = sub.add_parser("vpq")
    v.add_argument("--videos", type=int, default=16)
    v.add_argument("--frames", type=int, default=20)
    v.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    {"ytvis": bench_ytvis, "vpq": bench_vpq}[args.what](args)
    return 0


if __name__ == "__main__":
    from videomt.cli import run_cli

    run_cli(main)
