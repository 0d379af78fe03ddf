#!/usr/bin/env python
"""Train or evaluate VidEoMT (Detectron2-style command line).

python train_net_video.py --config-file configs/quickstart/synthetic_vis.yaml
python train_net_video.py --config-file configs/ytvis19/videomt_dinov2_small.yaml --num-gpus 8
python train_net_video.py --config-file ... --resume    # continue OUTPUT_DIR/last_checkpoint
python train_net_video.py --config-file ... --eval-only MODEL.WEIGHTS yt_2019_vit_small_52.8.pth
"""

import logging

# Only light modules at the top: a config typo is reported before torch's model stack loads.
from videomt.cli import run_cli
from videomt.engine.run_config import default_argument_parser, load_run_config
from videomt.errors import ConfigError

logger = logging.getLogger("videomt")


def evaluate(cfg, resume: bool = False, random_weights: bool = False) -> dict:
    """Evaluate MODEL.WEIGHTS (or, with --resume, the last checkpoint of OUTPUT_DIR) on
    DATASETS.TEST."""
    from videomt import build_model, load_checkpoint
    from videomt.checkpoint import TrainingCheckpointer
    from videomt.engine.evaluate import evaluate_model
    from videomt.engine.output_dir import record_dir

    cfg = cfg.clone()
    cfg.defrost()
    last = TrainingCheckpointer(None, cfg.OUTPUT_DIR, save_to_disk=False)
    weights = last.get_checkpoint_file() if resume and last.has_checkpoint() else cfg.MODEL.WEIGHTS
    if not weights and not random_weights:
        where = " and OUTPUT_DIR has no checkpoint to --resume" if resume else ""
        raise ConfigError(
            f"--eval-only: MODEL.WEIGHTS is empty{where}, so the scores would be those of random "
            "weights; give MODEL.WEIGHTS <checkpoint> (or --random-weights to score them on "
            "purpose)"
        )
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
        logger.warning("--random-weights: evaluating randomly initialised weights (scores near 0)")
    start_record(cfg, record_dir(cfg.OUTPUT_DIR, eval_only=True))
    return evaluate_model(cfg, model)


def start_record(cfg, folder: str) -> None:
    """The run starts: write ``folder/config.yaml`` and ``folder/env.txt`` and log the
    environment once (``folder``: OUTPUT_DIR for a training, OUTPUT_DIR/inference for an
    evaluation, so an evaluation never rewrites a training's record)."""
    from videomt.engine.comm import is_main_process
    from videomt.engine.env import write_env_info
    from videomt.engine.output_dir import save_config

    logger.info(f"full config saved to {save_config(cfg, folder)}")
    if is_main_process():
        logger.info(f"environment (also in {folder}/env.txt):\n" + write_env_info(folder))


def main(args) -> dict:
    from videomt.engine.defaults import default_setup

    cfg = default_setup(args)
    if args.eval_only:
        return evaluate(cfg, resume=args.resume, random_weights=args.random_weights)
    from videomt.checkpoint import TrainingCheckpointer
    from videomt.engine.trainer import Trainer

    if (
        args.resume
        and TrainingCheckpointer(None, cfg.OUTPUT_DIR, save_to_disk=False).has_checkpoint()
    ):
        cfg.defrost()
        cfg.MODEL.BACKBONE.PRETRAINED = (
            ""  # every weight comes from the checkpoint: skip the backbone download
        )
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)  # checks a resume fits before anything is written
    if not trainer.already_finished:
        start_record(cfg, cfg.OUTPUT_DIR)
    results = trainer.train()
    if trainer.stop_signal:  # stopped by SIGTERM / SIGINT with a checkpoint: not a finished run
        raise SystemExit(130 if trainer.stop_signal == "SIGINT" else 143)
    return results


def cli() -> int:
    args = default_argument_parser(__doc__).parse_args()
    # config, device and OUTPUT_DIR errors: one line, before any process starts
    cfg = load_run_config(args)
    from videomt.engine.launch import launch, launched_world_size
    from videomt.engine.training_config import check_dataset_names, check_training_config

    # dataset names and solver mistakes too: before the data and the model are ready
    if args.eval_only:
        check_dataset_names(cfg, ("TEST",))
    else:
        from videomt.engine.lr_schedule import lr_multipliers

        check_training_config(cfg, launched_world_size(args.num_gpus, args.num_machines))
        lr_multipliers(cfg)
        check_dataset_names(cfg, ("TRAIN", "TEST"))

    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
        timeout_s=float(cfg.DIST_TIMEOUT_SECONDS),
    )
    return 0


if __name__ == "__main__":
    run_cli(cli)
