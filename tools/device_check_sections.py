"""The sections of ``tools/device_check.py`` (its docstring says what each measures), the summary
table and the loop that runs them. The command line imports this module, and with it torch and
the model stack, only after its arguments are checked."""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import sys
import tempfile
import time
import traceback
from types import SimpleNamespace

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from videomt.checkpoint import convert_to_hf  # noqa: E402
from videomt.config import load_config  # noqa: E402
from videomt.engine.hooks import HookBase, LRSchedulerHook  # noqa: E402
from videomt.engine.trainer import Trainer  # noqa: E402
from videomt.inference import VideoPredictor  # noqa: E402
from videomt.inference.benchmark_parity import precision_parity  # noqa: E402
from videomt.inference.benchmark_tasks import end_to_end, random_video  # noqa: E402
from videomt.inference.benchmarking import (  # noqa: E402
    environment,
    peak_memory_mb,
    reset_peak_memory,
    summarize,
    time_online,
)
from videomt.inference.runtime import CoreRunner  # noqa: E402

CONFIGS = os.path.join(ROOT, "configs")
VIT_CONFIGS = {
    size: os.path.join(CONFIGS, "ytvis19", f"videomt_dinov2_{size}.yaml")
    for size in ("small", "base", "large")
}
QUICKSTART = os.path.join(CONFIGS, "quickstart", "synthetic_vis.yaml")
TARGETS = {
    "vit_l_fps_h100": 250.0,
    "end_to_end_over_model_only": 0.85,
    "hf_fp32_max_logit_diff": 1e-3,
    "bf16_ap_delta": 0.5,
}

# The synthetic training set in place of the config's datasets.
SYNTHETIC_TRAIN = [
    "DATASETS.TRAIN",
    "('synthetic_vis_train',)",
    "DATASETS.TEST",
    "('synthetic_vis_val',)",
    "DATASETS.DATASET_RATIO",
    "[1.0]",
    "DATASETS.DATASET_TYPE",
    "['video_instance']",
]
# --quick: every model becomes a 2-block ViT-S on 32-64 px frames.
QUICK_MODEL = [
    "MODEL.BACKBONE.DEPTH",
    "2",
    "MODEL.BACKBONE.SEGMENTER_BLOCKS",
    "[1]",
    "MODEL.BACKBONE.IMG_SIZE",
    "32",
    "MODEL.BACKBONE.PATCH_SIZE",
    "16",
    "MODEL.BACKBONE.NUM_OBJECT_QUERIES",
    "6",
    "MODEL.BACKBONE.TRAIN_NUM_POINTS",
    "256",
    "MODEL.BACKBONE.TEST.MAX_NUM",
    "4",
]
QUICK_TRAIN = [
    "INPUT.MIN_SIZE_TRAIN",
    "(32,)",
    "INPUT.MAX_SIZE_TRAIN",
    "48",
    "INPUT.SAMPLING_FRAME_NUM",
    "2",
    "INPUT.CROP.ENABLED",
    "False",
    "INPUT.MIN_SIZE_TEST",
    "32",
    "INPUT.MAX_SIZE_TEST",
    "64",
]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------- training
class StepTimes(HookBase):
    """Wall seconds of each training step, bracketed by device synchronisation."""

    def __init__(self, device: torch.device):
        self.device, self.seconds = device, []

    def before_step(self) -> None:
        synchronize(self.device)
        self._start = time.perf_counter()

    def after_step(self) -> None:
        synchronize(self.device)
        self.seconds.append(time.perf_counter() - self._start)


def train_cfg(args, config_file: str, out_dir: str, iters: int, dtype: str, extra=()):
    opts = [
        *SYNTHETIC_TRAIN,
        "MODEL.DEVICE",
        str(args.device),
        "MODEL.BACKBONE.PRETRAINED",
        "",
        "MODEL.WEIGHTS",
        "",
        "SOLVER.MAX_ITER",
        str(iters),
        "SOLVER.WARMUP_STEPS",
        "[0, 0]",
        "SOLVER.AMP.ENABLED",
        str(dtype != "fp32"),
        "SOLVER.AMP.DTYPE",
        {"fp16": "float16", "bf16": "bfloat16", "fp32": "float16"}[dtype],
        "SOLVER.AMP.ON_CPU",
        "True",
        "TEST.EVAL_PERIOD",
        "0",
        "DATALOADER.NUM_WORKERS",
        "0" if args.quick else "4",
        "OUTPUT_DIR",
        out_dir,
        *(QUICK_MODEL + QUICK_TRAIN if args.quick else []),
        *extra,
    ]
    return load_config(config_file, opts)


def run_training(cfg, device: torch.device, hooks=()) -> tuple[Trainer, StepTimes]:
    """The trainer's own loop (autocast, grad scaler, fused AdamW on a GPU) without checkpoints,
    writers or evaluation; returns the trainer and its per-step times."""
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    times = StepTimes(device)
    trainer.register_hooks([LRSchedulerHook(trainer.optimizer, trainer.scheduler), *hooks, times])
    trainer.train()
    return trainer, times


def training_section(args, tmp: str) -> dict:
    out = {}
    variants = [(d, c) for d in ("fp16", "bf16") for c in (False, True)]
    if args.quick:  # each dtype and each activation-checkpointing setting once
        variants = [("fp16", True), ("bf16", False)]
    for dtype, checkpointing in variants:
        name = f"vit_s_{dtype}{'_activation_checkpointing' if checkpointing else ''}"
        cfg = train_cfg(
            args,
            VIT_CONFIGS["small"],
            os.path.join(tmp, name),
            args.train_iters,
            dtype,
            [
                "SOLVER.IMS_PER_BATCH",
                "1",
                "MODEL.BACKBONE.GRAD_CHECKPOINTING",
                str(checkpointing),
            ],
        )
        free_memory(args.device)
        reset_peak_memory(args.device)
        trainer, times = run_training(cfg, args.device)
        timed = times.seconds[args.train_warmup :]
        losses = [v for v, _ in trainer.storage.history("total_loss").values()]
        peak, kind = peak_memory_mb(args.device)
        out[name] = {
            "iters_per_s": len(timed) / sum(timed),
            "s_per_iter_median": sorted(timed)[len(timed) // 2],
            "timed_iters": len(timed),
            "peak_memory_mb": peak,
            "peak_memory_kind": kind,
            "first_loss": losses[0],
            "last_loss": losses[-1],
            "grad_scale": trainer.scaler.get_scale() if trainer.scaler.is_enabled() else None,
            "clips_per_iter": int(cfg.SOLVER.IMS_PER_BATCH),
            "frames_per_clip": int(cfg.INPUT.SAMPLING_FRAME_NUM),
        }
        del trainer
    return out


def quickstart_section(args, tmp: str, results: dict) -> dict:
    """The quickstart trained under fp16 AMP, then fp32 vs bf16 AP with its weights."""
    out_dir = os.path.join(tmp, "quickstart_fp16")
    extra = ["SOLVER.CHECKPOINT_PERIOD", str(args.quickstart_iters)]
    cfg = train_cfg(args, QUICKSTART, out_dir, args.quickstart_iters, "fp16", extra)
    trainer, times = run_training(cfg, args.device)
    weights = os.path.join(out_dir, "model_final.pth")
    trainer.checkpointer.save("model_final", iteration=trainer.iter)
    losses = [v for v, _ in trainer.storage.history("total_loss").values()]
    results["amp_quickstart"] = {
        "iters": len(times.seconds),
        "seconds": sum(times.seconds),
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "grad_scale": trainer.scaler.get_scale(),
    }
    del trainer
    free_memory(args.device)
    videos = 1 if args.quick else 8
    precision_args = SimpleNamespace(dtype="bf16", num_videos=videos, model_weights=weights)
    parity = precision_parity(precision_args, cfg, os.path.join(tmp, "parity"))
    results["amp_quickstart"]["ap_fp32"] = parity["ap_fp32"]
    parity["target_abs_ap_delta"] = TARGETS["bf16_ap_delta"]
    parity["meets_target"] = abs(parity["ap_delta"]) <= TARGETS["bf16_ap_delta"]
    return parity


# ---------------------------------------------------------------------------------- FPS
def fps_section(args, tmp: str) -> dict:
    sizes = ["small"] if args.quick else ["small", "base", "large"]
    hw = (64, 64) if args.quick else (640, 640)
    compile_mode = (
        ("reduce-overhead" if args.device.type == "cuda" else True) if args.compile else False
    )
    out = {"input_size": list(hw), "compile": compile_mode}
    for size in sizes:
        cfg = load_config(
            VIT_CONFIGS[size],
            [
                "MODEL.DEVICE",
                str(args.device),
                "MODEL.BACKBONE.PRETRAINED",
                "",
                "INPUT.MIN_SIZE_TEST",
                str(hw[0]),
                "INPUT.MAX_SIZE_TEST",
                str(max(hw)),
                *(QUICK_MODEL if args.quick else []),
            ],
        )
        for dtype in ("bf16", "fp16"):
            free_memory(args.device)
            torch._dynamo.reset()  # each model compiles afresh (no recompile limit across them)
            torch.manual_seed(0)
            predictor = VideoPredictor(cfg, dtype=dtype, compile=compile_mode)
            reset_peak_memory(args.device)
            video = random_video(predictor, hw, 30)
            model = summarize(
                time_online(predictor.runner, [video], args.fps_warmup, args.fps_iters)
            )
            e2e_args = SimpleNamespace(
                input_size=hw, warmup_iters=args.fps_warmup, iters=args.fps_iters
            )
            with tempfile.TemporaryDirectory(dir=tmp) as video_dir:
                e2e = end_to_end(e2e_args, predictor, video_dir)
            peak, _ = peak_memory_mb(args.device)
            ratio = e2e["fps"] / model["fps"]
            out[f"vit_{size[0]}_{dtype}"] = {
                "model_only": model,
                "end_to_end": e2e,
                "end_to_end_over_model_only": ratio,
                "meets_end_to_end_target": ratio >= TARGETS["end_to_end_over_model_only"],
                "peak_memory_mb": peak,
            }
            del predictor
    return out


# ---------------------------------------------------------------------------------- HF parity
@contextlib.contextmanager
def no_tf32():
    """Exact fp32 matmuls and convolutions on a GPU (TF32 would differ by ~1e-3 by itself)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def hf_parity_section(args, tmp: str) -> dict:
    from transformers import VideomtForUniversalSegmentation  # dev extra

    opts = ["MODEL.DEVICE", str(args.device), "MODEL.BACKBONE.PRETRAINED", ""]
    cfg = load_config(VIT_CONFIGS["small"], opts + (QUICK_MODEL if args.quick else []))
    side, frames = int(cfg.MODEL.BACKBONE.IMG_SIZE), 2 if args.quick else 4
    torch.manual_seed(0)
    ours = VideoPredictor(cfg, dtype="fp32").model
    ckpt = os.path.join(tmp, "ours.pth")
    torch.save({"model": {k: v.cpu() for k, v in ours.state_dict().items()}}, ckpt)
    hf_dir = convert_to_hf(ckpt, os.path.join(tmp, "hf"))
    hf = VideomtForUniversalSegmentation.from_pretrained(hf_dir).to(args.device).eval()
    g = torch.Generator().manual_seed(0)
    video = torch.randn(1, frames, 3, side, side, generator=g).to(args.device)
    with no_tf32(), torch.inference_mode():
        logits, masks, _ = CoreRunner(ours.core).window(video[0], None)
        out = hf(pixel_values_videos=video)
    hf_logits = out.class_queries_logits.reshape(-1).float()
    hf_masks = out.masks_queries_logits.reshape(-1).float()
    diff = float((logits.reshape(-1) - hf_logits).abs().max())
    return {
        "input_size": [side, side],
        "frames": frames,
        "max_abs_diff_class_logits": diff,
        "max_abs_diff_mask_logits": float((masks.reshape(-1) - hf_masks).abs().max()),
        "mask_sign_agreement": float(((masks.reshape(-1) > 0) == (hf_masks > 0)).float().mean()),
        "target": TARGETS["hf_fp32_max_logit_diff"],
        "meets_target": diff <= TARGETS["hf_fp32_max_logit_diff"],
    }


# ---------------------------------------------------------------------------------- NCCL + DDP
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WrapInDDP(HookBase):
    """Before training, runs the trainer's model through ``DistributedDataParallel`` as a
    multi-process run does (a 1-process group has world size 1, so the trainer would not)."""

    def before_train(self) -> None:
        t = self.trainer
        ids = [t.device.index or 0] if t.device.type == "cuda" else None
        t.model = torch.nn.parallel.DistributedDataParallel(
            t.module, device_ids=ids, broadcast_buffers=False
        )


def distributed_section(args, tmp: str) -> dict:
    import torch.distributed as dist

    backend = "nccl" if args.device.type == "cuda" else "gloo"
    out = {"backend": backend}
    if backend != "nccl":
        out["nccl"] = "skipped: needs a CUDA GPU (the gloo group below runs the same steps)"
    if args.device.type == "cuda":
        torch.cuda.set_device(args.device)
    dist.init_process_group(
        backend, init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1
    )
    try:
        value = torch.arange(4.0, device=args.device)
        dist.all_reduce(value)
        out["all_reduce_ok"] = bool(torch.equal(value.cpu(), torch.arange(4.0)))
        iters = 2  # the second forward fails in DDP if a parameter got no gradient
        cfg = train_cfg(args, QUICKSTART, os.path.join(tmp, "ddp"), iters, "fp16")
        trainer, times = run_training(cfg, args.device, hooks=[WrapInDDP()])
        out["ddp_steps"] = len(times.seconds)
        out["ddp_wrapped"] = isinstance(trainer.model, torch.nn.parallel.DistributedDataParallel)
        losses = [v for v, _ in trainer.storage.history("total_loss").values()]
        out["losses"] = losses
    finally:
        dist.destroy_process_group()
    return out


# ---------------------------------------------------------------------------------- report
# The names of device_check.SECTION_NAMES (the command line's choices, kept there so that it
# parses its arguments without importing this module), in the same order.
SECTIONS = {
    "training": training_section,
    "quickstart": None,  # fills "amp_quickstart" and "bf16_accuracy"
    "fps": fps_section,
    "hf_parity": hf_parity_section,
    "distributed": distributed_section,
}


def summary_rows(results: dict) -> list[tuple[str, str, str]]:
    """(measurement, value, target / status) rows of the printed table."""
    rows = []
    for name, r in results.get("training", {}).items():
        if isinstance(r, dict) and "iters_per_s" in r:
            rows.append(
                (f"train {name}", f"{r['iters_per_s']:.2f} it/s, {r['peak_memory_mb']:.0f} MB", "")
            )
    q = results.get("amp_quickstart")
    if isinstance(q, dict) and "ap_fp32" in q:
        rows.append(
            (
                "quickstart fp16 AMP",
                f"loss {q['first_loss']:.2f} -> {q['last_loss']:.2f}, AP {q['ap_fp32']:.1f}",
                "",
            )
        )
    b = results.get("bf16_accuracy")
    if isinstance(b, dict) and "ap_delta" in b:
        rows.append(
            (
                "AP bf16 - fp32",
                f"{b['ap_delta']:+.2f} ({b['ap_bf16']:.1f} vs {b['ap_fp32']:.1f})",
                f"|d| <= 0.5: {'ok' if b['meets_target'] else 'MISSED'}",
            )
        )
    for name, r in results.get("fps", {}).items():
        if isinstance(r, dict) and "model_only" in r:
            target = ""
            if name.startswith("vit_l"):
                met = r["model_only"]["fps"] >= TARGETS["vit_l_fps_h100"]
                target = f">= 250 on H100: {'ok' if met else 'below'}; "
            target += f"e2e >= 85%: {'ok' if r['meets_end_to_end_target'] else 'MISSED'}"
            rows.append(
                (
                    f"FPS {name}",
                    f"{r['model_only']['fps']:.1f} model, {r['end_to_end']['fps']:.1f} e2e "
                    f"({100 * r['end_to_end_over_model_only']:.0f}%)",
                    target,
                )
            )
    h = results.get("hf_parity")
    if isinstance(h, dict) and "max_abs_diff_class_logits" in h:
        rows.append(
            (
                "HF fp32 max |logit diff|",
                f"{h['max_abs_diff_class_logits']:.1e}",
                f"<= 1e-3: {'ok' if h['meets_target'] else 'MISSED'}",
            )
        )
    d = results.get("distributed")
    if isinstance(d, dict) and "ddp_steps" in d:
        rows.append(
            (
                f"{d['backend']} group + DDP",
                f"all-reduce {'ok' if d['all_reduce_ok'] else 'WRONG'}, {d['ddp_steps']} DDP steps",
                d.get("nccl", ""),
            )
        )
    for name, r in results.items():
        if isinstance(r, dict) and "error" in r:
            rows.append((name, "ERROR", r["error"][:80]))
    return rows


def print_table(rows: list[tuple[str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def run_sections(args) -> dict:
    """Run ``args.sections`` in turn (a failing one is recorded and the others still run), print
    the summary table and return every result."""
    results = {"settings": {k: str(v) for k, v in vars(args).items()}, **environment(args.device)}
    start = time.perf_counter()
    saved_root = os.environ.get("DETECTRON2_DATASETS")
    with tempfile.TemporaryDirectory(prefix="device_check_") as tmp:
        os.environ["DETECTRON2_DATASETS"] = args.data_dir or os.path.join(tmp, "datasets")
        for section in args.sections:
            began = time.perf_counter()
            print(f"[device_check] {section} ...", flush=True)
            try:
                if section == "quickstart":
                    results["amp_quickstart"] = {}
                    results["bf16_accuracy"] = quickstart_section(args, tmp, results)
                else:
                    results[section] = SECTIONS[section](args, tmp)
            except Exception as e:  # recorded, and the remaining sections still run
                traceback.print_exc()
                key = "bf16_accuracy" if section == "quickstart" else section
                results[key] = {"error": f"{type(e).__name__}: {e}"}
            free_memory(args.device)
            results.setdefault("section_seconds", {})[section] = time.perf_counter() - began
        if saved_root is None:
            del os.environ["DETECTRON2_DATASETS"]
        else:
            os.environ["DETECTRON2_DATASETS"] = saved_root
    results["total_seconds"] = time.perf_counter() - start
    rows = summary_rows(results)
    print(f"\ndevice check on {results['device_name']} ({results['total_seconds']:.0f} s)")
    print_table([("measurement", "value", "target"), *rows])
    return results
