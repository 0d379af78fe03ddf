#!/usr/bin/env python
"""Resize VIPSeg to 720p: frames bilinear, panoptic masks nearest, height 720, width int(720*w/h).

    python datasets/utils/vipseg_change2_720p.py --src datasets/VIPSeg \
        --dst datasets/VIPSeg/VIPSeg_720P --workers 8

reads ``<src>/imgs/<video>/*.jpg`` and ``<src>/panomasks/<video>/*.png`` and writes
``<dst>/images/<video>/*.jpg`` and ``<dst>/panomasks/<video>/*.png`` (+ the split txt files).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from videomt.cli import run_cli  # noqa: E402
from videomt.data.converters import resize_vipseg_720p  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", required=True, help="VIPSeg root with imgs/ and panomasks/")
    p.add_argument("--dst", required=True, help="output root (VIPSeg_720P)")
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--image-dir", default="imgs")
    p.add_argument("--mask-dir", default="panomasks")
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    p.add_argument("--jpeg-quality", type=int, default=75)
    args = p.parse_args(argv)
    n = resize_vipseg_720p(args.src, args.dst, args.height, args.image_dir, args.mask_dir,
                           args.workers, args.jpeg_quality)
    print(f"wrote {n} frames to {args.dst}")
    return 0


if __name__ == "__main__":
    run_cli(main)
