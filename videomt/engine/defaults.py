"""Detectron2-style command line and run set-up (config, output folder, logging)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..config import CfgNode, load_config
from ..errors import UserError
from ..utils.device import resolve_device
from ..utils.files import require_writable_dir
from .comm import get_rank, is_main_process
from .output_dir import claim_output_dir, record_dir
from .own_data import fit_config_to_training_data

__all__ = [
    "default_argument_parser",
    "load_run_config",
    "default_setup",
    "setup_logger",
    "seed_everything",
]


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (same seed on every rank, so random inits agree)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def default_argument_parser(description: str = "VidEoMT") -> argparse.ArgumentParser:
    """``--config-file --resume --eval-only --num-gpus --num-machines --machine-rank --dist-url``
    followed by ``KEY VALUE`` config overrides, as in Detectron2, plus ``--random-weights``."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", default="", metavar="FILE", help="path to config file")
    parser.add_argument(
        "--resume", action="store_true", help="resume from OUTPUT_DIR/last_checkpoint"
    )
    parser.add_argument("--eval-only", action="store_true", help="evaluate MODEL.WEIGHTS only")
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="with --eval-only and no MODEL.WEIGHTS: score random weights on purpose (smoke test)",
    )
    parser.add_argument("--num-gpus", type=int, default=1, help="processes per machine")
    parser.add_argument("--num-machines", type=int, default=1)
    parser.add_argument("--machine-rank", type=int, default=0)
    parser.add_argument(
        "--dist-url", default="auto", help="tcp://HOST:PORT of rank 0 (multi-machine)"
    )
    parser.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        default=[],
        help="config overrides as KEY VALUE pairs, e.g. MODEL.WEIGHTS model.pth",
    )
    return parser


def setup_logger(output_dir: str | None) -> logging.Logger:
    """Log to stdout (rank 0) and to ``output_dir/log.txt`` (rank 0) / ``log.txt.rank<R>``."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    fmt = logging.Formatter("[%(asctime)s %(name)s]: %(message)s", datefmt="%m/%d %H:%M:%S")
    if is_main_process():
        stream = logging.StreamHandler(sys.stdout)
        stream.setFormatter(fmt)
        root.addHandler(stream)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        name = "log.txt" if is_main_process() else f"log.txt.rank{get_rank()}"
        handler = logging.FileHandler(os.path.join(output_dir, name))
        handler.setFormatter(fmt)
        root.addHandler(handler)
    return logging.getLogger("videomt")


def load_run_config(args: argparse.Namespace) -> CfgNode:
    """The run's config from ``args``, checked before any process starts or any file is written:
    the config file and keys exist, ``MODEL.DEVICE`` is on this machine, ``OUTPUT_DIR`` is
    writable (one-line errors)."""
    if not args.config_file:  # the bare defaults build a ViT-L and name no dataset: nothing useful
        raise UserError(
            "--config-file is required (e.g. --config-file configs/quickstart/synthetic_vis.yaml)"
        )
    cfg = load_config(args.config_file, args.opts)
    resolve_device(cfg.MODEL.DEVICE, "MODEL.DEVICE")
    require_writable_dir(cfg.OUTPUT_DIR, "OUTPUT_DIR")
    return cfg


def default_setup(args: argparse.Namespace) -> CfgNode:
    """Config from ``args`` (:func:`load_run_config`); claims OUTPUT_DIR for this run (one run
    per folder, no new training over an old one: :mod:`.output_dir`) and starts ``log.txt`` in
    the run's record folder (OUTPUT_DIR, or OUTPUT_DIR/inference for ``--eval-only``).
    ``config.yaml`` is written later, when the run starts (:func:`.output_dir.save_config`)."""
    cfg = load_run_config(args)
    claim_output_dir(cfg.OUTPUT_DIR, resume=args.resume, eval_only=args.eval_only)
    seed_everything(cfg.SEED)
    logger = setup_logger(record_dir(cfg.OUTPUT_DIR, args.eval_only))
    logger.info(f"command line: {' '.join(sys.argv)}")
    if not args.eval_only:
        cfg = fit_config_to_training_data(cfg)
    return cfg
