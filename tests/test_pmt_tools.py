"""The tools work for PMT-video models as for VidEoMT: --eval-only on VIS / VPS / VSS, benchmark.py
(fps, throughput, multitask, FLOPs with the decoder's attention counted), the ONNX export checked
with onnxruntime, the demo (one model, and several tasks side by side) and checkpoint
conversion from the official layout. Tiny random-init models on the CPU."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from train_fixtures import run_cli

import benchmark
from tests.pmt_fixtures import PMT_QUICKSTART, PMT_TINY, ROOT, TASK_OPTS, write_task_checkpoints
from tests.video_fixtures import moving_squares, write_png_folder
from videomt.checkpoint import videomt_to_official_pmt
from videomt.config import load_config
from videomt.inference import VideoPredictor
from videomt.inference.benchmarking import count_flops
from videomt.inference.export import onnx_step_parity
from videomt.model import build_model


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def task_weights(tmp_path_factory):
    """A checkpoint per task (tiny PMT, decoders from different seeds, one shared encoder)."""
    return write_task_checkpoints(tmp_path_factory.mktemp("pmt_weights"))


pytestmark = pytest.mark.usefixtures("datasets")  # every test: datasets under its tmp_path


# ---------------------------------------------------------------------- --eval-only
@pytest.mark.parametrize(
    "task, keys",
    [
        ("vis", {"AP", "AP50", "AR10"}),
        ("vps", {"VPQ", "STQ"}),
        ("vss", {"mIoU", "VC8", "VC16_official"}),
    ],
)
def test_eval_only_every_task(tmp_path, task_weights, task, keys):
    out = tmp_path / "out"
    weights = ["MODEL.WEIGHTS", task_weights[task], "OUTPUT_DIR", str(out)]
    opts = [*PMT_TINY, *TASK_OPTS[task], *weights]
    proc = run_cli(["--config-file", PMT_QUICKSTART, "--eval-only", *opts], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dataset = {"vis": "synthetic_vis_val"}.get(task, f"synthetic_{task}_val")
    metrics = json.loads((out / "inference" / dataset / "metrics.json").read_text())
    assert keys <= set(metrics["segm" if task == "vis" else task])


# ---------------------------------------------------------------------- benchmark.py
def run_benchmark(tmp_path, *args):
    out = tmp_path / "out.json"
    argv = [
        "--config-file",
        PMT_QUICKSTART,
        "--device",
        "cpu",
        "--json",
        str(out),
        *args,
        *PMT_TINY,
    ]
    assert benchmark.main(argv) == 0
    return json.loads(out.read_text())


def test_benchmark_fps_throughput_and_multitask(tmp_path):
    common = ["--warmup-iters", "1", "--iters", "2", "--input-size", "40", "56"]
    fps = run_benchmark(tmp_path, "--task", "fps", *common)
    assert fps["fps"] > 0 and fps["input_size"] == [64, 64]  # padded to /32
    throughput = run_benchmark(tmp_path, "--task", "throughput", "--streams", "2", *common)
    assert throughput["streams"] == 2 and throughput["fps"] > 0
    multi = run_benchmark(tmp_path, "--task", "multitask", "--num-tasks", "2", *common)
    rows = multi["by_num_tasks"]
    assert [r["tasks"] for r in rows] == [1, 2]
    for row in rows:
        assert row["shared_encoder"]["iters"] == 2 and row["separate_models"]["ms_mean"] > 0


def test_multitask_benchmark_refuses_videomt(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmark.py"),
            "--task",
            "multitask",
            "--config-file",
            os.path.join(ROOT, "configs", "quickstart", "synthetic_vis.yaml"),
            "--device",
            "cpu",
            "--num-tasks",
            "1",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "no frozen encoder to share" in proc.stderr


def test_flops_count_the_decoder_attention():
    """fvcore cannot see fused attention: the count must hold every q @ k and attn @ v product
    of the encoder blocks run up to the last tap *and* of the decoder blocks (hand count)."""
    cfg = load_config(PMT_QUICKSTART, PMT_TINY)
    core = build_model(cfg).core
    h, w = 64, 96
    dim, patch, prefix = 384, core.patch_size, core.num_prefix_tokens
    tokens = prefix + (h // patch) * (w // patch)  # encoder sequence
    decoder = core.num_queries + tokens  # [queries | tokens]
    encoder_blocks = max(core.taps) + 1
    expected = encoder_blocks * 2 * tokens**2 * dim + len(core.blocks) * 2 * decoder**2 * dim
    result = count_flops(core, (h, w))
    assert result["gflops_by_operator"]["matmul"] * 1e9 == pytest.approx(expected, rel=1e-9)
    assert "aten::scaled_dot_product_attention" not in result["uncounted_ops"]


# ---------------------------------------------------------------------- export
def test_export_onnx_matches_onnxruntime_at_two_sizes(tmp_path):
    export_tool = load_tool("export")
    torch.manual_seed(0)
    argv = ["--config-file", PMT_QUICKSTART, "--output", str(tmp_path), "--input-size", "64", "64"]
    assert export_tool.main(argv + ["--format", "onnx", "--check-frames", "0", *PMT_TINY]) == 0
    torch.manual_seed(0)  # the same random weights for the PyTorch side
    core = VideoPredictor(load_config(PMT_QUICKSTART, PMT_TINY)).model.core
    for size in ((64, 64), (32, 72)):  # the export size and another (dynamic H, W)
        assert onnx_step_parity(core, str(tmp_path / "step.onnx"), size, num_frames=2) < 1e-4
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["num_queries"] == core.num_queries and meta["patch_size"] == 8


# ---------------------------------------------------------------------- demo
def run_demo(frames, out, *args):
    """args first: --config-file / --weights take several values, the input ends them."""
    demo = load_tool("video_demo")
    argv = ["--input", str(frames), "--output", str(out), "--confidence-threshold", "0"]
    return demo.main([*args, *argv, *PMT_TINY])


def test_demo_one_model_and_tasks_side_by_side(tmp_path, task_weights):
    frames = write_png_folder(tmp_path / "frames", moving_squares(num_frames=3))
    vis, vss = task_weights["vis"], task_weights["vss"]
    vss_cfg = tmp_path / "vss.yaml"
    vss_cfg.write_text(load_config(PMT_QUICKSTART, PMT_TINY + TASK_OPTS["vss"]).dump())
    assert (
        run_demo(frames, tmp_path / "vis", "--config-file", PMT_QUICKSTART, "--weights", vis) == 0
    )
    assert run_demo(frames, tmp_path / "vss", "--config-file", str(vss_cfg), "--weights", vss) == 0
    both = ["--config-file", PMT_QUICKSTART, str(vss_cfg), "--weights", vis, vss]
    assert run_demo(frames, tmp_path / "both", *both) == 0
    assert run_demo(frames, tmp_path / "both_stream", "--stream", *both) == 0
    for name in sorted(os.listdir(tmp_path / "vis")):
        left, right = (np.asarray(Image.open(tmp_path / run / name)) for run in ("vis", "vss"))
        panels = np.asarray(Image.open(tmp_path / "both" / name))
        assert np.array_equal(panels, np.concatenate([left, right], axis=1))
    last = sorted(os.listdir(tmp_path / "vis"))[-1]  # causal scores = offline at the last frame
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "both" / last)),
        np.asarray(Image.open(tmp_path / "both_stream" / last)),
    )


def test_demo_weights_must_match_the_configs(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "tools", "video_demo.py"),
            "--config-file",
            PMT_QUICKSTART,
            PMT_QUICKSTART,
            "--weights",
            "a.pth",
            "--input",
            "x.mp4",
            "--output",
            "o.gif",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip() == "error: --weights: got 1 files for 2 --config-file"


# ---------------------------------------------------------------------- conversion
def test_convert_official_pmt_checkpoint(tmp_path):
    """An official-layout PMT file -> tools/convert_checkpoint.py -> our weights + config, which
    build the same model (same outputs)."""
    cfg = load_config(PMT_QUICKSTART, PMT_TINY)
    torch.manual_seed(0)
    original = build_model(cfg).eval()
    official = tmp_path / "official.pth"
    torch.save({"model": videomt_to_official_pmt(original.state_dict())}, official)
    convert = [sys.executable, os.path.join(ROOT, "tools", "convert_checkpoint.py")]
    convert += ["--src", str(official)]
    run = dict(capture_output=True, text=True, timeout=300)
    proc = subprocess.run(
        [*convert, "--dst", str(tmp_path / "ours"), "--config", PMT_QUICKSTART], **run
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    to_hf = subprocess.run([*convert, "--dst", str(tmp_path / "hf"), "--to", "hf"], **run)
    assert to_hf.returncode == 2
    assert to_hf.stderr.strip().endswith("HF transformers has no PMT model (use --to videomt)")
    converted = VideoPredictor(str(tmp_path / "ours" / "config.yaml"), device="cpu").model
    assert type(converted.core).__name__ == "PMT"
    video = torch.randn(1, 2, 3, 64, 64)
    with torch.no_grad():
        a, b = original.core(video), converted.core(video)
    assert torch.equal(a["pred_logits"], b["pred_logits"])
    assert torch.equal(a["pred_masks"], b["pred_masks"])


def test_inference_rope_table_is_timms_bit_for_bit():
    """rope_table builds the table from tensor ops (so exports keep H, W dynamic): exactly timm's
    get_embed, for PMT's DINOv2 decoder RoPE and for a DINOv3 encoder's."""
    from timm.layers.pos_embed_sincos import RotaryEmbeddingDinoV3

    from videomt.modeling.backbone import create_encoder, rope_table

    dinov3 = create_encoder("facebook/dinov3-vits16-pretrain-lvd1689m", img_size=64, depth=1)
    for rope in (RotaryEmbeddingDinoV3(64, temperature=100.0, rotate_half=True), dinov3.rope):
        for grid in ((4, 4), (2, 6), (30, 40)):
            assert torch.equal(rope_table(rope, grid, 0), rope.get_embed(shape=list(grid)))
