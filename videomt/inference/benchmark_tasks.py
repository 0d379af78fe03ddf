"""The speed and memory tasks of ``benchmark.py`` (fps, throughput, flops, offline, multitask):
each takes the parsed arguments, the loaded config and the device, prints one summary line and
returns the task's results for the JSON. ``benchmark.py`` imports this module only after its
arguments and the config are checked, so a mistake there is reported before the model stack
loads."""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import torch

from ..data import DatasetCatalog
from ..data.augmentation import shortest_edge_size
from ..data.catalog import DatasetError
from ..data.mappers.inference import VideoTestMapper
from ..model import pad_frames
from .benchmarking import (
    count_flops,
    peak_memory_mb,
    reset_peak_memory,
    summarize,
    time_frames,
    time_online,
    time_throughput,
)
from .multitask import MultiTaskPredictor
from .predictor import VideoPredictor
from .video_io import open_video
from .writers import Mp4Writer

__all__ = [
    "DEFAULT_VIDEO_HW",
    "random_video",
    "end_to_end",
    "run_online",
    "run_flops",
    "run_offline",
    "run_multitask",
]

DEFAULT_VIDEO_HW = (720, 1280)  # the fallback video size, resized by the config's test rule


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


def run_online(args, cfg, device: torch.device, compile_mode, device_name: str) -> dict:
    """``--task fps`` (one stream, per-frame latency; ``--end-to-end`` adds decoding and
    post-processing) or ``--task throughput`` (``--streams`` streams stepped together);
    ``compile_mode``: False or a ``torch.compile`` mode."""
    predictor = VideoPredictor(
        cfg, weights=args.model_weights, dtype=args.dtype, compile=compile_mode
    )
    videos, source = frames_source(args, cfg, predictor)
    out = {"source": source, "input_size": list(videos[0].shape[-2:])}
    reset_peak_memory(device)
    if args.task == "fps":
        out.update(summarize(time_online(predictor.runner, videos, args.warmup_iters, args.iters)))
        print(
            f"model: {out['fps']:.1f} FPS (mean {out['ms_mean']:.2f} ms, median "
            f"{out['ms_median']:.2f} ms, p90 {out['ms_p90']:.2f} ms) on {device_name}, {source}"
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
            f"{args.streams} streams: {out['fps']:.1f} frames/s ({out['ms_mean']:.2f} ms per step)"
        )
    out["peak_memory_mb"], out["peak_memory_kind"] = peak_memory_mb(device)
    return out


def run_flops(args, cfg) -> dict:
    """``--task flops``: fvcore GFLOPs of one steady-state frame and the parameter count."""
    predictor = VideoPredictor(cfg, weights=args.model_weights, device="cpu")
    hw = tuple(args.input_size) if args.input_size else configured_size(cfg)
    size = tuple(pad_frames(torch.zeros(1, 3, *hw), predictor.model.size_divisibility).shape[-2:])
    out = dict(count_flops(predictor.model.core, size), input_size=list(size))
    print(
        f"{out['gflops_per_frame']:.1f} GFLOPs per frame at {size[0]}x{size[1]}, "
        f"{out['params'] / 1e6:.1f} M params"
    )
    return out


def run_offline(args, cfg, device: torch.device) -> dict:
    """``--task offline``: the offline predictor over a generated video, and its peak memory."""
    predictor = VideoPredictor(
        cfg, weights=args.model_weights, dtype=args.dtype, cache_mb=args.cache_mb
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = offline_video(args, predictor, tmp)
    out["peak_memory_mb"], out["peak_memory_kind"] = peak_memory_mb(device)
    print(
        f"offline: {out['video_frames']} frames of {out['video_size'][0]}x{out['video_size'][1]} "
        f"in {out['seconds']:.0f} s ({out['fps']:.1f} frames/s), peak {out['peak_memory_kind']} "
        f"{out['peak_memory_mb']:.0f} MB (before: {out['rss_before_mb']:.0f} MB; the whole video "
        f"would be {out['whole_video_frames_mb']:.0f} MB of frames + "
        f"{out['whole_video_mask_logits_mb']:.0f} MB of mask logits)"
    )
    return out


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


def current_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def run_multitask(args, cfg, device: torch.device) -> dict:
    """``--task multitask``: per-frame milliseconds (batch 1, propagated states) of k = 1 ..
    ``--num-tasks`` PMT models of ``cfg`` over one frozen encoder: run as a
    ``MultiTaskPredictor`` (the encoder once per frame, then each model's fusion + decoder) and run
    one after the other as separate models (each its own encoder pass), on the same frames. The
    models differ in their decoders only (random decoders, or all ``--model-weights``); compile is
    not used here."""
    reset_peak_memory(device)
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
    out = {"source": source, "input_size": list(frames[0].shape[-2:]), "by_num_tasks": rows}
    out["peak_memory_mb"], out["peak_memory_kind"] = peak_memory_mb(device)
    return out


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
