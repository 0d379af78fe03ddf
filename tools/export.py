#!/usr/bin/env python
"""Export the per-frame step (frame + state in, outputs + state out) to ONNX and torch.export.

    python tools/export.py --config-file configs/ytvis19/videomt_dinov2_small.yaml --output
    export/yt19_S \\
        MODEL.WEIGHTS yt_2019_vit_small_52.8.pth
    -> export/yt19_S/{step.onnx, step.pt2, metadata.json, initial_state.npy}

Height, width and batch are dynamic unless ``--no-dynamic``. An ONNX step export is checked:
onnxruntime and PyTorch run ``--check-frames`` frames with the state fed back (at the export size
and, when dynamic, at another size) and the largest difference is printed.
See ``videomt/inference/export.py`` for the input / output contract.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Light modules only: mistakes in the arguments or the config are reported before the model
# stack (timm, torchvision) loads; main() imports the rest.
from videomt.cli import run_cli  # noqa: E402
from videomt.config import load_config  # noqa: E402
from videomt.utils.files import require_writable_dir  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config-file", required=True, metavar="FILE")
    p.add_argument("--output", required=True, help="folder for the exported files")
    p.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="example input size (multiples of the patch size; default IMG_SIZE x IMG_SIZE)",
    )
    p.add_argument("--format", choices=["onnx", "torch-export", "both"], default="both")
    p.add_argument(
        "--part",
        choices=["step", "encode", "both"],
        default="step",
        help="step = encode + query blocks + heads for one frame; encode = query-free blocks only",
    )
    p.add_argument(
        "--dynamic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="dynamic batch, height and width",
    )
    p.add_argument(
        "--check-frames", type=int, default=3, help="frames of the onnxruntime check (0: no check)"
    )
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[], help="KEY VALUE config overrides")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    require_writable_dir(args.output, "--output")
    cfg = load_config(args.config_file, list(args.opts) + ["MODEL.DEVICE", "cpu"])
    import torch

    with torch.no_grad():
        return export(args, cfg)


def export(args, cfg) -> int:
    """Write the metadata and the exported files of ``args`` (the config is checked)."""
    from videomt.inference import VideoPredictor
    from videomt.inference.export import (
        export_metadata,
        export_onnx,
        export_program,
        onnx_step_parity,
    )

    predictor = VideoPredictor(cfg)
    core = predictor.model.core
    size = tuple(args.input_size) if args.input_size else (cfg.MODEL.BACKBONE.IMG_SIZE,) * 2
    os.makedirs(args.output, exist_ok=True)
    export_metadata(
        predictor.model,
        args.output,
        predictor.class_names,
        size,
        test_resize=(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST),
    )
    formats = ["onnx", "torch-export"] if args.format == "both" else [args.format]
    for part in ["step", "encode"] if args.part == "both" else [args.part]:
        if "torch-export" in formats:
            print(
                "wrote",
                export_program(
                    core, os.path.join(args.output, f"{part}.pt2"), size, part, args.dynamic
                ),
            )
        if "onnx" in formats:
            path = export_onnx(
                core, os.path.join(args.output, f"{part}.onnx"), size, part, args.dynamic
            )
            print("wrote", path)
            if part == "step" and args.check_frames > 0:
                sizes = [size] + (
                    [
                        (
                            size[0] // 2 // core.patch_size * core.patch_size or core.patch_size,
                            size[1] + core.patch_size,
                        )
                    ]
                    if args.dynamic
                    else []
                )
                for hw in sizes:
                    diff = onnx_step_parity(core, path, hw, args.check_frames)
                    print(
                        f"onnxruntime vs PyTorch at {hw[0]}x{hw[1]}, {args.check_frames} frames "
                        "with the state "
                        f"fed back: max |diff| {diff:.2e}"
                    )
    return 0


if __name__ == "__main__":
    run_cli(main)
