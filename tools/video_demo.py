#!/usr/bin/env python
"""Segment a video and write it with the predictions drawn on it (GIF, MP4 or PNG frames).

    python tools/video_demo.py --config-file configs/ytvis19/videomt_dinov2_small.yaml \\
        --input my_video.mp4 --output out.gif MODEL.WEIGHTS yt_2019_vit_small_52.8.pth
    python tools/video_demo.py ... --input frames_folder/ --output out_frames/      # PNG per frame
    python tools/video_demo.py ... --output small.gif --gif-max-width 320 --gif-frame-step 2
    python tools/video_demo.py ... --input 0 --output webcam.mp4 --max-frames 300  # webcam, online
    # PMT models over one frozen encoder: one encoder pass per frame, tasks side by side
    python tools/video_demo.py --config-file vis.yaml vps.yaml --weights vis.pth vps.pth \
        --input my_video.mp4 --output out.mp4

Offline (default): classes are decided from the whole video (the evaluation protocol); the video
is read twice. ``--stream``: online, frame by frame, with causal running class scores (what a
live camera gets). Frames are written as they are produced, so memory stays flat. Runs on CPU.
A GIF keeps every frame at full size unless ``--gif-max-width`` / ``--gif-frame-step`` say
otherwise; one above 5 MB gets a hint in the last line.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Light modules only: mistakes in the arguments or the config are reported before the model
# stack (timm, torchvision) loads; main() imports the rest.
import numpy as np  # noqa: E402

from videomt.cli import run_cli  # noqa: E402
from videomt.config import load_config  # noqa: E402
from videomt.errors import UserError  # noqa: E402

LARGE_GIF_MB = 5.0  # a GIF above this gets a hint on how to shrink it


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--config-file",
        required=True,
        nargs="+",
        metavar="FILE",
        help="model config (YAML); several PMT configs sharing one frozen encoder draw their "
        "tasks side by side (one encoder pass per frame)",
    )
    p.add_argument(
        "--weights",
        nargs="+",
        default=None,
        metavar="FILE",
        help="one checkpoint per --config-file (default: each config's MODEL.WEIGHTS)",
    )
    p.add_argument(
        "--input",
        required=True,
        help="video file (mp4/avi/webm/gif/...), folder of frames, or a webcam index (e.g. 0)",
    )
    p.add_argument("--output", required=True, help="out.gif, out.mp4, or a folder for PNG frames")
    p.add_argument(
        "--confidence-threshold",
        type=float,
        default=0.5,
        help="draw objects scoring at least this, in [0, 1] (instance tracks, panoptic segments)",
    )
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument(
        "--fps", type=float, default=None, help="output frame rate (default: the input's, else 10)"
    )
    p.add_argument(
        "--gif-frame-step",
        type=int,
        default=1,
        metavar="N",
        help="GIF output: keep every Nth frame, each shown N times as long (same playback speed)",
    )
    p.add_argument(
        "--gif-max-width",
        type=int,
        default=None,
        metavar="W",
        help="GIF output: scale wider frames down to W pixels (aspect ratio kept)",
    )
    p.add_argument(
        "--stream", action="store_true", help="online, frame by frame (causal class scores)"
    )
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: MODEL.DEVICE)")
    p.add_argument(
        "--dtype", default=None, choices=["fp32", "bf16", "fp16"], help="inference precision"
    )
    p.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        default=[],
        help="config overrides as KEY VALUE pairs, e.g. MODEL.WEIGHTS model.pth",
    )
    return p.parse_args(argv)


def check_gif_options(args) -> None:
    if args.gif_frame_step < 1:
        raise UserError(f"--gif-frame-step must be >= 1, got {args.gif_frame_step}")
    if args.gif_max_width is not None and args.gif_max_width < 1:
        raise UserError(f"--gif-max-width must be >= 1, got {args.gif_max_width}")
    gif_options = args.gif_frame_step != 1 or args.gif_max_width is not None
    if gif_options and not args.output.lower().endswith(".gif"):
        raise UserError(
            f"--gif-frame-step / --gif-max-width apply to a .gif --output, not {args.output}"
        )


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.max_frames is not None and args.max_frames <= 0:
        raise UserError(f"--max-frames must be positive, got {args.max_frames}")
    if args.fps is not None and args.fps <= 0:
        raise UserError(f"--fps must be positive, got {args.fps}")
    if not 0.0 <= args.confidence_threshold <= 1.0:  # scores are probabilities
        raise UserError(
            f"--confidence-threshold must be in [0, 1], got {args.confidence_threshold}"
        )
    check_gif_options(args)
    if args.weights is not None and len(args.weights) != len(args.config_file):
        raise UserError(
            f"--weights: got {len(args.weights)} files for {len(args.config_file)} --config-file"
        )
    cfgs = [load_config(path, args.opts) for path in args.config_file]
    from videomt.utils.device import resolve_device

    if args.device is not None:
        resolve_device(args.device, "--device")
    from videomt.inference import MultiTaskPredictor, VideoPredictor, open_video
    from videomt.inference.visualize import draw_result
    from videomt.inference.writers import check_output_path, open_writer
    from videomt.utils.progress import progress_bar

    check_output_path(args.output)
    webcam = args.input.isdigit()
    source = open_video(int(args.input) if webcam else args.input, args.max_frames)
    weights = args.weights or [None] * len(cfgs)
    if len(cfgs) == 1:
        predictor = VideoPredictor(cfgs[0], weights[0], device=args.device, dtype=args.dtype)
        class_names = [predictor.class_names]
    else:
        predictor = MultiTaskPredictor(
            cfgs, weights, device=args.device, dtype=args.dtype, names=args.config_file
        )
        class_names = predictor.class_names
    fps = args.fps or source.fps or 10.0

    def draw(frame, results):
        """One panel per task, left to right in --config-file order."""
        results = results if isinstance(results, list) else [results]
        panels = [
            draw_result(frame, result, names, args.confidence_threshold)
            for result, names in zip(results, class_names)
        ]
        return panels[0] if len(panels) == 1 else np.concatenate(panels, axis=1)

    with open_writer(
        args.output, fps, source.frame_names, args.gif_frame_step, args.gif_max_width
    ) as writer:
        if args.stream or webcam:
            stream = predictor.stream()
            frames = progress_bar(
                source, total=source.num_frames, desc="demo (online)", unit="frame"
            )
            for frame in frames:
                writer.write(draw(frame, stream.step(frame)))
        else:
            for frame, result in zip(source, predictor(source, progress=True)):
                writer.write(draw(frame, result))
    print(f"wrote {writer.count} frames to {args.output}{gif_note(args.output, writer)}")
    return 0


def gif_note(path: str, writer) -> str:
    """For a GIF: its size, and how to shrink it when it is large (a moving camera)."""
    if not path.lower().endswith(".gif"):
        return ""
    mb = os.path.getsize(path) / 2**20
    note = f" ({mb:.1f} MB"
    if mb > LARGE_GIF_MB and writer.frame_step == 1 and writer.max_width is None:
        note += (
            "; --gif-max-width 320 --gif-frame-step 2 made panning 640-wide clips about 6x "
            "smaller, and .mp4 is smaller still"
        )
    return note + ")"


if __name__ == "__main__":
    run_cli(main)
