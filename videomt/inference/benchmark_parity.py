"""The accuracy-and-speed comparisons of ``benchmark.py``: ``--task hf`` (ours against HF
transformers' VidEoMT on the same weights) and ``--task precision`` (instance AP in fp32 against
``--dtype``). Imported by ``benchmark.py`` only after its arguments and the config are checked."""

from __future__ import annotations

import copy
import os

import numpy as np
import torch

from ..checkpoint import convert_to_hf
from ..data import DatasetCatalog
from ..errors import UserError
from ..evaluation.evaluator import YTVISEvaluator
from ..utils.progress import progress_bar
from .benchmarking import describe_matmul_rates, matmul_rates, time_frames
from .predictor import VideoPredictor
from .runtime import CoreRunner

__all__ = ["HF_VARIANTS", "compare_with_hf", "precision_parity"]

# --task hf: the variants timed for each --dtype (HF fp32 is always the reference). Without
# --dtype all four run; bf16 without bf16 units in the CPU is very slow (see --task matmul).
HF_VARIANTS = {
    None: ("hf_fp32", "ours_fp32", "ours_bf16", "ours_bf16_autocast_only"),
    "fp32": ("hf_fp32", "ours_fp32"),
    "bf16": ("hf_fp32", "ours_bf16", "ours_bf16_autocast_only"),
}
MATMUL_SIZE = 1024  # the matmul of --task hf's rate check (that of --task matmul)


def compare_with_hf(args, cfg, tmp: str) -> dict:
    """Clip inference (``--frames`` frames at IMG_SIZE x IMG_SIZE, e.g. 640x640) of HF
    transformers' ``VideomtForUniversalSegmentation`` in fp32 against ours on the same weights, in
    the precisions that ``--dtype`` picks (``HF_VARIANTS``): runs alternate between the variants
    (rotating order), medians reported. The CPU's fp32 and bf16 matmul rates are measured first and
    recorded with the timings."""
    from transformers import VideomtForUniversalSegmentation  # optional (dev extra)

    names = HF_VARIANTS[args.dtype]  # benchmark.py refuses any other --dtype
    side = int(cfg.MODEL.BACKBONE.IMG_SIZE)  # HF's VidEoMT has no position interpolation
    hw = tuple(args.input_size) if args.input_size else (side, side)
    if hw != (side, side):
        raise UserError(
            "--task hf: HF's VidEoMT runs only at MODEL.BACKBONE.IMG_SIZE x IMG_SIZE "
            f"({side}x{side}), got --input-size {hw[0]} {hw[1]}"
        )
    rates = matmul_rates(size=MATMUL_SIZE)
    print(describe_matmul_rates(rates))
    torch.manual_seed(0)
    ours = VideoPredictor(cfg, weights=args.model_weights, device="cpu").model
    ckpt = os.path.join(tmp, "ours.pth")
    torch.save({"model": ours.state_dict()}, ckpt)
    hf = VideomtForUniversalSegmentation.from_pretrained(
        convert_to_hf(ckpt, os.path.join(tmp, "hf"))
    ).eval()
    video = torch.randn(1, args.frames, 3, *hw, generator=torch.Generator().manual_seed(0))
    runners = {
        "ours_fp32": lambda: CoreRunner(ours.core),
        "ours_bf16": lambda: CoreRunner(copy.deepcopy(ours.core), dtype="bf16"),
        "ours_bf16_autocast_only": lambda: CoreRunner(
            copy.deepcopy(ours.core), dtype="bf16", cast_weights=False
        ),
    }

    def run_hf():
        with torch.inference_mode():
            out = hf(pixel_values_videos=video)  # (1, T*Q, K+1), (1, T*Q, H/4, W/4)
        return out.class_queries_logits, out.masks_queries_logits

    variants = {"hf_fp32": run_hf}
    for name in names[1:]:
        runner = runners[name]()
        variants[name] = lambda r=runner: r.window(video[0], None)[:2]
    outputs = {k: fn() for k, fn in variants.items()}  # also the warm-up run
    times = {k: [] for k in variants}
    for rep in progress_bar(range(args.iters), desc="hf vs ours", unit="round"):
        for k in names[rep % len(names) :] + names[: rep % len(names)]:
            times[k].extend(time_frames(variants[k], "cpu", 0, 1, desc=k))
    ref_logits, ref_masks = (t.reshape(-1) for t in outputs["hf_fp32"])
    result = {
        "frames": args.frames,
        "input_size": list(hw),
        "variants": list(names),
        "hf_attn_implementation": hf.config._attn_implementation,
        "matmul": rates,
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
