#!/usr/bin/env python
"""Train or evaluate VidEoMT (Detectron2-style command line).

  python train_net_video.py --config-file configs/ytvis19/videomt_dinov2_small.yaml \
      --eval-only MODEL.WEIGHTS yt_2019_vit_small_52.8.pth OUTPUT_DIR output/yt19_S [--num-gpus N]
"""
import logging
import os

from videomt.cli import run_cli
from videomt.engine.defaults import default_argument_parser, default_setup
from videomt.engine.launch import launch

logger = logging.getLogger("videomt")


def evaluate(cfg) -> dict:
    """Build the model, load MODEL.WEIGHTS and evaluate every DATASETS.TEST set."""
    from videomt import build_model, load_checkpoint
    from videomt.data.build import build_test_loader
    from videomt.evaluation.evaluator import inference_on_dataset, print_csv_format, save_metrics
    from videomt.evaluation.build import build_evaluator

    if cfg.TEST.AUG.ENABLED:
        raise ValueError("TEST.AUG.ENABLED: test-time augmentation is not supported (as in the reference)")
    cfg = cfg.clone()
    cfg.defrost()
    if cfg.MODEL.WEIGHTS:
        cfg.MODEL.BACKBONE.PRETRAINED = ""  # every weight comes from MODEL.WEIGHTS: skip the backbone download
    model = build_model(cfg)
    if cfg.MODEL.WEIGHTS:
        info = load_checkpoint(model, cfg.MODEL.WEIGHTS)
        logger.info(f"loaded {cfg.MODEL.WEIGHTS} ({info['layout']} layout)")
    else:
        logger.warning("MODEL.WEIGHTS is empty: evaluating randomly initialised weights")
    results = {}
    for name in cfg.DATASETS.TEST:
        output_dir = os.path.join(cfg.OUTPUT_DIR, "inference", name)
        loader = build_test_loader(cfg, name)
        evaluator = build_evaluator(cfg, name, output_dir)
        results[name] = inference_on_dataset(model, loader, evaluator)
        if results[name]:
            save_metrics(results[name], output_dir)
            logger.info(f"evaluation results for {name}:")
            print_csv_format(results[name])
    return results


def main(args) -> None:
    cfg = default_setup(args)
    if args.eval_only:
        evaluate(cfg)
        return
    raise ValueError("training is not available in this version yet; use --eval-only (see README)")


def cli() -> int:
    args = default_argument_parser(__doc__).parse_args()
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))
    return 0


if __name__ == "__main__":
    run_cli(cli)
