#!/usr/bin/env python
"""Speed and cost of a VidEoMT config: online FPS, multi-stream throughput, GFLOPs.

    python benchmark.py --task fps --config-file configs/ytvis19/videomt_dinov2_large.yaml \\
        --device cuda --dtype bf16 --compile --json fps.json
    python benchmark.py --task flops --config-file configs/ytvis19/videomt_dinov2_small.yaml \\
        --input-size 640 640
    python benchmark.py --task throughput --config-file ... --streams 8
    # PMT: 1, 2, 3 models on one shared encoder pass vs each model with its own encoder
    python benchmark.py --task multitask --config-file configs/ytvis19/pmt_dinov2_large.yaml \
        --num-tasks 3
    # + decoding, resizing, post-processing:
    python benchmark.py --task fps --config-file ... --end-to-end
    python benchmark.py --task hf --config-file configs/ytvis19/videomt_dinov2_small.yaml \
        --device cpu --frames 6 --iters 7   # a 640x640 clip vs HF transformers fp32, same weights
    # (ours in fp32 and bf16; --dtype fp32 or --dtype bf16 runs only those; the CPU's fp32 / bf16
    # matmul rates are measured first and recorded with the timings)
    # peak memory of offline prediction:
    python benchmark.py --task offline --config-file ... --video-frames 1000 --video-size 720 1280
    # AP in fp32 vs bf16:
    python benchmark.py --task precision --config-file configs/quickstart/synthetic_vis.yaml \
        --dtype bf16 --num-videos 8 MODEL.WEIGHTS output/quickstart_synthetic_vis/model_final.pth
    # this CPU's fp32 and bf16 matmul rates (record the ratio with every CPU timing):
    OMP_NUM_THREADS=1 python benchmark.py --task matmul
    # the trainer's per-step non-finite check against a whole training step (needs the config's
    # training data; the synthetic quickstart sets are generated on first use):
    python benchmark.py --task finite-check --config-file configs/quickstart/synthetic_vis.yaml

No dataset and no weights are needed: weights are random unless ``--model-weights`` (or
``MODEL.WEIGHTS``) is given, frames come from the config's first test dataset when it is on disk,
else from random frames of the configured test size (a 720x1280 video resized as the test mapper
does), or exactly ``--input-size H W`` (padded to the size divisibility).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

# Light modules only: mistakes in the arguments or the config are reported before the model stack
# (timm, torchvision, transformers) loads; main() imports the task modules once both are checked.
from videomt.cli import run_cli
from videomt.config import load_config
from videomt.errors import UserError
from videomt.utils.files import require_writable_file

TASKS = (
    "fps",
    "flops",
    "throughput",
    "hf",
    "offline",
    "precision",
    "matmul",
    "multitask",
    "finite-check",
)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--config-file", default=None, metavar="FILE", help="(every task but matmul)")
    p.add_argument(
        "--model-weights", default=None, help="checkpoint (default: MODEL.WEIGHTS, else random)"
    )
    p.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, cuda:1 ... (default: the config's MODEL.DEVICE, else cuda when available)",
    )
    p.add_argument(
        "--dtype",
        default=None,
        choices=["fp32", "bf16", "fp16"],
        help="inference precision (default fp32); --task hf: ours in fp32 or in bf16 (both bf16 "
        "variants) against HF fp32 (default: all four)",
    )
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the per-frame step (default: on for CUDA, off for CPU)",
    )
    p.add_argument(
        "--compile-mode",
        default=None,
        help="torch.compile mode (default: reduce-overhead = CUDA graphs on a GPU, default on CPU)",
    )
    p.add_argument("--warmup-iters", type=int, default=10, help="untimed frames (steps) first")
    p.add_argument("--iters", type=int, default=100, help="timed frames (steps)")
    p.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        default=None,
        help="random frames of this size instead of the dataset / configured test size",
    )
    p.add_argument("--streams", type=int, default=4, help="--task throughput: concurrent streams")
    p.add_argument(
        "--num-tasks",
        type=int,
        default=3,
        help="--task multitask: time 1 .. N PMT models sharing one encoder pass",
    )
    p.add_argument(
        "--end-to-end",
        action="store_true",
        help="--task fps: also time decoding + resizing + model + causal post-processing per frame",
    )
    p.add_argument("--num-videos", type=int, default=5, help="dataset videos to cycle over (fps)")
    p.add_argument("--frames", type=int, default=6, help="--task hf: frames per clip")
    p.add_argument(
        "--video-frames",
        type=int,
        default=1000,
        help="--task offline: length of the generated video",
    )
    p.add_argument(
        "--video-size",
        type=int,
        nargs=2,
        default=[720, 1280],
        metavar=("H", "W"),
        help="--task offline: frame size of the generated video",
    )
    p.add_argument(
        "--cache-mb",
        type=float,
        default=1024.0,
        help="--task offline: mask logits cached between the passes (beyond: the model re-runs)",
    )
    p.add_argument("--json", default=None, metavar="OUT", help="write the results as JSON")
    p.add_argument(
        "--model-type",
        choices=["dinov2", "dinov3"],
        default=None,
        help="accepted for the reference CLI",
    )
    p.add_argument(
        "--fused-qkv",
        action="store_true",
        help="accepted for the reference CLI (sets MODEL.BACKBONE.FUSED_QKV)",
    )
    p.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        default=[],
        help="KEY VALUE config overrides (also accepted after --opts, as in the reference)",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    return p.parse_args([a for a in argv if a != "--opts"])


def build_cfg(args):
    # --device over MODEL.DEVICE; neither given: cuda where usable, else cpu (load_config)
    device = ["MODEL.DEVICE", args.device] if args.device else []
    opts = list(args.opts) + device + ["MODEL.BACKBONE.PRETRAINED", ""]
    if args.fused_qkv:
        opts += ["MODEL.BACKBONE.FUSED_QKV", "True"]
    return load_config(args.config_file, opts)


def check_args(args) -> None:
    names = ("warmup_iters", "iters", "streams", "num_tasks", "num_videos", "frames")
    for name in names + ("video_frames",):
        value = getattr(args, name)
        if value < (0 if name == "warmup_iters" else 1):
            bound = ">= 0" if name == "warmup_iters" else ">= 1"
            raise UserError(f"--{name.replace('_', '-')} must be {bound}, got {value}")
    if args.input_size and min(args.input_size) < 1:
        raise UserError(f"--input-size must be positive, got {args.input_size}")
    if args.json:  # before the run, so that its results have somewhere to go
        require_writable_file(args.json, "--json")
    if args.task == "hf" and args.dtype == "fp16":
        raise UserError(
            "--task hf compares fp32 and bf16: --dtype fp32 (HF and ours in fp32), --dtype bf16 "
            "(HF fp32 and ours in bf16) or no --dtype (all four variants)"
        )
    if args.task != "hf" and args.dtype is None:
        args.dtype = "fp32"


def main(argv=None) -> int:
    args = parse_args(argv)
    check_args(args)
    if args.task == "matmul":  # the CPU's fp32 and bf16 matmul rates: no model, no config
        from videomt.inference.benchmarking import describe_matmul_rates, matmul_rates

        out = {"task": "matmul", **matmul_rates()}
        print(describe_matmul_rates(out))
        write_results(args.json, out)
        return 0
    if not args.config_file:
        raise UserError(f"--config-file is required for --task {args.task}")
    cfg = build_cfg(args)
    from videomt.utils.device import resolve_device

    device = resolve_device(cfg.MODEL.DEVICE, "--device" if args.device else "MODEL.DEVICE")
    compile_on = args.compile if args.compile is not None else device.type == "cuda"
    mode = args.compile_mode or ("reduce-overhead" if device.type == "cuda" else True)
    # arguments, config and device are fine: the model stack loads from here on
    from videomt.inference.benchmarking import environment

    out = {
        "task": args.task,
        "config_file": args.config_file,
        **environment(device),
        "settings": {
            "dtype": args.dtype,
            "compile": bool(compile_on),
            "compile_mode": mode if compile_on else None,
            "warmup_iters": args.warmup_iters,
            "iters": args.iters,
            "weights": args.model_weights or cfg.MODEL.WEIGHTS or "random",
        },
    }
    out.update(run_task(args, cfg, device, mode if compile_on else False, out["device_name"]))
    write_results(args.json, out)
    return 0


def run_task(args, cfg, device, compile_mode, device_name: str) -> dict:
    """The task's results (each task prints its own summary line)."""
    if args.task == "finite-check":
        from videomt.engine.numerics_cost import finite_check_cost

        with tempfile.TemporaryDirectory() as tmp:
            return finite_check_cost(cfg, args.warmup_iters, args.iters, tmp)
    if args.task in ("hf", "precision"):
        from videomt.inference import benchmark_parity

        run = (
            benchmark_parity.compare_with_hf
            if args.task == "hf"
            else benchmark_parity.precision_parity
        )
        with tempfile.TemporaryDirectory() as tmp:
            return run(args, cfg, tmp)
    from videomt.inference import benchmark_tasks as tasks

    if args.task == "offline":
        return tasks.run_offline(args, cfg, device)
    if args.task == "multitask":
        return tasks.run_multitask(args, cfg, device)
    if args.task == "flops":
        return tasks.run_flops(args, cfg)
    return tasks.run_online(args, cfg, device, compile_mode, device_name)  # fps, throughput


def write_results(path: str | None, out: dict) -> None:
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    run_cli(main)
