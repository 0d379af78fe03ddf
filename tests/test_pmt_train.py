"""Training PMT (frozen encoder): the warmup + poly schedule, process-count invariance with
BatchNorm synchronised over processes, exact resume, and the measured effect of gradient
accumulation on BatchNorm statistics (per micro-batch)."""

import math
import shutil

import pytest
import torch
from train_fixtures import final_weights, max_abs_diff, overrides, run_cli

from tests.pmt_fixtures import PMT_QUICKSTART

PMT_TINY = {"MODEL.BACKBONE.INTERACTION_INDICES": "[]", "SOLVER.WARMUP_STEPS": "[2]"}


def pmt_cfg(output_dir, **extra):
    from videomt import load_config

    return load_config(PMT_QUICKSTART, overrides(output_dir, **PMT_TINY, **extra))


def train_in_process(output_dir, resume=False, **extra):
    from videomt.engine.trainer import Trainer

    trainer = Trainer(pmt_cfg(output_dir, **extra))
    trainer.resume_or_load(resume=resume)
    trainer.train()
    return trainer


def test_warmup_poly_schedule_is_one_lr_for_every_group():
    from model_fixtures import small_cfg

    from videomt.engine.lr_schedule import build_lr_scheduler
    from videomt.engine.optimizer import build_optimizer
    from videomt.model import build_model

    n, w, power, base = 50, 8, 0.9, 1e-3
    cfg = small_cfg(
        **{
            "MODEL.META_ARCHITECTURE": "pmt_online",
            "MODEL.BACKBONE.DEPTH": 4,
            "MODEL.BACKBONE.HIDDEN_DIM": 0,
            "SOLVER.BASE_LR": base,
            "SOLVER.MAX_ITER": n,
            "SOLVER.LR_SCHEDULE": "warmup_poly",
            "SOLVER.WARMUP_STEPS": [w],
            "SOLVER.POLY_POWER": power,
        }
    )
    model = build_model(cfg)
    opt = build_optimizer(cfg, model)
    sched = build_lr_scheduler(cfg, opt)
    for s in range(n):
        want = base * (s / w if s < w else (1 - (s - w) / (n - w)) ** power)
        for g in opt.param_groups:
            assert math.isclose(g["lr"], want, rel_tol=1e-9, abs_tol=1e-15), (s, g["lr"], want)
            assert g["weight_decay"] == cfg.SOLVER.WEIGHT_DECAY
        opt.step()
        sched.step()
    cfg.defrost()
    cfg.SOLVER.WARMUP_STEPS = [5, 5]
    with pytest.raises(ValueError, match="one warmup length"):
        build_lr_scheduler(cfg, opt)


def test_pmt_process_count_invariance(tmp_path, datasets):
    """Same weights and BatchNorm running statistics after 10 iterations: 1 process x 2 clips
    and 2 processes (gloo) x 1 clip; the clips have different sizes, so the BatchNorm statistics
    span size groups within a process and clips across processes."""
    one = train_in_process(tmp_path / "one")
    proc = run_cli(
        [
            "--config-file",
            PMT_QUICKSTART,
            "--num-gpus",
            "2",
            *overrides(tmp_path / "two", **PMT_TINY),
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    weights = final_weights(tmp_path / "one")
    assert max_abs_diff(weights, final_weights(tmp_path / "two")) <= 1e-5
    assert int(weights["core.bn.0.num_batches_tracked"]) == 10
    initial = pmt_cfg(tmp_path / "init")
    from videomt.model import build_model

    torch.manual_seed(initial.SEED)
    fresh = build_model(initial).state_dict()
    assert max_abs_diff(weights, fresh) > 1e-3  # the runs did train
    # the frozen encoder did not move
    encoder = [k for k in weights if k.startswith("core.encoder.")]
    assert encoder and all(torch.equal(weights[k], one.module.state_dict()[k]) for k in encoder)
    assert all(torch.equal(weights[k], fresh[k]) for k in encoder)


def test_pmt_resume_from_a_checkpoint_is_exact(tmp_path, datasets):
    full = tmp_path / "full"
    extra = {"SOLVER.MAX_ITER": 8, "SOLVER.CHECKPOINT_PERIOD": 4}
    train_in_process(full, **extra)
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copy(full / "model_0000003.pth", resumed / "model_0000003.pth")
    (resumed / "last_checkpoint").write_text("model_0000003.pth")
    trainer = train_in_process(resumed, resume=True, **extra)
    assert trainer.start_iter == 4
    assert max_abs_diff(final_weights(full), final_weights(resumed)) <= 1e-6


def _losses_and_grads(model, micro_batches, normalizer):
    model.zero_grad(set_to_none=True)
    total = 0.0
    for batch in micro_batches:
        loss = sum(model(batch, loss_normalizer=normalizer).values())
        loss.backward()
        total += float(loss.detach())
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return total, grads


def _relative_grad_difference(a: dict, b: dict) -> float:
    num = sum(float((a[k] - b[k]).square().sum()) for k in a)
    den = sum(float(a[k].square().sum()) for k in a)
    return math.sqrt(num / den)


@pytest.mark.parametrize("arch", ["pmt_online", "videomt_online"])
def test_gradient_accumulation_and_batchnorm_statistics(tmp_path, datasets, arch):
    """One step over 2 clips as 1 micro-batch (A=1) or 2 micro-batches of 1 clip (A=2), same
    weights, same loss normalisers. VidEoMT: identical. PMT: the fusion BatchNorm normalises each
    micro-batch with its own statistics, so loss and gradients differ (printed: see README)."""
    from videomt.data.build import build_train_loader
    from videomt.model import build_model, count_loss_targets

    cfg = pmt_cfg(tmp_path / "acc", **{"MODEL.META_ARCHITECTURE": arch})
    torch.manual_seed(0)
    model = build_model(cfg).train()
    clips = next(iter(build_train_loader(cfg)))
    assert len(clips) == 2
    normalizer = count_loss_targets(clips)
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    loss_1, grads_1 = _losses_and_grads(model, [clips], normalizer)
    model.load_state_dict(snapshot)  # the BN running statistics moved: start from the same state
    loss_2, grads_2 = _losses_and_grads(model, [clips[:1], clips[1:]], normalizer)
    loss_diff = abs(loss_1 - loss_2) / loss_1
    grad_diff = _relative_grad_difference(grads_1, grads_2)
    print(
        f"\n{arch}: A=1 vs A=2 relative loss difference {loss_diff:.2e}, gradient {grad_diff:.2e}"
    )
    if arch == "videomt_online":
        assert loss_diff < 1e-5 and grad_diff < 1e-4
    else:
        assert grad_diff > 1e-3  # BatchNorm statistics per micro-batch
