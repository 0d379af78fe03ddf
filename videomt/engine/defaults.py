"""Detectron2-style command line and run set-up (config, output folder, logging)."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys

from ..config import CfgNode
from .comm import get_rank, is_main_process
from .output_dir import claim_output_dir, record_dir
from .own_data import fit_config_to_training_data
from .run_config import default_argument_parser, load_run_config

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
    # huggingface_hub (imported by timm) writes its records with a stderr handler of its own and
    # passes them on to the root too: every download warning and retry came out twice. Its
    # records now go through the handlers above only: once, in our format and in log.txt.
    if importlib.util.find_spec("huggingface_hub") is not None:
        import huggingface_hub.utils.logging  # noqa: F401  (adds its handler when imported)

        logging.getLogger("huggingface_hub").handlers.clear()
    return logging.getLogger("videomt")


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
