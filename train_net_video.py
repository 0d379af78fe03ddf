#!/usr/bin/env python
"""Train or evaluate VidEoMT (Detectron2-style command line).

python train_net_video.py --config-file configs/quickstart/synthetic_vis.yaml python
train_net_video.py --config-file configs/ytvis19/videomt_dinov2_small.yaml --num-gpus 8 python
train_net_video.py --config-file ... --resume                  # continue OUTPUT_DIR/last_checkpoint
python train_net_video.py --config-file ... --eval-only MODEL.WEIGHTS yt_2019_vit_small_52.8.pth
"""

import logging

from videomt import build_model, load_checkpoint
from videomt.cli import run_cli
from videomt.engine.checkpointer import TrainingCheckpointer
from videomt.engine.comm import is_main_process
from videomt.engine.defaults import default_argument_parser, default_setup
from videomt.engine.env import write_env_info
from videomt.engine.evaluate import evaluate_model
from videomt.engine.launch import launch
from videomt.engine.trainer import Trainer

logger = logging.getLogger("videomt")


def evaluate(cfg, resume: bool = False) -> dict:
    """Evaluate MODEL.WEIGHTS (or, with --resume, the last checkpoint of OUTPUT_DIR) on
    DATASETS.TEST."""
    cfg = cfg.clone()
    cfg.defrost()
    last = TrainingCheckpointer(None, cfg.OUTPUT_DIR, save_to_disk=False)
    weights = last.get_checkpoint_file() if resume and last.has_checkpoint() else cfg.MODEL.WEIGHTS
    if resume and weights == cfg.MODEL.WEIGHTS:
        logger.info(f"--resume: no checkpoint in {cfg.OUTPUT_DIR}; evaluating MODEL.WEIGHTS")
    if weights:
        cfg.MODEL.BACKBONE.PRETRAINED = (
            ""  # every weight comes from the checkpoint: skip the backbone download
        )
    model = build_model(cfg)
    if weights:
        info = load_checkpoint(model, weights)
        logger.info(f"loaded {weights} ({info['layout']} layout)")
    else:
        logger.warning("MODEL.WEIGHTS is empty: evaluating randomly initialised weights")
    return evaluate_model(cfg, model)


def main(args) -> dict:
    cfg = default_setup(args)
    env = write_env_info(cfg.OUTPUT_DIR) if is_main_process() else ""
    logger.info("environment:\n" + env)
    if args.eval_only:
        return evaluate(cfg, resume=args.resume)
    if (
        args.resume
        and TrainingCheckpointer(None, cfg.OUTPUT_DIR, save_to_disk=False).has_checkpoint()
    ):
        cfg.defrost()
        cfg.MODEL.BACKBONE.PRETRAINED = (
            ""  # every weight comes from the checkpoint: skip the backbone download
        )
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def cli() -> int:
    args = default_argument_parser(__doc__).parse_args()
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
    return 0


if __name__ == "__main__":
    run_cli(cli)
