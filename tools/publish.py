#!/usr/bin/env python
"""Publish a trained model: a folder with config.yaml, model.safetensors, classes.json and a
model card (README.md: task, classes, metrics from the run's metrics.json, the training command),
optionally pushed to the Hugging Face hub.

    python tools/publish.py --run-dir output/my_run --output published/my_model
    python tools/publish.py --run-dir output/my_run --output published/my_model \\
        --push my-org/videomt-my-data [--private]        # needs `hf auth login` (or HF_TOKEN)

Load it back with ``videomt.VideoPredictor.from_pretrained("my-org/videomt-my-data")`` (or the
folder), or ``MODEL.WEIGHTS hf://my-org/videomt-my-data`` in any command.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from videomt.cli import run_cli  # noqa: E402
from videomt.errors import UserError  # noqa: E402
from videomt.utils.files import require_writable_dir  # noqa: E402
from videomt.utils.hf_hub import parse_hub_id  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--run-dir", required=True, help="training OUTPUT_DIR (config.yaml, ...)")
    p.add_argument("--output", required=True, help="folder to write the published model to")
    p.add_argument(
        "--weights", default=None, help="checkpoint to publish (default: RUN_DIR/model_final.pth)"
    )
    p.add_argument(
        "--class-names",
        default=None,
        help="comma-separated class names (default: those of the run's datasets)",
    )
    p.add_argument("--push", metavar="ORG/NAME", default=None, help="upload to this hub repo")
    p.add_argument("--private", action="store_true", help="create the hub repo as private")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.push is not None and (parse_hub_id(args.push) is None or "@" in args.push):
        raise UserError(f"--push {args.push}: expected a hub repository id 'org/name'")
    repo_id = args.push.removeprefix("hf://") if args.push else None
    names = [n.strip() for n in args.class_names.split(",")] if args.class_names else None
    require_writable_dir(args.output, "--output")
    from videomt.hub import publish_run, push_to_hub  # the arguments are fine: torch loads now

    done = publish_run(
        args.run_dir, args.output, weights=args.weights, class_names=names, repo_id=repo_id
    )
    print(f"wrote {args.output} ({len(done['classes'])} classes, {len(done['metrics'])} metrics)")
    if repo_id:
        url = push_to_hub(args.output, repo_id, private=args.private)
        print(f"pushed to {url}")
    return 0


if __name__ == "__main__":
    run_cli(main)
