"""VIPSeg prediction files -> VPQ and STQ: one job per video reads its PNGs once into the tables
both metrics use."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.io import read_panoptic_ids
from ..utils.dist import process_map
from .errors import EvaluationError
from .panoptic_io import normalize_categories, pair_vps_videos, video_tables
from .stq import STQuality, add_video_tables, default_stq_config
from .vpq import VPQ_WINDOWS, summarize_vpq, vpq_stats_from_tables


def _video_job(args) -> tuple[np.ndarray | None, dict | None]:
    video, categories, windows, want_vpq, stq_config = args
    frames = (
        (
            read_panoptic_ids(g, "ground-truth PNG", EvaluationError),  # one frame at a time
            read_panoptic_ids(p, "prediction PNG", EvaluationError),
        )
        for g, p in zip(video.gt_pngs, video.pred_pngs)
    )
    tables = video_tables(
        video.video_id,
        video.gt_segments,
        video.pred_segments,
        frames,
        stems=video.stems,
        categories=categories,
    )
    vpq = vpq_stats_from_tables(tables, categories, windows) if want_vpq else None
    stq = None if stq_config is None else add_video_tables(STQuality(**stq_config), tables)
    return vpq, stq


def evaluate_vps(
    pred_json: Any,
    pred_dir: str | os.PathLike,
    gt_json: Any,
    gt_dir: str | os.PathLike,
    categories: Any = None,
    *,
    num_processes: int | None = None,
    windows: Sequence[int] = VPQ_WINDOWS,
    metrics: Sequence[str] = ("vpq", "stq"),
    detail: bool = False,
) -> dict[str, Any]:
    """VPQ and/or STQ (``metrics``; keys of :func:`.vpq.summarize_vpq` /
    :meth:`.stq.STQuality.summary`) of ``pred.json`` (path or dict) and
    ``<pred_dir>/<video_id>/<frame_stem>.png`` against the ground-truth JSON and ``panomasksRGB``;
    ``categories`` default to the JSON's; ``num_processes`` workers (default CPU count; 1 =
    here)."""
    metrics = tuple(m.lower() for m in metrics)
    bad = [m for m in metrics if m not in ("vpq", "stq")]
    if bad or not metrics:
        raise EvaluationError(f"unknown metrics {bad or metrics}; use 'vpq' and/or 'stq'")
    videos, gt_data = pair_vps_videos(pred_json, pred_dir, gt_json, gt_dir)
    if categories is None and "categories" not in gt_data:
        raise EvaluationError("no categories given and the ground-truth JSON has none")
    categories = normalize_categories(gt_data["categories"] if categories is None else categories)
    stq_config = default_stq_config(categories) if "stq" in metrics else None
    jobs = [(v, categories, tuple(windows), "vpq" in metrics, stq_config) for v in videos]
    results = process_map(
        _video_job, jobs, num_processes, desc="/".join(metrics).upper() + " (videos)"
    )
    out: dict[str, Any] = {}
    if "vpq" in metrics:
        total = sum((vpq for vpq, _ in results), np.zeros((len(windows), len(categories), 4)))
        out.update(summarize_vpq(total, categories, windows, detail=detail))
    if "stq" in metrics:
        stq = STQuality(**stq_config)
        stq.sequences = {v.video_id: seq for v, (_, seq) in zip(videos, results)}
        out.update(stq.summary())
    return out


#: :func:`evaluate_vps` of one metric (the other arguments as there).
evaluate_vpq = functools.partial(evaluate_vps, metrics=("vpq",))
evaluate_stq = functools.partial(evaluate_vps, metrics=("stq",))
