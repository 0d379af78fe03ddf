#!/usr/bin/env python
"""Draw the ground truth of training clips as the model sees them: after the training mapper's
sampling and augmentations (resize, crop, flip, rotation), so annotations and augmentations can
be checked together (as Detectron2's ``tools/visualize_data.py --source dataloader``).

    python tools/visualize_data.py --config-file configs/quickstart/synthetic_vis.yaml \\
        --output vis_data/ --num-clips 8
    python tools/visualize_data.py --config-file configs/ytvis19/videomt_dinov2_small.yaml \\
        --output vis_data/ --format png DATASETS.TRAIN '("my/train.json",)'

The clips are those of the first training iterations (``SEED``), one file per clip:
``<output>/clip_<k>_<video>.gif`` (or a folder of PNG frames with ``--format png``). Each object
has one colour across the clip's frames, a label with its class and a legend with its track id.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Light modules only: mistakes in the arguments or the config are reported before the data and
# model stack (torchvision, timm) loads; the functions below import the rest when called.
import numpy as np  # noqa: E402

from videomt.cli import run_cli  # noqa: E402
from videomt.config import load_config  # noqa: E402
from videomt.errors import UserError  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config-file", required=True, metavar="FILE", help="training config (YAML)")
    p.add_argument("--output", required=True, help="folder for the drawn clips")
    p.add_argument("--num-clips", type=int, default=8, help="how many training clips to draw")
    p.add_argument("--format", choices=["gif", "png"], default="gif", help="GIF per clip or PNGs")
    p.add_argument("--fps", type=float, default=2.0, help="GIF frame rate")
    p.add_argument(
        "opts", nargs=argparse.REMAINDER, default=[], help="config overrides as KEY VALUE pairs"
    )
    return p.parse_args(argv)


def class_names(cfg) -> list[str]:
    """Names of the label indices of ``DATASETS.TRAIN[0]`` (things for instance tasks, every
    class, things first, for panoptic and semantic ones)."""
    from videomt.data.catalog import DatasetCatalog, MetadataCatalog

    name = cfg.DATASETS.TRAIN[0]
    DatasetCatalog.resolve(name)
    meta = MetadataCatalog.get(name)
    key = "thing_classes" if cfg.MODEL.BACKBONE.TEST.TASK == "vis" else "stuff_classes"
    return list(meta.get(key, None) or [])


def clip_frames(clip: dict, image_format: str) -> list[np.ndarray]:
    """The clip's augmented frames as (H, W, 3) uint8 RGB arrays."""
    frames = clip["image"].permute(0, 2, 3, 1).numpy()  # (T, H, W, 3)
    if image_format == "BGR":
        frames = frames[..., ::-1]
    return [np.ascontiguousarray(f) for f in frames]


def frame_ground_truth(clip: dict, t: int, names: list[str]) -> list:
    """What to draw on frame ``t`` (a list of ``DrawItem``): every target present there, coloured by
    its index in the clip (stable across the clip's frames)."""
    from videomt.inference.visualize import DrawItem, track_colour

    targets = clip["instances"]
    ids, labels, masks = targets["ids"], targets["labels"], targets["masks"]  # (N,T) (N,) (N,T,H,W)
    items = []
    for n in range(masks.shape[0]):
        mask = masks[n, t].numpy()
        if int(ids[n, t]) < 0 or not mask.any():
            continue
        label = int(labels[n])
        name = names[label] if 0 <= label < len(names) else f"class {label}"
        items.append(DrawItem(mask, track_colour(n), name, f"#{int(ids[n, t])} {name}"))
    return items


def clip_name(clip: dict, k: int) -> str:
    """``clip_<k>_<video folder>`` (``..._<folder>_<frame stem>`` for a one-frame clip),
    filesystem-safe."""
    first = clip["file_names"][0]
    video = os.path.basename(os.path.dirname(first))
    if len(clip["file_names"]) == 1:
        video += "_" + os.path.splitext(os.path.basename(first))[0]
    return f"clip_{k:03d}_" + re.sub(r"[^\w.-]", "_", video)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.num_clips <= 0:
        raise UserError(f"--num-clips must be positive, got {args.num_clips}")
    cfg = load_config(args.config_file, args.opts)
    import torch

    from videomt.data.build import build_train_loader
    from videomt.engine.own_data import fit_config_to_training_data
    from videomt.inference.visualize import draw_items
    from videomt.inference.writers import open_writer

    cfg = fit_config_to_training_data(cfg)
    cfg.defrost()
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.freeze()
    names = class_names(cfg)
    written = 0
    with torch.no_grad():
        for batch in build_train_loader(cfg):
            for clip in batch:
                if written == args.num_clips:
                    return 0
                frames = clip_frames(clip, cfg.INPUT.FORMAT)
                base = os.path.join(args.output, clip_name(clip, written))
                path = base + ".gif" if args.format == "gif" else base
                frame_names = [f"{t:05d}" for t in range(len(frames))]
                with open_writer(path, args.fps, frame_names) as writer:
                    for t, frame in enumerate(frames):
                        writer.write(draw_items(frame, frame_ground_truth(clip, t, names)))
                print(
                    f"wrote {path} ({len(frames)} frames, {clip['instances']['masks'].shape[0]} "
                    f"objects)"
                )
                written += 1
    return 0


if __name__ == "__main__":
    run_cli(main)
