"""tools/device_check.py in its reduced CPU mode: every section runs the code a GPU run takes
(trainer under fp16/bf16 autocast, compiled-or-not online FPS, end to end, HF parity, a process
group + DDP steps) and lands in one JSON; NCCL is reported as skipped, not faked. Numbers from
this mode measure nothing and are not asserted beyond being produced."""

import json
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_device_check_on_cpu_writes_every_section(tmp_path):
    out = tmp_path / "device_check.json"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "tools", "device_check.py"),
            "--device",
            "cpu",
            "--quick",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "measurement" in proc.stdout and "HF fp32 max |logit diff|" in proc.stdout
    res = json.loads(out.read_text())
    assert not [k for k, v in res.items() if isinstance(v, dict) and "error" in v]
    assert res["device"] == "cpu"

    runs = res["training"]
    assert set(runs) == {"vit_s_fp16_activation_checkpointing", "vit_s_bf16"}  # --quick: 2 of 4
    for name, run in runs.items():
        assert run["iters_per_s"] > 0 and run["peak_memory_mb"] > 0, name
        assert math.isfinite(run["last_loss"]), name
        assert (run["grad_scale"] is None) == ("bf16" in name), name  # a scaler for fp16 only

    assert res["amp_quickstart"]["iters"] == 2 and math.isfinite(res["amp_quickstart"]["last_loss"])
    accuracy = res["bf16_accuracy"]
    assert {"ap_fp32", "ap_bf16", "ap_delta", "meets_target"} <= set(accuracy)

    fps = res["fps"]
    assert fps["input_size"] == [64, 64] and fps["compile"] is False
    for name in ("vit_s_bf16", "vit_s_fp16"):
        assert fps[name]["model_only"]["iters"] == 2 and fps[name]["model_only"]["fps"] > 0
        assert fps[name]["end_to_end"]["fps"] > 0

    hf = res["hf_parity"]
    assert hf["max_abs_diff_class_logits"] <= 1e-3 and hf["meets_target"]  # fp32 on the CPU

    dist = res["distributed"]
    assert dist["backend"] == "gloo" and dist["nccl"].startswith("skipped")
    assert dist["all_reduce_ok"] and dist["ddp_wrapped"] and dist["ddp_steps"] == 2
