#!/usr/bin/env python
"""COCO instances JSON -> the COCO pseudo-video JSONs (``coco2ytvis2019_train.json`` ...).

Keeps only the annotations and categories of COCO classes that map to a class of the target dataset
(``COCO_TO_TARGET``; category ids stay COCO ids; they are mapped to target classes when loading).

    python datasets/utils/convert_coco2ytvis.py --src instances_train2017.json \
        --target ytvis_2019 --dst coco2ytvis2019_train.json
    # or all six files of $DETECTRON2_DATASETS/coco at once:
    python datasets/utils/convert_coco2ytvis.py --coco-root datasets/coco
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from videomt.cli import run_cli  # noqa: E402
from videomt.data.converters import convert_coco2ytvis  # noqa: E402

_TAGS = {"ytvis_2019": "ytvis2019", "ytvis_2021": "ytvis2021", "ovis": "ovis"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", help="COCO instances JSON (e.g. instances_train2017.json)")
    p.add_argument("--target", choices=sorted(_TAGS), help="target video dataset")
    p.add_argument("--dst", help="output JSON")
    p.add_argument("--coco-root", help="write all coco2<target>_{train,val}.json under "
                   "<coco-root>/annotations from instances_{train,val}2017.json")
    p.add_argument("--drop-empty-images", action="store_true",
                   help="also drop images left without annotations")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.coco_root:
        ann = os.path.join(args.coco_root, "annotations")
        jobs = [(os.path.join(ann, f"instances_{s}2017.json"), t,
                 os.path.join(ann, f"coco2{tag}_{s}.json"))
                for t, tag in _TAGS.items() for s in ("train", "val")]
    elif args.src and args.target and args.dst:
        jobs = [(args.src, args.target, args.dst)]
    else:
        p.error("give --src, --target and --dst, or --coco-root")
    for src, target, dst in jobs:
        stats = convert_coco2ytvis(src, target, dst, args.drop_empty_images)
        print(f"{dst}: {stats['images']} images, {stats['annotations']} annotations kept, "
              f"{stats['dropped_annotations']} dropped, {stats['categories']} categories")
    return 0


if __name__ == "__main__":
    run_cli(main)
