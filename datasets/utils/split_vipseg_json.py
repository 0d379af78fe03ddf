"""Split one VIPSeg panoptic JSON into panoptic_gt_VIPSeg_{train,val,test}.json by the split lists.

    python datasets/utils/split_vipseg_json.py --json VIPSeg_720P/panoptic_gt_VIPSeg.json \
        --split-dir datasets/VIPSeg --dst datasets/VIPSeg/VIPSeg_720P

reads ``<split-dir>/{train,val,test}.txt`` (one video per line) and writes one JSON per split.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from videomt.cli import run_cli  # noqa: E402
from videomt.data.converters import split_vipseg_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", required=True, help="VIPSeg panoptic JSON with the videos of all splits")
    p.add_argument("--split-dir", required=True, help="folder with train.txt, val.txt, test.txt")
    p.add_argument("--dst", required=True, help="output folder (VIPSeg_720P)")
    p.add_argument("--splits", nargs="+", default=["train", "val", "test"])
    args = p.parse_args(argv)
    for split, n in split_vipseg_json(args.json, args.split_dir, args.dst, args.splits).items():
        print(f"{os.path.join(args.dst, f'panoptic_gt_VIPSeg_{split}.json')}: {n} videos")
    return 0


if __name__ == "__main__":
    run_cli(main)
