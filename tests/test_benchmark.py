"""benchmark.py on tiny configs: valid JSON for every task; GFLOPs against the paper's; the compiled
per-frame step on CPU. Speed itself is never asserted."""

import json
import subprocess
import sys

import pytest
import torch

import benchmark
import videomt
from tests.model_fixtures import small_cfg
from tests.video_fixtures import TINY_OPTS
from videomt.inference import benchmark_parity
from videomt.inference.benchmarking import count_flops, matmul_rates
from videomt.inference.runtime import CoreRunner

QUICKSTART = "configs/quickstart/synthetic_vis.yaml"
TIMING_KEYS = {
    "fps",
    "ms_mean",
    "ms_median",
    "ms_p90",
    "peak_memory_mb",
    "device_name",
    "torch_version",
    "settings",
}


def run(tmp_path, *args):
    out = tmp_path / "out.json"
    assert (
        benchmark.main(
            ["--config-file", QUICKSTART, "--device", "cpu", "--json", str(out), *args, *TINY_OPTS]
        )
        == 0
    )
    return json.loads(out.read_text())


@pytest.fixture(autouse=True)
def datasets_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "datasets"))


def test_fps_json(tmp_path):
    res = run(
        tmp_path,
        "--task",
        "fps",
        "--warmup-iters",
        "1",
        "--iters",
        "3",
        "--input-size",
        "40",
        "56",
        "--end-to-end",
        "--dtype",
        "bf16",
    )
    assert TIMING_KEYS <= set(res)
    assert res["input_size"] == [64, 64]  # padded to the size divisibility (32)
    assert res["iters"] == 3 and res["fps"] > 0 and res["ms_p90"] >= res["ms_median"] > 0
    assert res["settings"]["dtype"] == "bf16" and res["settings"]["compile"] is False
    assert res["end_to_end"]["iters"] == 3 and res["end_to_end"]["ratio_to_model_only"] > 0


def test_fps_on_the_dataset_videos(tmp_path):
    """Without --input-size the config's test dataset is used when it is on disk (generated
    here)."""
    res = run(tmp_path, "--task", "fps", "--warmup-iters", "0", "--iters", "2", "--num-videos", "1")
    assert res["source"] == "dataset synthetic_vis_val"
    assert res["input_size"] == [32, 64]  # 192x256 frames resized to 32x43, padded to 32x64


def test_throughput_json(tmp_path):
    res = run(
        tmp_path,
        "--task",
        "throughput",
        "--streams",
        "3",
        "--warmup-iters",
        "1",
        "--iters",
        "2",
        "--input-size",
        "32",
        "32",
    )
    assert TIMING_KEYS <= set(res) and res["streams"] == 3
    assert res["fps"] == pytest.approx(3 * 1000 / res["ms_mean"])


def test_flops_vit_s_matches_spec_at_640():
    """The paper's fvcore GFLOPs of one steady-state frame of the official ViT-S module at 640x640 =
    68.0."""
    cfg = videomt.load_config(
        "configs/ytvis19/videomt_dinov2_small.yaml",
        ["MODEL.DEVICE", "cpu", "MODEL.BACKBONE.PRETRAINED", ""],
    )
    res = count_flops(videomt.build_model(cfg).core, (640, 640))
    assert res["gflops_per_frame"] == pytest.approx(68.0, rel=0.02)
    assert res["gflops_by_operator"]["matmul"] > 20  # attention (q @ k, attn @ v) is counted
    assert res["params"] == VIT_S_YTVIS19_PARAMS


# Parameters of the ViT-S YouTube-VIS 2019 model (width 384, 12 blocks, 16x16 patches, 40x40
# positions at 640 px, 4 registers, 200 queries, 40 classes), counted by hand from the layer
# shapes. The encoder's 22,215,168 are also what timm reports for vit_small_patch14_reg4_dinov2
# created with patch_size=16, img_size=640.
_BLOCK = sum(
    [
        2 * 2 * 384,  # two LayerNorms
        384 * 3 * 384 + 3 * 384,  # qkv projection
        384 * 384 + 384,  # attention output projection
        2 * 384,  # two LayerScales
        384 * 1536 + 1536 + 1536 * 384 + 384,  # MLP
    ]
)
VIT_S_YTVIS19_PARAMS = sum(
    [
        3 * 16 * 16 * 384 + 384,  # patch embedding
        384 + 4 * 384 + 1600 * 384,  # class token, registers, positions
        12 * _BLOCK,
        2 * 384,  # final LayerNorm
        200 * 384,  # learned queries
        384 * 384 + 384,  # query propagation
        384 * 41 + 41,  # class head (40 classes + no-object)
        3 * (384 * 384 + 384),  # mask MLP
        2 * (384 * 384 * 2 * 2 + 384 + 384 * 9 + 2 * 384),  # 2 upsampling blocks
    ]
)  # 24,087,977


def test_flops_json_honours_input_size(tmp_path):
    small = run(tmp_path, "--task", "flops", "--input-size", "32", "32")
    large = run(tmp_path, "--task", "flops", "--input-size", "64", "64")
    assert {"gflops_per_frame", "params"} <= set(small) and small["params"] == large["params"]
    assert (
        large["gflops_per_frame"] > 1.5 * small["gflops_per_frame"]
    )  # 16 vs 4 patches (+25 query/prefix tokens)


def test_compiled_step_matches_eager_on_cpu():
    """torch.compile of the per-frame step (the GPU path's unit) runs on the CPU and gives the
    eager outputs, with the state fed back."""
    torch.manual_seed(0)
    core = videomt.build_model(
        small_cfg(**{"MODEL.BACKBONE.DEPTH": 2, "MODEL.BACKBONE.SEGMENTER_BLOCKS": [1]})
    ).core
    eager, compiled = CoreRunner(core), CoreRunner(core, compile=True)
    frames = torch.randn(2, 3, 32, 48)
    s_eager = s_compiled = None
    for _ in range(2):
        a, b = eager.step(frames, s_eager), compiled.step(frames, s_compiled)
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)
        s_eager, s_compiled = a[2], b[2]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "fps", "--iters", "0"], "--iters must be >= 1"),
        (["--task", "speed"], "invalid choice"),
        (["--task", "fps", "MODEL.NOPE", "1"], "unknown config key"),
        (["--task", "fps", "--device", "cuda:99"], "--device is 'cuda:99' but"),
        (["--task", "hf", "--dtype", "fp16"], "--task hf compares fp32 and bf16"),
    ],
)
def test_user_errors(args, message, tmp_path):
    proc = subprocess.run(
        [sys.executable, "benchmark.py", "--config-file", QUICKSTART, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_matmul_rates_report_both_precisions_and_their_ratio():
    out = matmul_rates(size=64, repeats=1)
    assert out["fp32_gmacs_per_s"] > 0 and out["bf16_gmacs_per_s"] > 0
    assert out["bf16_over_fp32"] == out["bf16_gmacs_per_s"] / out["fp32_gmacs_per_s"]
    assert out["num_threads"] == torch.get_num_threads()


def test_bf16_runner_keeps_the_state_path_in_fp32_and_agrees_with_fp32():
    torch.manual_seed(0)
    cfg = small_cfg(**{"MODEL.BACKBONE.DEPTH": 3, "MODEL.BACKBONE.SEGMENTER_BLOCKS": [1, 2]})
    core32 = videomt.build_model(cfg).core
    core16 = videomt.build_model(cfg).core
    core16.load_state_dict(core32.state_dict())
    fp32, bf16 = CoreRunner(core32), CoreRunner(core16, dtype="bf16")
    assert core16.encoder.blocks[0].attn.qkv.weight.dtype == torch.bfloat16
    assert core16.q.weight.dtype == core16.query_updater.weight.dtype == torch.float32
    frames = torch.randn(1, 3, 32, 48)
    s32 = s16 = None
    for _ in range(3):  # the state is fed back: errors must not build up
        a, b = fp32.step(frames, s32), bf16.step(frames, s16)
        s32, s16 = a[2], b[2]
        assert b[2].dtype == torch.float32
        torch.testing.assert_close(b[0], a[0], rtol=0, atol=0.1)
        assert ((a[1] > 0) == (b[1] > 0)).float().mean() > 0.97


@pytest.mark.parametrize("fast", [False, True])
def test_low_precision_on_a_cpu_without_its_units_warns_once(monkeypatch, caplog, fast):
    """bf16 / fp16 on a CPU whose oneDNN has no kernels for them runs many times slower than fp32:
    the runner says so once per dtype (not for fp32, and not where the CPU has them)."""
    from videomt.inference import runtime

    monkeypatch.setattr(runtime, "cpu_runs_fast", lambda dtype: fast or dtype == torch.float32)
    runtime._warn_slow_cpu_dtype.cache_clear()
    cfg = small_cfg(**{"MODEL.BACKBONE.DEPTH": 2, "MODEL.BACKBONE.SEGMENTER_BLOCKS": [1]})
    with caplog.at_level("WARNING", logger="videomt.inference.runtime"):
        for dtype in (None, "bf16", "bf16", "fp16"):
            CoreRunner(videomt.build_model(cfg).core, dtype=dtype)
    runtime._warn_slow_cpu_dtype.cache_clear()
    warnings = [r.getMessage() for r in caplog.records]
    if fast:
        assert warnings == []
    else:
        assert len(warnings) == 2, warnings
        assert warnings[0].startswith("dtype bf16 on this CPU, which has no bf16 matrix support")
        assert warnings[1].startswith("dtype fp16 on this CPU") and "use dtype fp32" in warnings[1]


@pytest.mark.parametrize(
    "dtype, variants",
    [
        ([], ["hf_fp32", "ours_fp32", "ours_bf16", "ours_bf16_autocast_only"]),
        (["--dtype", "fp32"], ["hf_fp32", "ours_fp32"]),
    ],
)
def test_hf_comparison_json(tmp_path, monkeypatch, dtype, variants):
    """--dtype picks which of ours run against HF fp32; the CPU and its matmul rates come along."""
    monkeypatch.setattr(benchmark_parity, "MATMUL_SIZE", 64)
    res = run(
        tmp_path,
        "--task",
        "hf",
        "--iters",
        "1",
        "--frames",
        "2",
        *dtype,
        "MODEL.BACKBONE.IMG_SIZE",
        "64",
    )
    assert res["input_size"] == [64, 64] and res["variants"] == variants
    assert [k for k in res if k.startswith(("hf_fp32", "ours_"))] == variants
    assert res["matmul"]["size"] == 64 and res["matmul"]["bf16_over_fp32"] > 0
    assert res["matmul"]["cpu"] == res["device_name"] or res["matmul"]["cpu"] is None
    # the same weights give the same outputs
    assert res["ours_fp32"]["max_abs_diff_logits_vs_hf"] < 1e-4
    assert res["hf_fp32"]["s_median"] > 0
    if "ours_bf16" in variants:
        assert res["ours_bf16"]["mask_sign_agreement_vs_hf"] > 0.95
        assert {"s_median", "fps", "speedup_vs_hf_fp32"} <= set(res["ours_bf16"])


@pytest.mark.parametrize("cache_mb, second_pass", [("64", "cached"), ("0", "re-ran the model")])
def test_offline_video_json(tmp_path, cache_mb, second_pass):
    res = run(
        tmp_path,
        "--task",
        "offline",
        "--video-frames",
        "4",
        "--video-size",
        "40",
        "56",
        "--cache-mb",
        cache_mb,
    )
    assert res["video_frames"] == 4 and res["second_pass"] == second_pass
    assert res["peak_memory_mb"] >= res["rss_before_mb"] > 0 and res["model_input_size"] == [32, 64]


def test_precision_json(tmp_path):
    res = run(tmp_path, "--task", "precision", "--dtype", "bf16", "--num-videos", "1")
    assert res["videos"] == 1 and {"ap_fp32", "ap_bf16", "ap_delta"} <= set(res)
    assert res["same_tracks_fraction"] > 0.5 and 0.9 < res["mean_mask_iou_same_tracks"] <= 1


def test_finite_check_json(tmp_path):
    """--task finite-check trains a few steps and reports the check's cost against a step."""
    res = run(
        tmp_path,
        "--task",
        "finite-check",
        "--warmup-iters",
        "1",
        "--iters",
        "2",
        "INPUT.MIN_SIZE_TRAIN",
        "(64,)",
        "INPUT.MAX_SIZE_TRAIN",
        "96",
        "MODEL.BACKBONE.TRAIN_NUM_POINTS",
        "256",
        "DATALOADER.NUM_WORKERS",
        "0",
    )
    assert res["checked_tensors"] > 0 and res["checked_elements"] > res["checked_tensors"]
    assert 0 < res["check_ms"] < res["step_ms"]
    assert res["check_over_step_pct"] == pytest.approx(100 * res["check_ms"] / res["step_ms"])
