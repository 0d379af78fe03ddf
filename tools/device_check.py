"""The GPU goals measured in one command, with no dataset and no download: mixed-precision
training speed and memory, online FPS (model only and end to end), agreement with HF transformers,
bf16 accuracy, and NCCL + DDP. Writes one JSON and prints a table.

    python tools/device_check.py --json device_check.json   # a GPU machine (aim: < 8 min, H100)
    python tools/device_check.py --device cpu --quick --json out.json   # the same code, tiny sizes

Sections (each runs even when an earlier one failed; failures are recorded and the exit code is 1):

* ``training``: ``--train-iters`` iterations of the YTVIS-19 ViT-S config on the generated synthetic
  videos, one clip per iteration (one GPU's share of the published 8-GPU batch), under fp16 AMP +
  grad scaler and under bf16, each without and with activation checkpointing: iterations/s (after
  ``--train-warmup`` untimed iterations) and peak memory. Weights are random.
* ``amp_quickstart`` + ``bf16_accuracy``: the synthetic quickstart trained ``--quickstart-iters``
  iterations under fp16 AMP (it must learn: its AP), then AP of fp32 vs bf16 inference with those
  weights (target: within 0.5).
* ``fps``: ViT-S / B / L at batch 1, 640x640, one frame at a time with the propagated queries, in
  bf16 and fp16, ``torch.compile`` on a GPU (CUDA graphs); model only and end to end (H.264 decoding
  + resizing + model + causal post-processing). Targets: ViT-L >= 250 FPS on an H100, end to end
  >= 85% of model only.
* ``hf_parity``: ours vs HF transformers' ``VideomtForUniversalSegmentation`` in fp32 on the same
  weights (ViT-S, 640x640 clip, TF32 off): max class-logit difference (target 1e-3).
* ``distributed``: a 1-process NCCL group (gloo on a CPU, reported as such), an all-reduce, and
  trainer steps of the quickstart model wrapped in ``DistributedDataParallel``.

``--quick`` shrinks every model and size (2-block ViT-S, 32-64 px frames, 1-3 iterations, 2 of the
4 training variants) so that the whole check runs on a CPU (about 3 minutes on a busy 2-core
machine; CI runs it); numbers from it measure nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Light modules only: an argument mistake is one line before torch and the model stack load.
from videomt.cli import run_cli  # noqa: E402
from videomt.errors import UserError  # noqa: E402
from videomt.utils.files import require_writable_file  # noqa: E402

SECTION_NAMES = ("training", "quickstart", "fps", "hf_parity", "distributed")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: cuda if present)")
    p.add_argument("--quick", action="store_true", help="tiny models and sizes (CPU / CI)")
    p.add_argument("--json", default=None, metavar="OUT", help="write the results here")
    p.add_argument(
        "--sections",
        nargs="+",
        default=list(SECTION_NAMES),
        choices=list(SECTION_NAMES),
        help="run only these sections",
    )
    p.add_argument("--train-iters", type=int, default=None, help="default 50 (quick: 1)")
    p.add_argument("--train-warmup", type=int, default=None, help="default 10 (quick: 0)")
    p.add_argument("--quickstart-iters", type=int, default=None, help="default 1000 (quick: 2)")
    p.add_argument("--fps-iters", type=int, default=None, help="default 300 (quick: 2)")
    p.add_argument("--fps-warmup", type=int, default=None, help="default 30 (quick: 1)")
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the per-frame step for FPS (default: on a GPU, off on a CPU)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="where the synthetic videos are generated (default: a temporary folder)",
    )
    args = p.parse_args(argv)
    quick = args.quick
    for name, full, small in (
        ("train_iters", 50, 1),
        ("train_warmup", 10, 0),
        ("quickstart_iters", 1000, 2),
        ("fps_iters", 300, 2),
        ("fps_warmup", 30, 1),
    ):
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
        if getattr(args, name) < (0 if name.endswith("warmup") else 1):
            raise UserError(f"--{name.replace('_', '-')} is too small: {getattr(args, name)}")
    if args.train_warmup >= args.train_iters:
        raise UserError(
            f"--train-warmup ({args.train_warmup}) must be below --train-iters ({args.train_iters})"
        )
    if args.json:  # before the sections run, so that their results have somewhere to go
        require_writable_file(args.json, "--json")
    import torch  # the arguments are fine: the stack loads from here on

    from videomt.utils.device import resolve_device

    default = "cuda" if torch.cuda.is_available() else "cpu"
    args.device = resolve_device(args.device or default, "--device")
    if args.device.type == "cuda" and args.device.index is None:  # set_device needs an index
        args.device = torch.device("cuda", torch.cuda.current_device())
    if args.compile is None:
        args.compile = args.device.type == "cuda"
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from device_check_sections import run_sections  # tools/device_check_sections.py

    results = run_sections(args)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=str)
    return 1 if any(isinstance(r, dict) and "error" in r for r in results.values()) else 0


if __name__ == "__main__":
    run_cli(main)
