"""A tiny training setup on the synthetic YouTube-VIS videos (CPU, seconds per run)."""

from __future__ import annotations

import os
import subprocess
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART = os.path.join(ROOT, "configs", "quickstart", "synthetic_vis.yaml")

# KEY VALUE overrides that make the quickstart config tiny: 2 blocks, 6 queries, 64-96 px clips of
# 2 frames, few points, no evaluation unless asked.
TINY = {
    "MODEL.DEVICE": "cpu",
    "MODEL.BACKBONE.DEPTH": "2",
    "MODEL.BACKBONE.SEGMENTER_BLOCKS": "[1]",
    "MODEL.BACKBONE.IMG_SIZE": "64",
    "MODEL.BACKBONE.NUM_OBJECT_QUERIES": "6",
    "MODEL.BACKBONE.TRAIN_NUM_POINTS": "256",
    "INPUT.SAMPLING_FRAME_NUM": "2",
    "INPUT.SAMPLING_FRAME_RANGE": "1",
    "INPUT.MIN_SIZE_TRAIN": "(64, 80)",
    "INPUT.MAX_SIZE_TRAIN": "112",
    "INPUT.MIN_SIZE_TEST": "64",
    "INPUT.MAX_SIZE_TEST": "96",
    "SOLVER.IMS_PER_BATCH": "2",
    "SOLVER.MAX_ITER": "10",
    "SOLVER.WARMUP_STEPS": "[2, 2]",
    "SOLVER.BASE_LR": "0.001",
    "SOLVER.LLRD": "0.9",
    "SOLVER.CHECKPOINT_PERIOD": "1000",
    "SOLVER.LOG_PERIOD": "5",
    "TEST.EVAL_PERIOD": "0",
    "DATASETS.TEST": "()",
    "DATALOADER.NUM_WORKERS": "0",
}


def overrides(output_dir, **extra) -> list[str]:
    values = dict(TINY, OUTPUT_DIR=str(output_dir), **{k: str(v) for k, v in extra.items()})
    return [x for kv in values.items() for x in kv]


def tiny_cfg(output_dir, **extra):
    from videomt import load_config

    return load_config(QUICKSTART, overrides(output_dir, **extra))


def cli_env(tmp_path) -> dict[str, str]:
    """The environment of a command-line run: datasets under ``tmp_path``, one CPU thread."""
    return dict(os.environ, DETECTRON2_DATASETS=str(tmp_path / "datasets"), OMP_NUM_THREADS="1")


def run_cli(args: list[str], tmp_path, timeout: int = 600, **kwargs) -> subprocess.CompletedProcess:
    """``train_net_video.py args`` in a fresh process in ``tmp_path``, its output captured."""
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "train_net_video.py"), *args],
        capture_output=True,
        text=True,
        env=cli_env(tmp_path),
        cwd=tmp_path,
        timeout=timeout,
        **kwargs,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, message: str, status: int = 2):
    """The run ended with exit ``status`` and one line on stderr containing ``message``."""
    assert proc.returncode == status, proc.stderr[-2000:]
    assert message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr


def final_weights(output_dir) -> dict[str, torch.Tensor]:
    return torch.load(
        os.path.join(output_dir, "model_final.pth"), map_location="cpu", weights_only=True
    )["model"]


def max_abs_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)
