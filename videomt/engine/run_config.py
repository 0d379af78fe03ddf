"""The command line of ``train_net_video.py`` and the run's config read from it, checked.

Light on purpose (no torch at import): a config typo, a missing file or an unwritable
OUTPUT_DIR is reported in well under a second, before the model stack loads.
"""

from __future__ import annotations

import argparse

from ..config import CfgNode, load_config
from ..errors import UserError
from ..utils.files import require_writable_dir

__all__ = ["default_argument_parser", "load_run_config"]


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


def load_run_config(args: argparse.Namespace) -> CfgNode:
    """The run's config from ``args``, checked before any process starts or any file is written:
    the config file and keys exist, ``MODEL.DEVICE`` is on this machine, ``OUTPUT_DIR`` is
    writable (one-line errors)."""
    if not args.config_file:  # the bare defaults build a ViT-L and name no dataset: nothing useful
        raise UserError(
            "--config-file is required (e.g. --config-file configs/quickstart/synthetic_vis.yaml)"
        )
    cfg = load_config(args.config_file, args.opts)
    from ..utils.device import resolve_device  # imports torch: only once the config is valid

    resolve_device(cfg.MODEL.DEVICE, "MODEL.DEVICE")
    require_writable_dir(cfg.OUTPUT_DIR, "OUTPUT_DIR")
    return cfg
