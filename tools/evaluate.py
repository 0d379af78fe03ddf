#!/usr/bin/env python
"""Score predictions already on disk and print the metrics as one JSON dict on stdout.

    python tools/evaluate.py ytvis   --gt valid.json --results results.json
    python tools/evaluate.py ytvis22 --gt-dir datasets/ytvis_2022 --results results.json
    python tools/evaluate.py vpq     --submit-dir OUT/inference/panoVSPW_vps_video_val \\
                                     --truth-dir VIPSeg_720P/panomasksRGB \\
                                     --pan-gt-json-file VIPSeg_720P/panoptic_gt_VIPSeg_val.json
    python tools/evaluate.py stq     (same arguments as vpq)
    python tools/evaluate.py vss     --data-root datasets/VSPW_480p \\
                                     --pred-dir OUT/inference/VSPW_vss_video_val [--split val]

Percentages; undefined values print as null. Bad input prints one line on stderr and exits
with status 2 (as every tool of this project).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from videomt.cli import run_cli  # noqa: E402
from videomt.errors import UserError  # noqa: E402
from videomt.utils.files import json_safe  # noqa: E402


def _vps_paths(a):
    pred_json = a.pred_json or (os.path.join(a.submit_dir, "pred.json") if a.submit_dir else None)
    pred_dir = a.pred_dir or (os.path.join(a.submit_dir, "pan_pred") if a.submit_dir else None)
    if not pred_json or not pred_dir:
        raise UserError(
            "give --submit-dir (with pred.json and pan_pred/) or --pred-json and --pred-dir"
        )
    return pred_json, pred_dir, a.pan_gt_json_file, a.truth_dir


def run(a) -> dict:
    from videomt.evaluation import (
        evaluate_stq,
        evaluate_vpq,
        evaluate_vss,
        evaluate_ytvis,
        evaluate_ytvis22,
    )

    if a.task == "ytvis":
        return evaluate_ytvis(
            a.gt, a.results, area_ranges=a.area_ranges, per_category=a.per_category
        )
    if a.task == "ytvis22":
        if a.gt_dir:
            gt = a.gt_dir
        elif a.gt_short and a.gt_long:
            gt = {"short": a.gt_short, "long": a.gt_long, "full": a.gt_full}
        else:
            raise UserError("give --gt-dir or both --gt-short and --gt-long")
        return evaluate_ytvis22(gt, a.results, area_ranges=a.area_ranges)
    if a.task in ("vpq", "stq"):
        fn = evaluate_vpq if a.task == "vpq" else evaluate_stq
        return fn(*_vps_paths(a), num_processes=a.num_processes)
    if a.task == "vss":
        return evaluate_vss(
            a.pred_dir,
            a.data_root,
            a.split,
            num_classes=a.num_classes,
            pred_offset=a.pred_offset,
            num_processes=a.num_processes,
        )
    raise ValueError(f"unknown task {a.task}")  # pragma: no cover


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="evaluate.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="task", required=True)

    y = sub.add_parser("ytvis", help="YouTube-VIS / OVIS AP and AR")
    y.add_argument("--gt", required=True, help="ground-truth JSON with annotations")
    y.add_argument("--results", required=True, help="results.json (server format)")
    y.add_argument("--area-ranges", default="ytvis", choices=["ytvis", "coco"])
    y.add_argument("--per-category", action="store_true", help="also print AP per category")

    y22 = sub.add_parser("ytvis22", help="YouTube-VIS 2022 short + long videos")
    y22.add_argument("--gt-dir", help="folder with gt_short.json, gt_long.json (and gt.json)")
    y22.add_argument("--gt-short")
    y22.add_argument("--gt-long")
    y22.add_argument("--gt-full", help="gt.json (all videos), used to check the results")
    y22.add_argument("--results", required=True)
    y22.add_argument("--area-ranges", default="ytvis", choices=["ytvis", "coco"])

    for name, text in (
        ("vpq", "VIPSeg video panoptic quality"),
        ("stq", "VIPSeg segmentation and tracking quality"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument(
            "--submit-dir",
            "--submit_dir",
            dest="submit_dir",
            help="folder with pred.json and pan_pred/",
        )
        p.add_argument("--pred-json", dest="pred_json")
        p.add_argument(
            "--pred-dir", dest="pred_dir", help="pan_pred folder (<video_id>/<frame>.png)"
        )
        p.add_argument(
            "--truth-dir",
            "--truth_dir",
            dest="truth_dir",
            required=True,
            help="VIPSeg_720P/panomasksRGB",
        )
        p.add_argument(
            "--pan-gt-json-file",
            "--pan_gt_json_file",
            dest="pan_gt_json_file",
            required=True,
            help="panoptic_gt_VIPSeg_<split>.json",
        )
        p.add_argument(
            "--num-processes", "--num_processes", dest="num_processes", type=int, default=None
        )

    v = sub.add_parser("vss", help="VSPW mIoU and video consistency")
    v.add_argument("--data-root", required=True, help="VSPW_480p folder (data/, <split>.txt)")
    v.add_argument("--pred-dir", required=True, help="<video>/<frame>.png class-index predictions")
    v.add_argument("--split", default="val", help="split name or path to a txt file of video names")
    v.add_argument("--num-classes", type=int, default=124)
    v.add_argument(
        "--pred-offset", type=int, default=0, help="class = PNG value - offset (default 0)"
    )
    v.add_argument("--num-processes", type=int, default=None)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    print(json.dumps(json_safe(run(args)), indent=2, allow_nan=False))
    return 0


if __name__ == "__main__":
    run_cli(main)
