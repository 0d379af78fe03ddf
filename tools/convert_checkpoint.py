#!/usr/bin/env python
"""Convert a VidEoMT checkpoint (official .pth, HF directory, or ours) to this project's format or
HF.

python tools/convert_checkpoint.py --src yt_2019_vit_large_68.6.pth --dst out/yt19_L \
    --config configs/ytvis19/videomt_dinov2_large.yaml
python tools/convert_checkpoint.py --src out/yt19_L/model_final.pth --dst out/yt19_L_hf --to hf
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from videomt.cli import run_cli  # noqa: E402
from videomt.errors import UserError  # noqa: E402
from videomt.utils.files import require_writable_dir  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--src", required=True, help="official .pth, HF directory, or this project's .pth"
    )
    parser.add_argument("--dst", required=True, help="output directory")
    parser.add_argument("--to", choices=["videomt", "hf"], default="videomt")
    parser.add_argument(
        "--config",
        default=None,
        help="(--to videomt, required) the model's published YAML: test sizes, datasets and the "
        "other keys weights cannot tell; the architecture keys come from the weights",
    )
    parser.add_argument(
        "--class-names",
        default=None,
        help="(--to hf) comma-separated class names, or a dataset name known to videomt",
    )
    args = parser.parse_args()
    if args.to == "videomt" and not args.config:
        # without it config.yaml would carry the defaults' test sizes and detection count, and
        # predictions would silently differ from the published model's
        raise UserError(
            "--config is required with --to videomt (the model's YAML, e.g. "
            "configs/ytvis19/videomt_dinov2_large.yaml): the weights do not say its test sizes"
        )
    require_writable_dir(args.dst, "--dst")
    from videomt.checkpoint import convert_to_hf, convert_to_videomt

    if args.to == "videomt":
        weights, config = convert_to_videomt(args.src, args.dst, base_config=args.config)
        print(f"wrote {weights}\nwrote {config}")
    else:
        names = _class_names(args.class_names)
        print(f"wrote {convert_to_hf(args.src, args.dst, class_names=names)}")
    return 0


def _class_names(spec):
    if not spec:
        return None
    if "," in spec:
        return [s.strip() for s in spec.split(",")]
    from videomt.data.catalog import MetadataCatalog

    return list(MetadataCatalog.get(spec).thing_classes) + list(
        getattr(MetadataCatalog.get(spec), "stuff_classes", [])
    )


if __name__ == "__main__":
    run_cli(main)
