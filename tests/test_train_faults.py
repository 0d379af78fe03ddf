"""Training under faults: no non-finite state is ever saved, SIGTERM saves and resumes exactly,
one run per OUTPUT_DIR, an evaluation leaves the training's record alone, a resume that does not
fit is refused before anything is written, metrics.json survives kills, a frozen process ends the
job."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from train_fixtures import (
    QUICKSTART,
    ROOT,
    assert_one_line_error,
    cli_env,
    overrides,
    run_cli,
    tiny_cfg,
)


def _all_finite(path):
    def tensors(x):
        if isinstance(x, torch.Tensor):
            yield x
        elif isinstance(x, dict):
            for v in x.values():
                yield from tensors(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                yield from tensors(v)

    ckpt = torch.load(path, weights_only=True)
    return all(
        bool(t.isfinite().all())
        for t in tensors({"model": ckpt["model"], "optimizer": ckpt["optimizer"]})
        if t.is_floating_point()
    )


# ------------------------------------------------------------------ non-finite steps
def _nan_weight_at_iteration(trainer, iteration):
    """An optimizer step that writes a NaN weight at ``iteration`` while the loss stays finite
    (what an exploding learning rate does)."""

    def after_step(optimizer, args, kwargs):
        if trainer.iter == iteration:
            with torch.no_grad():
                trainer.module.core.class_head.weight[0, 0] = float("nan")

    trainer.optimizer.register_step_post_hook(after_step)


@pytest.mark.parametrize(
    "extra, what",
    [
        ({}, "weight core.class_head.weight"),
        ({"MODEL.BACKBONE.MASK_WEIGHT": 1e25}, "optimizer state 'exp_avg_sq'"),  # g^2 overflows
    ],
)
def test_non_finite_step_stops_before_anything_is_saved(tmp_path, datasets, extra, what):
    from videomt.engine.numerics import NonFiniteError
    from videomt.engine.trainer import Trainer

    out = tmp_path / "nan"
    trainer = Trainer(tiny_cfg(out, **{"SOLVER.CHECKPOINT_PERIOD": 1}, **extra))
    trainer.resume_or_load(resume=False)
    if not extra:
        _nan_weight_at_iteration(trainer, 3)
    with pytest.raises(NonFiniteError) as e:
        trainer.train()
    msg = str(e.value)
    assert f"iteration {trainer.iter}" in msg and what in msg and "\n" not in msg, msg
    if not extra:
        assert trainer.iter == 3
    saved = sorted(p for p in os.listdir(out) if p.endswith(".pth"))
    assert f"model_{trainer.iter:07d}.pth" not in saved  # the failing step was not saved
    assert all(_all_finite(out / p) for p in saved), saved
    if saved:
        assert (out / "last_checkpoint").read_text() == saved[-1]


# ------------------------------------------------------------------ SIGTERM
def test_sigterm_saves_the_current_iteration_and_resume_is_bit_identical(tmp_path):
    args = ["--config-file", QUICKSTART]
    extra = {"SOLVER.MAX_ITER": 10, "SOLVER.LOG_PERIOD": 1, "DATALOADER.NUM_WORKERS": 1}
    full = run_cli(args + overrides(tmp_path / "full", **extra), tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]

    out = tmp_path / "preempted"
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "train_net_video.py"), *args, *overrides(out, **extra)],
        env=cli_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: signalled as a cluster signals a job
    )
    metrics = out / "metrics.json"
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)  # the main process and its loader worker
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 143, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    saved = (out / "last_checkpoint").read_text()
    assert saved.startswith("model_0") and saved != "model_0000009.pth", saved
    stopped_at = int(saved[len("model_") : -len(".pth")])
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert records[-1]["iteration"] == stopped_at  # the record is complete up to the save
    assert "Stopped by SIGTERM" in (out / "log.txt").read_text()

    stale = out / f".model_{stopped_at:07d}.pth.x1y2.tmp"  # as a kill during a save leaves
    stale.write_bytes(b"PK partial")
    resumed = run_cli(args + ["--resume"] + overrides(out, **extra), tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not stale.exists()
    a = torch.load(tmp_path / "full" / "model_final.pth", weights_only=True)["model"]
    b = torch.load(out / "model_final.pth", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    iterations = [json.loads(line)["iteration"] for line in metrics.read_text().splitlines()]
    assert iterations == list(range(10))


# ------------------------------------------------------------------ one run per OUTPUT_DIR
def test_output_dir_rules(tmp_path):
    from videomt.engine.output_dir import claim_output_dir, release_output_dir

    out = tmp_path / "run"
    extra = {"SOLVER.MAX_ITER": 2, "SOLVER.WARMUP_STEPS": "[0, 0]"}
    claim_output_dir(str(out), resume=False, eval_only=False)  # this test process is "the run"
    try:
        busy = run_cli(["--config-file", QUICKSTART, *overrides(out, **extra)], tmp_path)
        assert_one_line_error(busy, f"{out} is in use by another run (pid {os.getpid()} on ")
        assert not (out / "log.txt").exists()
    finally:
        release_output_dir(str(out))

    first = run_cli(["--config-file", QUICKSTART, *overrides(out, **extra)], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    record = {n: (out / n).read_bytes() for n in ("config.yaml", "log.txt", "metrics.json")}

    again = run_cli(["--config-file", QUICKSTART, *overrides(out, **extra)], tmp_path)
    assert_one_line_error(
        again, f"{out} already holds a training run (last_checkpoint, metrics.json"
    )

    changed = dict(extra, **{"MODEL.BACKBONE.NUM_OBJECT_QUERIES": 8, "SOLVER.MAX_ITER": 4})
    refit = run_cli(["--config-file", QUICKSTART, "--resume", *overrides(out, **changed)], tmp_path)
    assert_one_line_error(refit, "MODEL.BACKBONE.NUM_OBJECT_QUERIES 6 -> 8")

    evaluation = run_cli(
        [
            "--config-file",
            QUICKSTART,
            "--eval-only",
            *overrides(out, **extra, **{"MODEL.WEIGHTS": str(tmp_path / "missing.pth")}),
        ],
        tmp_path,
    )  # fails (no such weights) after setting up its own record
    assert evaluation.returncode == 2, evaluation.stderr[-2000:]
    assert "missing.pth" in (out / "inference" / "log.txt").read_text()

    finished = run_cli(
        ["--config-file", QUICKSTART, "--resume", *overrides(out, **extra)], tmp_path
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "already finished (2 of SOLVER.MAX_ITER 2 iterations done)" in finished.stdout
    assert {n: (out / n).read_bytes() for n in record} == {
        **record,
        "log.txt": (out / "log.txt").read_bytes(),
    }  # config.yaml and metrics.json untouched by all of the above
    log = (out / "log.txt").read_text()
    assert "missing.pth" not in log and "already finished" in log


def test_empty_last_checkpoint_is_one_line(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "model_0000003.pth").write_bytes(b"not read")
    (out / "last_checkpoint").write_text("")
    proc = run_cli(["--config-file", QUICKSTART, "--resume", *overrides(out)], tmp_path)
    assert_one_line_error(proc, f"{out / 'last_checkpoint'} is empty")
    assert "model_0000003.pth" in proc.stderr and "not found" not in proc.stderr


# ------------------------------------------------------------------ metrics.json after kills
def test_metrics_json_is_repaired_on_resume(tmp_path):
    from videomt.engine.events import JSONWriter

    path = tmp_path / "metrics.json"
    lines = [json.dumps({"iteration": i, "total_loss": 1.0}) for i in range(6)]
    path.write_text("\n".join(lines) + '\n{"iteration": 6, "total_lo')  # killed mid-write
    JSONWriter(str(path), start_iter=4)  # resuming at 4: 4 and 5 are recomputed
    assert [json.loads(line)["iteration"] for line in path.read_text().splitlines()] == [0, 1, 2, 3]


# ------------------------------------------------------------------ frozen process
def _children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def _cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode()


def test_a_frozen_process_ends_the_job_after_the_timeout(tmp_path):
    out = tmp_path / "two"
    extra = {"SOLVER.MAX_ITER": 1000, "SOLVER.LOG_PERIOD": 1, "DIST_TIMEOUT_SECONDS": 4}
    proc = subprocess.Popen(
        [
            sys.executable,
            os.path.join(ROOT, "train_net_video.py"),
            "--config-file",
            QUICKSTART,
            "--num-gpus",
            "2",
            *overrides(out, **extra),
        ],
        env=cli_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    workers = []
    try:
        deadline = time.time() + 300
        while proc.poll() is None and time.time() < deadline:
            if (out / "metrics.json").exists():
                break
            time.sleep(0.1)
        workers = [p for p in _children(proc.pid) if "multiprocessing" in _cmdline(p)]
        workers = [p for p in workers if "resource_tracker" not in _cmdline(p)]
        assert len(workers) == 2, [_cmdline(p) for p in workers]
        frozen = time.time()
        os.kill(workers[1], signal.SIGSTOP)
        _, stderr = proc.communicate(timeout=120)
        took = time.time() - frozen
    finally:
        for p in workers:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr[-3000:]
    assert "waited more than DIST_TIMEOUT_SECONDS (4 s)" in stderr, stderr[-3000:]
    assert "Traceback" not in stderr and stderr.strip().count("\n") == 0, stderr[-3000:]
    assert took < 60, took
