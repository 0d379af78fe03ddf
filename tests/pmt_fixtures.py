"""Tiny PMT-video models for the multi-task and tool tests: the PMT quickstart config cut to two
decoder blocks and small test frames, the options of each task, and one checkpoint per task over
one shared encoder."""

from __future__ import annotations

import os

import torch

from tests.video_fixtures import SMALL_TEST_FRAMES
from videomt.config import load_config
from videomt.model import build_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PMT_QUICKSTART = os.path.join(ROOT, "configs", "quickstart", "synthetic_vis_pmt.yaml")
PMT_TINY = ["MODEL.DEVICE", "cpu", "MODEL.BACKBONE.NUM_BLOCKS", "2", *SMALL_TEST_FRAMES]
TASK_OPTS = {
    "vis": [],
    "vps": [
        "MODEL.BACKBONE.TEST.TASK",
        "vps",
        "MODEL.BACKBONE.NUM_CLASSES",
        "8",
        "DATASETS.TEST",
        "('synthetic_vps_val',)",
        "MODEL.BACKBONE.TEST.OBJECT_MASK_THRESHOLD",
        "0.0",
        "MODEL.BACKBONE.TEST.OVERLAP_THRESHOLD",
        "0.0",
    ],
    "vss": [
        "MODEL.BACKBONE.TEST.TASK",
        "vss",
        "MODEL.BACKBONE.NUM_CLASSES",
        "8",
        "DATASETS.TEST",
        "('synthetic_vss_val',)",
    ],
}


def pmt_cfg(task: str):
    """The tiny PMT config of ``task`` ("vis", "vps" or "vss")."""
    return load_config(PMT_QUICKSTART, PMT_TINY + TASK_OPTS[task])


def write_task_checkpoints(folder, perturb_encoder: bool = False) -> dict[str, str]:
    """``{task: folder/<task>.pth}``: decoders from different seeds, one encoder for all;
    ``perturb_encoder`` moves its blocks away from their near-identity initialisation, so that
    every tapped block changes the result."""
    paths, encoder = {}, None
    for seed, task in enumerate(TASK_OPTS):
        torch.manual_seed(seed)
        model = build_model(pmt_cfg(task))
        if encoder is None:
            if perturb_encoder:
                with torch.no_grad():
                    for p in model.core.encoder.parameters():
                        p.add_(0.05 * torch.randn_like(p))
            encoder = model.core.encoder.state_dict()
        model.core.encoder.load_state_dict(encoder)
        paths[task] = str(folder / f"{task}.pth")
        torch.save({"model": model.state_dict()}, paths[task])
    return paths
