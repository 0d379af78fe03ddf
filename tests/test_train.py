"""The trainer: a short run learns and writes Detectron2's outputs; resume after SIGKILL is exact;
1 x 2 clips, 2 processes x 1 clip and 2 accumulation steps give the same weights; checkpoints
survive an interrupted write; user mistakes are one line."""

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
    final_weights,
    max_abs_diff,
    overrides,
    run_cli,
    tiny_cfg,
)


def train_in_process(output_dir, resume=False, **extra):
    from videomt.engine.trainer import Trainer

    trainer = Trainer(tiny_cfg(output_dir, **extra))
    trainer.resume_or_load(resume=resume)
    trainer.train()
    return trainer


def test_short_run_learns_and_writes_outputs(tmp_path, datasets):
    out = tmp_path / "run"
    trainer = train_in_process(
        out, **{"SOLVER.MAX_ITER": 30, "SOLVER.LOG_PERIOD": 10, "SOLVER.CHECKPOINT_PERIOD": 20}
    )
    losses = [v for v, _ in trainer.storage.history("total_loss").values()]
    assert len(losses) == 30
    assert sum(losses[-10:]) / 10 < 0.85 * sum(losses[:3]) / 3, losses
    lines = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
    assert [d["iteration"] for d in lines] == [4, 9, 19, 29]  # a first record after 5 iterations
    for d in lines:
        assert {
            "total_loss",
            "loss_ce",
            "loss_mask",
            "loss_dice",
            "lr",
            "time",
            "data_time",
            "max_mem",
        } <= set(d)
    assert {"last_checkpoint", "metrics.json", "model_0000019.pth", "model_final.pth"} <= set(
        os.listdir(out)
    )
    assert (out / "last_checkpoint").read_text() == "model_final.pth"
    ckpt = torch.load(out / "model_final.pth", weights_only=True)
    assert {"model", "optimizer", "scheduler", "grad_scaler", "iteration", "rng"} <= set(ckpt)
    assert ckpt["iteration"] == 29
    if any(f.startswith("events.out.tfevents") for f in os.listdir(out)):  # tensorboard installed
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(str(out))
        acc.Reload()
        assert "total_loss" in acc.Tags()["scalars"]


def test_world_size_invariance(tmp_path, datasets):
    """Same weights after 10 iterations: 1 process x 2 clips, 1 x (2 accumulation steps of 1 clip),
    2 processes (gloo) x 1 clip."""
    train_in_process(tmp_path / "one")
    train_in_process(tmp_path / "accum", **{"SOLVER.ACCUMULATION_STEPS": 2})
    proc = run_cli(
        ["--config-file", QUICKSTART, "--num-gpus", "2", *overrides(tmp_path / "two")], tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = final_weights(tmp_path / "one")
    assert max_abs_diff(one, final_weights(tmp_path / "accum")) <= 1e-5
    assert max_abs_diff(one, final_weights(tmp_path / "two")) <= 1e-5
    initial = tiny_init_weights(tmp_path)
    assert max_abs_diff(one, initial) > 1e-3  # the runs did train


def tiny_init_weights(tmp_path):
    from videomt.engine.trainer import Trainer

    return {
        k: v.clone() for k, v in Trainer(tiny_cfg(tmp_path / "init")).module.state_dict().items()
    }


def test_resume_after_sigkill_is_exact(tmp_path):
    args = ["--config-file", QUICKSTART]
    extra = {"SOLVER.MAX_ITER": 16, "SOLVER.CHECKPOINT_PERIOD": 4}
    full = run_cli(args + overrides(tmp_path / "full", **extra), tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]

    out = tmp_path / "killed"
    env = dict(os.environ, DETECTRON2_DATASETS=str(tmp_path / "datasets"), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "train_net_video.py"), *args, *overrides(out, **extra)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while not (out / "last_checkpoint").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "model_final.pth").exists(), "the run ended before it could be killed"
    assert (out / "last_checkpoint").exists()
    assert (out / ".run.lock").exists()  # the killed run's lock file stays; its lock does not
    # resuming reads every weight from the checkpoint: the backbone's pretrained file is not touched
    no_backbone = dict(extra, **{"MODEL.BACKBONE.PRETRAINED": str(tmp_path / "not_there.pth")})
    resumed = run_cli(args + ["--resume"] + overrides(out, **no_backbone), tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resumed from" in (out / "log.txt").read_text()
    assert max_abs_diff(final_weights(tmp_path / "full"), final_weights(out)) <= 1e-6


def test_interrupted_checkpoint_write_keeps_previous(tmp_path, monkeypatch):
    from videomt.checkpoint import TrainingCheckpointer

    model = torch.nn.Linear(3, 2)
    ckpt = TrainingCheckpointer(model, str(tmp_path))
    ckpt.save("model_0000004", iteration=4)

    real_save = torch.save

    def dies_midway(obj, f, *a, **k):
        f.write(b"PK\x03\x04 partial")  # some bytes, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_midway)
    with torch.no_grad():
        model.weight.add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save("model_0000009", iteration=9)
    monkeypatch.setattr(torch, "save", real_save)
    assert sorted(os.listdir(tmp_path)) == [
        "last_checkpoint",
        "model_0000004.pth",
    ]  # no partial file
    fresh = TrainingCheckpointer(torch.nn.Linear(3, 2), str(tmp_path))
    assert fresh.get_checkpoint_file().endswith("model_0000004.pth")
    assert fresh.load(fresh.get_checkpoint_file())["iteration"] == 4


def test_checkpoint_of_a_run_without_fp16_resumes_with_an_enabled_scaler(tmp_path):
    """A CPU / bf16 run saves an empty (disabled) grad-scaler state; resuming it with fp16 AMP
    starts the scaler fresh instead of failing in ``GradScaler.load_state_dict``."""
    from videomt.checkpoint import TrainingCheckpointer

    disabled = torch.amp.GradScaler("cpu", enabled=False)
    saved = TrainingCheckpointer(torch.nn.Linear(3, 2), str(tmp_path), grad_scaler=disabled)
    saved.save("model_0000004", iteration=4)
    scaler = torch.amp.GradScaler("cpu", enabled=True, init_scale=1024.0)
    with pytest.raises(RuntimeError, match="empty"):  # what torch does without the check
        scaler.load_state_dict({})
    resumed = TrainingCheckpointer(torch.nn.Linear(3, 2), str(tmp_path), grad_scaler=scaler)
    assert resumed.load(resumed.get_checkpoint_file())["iteration"] == 4
    assert scaler.get_scale() == 1024.0


def test_non_finite_loss_stops_with_iteration(tmp_path, datasets, monkeypatch):
    from videomt.engine.trainer import Trainer

    trainer = Trainer(tiny_cfg(tmp_path / "nan"))
    real_forward = trainer.model.forward

    def nan_forward(inputs, **kw):
        losses = real_forward(inputs, **kw)
        if trainer.iter == 3:
            losses["loss_dice"] = losses["loss_dice"] * float("nan")
        return losses

    monkeypatch.setattr(trainer.model, "forward", nan_forward)
    with pytest.raises(FloatingPointError, match="iteration 3.*loss_dice=nan"):
        trainer.train()


@pytest.mark.parametrize("reinit", [False, True])
def test_fine_tune_with_other_classes(tmp_path, datasets, caplog, reinit):
    from videomt.engine.trainer import Trainer

    src = Trainer(tiny_cfg(tmp_path / "src"))
    path = tmp_path / "published.pth"
    torch.save({"model": src.module.state_dict()}, path)
    other = {"MODEL.WEIGHTS": str(path), "MODEL.BACKBONE.NUM_CLASSES": 7}
    ft = Trainer(tiny_cfg(tmp_path / "ft", **other, **{"MODEL.REINIT_CLASS_HEAD": reinit}))
    with caplog.at_level("INFO"):
        ft.resume_or_load(resume=False)
    # another class count re-initialises the head by itself, and says so
    assert ("has a class head for 5 classes, the model 7" in caplog.text) is not reinit
    state = ft.module.state_dict()
    for k, v in src.module.state_dict().items():
        if "class_head" not in k and "empty_weight" not in k:
            assert torch.equal(state[k], v), k
    assert state["core.class_head.weight"].shape[0] == 8


def test_resume_on_empty_output_dir_starts_fresh(tmp_path, datasets, caplog):
    from videomt.engine.trainer import Trainer

    trainer = Trainer(tiny_cfg(tmp_path / "empty"))
    with caplog.at_level("INFO"):
        trainer.resume_or_load(resume=True)
    assert trainer.start_iter == 0
    assert "no checkpoint" in caplog.text and "starting fresh" in caplog.text


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            {"SOLVER.IMS_PER_BATCH": 3, "SOLVER.ACCUMULATION_STEPS": 2},
            "SOLVER.IMS_PER_BATCH (3) must be divisible",
        ),
        ({"MODEL.BACKBONE.SEGMENTER_BLOCKS": "[4, 5]"}, "SEGMENTER_BLOCKS"),
        ({"DATASETS.TRAIN": "('no_such_dataset',)"}, "no_such_dataset"),
        ({"DATASETS.TRAIN": "()"}, "DATASETS.TRAIN is empty"),
        ({"SOLVER.AMP.DTYPE": "float8"}, "SOLVER.AMP.DTYPE"),
        ({"SOLVER.MAX_ITER": 0}, "SOLVER.MAX_ITER must be >= 1"),
        ({"SOLVER.IMS_PER_BATCH": 0}, "SOLVER.IMS_PER_BATCH must be >= 1"),
    ],
)
def test_training_user_errors_are_one_line(tmp_path, extra, message):
    proc = run_cli(["--config-file", QUICKSTART, *overrides(tmp_path / "o", **extra)], tmp_path)
    assert_one_line_error(proc, message)


def test_corrupt_last_checkpoint_is_a_clear_error(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "model_0000003.pth").write_bytes(b"PK\x03\x04 this is not a complete checkpoint")
    (out / "last_checkpoint").write_text("model_0000003.pth")
    proc = run_cli(["--config-file", QUICKSTART, "--resume", *overrides(out)], tmp_path)
    assert_one_line_error(proc, "model_0000003.pth: not a readable training checkpoint")


def test_resume_with_eval_only_evaluates_last_checkpoint(tmp_path):
    out = tmp_path / "o"
    extra = {
        "SOLVER.MAX_ITER": 4,
        "SOLVER.CHECKPOINT_PERIOD": 2,
        "SOLVER.WARMUP_STEPS": "[1, 1]",
        "SOLVER.LOG_PERIOD": 1,
    }
    proc = run_cli(
        [
            "--config-file",
            QUICKSTART,
            *overrides(
                out, **extra, **{"TEST.EVAL_PERIOD": 2, "DATASETS.TEST": "('synthetic_vis_val',)"}
            ),
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
    evaluated = [d["iteration"] for d in lines if "synthetic_vis_val/segm/AP" in d]
    assert evaluated == [1, 3]  # periodic evaluation after 2 iterations, then the final one
    final = json.loads((out / "inference" / "synthetic_vis_val" / "metrics.json").read_text())[
        "segm"
    ]
    logged = [d for d in lines if "synthetic_vis_val/segm/AR10" in d][-1]
    assert logged["synthetic_vis_val/segm/AR10"] == pytest.approx(
        final["AR10"]
    )  # the value, not a median
    proc = run_cli(
        [
            "--config-file",
            QUICKSTART,
            "--resume",
            "--eval-only",
            *overrides(out, **extra, **{"DATASETS.TEST": "('synthetic_vis_val',)"}),
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (out / "inference" / "log.txt").read_text()  # the evaluation's own record
    assert f"loaded {out / 'model_final.pth'}" in log
    assert "loaded" not in (out / "log.txt").read_text()  # the training's log is left alone
    assert (out / "inference" / "synthetic_vis_val" / "metrics.json").exists()


def test_wandb_offline_run(tmp_path, datasets, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "wb"
    train_in_process(
        out,
        **{
            "SOLVER.MAX_ITER": 5,
            "SOLVER.WARMUP_STEPS": "[1, 1]",
            "WANDB.ENABLED": True,
            "WANDB.MODE": "offline",
        },
    )
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and runs[0].name.endswith("-wb")  # run id = last folder of OUTPUT_DIR
    assert any(runs[0].glob("run-*.wandb"))


def test_training_set_without_annotations_is_one_line(tmp_path):
    from videomt.data.synthetic import ensure_synthetic

    folder = ensure_synthetic("synthetic_vis_val", str(tmp_path / "datasets"))
    gt = json.loads(open(os.path.join(folder, "annotations.json")).read())
    gt.pop("annotations")
    test_json = tmp_path / "test_split.json"
    test_json.write_text(json.dumps(gt))
    name = f"ytvis_json:{test_json}:{os.path.join(folder, 'JPEGImages')}"
    proc = run_cli(
        [
            "--config-file",
            QUICKSTART,
            *overrides(tmp_path / "o", **{"DATASETS.TRAIN": f'("{name}",)'}),
        ],
        tmp_path,
    )
    assert_one_line_error(proc, "has no annotations")


def test_writers_report_evaluation_metrics_unsmoothed(tmp_path):
    from videomt.engine.events import EventStorage, JSONWriter

    storage, writer = EventStorage(), JSONWriter(str(tmp_path / "metrics.json"), window=20)
    for it, (loss, ap) in enumerate([(4.0, None), (2.0, 35.8), (3.0, None), (1.0, 50.9)]):
        storage.iter = it
        storage.put_scalar("total_loss", loss)
        if ap is not None:
            storage.put_scalar("val/segm/AP", ap, smooth=False)
        writer.write(storage)
    lines = [json.loads(line) for line in (tmp_path / "metrics.json").read_text().splitlines()]
    assert [d.get("val/segm/AP") for d in lines] == [None, 35.8, None, 50.9]  # not the median 43.35
    assert lines[-1]["total_loss"] == 2.5  # losses: median of the window


def test_resume_with_changed_solver_settings_says_what_they_do(tmp_path, datasets, caplog):
    """A resumed run keeps its checkpoint's learning rates (a new SOLVER.BASE_LR changes nothing)
    and recomputes the schedule for a new SOLVER.MAX_ITER: one warning says both, with the head's
    multiplier that the resumed run then really trains with."""
    import re

    from videomt.engine.output_dir import save_config
    from videomt.engine.trainer import Trainer

    out = tmp_path / "run"
    # one curve for every group, so the largest learning rate (the one logged) is the head's
    schedule = {"SOLVER.LR_SCHEDULE": "warmup_poly", "SOLVER.WARMUP_STEPS": "[2]"}
    first = train_in_process(out, **schedule, **{"SOLVER.MAX_ITER": 6})
    save_config(first.cfg, str(out))  # what the command line writes when a run starts
    longer = {**schedule, "SOLVER.MAX_ITER": 12, "SOLVER.BASE_LR": 0.5}
    resumed = Trainer(tiny_cfg(out, **longer))
    with caplog.at_level("WARNING", logger="videomt.engine.trainer"):
        resumed.resume_or_load(resume=True)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings
    message = warnings[0]
    assert message.startswith(f"--resume with settings changed since {out / 'config.yaml'}: ")
    assert "SOLVER.BASE_LR 0.001 -> 0.5 change nothing" in message
    shown = re.search(r"from iteration 7 on, where the head's rate is ([0-9.e-]+) times", message)
    assert shown and "SOLVER.MAX_ITER 6 -> 12" in message, message
    assert "(the saved schedule: 0)" in message  # the 6-iteration curve had ended
    resumed.train()
    lrs = dict((it, lr) for lr, it in resumed.storage.history("lr").values())
    assert lrs[6] == pytest.approx(0.0, abs=1e-12)  # the rates the checkpoint saved
    assert lrs[7] / 0.001 == pytest.approx(float(shown.group(1)), rel=1e-2)  # base rate as saved
    assert lrs[7] > 0

    caplog.clear()
    unchanged = Trainer(tiny_cfg(tmp_path / "again", **{"SOLVER.MAX_ITER": 6}))
    save_config(unchanged.cfg, str(tmp_path / "again"))
    with caplog.at_level("WARNING", logger="videomt.engine.trainer"):
        unchanged.resume_or_load(resume=True)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
