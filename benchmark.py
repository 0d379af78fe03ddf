#!/usr/bin/env python
"""Speed and cost of a VidEoMT config: online FPS, multi-stream throughput, GFLOPs.

    python benchmark.py --task fps --config-file configs/ytvis19/videomt_dinov2_large.yaml \\
        --device cuda --dtype bf16 --compile --json fps.json
    python benchmark.py --task flops --config-file configs/ytvis19/videomt_dinov2_small.yaml \\
        --input-size 640 640
    python benchmark.py --task throughput --config-file ... --streams 8
    # PMT: 1, 2, 3 models on one shared encoder pass vs each model with its own encoder
    python benchmark.py --task multitask --config-file configs/ytvis19/pmt_dinov2_large.yaml \
        --num-tasks 3
    # + decoding, resizing, post-processing:
    python benchmark.py --task fps --config-file ... --end-to-end
    python benchmark.py --task hf --config-file configs/ytvis19/videomt_dinov2_small.yaml \
        --device cpu --frames 6 --iters 7   # a 640x640 clip vs HF transformers fp32, same weights
    # peak memory of offline prediction:
    python benchmark.py --task offline --config-file ... --video-frames 1000 --video-size 720 1280
    # AP in fp32 vs bf16:
    python benchmark.py --task precision --config-file configs/quickstart/synthetic_vis.yaml \
        --dtype bf16 --num-videos 8 MODEL.WEIGHTS output/quickstart_synthetic_vis/model_final.pth
    # this CPU's fp32 and bf16 matmul rates (record the ratio with every CPU timing):
    OMP_NUM_THREADS=1 python benchmark.py --task matmul
    # the trainer's per-step non-finite check against a whole training step (needs the config's
    # training data; the synthetic quickstart sets are generated on first use):
    python benchmark.py --task finite-check --config-file configs/quickstart/synthetic_vis.yaml

No dataset and no weights are needed: weights are random unless ``--model-weights`` (or
``MODEL.WEIGHTS``) is given, frames come from the config's first test dataset when it is on disk,
else from random frames of the configured test size (a 720x1280 video resized as the test mapper
does), or exactly ``--input-size H W`` (padded to the size divisibility).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

from videomt.checkpoint import convert_to_hf
from videomt.cli import run_cli
from videomt.config import load_config
from videomt.data import DatasetCatalog
from videomt.data.augmentation import shortest_edge_size
from videomt.data.catalog import DatasetError
from videomt.data.mappers.inference import VideoTestMapper
from videomt.errors import UserError
from videomt.evaluation.evaluator import YTVISEvaluator
from videomt.inference import MultiTaskPredictor, VideoPredictor, open_video
from videomt.inference.benchmarking import (
    count_flops,
    environment,
    matmul_rates,
    peak_memory_mb,
    reset_peak_memory,
    summarize,
    time_frames,
    time_online,
    time_throughput,
)
from videomt.inference.runtime import CoreRunner
from videomt.inference.writers import Mp4Writer
from videomt.model import pad_frames
from videomt.utils.device import resolve_device
from videomt.utils.progress import progress_bar

TASKS = (
    "fps",
    "flops",
    "throughput",
    "hf",
    "offline",
    "precision",
    "matmul",
    "multitask",
    "finite-check",
)
DEFAULT_VIDEO_HW = (720, 1280)  # the fallback video size, resized by the config's test rule


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--config-file", default=None, metavar="FILE", help="(every task but matmul)")
    p.add_argument(
        "--model-weights", default=None, help="checkpoint (default: MODEL.WEIGHTS, else random)"
    )
    p.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)"
    )
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the per-frame step (default: on for CUDA, off for CPU)",
    )
    p.add_argument(
        "--compile-mode",
        default=None,
        help="torch.compile mode (default: reduce-overhead = CUDA graphs on a GPU, default on CPU)",
    )
    p.add_argument("--warmup-iters", type=int, default=10, help="untimed frames (steps) first")
    p.add_argument("--iters", type=int, default=100, help="timed frames (steps)")
    p.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        default=None,
        help="random frames of this size instead of the dataset / configured test size",
    )
    p.add_argument("--streams", type=int, default=4, help="--task throughput: concurrent streams")
    p.add_argument(
        "--num-tasks",
        type=int,
        default=3,
        help="--task multitask: time 1 .. N PMT models sharing one encoder pass",
    )
    p.add_argument(
        "--end-to-end",
        action="store_true",
        help="--task fps: also time decoding + resizing + model + causal post-processing per frame",
    )
    p.add_argument("--num-videos", type=int, default=5, help="dataset videos to cycle over (fps)")
    p.add_argument("--frames", type=int, default=6, help="--task hf: frames per clip")
    p.add_argument(
        "--video-frames",
        type=int,
        default=1000,
        help="--task offline: length of the generated video",
    )
    p.add_argument(
        "--video-size",
        type=int,
        nargs=2,
        default=list(DEFAULT_VIDEO_HW),
        metavar=("H", "W"),
        help="--task offline: frame size of the generated video",
    )
    p.add_argument(
        "--cache-mb",
        type=float,
        default=1024.0,
        help="--task offline: mask logits cached between the passes (beyond: the model re-runs)",
    )
    p.add_argument("--json", default=None, metavar="OUT", help="write the results as JSON")
    p.add_argument(
        "--model-type",
        choices=["dinov2", "dinov3"],
        default=None,
        help="accepted for the reference CLI",
    )
    p.add_argument(
        "--fused-qkv",
        action="store_true",
        help="accepted for the reference CLI (sets MODEL.BACKBONE.FUSED_QKV)",
    )
    p.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        default=[],
        help="KEY VALUE config overrides (also accepted after --opts, as in the reference)",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    return p.parse_args([a for a in argv if a != "--opts"])


def build_cfg(args):
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    opts = list(args.opts) + ["MODEL.DEVICE", device, "MODEL.BACKBONE.PRETRAINED", ""]
    if args.fused_qkv:
        opts += ["MODEL.BACKBONE.FUSED_QKV", "True"]
    return load_config(args.config_file, opts)


def check_args(args) -> None:
    names = ("warmup_iters", "iters", "streams", "num_tasks", "num_videos", "frames")
    for name in names + ("video_frames",):
        value = getattr(args, name)
        if value < (0 if name == "warmup_iters" else 1):
            bound = ">= 0" if name == "warmup_iters" else ">= 1"
            raise UserError(f"--{name.replace('_', '-')} must be {bound}, got {value}")
    if args.input_size and min(args.input_size) < 1:
        raise UserError(f"--input-size must be positive, got {args.input_size}")


def random_video(predictor: VideoPredictor, hw: tuple[int, int], frames: int) -> torch.Tensor:
    """Normalised, padded random frames (T, 3, H', W') on the device."""
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (frames, 3, *hw), generator=g, dtype=torch.uint8)
    return predictor.model.preprocess(pixels)[0]


def configured_size(cfg) -> tuple[int, int]:
    return shortest_edge_size(
        *DEFAULT_VIDEO_HW, int(cfg.INPUT.MIN_SIZE_TEST), int(cfg.INPUT.MAX_SIZE_TEST)
    )


def dataset_videos(
    cfg, predictor: VideoPredictor, count: int
) -> tuple[list[torch.Tensor], str] | None:
    """The first ``count`` test videos, mapped and normalised untimed; None when not on disk."""
    if not cfg.DATASETS.TEST:
        return None
    name = cfg.DATASETS.TEST[0]
    try:
        dicts = DatasetCatalog.get(name)
    except (DatasetError, FileNotFoundError, KeyError):
        return None
    mapper = VideoTestMapper(**VideoTestMapper.from_config(cfg))
    return [predictor.model.preprocess(mapper(d)["image"])[0] for d in dicts[:count]], name


def frames_source(args, cfg, predictor) -> tuple[list[torch.Tensor], str]:
    length = max(1, min(30, args.warmup_iters + args.iters))
    if args.input_size:
        return [
            random_video(predictor, tuple(args.input_size), length)
        ], "random frames (--input-size)"
    found = dataset_videos(cfg, predictor, args.num_videos)
    if found:
        return found[0], f"dataset {found[1]}"
    hw = configured_size(cfg)
    source_hw = f"{DEFAULT_VIDEO_HW[0]}x{DEFAULT_VIDEO_HW[1]}"
    return [
        random_video(predictor, hw, length)
    ], f"random frames ({source_hw} resized to {hw[0]}x{hw[1]})"


def synthetic_mp4(path: str, hw: tuple[int, int], num_frames: int) -> str:
    """An H.264 MP4 of a textured pattern panning right (written frame by frame)."""
    rng = np.random.default_rng(0)
    base = (
        rng.integers(0, 256, (hw[0] // 8 + 1, hw[1] // 8 + 1, 3), dtype=np.uint8)
        .repeat(8, 0)
        .repeat(8, 1)
    )
    with Mp4Writer(path, 25) as writer:
        for t in range(num_frames):
            writer.write(np.roll(base, 2 * t, axis=1)[: hw[0], : hw[1]])
    return path


def end_to_end(args, predictor, tmp: str) -> dict:
    """Per-frame ms of decode (H.264 MP4) + resize + normalise/pad + model + causal
    post-processing."""
    hw = tuple(args.input_size) if args.input_size else DEFAULT_VIDEO_HW
    path = synthetic_mp4(os.path.join(tmp, "video.mp4"), hw, args.warmup_iters + args.iters)
    frames = iter(open_video(path))
    stream = predictor.stream()
    times = time_frames(
        lambda: stream.step(next(frames)),
        predictor.device,
        args.warmup_iters,
        args.iters,
        desc="end-to-end",
    )
    return summarize(times)


def offline_video(args, predictor, tmp: str) -> dict:
    """The offline predictor (two passes, video-level classes) over a generated ``--video-frames``
    MP4 of ``--video-size``: frames/s and the process's peak memory, against what holding the
    frames and the mask logits of the whole video would take."""
    hw = tuple(args.video_size)
    path = synthetic_mp4(os.path.join(tmp, "video.mp4"), hw, args.video_frames)
    baseline = current_rss_mb()
    start = time.perf_counter()
    count = sum(1 for _ in predictor(path, progress=True))
    seconds = time.perf_counter() - start
    padded = pad_frames(
        torch.zeros(
            1,
            3,
            *shortest_edge_size(
                *hw, int(predictor.cfg.INPUT.MIN_SIZE_TEST), int(predictor.cfg.INPUT.MAX_SIZE_TEST)
            ),
        ),
        predictor.model.size_divisibility,
    ).shape[-2:]
    core = predictor.model.core
    mask_logits_mb = count * core.num_queries * (padded[0] // 4) * (padded[1] // 4) * 4 / 2**20
    return {
        "video_frames": count,
        "video_size": list(hw),
        "seconds": seconds,
        "fps": count / seconds,
        "cache_mb": predictor.cache_bytes / 2**20,
        "second_pass": predictor.last_offline_run["second_pass"],
        "rss_before_mb": baseline,
        "whole_video_frames_mb": count * hw[0] * hw[1] * 3 / 2**20,
        "whole_video_mask_logits_mb": mask_logits_mb,
        "model_input_size": list(padded),
    }


def precision_parity(args, cfg, tmp: str) -> dict:
    """Instance AP on ``DATASETS.TEST[0]`` (first ``--num-videos`` videos) of the dataset
    evaluation's path (test mapper, window loop, top (query, class) pairs) run by the predictor's
    runner in fp32 and in ``--dtype``, with the same weights, and how much their predictions
    agree."""
    if cfg.MODEL.BACKBONE.TEST.TASK != "vis":
        raise UserError(
            "--task precision scores instance segmentation (MODEL.BACKBONE.TEST.TASK vis)"
        )
    name = cfg.DATASETS.TEST[0]
    dicts = DatasetCatalog.get(name)[: args.num_videos]
    out, tracks = {"dataset": name, "videos": len(dicts)}, {}
    for dtype in ("fp32", args.dtype):
        torch.manual_seed(0)  # the same random weights when none are given
        predictor = VideoPredictor(cfg, weights=args.model_weights, dtype=dtype)
        evaluator = YTVISEvaluator(name, os.path.join(tmp, dtype))
        tracks[dtype] = []
        for d in progress_bar(dicts, desc=dtype, unit="video"):
            mapped = predictor.mapper(d)
            model = predictor.model
            raw = model.run_video(mapped["image"], forward_window=predictor.runner.window)
            video = model.postprocess(raw, (mapped["height"], mapped["width"]))
            evaluator.process([{"video_id": d["video_id"]}], [video])
            tracks[dtype].append(video)
        out[f"ap_{dtype}"] = evaluator.evaluate()["segm"]["AP"]
    same, ious = [], []
    for a, b in zip(tracks["fp32"], tracks[args.dtype]):
        pairs_b = {
            (int(i), int(c)): m for i, c, m in zip(b["pred_ids"], b["pred_labels"], b["pred_masks"])
        }
        for i, c, m in zip(a["pred_ids"], a["pred_labels"], a["pred_masks"]):
            other = pairs_b.get((int(i), int(c)))
            same.append(other is not None)
            if other is not None:
                union = (m | other).sum()
                ious.append(float((m & other).sum() / union) if union else 1.0)
    out.update(
        same_tracks_fraction=float(np.mean(same)),
        mean_mask_iou_same_tracks=float(np.mean(ious)),
        ap_delta=out[f"ap_{args.dtype}"] - out["ap_fp32"],
    )
    print(
        f"AP fp32 {out['ap_fp32']:.2f}, {args.dtype} {out[f'ap_{args.dtype}']:.2f}; "
        f"{100 * out['same_tracks_fraction']:.1f}% of the (track, class) pairs identical, "
        f"their mask IoU {out['mean_mask_iou_same_tracks']:.4f}"
    )
    return out


def multitask_cost(args, cfg) -> dict:
    """Per-frame milliseconds (batch 1, propagated states) of k = 1 .. ``--num-tasks`` PMT models
    of ``cfg`` over one frozen encoder: run as a ``MultiTaskPredictor`` (the encoder once per
    frame, then each model's fusion + decoder) and run one after the other as separate models
    (each its own encoder pass), on the same frames. The models differ in their decoders only
    (random decoders, or all ``--model-weights``); compile is not used here."""
    models = []
    for seed in range(args.num_tasks):
        torch.manual_seed(seed)
        model = VideoPredictor(cfg, weights=args.model_weights).model
        if models:  # the first model's frozen encoder for every task (one copy in memory)
            model.core.encoder = models[0].core.encoder
        models.append(model)
    multi = MultiTaskPredictor([cfg] * args.num_tasks, models=models, dtype=args.dtype)
    videos, source = frames_source(args, cfg, multi.predictors[0])
    frames = [video[t : t + 1] for video in videos for t in range(video.shape[0])]
    rows = []
    for k in range(1, args.num_tasks + 1):
        shared = MultiTaskPredictor([cfg] * k, models=models[:k], dtype=args.dtype)
        row = {"tasks": k, **time_shared_and_separate(args, shared, frames)}
        row["separate_over_shared"] = (
            row["separate_models"]["ms_mean"] / row["shared_encoder"]["ms_mean"]
        )
        print(
            f"{k} task(s): shared encoder {row['shared_encoder']['ms_mean']:.1f} ms/frame, "
            f"separate models {row['separate_models']['ms_mean']:.1f} ms/frame "
            f"({row['separate_over_shared']:.2f}x), {source}"
        )
        rows.append(row)
    return {"source": source, "input_size": list(frames[0].shape[-2:]), "by_num_tasks": rows}


def time_shared_and_separate(args, shared: MultiTaskPredictor, frames: list) -> dict:
    """Per-frame timings of ``shared.step`` (one encoder pass) and of its models' own runners
    stepped one after the other (one encoder pass each), cycling over ``frames``."""
    runners = [p.runner for p in shared.predictors]
    states = {"shared": [None] * len(runners), "separate": [None] * len(runners)}
    position = [0]

    def next_frame():
        position[0] += 1
        return frames[position[0] % len(frames)]

    def run_shared():
        states["shared"] = shared.step(next_frame(), states["shared"])[2]

    def run_separate():
        frame = next_frame()
        states["separate"] = [r.step(frame, s)[2] for r, s in zip(runners, states["separate"])]

    return {
        name: summarize(time_frames(fn, shared.device, args.warmup_iters, args.iters, desc=name))
        for name, fn in (("shared_encoder", run_shared), ("separate_models", run_separate))
    }


def finite_check_cost(args, cfg, tmp: str) -> dict:
    """Median cost of the trainer's non-finite check (weights + optimizer state after a step)
    and of a whole training step (the check included), over ``--iters`` steps of the config's
    training recipe after ``--warmup-iters``."""
    from videomt.engine.hooks import HookBase
    from videomt.engine.numerics import non_finite_names, step_tensors
    from videomt.engine.trainer import Trainer

    cfg = cfg.clone()
    cfg.defrost()
    total = args.warmup_iters + args.iters
    cfg.SOLVER.MAX_ITER = total + 1  # the last step also writes model_final: left out
    cfg.SOLVER.WARMUP_STEPS = [0, 0]
    cfg.SOLVER.CHECKPOINT_PERIOD = 0
    cfg.SOLVER.LOG_PERIOD = 10**9
    cfg.TEST.EVAL_PERIOD = 0
    cfg.DATASETS.TEST = ()
    cfg.OUTPUT_DIR = tmp
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    checks: list[float] = []

    class TimeCheck(HookBase):
        def after_step(self) -> None:
            named = step_tensors(trainer.module, trainer.optimizer)
            start = time.perf_counter()
            non_finite_names(named)
            checks.append(time.perf_counter() - start)

    hooks = trainer.build_hooks()
    trainer.register_hooks(hooks[:2] + [TimeCheck()] + hooks[2:])
    trainer.train()
    steps = [v for v, _ in trainer.storage.history("time").values()][args.warmup_iters : total]
    checks = checks[args.warmup_iters : total]
    named = step_tensors(trainer.module, trainer.optimizer)
    step_ms, check_ms = 1e3 * float(np.median(steps)), 1e3 * float(np.median(checks))
    return {
        "checked_tensors": len(named),
        "checked_elements": sum(t.numel() for _, t in named),
        "step_ms": step_ms,
        "check_ms": check_ms,
        "check_over_step_pct": 100 * check_ms / step_ms,
    }


def current_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def compare_with_hf(args, cfg, tmp: str) -> dict:
    """Clip inference (``--frames`` frames at IMG_SIZE x IMG_SIZE, e.g. 640x640) of HF transformers'
    ``VideomtForUniversalSegmentation`` in fp32 against ours in fp32 and bf16 on the same weights:
    runs alternate between the variants (rotating order), medians reported."""
    from transformers import (
        VideomtForUniversalSegmentation,
    )  # optional (dev extra): only this task needs it

    torch.manual_seed(0)
    ours = VideoPredictor(cfg, weights=args.model_weights, device="cpu").model
    ckpt = os.path.join(tmp, "ours.pth")
    torch.save({"model": ours.state_dict()}, ckpt)
    hf = VideomtForUniversalSegmentation.from_pretrained(
        convert_to_hf(ckpt, os.path.join(tmp, "hf"))
    ).eval()
    side = int(cfg.MODEL.BACKBONE.IMG_SIZE)  # HF's VidEoMT has no position interpolation
    hw = tuple(args.input_size) if args.input_size else (side, side)
    if hw != (side, side):
        raise UserError(
            "--task hf: HF's VidEoMT runs only at MODEL.BACKBONE.IMG_SIZE x IMG_SIZE "
            f"({side}x{side}), "
            f"got --input-size {hw[0]} {hw[1]}"
        )
    video = torch.randn(1, args.frames, 3, *hw, generator=torch.Generator().manual_seed(0))
    runners = {
        "ours_fp32": CoreRunner(ours.core),
        "ours_bf16": CoreRunner(copy.deepcopy(ours.core), dtype="bf16"),
        "ours_bf16_autocast_only": CoreRunner(
            copy.deepcopy(ours.core), dtype="bf16", cast_weights=False
        ),
    }

    def run_hf():
        with torch.inference_mode():
            out = hf(pixel_values_videos=video)
        return out.class_queries_logits, out.masks_queries_logits

    variants = {
        "hf_fp32": run_hf,
        **{k: (lambda r=r: r.window(video[0], None)[:2]) for k, r in runners.items()},
    }
    outputs = {k: fn() for k, fn in variants.items()}  # also the warm-up run
    times = {k: [] for k in variants}
    names = list(variants)
    for rep in progress_bar(range(args.iters), desc="hf vs ours", unit="round"):
        for k in names[rep % len(names) :] + names[: rep % len(names)]:
            times[k].extend(time_frames(variants[k], "cpu", 0, 1, desc=k))
    ref_logits, ref_masks = (t.reshape(-1) for t in outputs["hf_fp32"])
    result = {
        "frames": args.frames,
        "input_size": list(hw),
        "hf_attn_implementation": hf.config._attn_implementation,
    }
    hf_median = float(np.median(times["hf_fp32"]))
    for k in names:
        logits, masks = (t.reshape(-1) for t in outputs[k])
        median = float(np.median(times[k]))
        result[k] = {
            "s_median": median / 1000,
            "s_min": min(times[k]) / 1000,
            "s_all": [t / 1000 for t in times[k]],
            "fps": 1000 * args.frames / median,
            "speedup_vs_hf_fp32": hf_median / median,
            "max_abs_diff_logits_vs_hf": float((logits - ref_logits).abs().max()),
            "mask_sign_agreement_vs_hf": float(((masks > 0) == (ref_masks > 0)).float().mean()),
        }
        print(
            f"{k:>24}: {median / 1000:.2f} s per clip (median of {len(times[k])}), "
            f"{result[k]['speedup_vs_hf_fp32']:.2f}x HF fp32, "
            f"max |logit diff| {result[k]['max_abs_diff_logits_vs_hf']:.1e}"
        )
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    check_args(args)
    if args.task == "matmul":  # the CPU's fp32 and bf16 matmul rates: no model, no config
        out = {"task": "matmul", **matmul_rates()}
        print(
            f"{out['cpu']}, {out['num_threads']} thread(s): fp32 {out['fp32_gmacs_per_s']:.1f}, "
            f"bf16 {out['bf16_gmacs_per_s']:.1f} GMAC/s ({out['size']}^2 matmul), "
            f"bf16/fp32 {out['bf16_over_fp32']:.2f}x"
        )
        write_results(args.json, out)
        return 0
    if not args.config_file:
        raise UserError(f"--config-file is required for --task {args.task}")
    cfg = build_cfg(args)
    device = resolve_device(cfg.MODEL.DEVICE, "--device")
    compile_on = args.compile if args.compile is not None else device.type == "cuda"
    mode = args.compile_mode or ("reduce-overhead" if device.type == "cuda" else True)
    out = {
        "task": args.task,
        "config_file": args.config_file,
        **environment(device),
        "settings": {
            "dtype": args.dtype,
            "compile": bool(compile_on),
            "compile_mode": mode if compile_on else None,
            "warmup_iters": args.warmup_iters,
            "iters": args.iters,
            "weights": args.model_weights or cfg.MODEL.WEIGHTS or "random",
        },
    }
    if args.task == "finite-check":
        with tempfile.TemporaryDirectory() as tmp:
            out.update(finite_check_cost(args, cfg, tmp))
        print(
            f"finite-check: {out['check_ms']:.1f} ms per check ({out['checked_tensors']} tensors, "
            f"{out['checked_elements'] / 1e6:.1f} M elements), training step {out['step_ms']:.1f} "
            f"ms: {out['check_over_step_pct']:.2f}% of a step"
        )
    elif args.task == "hf":
        with tempfile.TemporaryDirectory() as tmp:
            out.update(compare_with_hf(args, cfg, tmp))
    elif args.task == "precision":
        with tempfile.TemporaryDirectory() as tmp:
            out.update(precision_parity(args, cfg, tmp))
    elif args.task == "offline":
        predictor = VideoPredictor(
            cfg, weights=args.model_weights, dtype=args.dtype, cache_mb=args.cache_mb
        )
        with tempfile.TemporaryDirectory() as tmp:
            out.update(offline_video(args, predictor, tmp))
        out["peak_memory_mb"], out["peak_memory_kind"] = peak_memory_mb(device)
        print(
            f"offline: {out['video_frames']} frames of "
            f"{out['video_size'][0]}x{out['video_size'][1]} in "
            f"{out['seconds']:.0f} s ({out['fps']:.1f} frames/s), peak {out['peak_memory_kind']} "
            f"{out['peak_memory_mb']:.0f} MB (before: {out['rss_before_mb']:.0f} MB; the whole "
            "video would be "
            f"{out['whole_video_frames_mb']:.0f} MB of frames + "
            f"{out['whole_video_mask_logits_mb']:.0f} MB of mask logits)"
        )
    elif args.task == "multitask":
        reset_peak_memory(device)
        out.update(multitask_cost(args, cfg))
        out["peak_memory_mb"], out["peak_memory_kind"] = peak_memory_mb(device)
    elif args.task == "flops":
        predictor = VideoPredictor(cfg, weights=args.model_weights, device="cpu")
        hw = tuple(args.input_size) if args.input_size else configured_size(cfg)
        size = tuple(
            pad_frames(torch.zeros(1, 3, *hw), predictor.model.size_divisibility).shape[-2:]
        )
        out.update(count_flops(predictor.model.core, size), input_size=list(size))
        print(
            f"{out['gflops_per_frame']:.1f} GFLOPs per frame at {size[0]}x{size[1]}, "
            f"{out['params'] / 1e6:.1f} M params"
        )
    else:
        predictor = VideoPredictor(
            cfg, weights=args.model_weights, dtype=args.dtype, compile=mode if compile_on else False
        )
        videos, source = frames_source(args, cfg, predictor)
        out["source"], out["input_size"] = source, list(videos[0].shape[-2:])
        reset_peak_memory(device)
        if args.task == "fps":
            out.update(
                summarize(time_online(predictor.runner, videos, args.warmup_iters, args.iters))
            )
            print(
                f"model: {out['fps']:.1f} FPS (mean {out['ms_mean']:.2f} ms, median "
                f"{out['ms_median']:.2f} ms, "
                f"p90 {out['ms_p90']:.2f} ms) on {out['device_name']}, {source}"
            )
            if args.end_to_end:
                with tempfile.TemporaryDirectory() as tmp:
                    e2e = end_to_end(args, predictor, tmp)
                out["end_to_end"] = dict(e2e, ratio_to_model_only=e2e["fps"] / out["fps"])
                print(
                    f"end-to-end: {e2e['fps']:.1f} FPS ({100 * e2e['fps'] / out['fps']:.0f}% of "
                    "model-only)"
                )
        else:
            times = time_throughput(
                predictor.runner, videos[0][:1], args.streams, args.warmup_iters, args.iters
            )
            out.update(summarize(times, frames_per_call=args.streams), streams=args.streams)
            print(
                f"{args.streams} streams: {out['fps']:.1f} frames/s ({out['ms_mean']:.2f} ms per "
                "step)"
            )
        out["peak_memory_mb"], out["peak_memory_kind"] = peak_memory_mb(device)
    write_results(args.json, out)
    return 0


def write_results(path: str | None, out: dict) -> None:
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    run_cli(main)
