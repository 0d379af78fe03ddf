"""What the trainer's per-step non-finite check costs against a whole training step
(``benchmark.py --task finite-check``)."""

from __future__ import annotations

import time

import numpy as np

from .hooks import HookBase
from .numerics import non_finite_names, step_tensors
from .trainer import Trainer

__all__ = ["finite_check_cost"]


def finite_check_cost(cfg, warmup_iters: int, iters: int, tmp: str) -> dict:
    """Median cost of the non-finite check (weights + optimizer state after a step) and of a
    whole training step (the check included), over ``iters`` steps of the config's training recipe
    after ``warmup_iters``; the run writes to ``tmp``."""
    cfg = cfg.clone()
    cfg.defrost()
    total = warmup_iters + iters
    cfg.SOLVER.MAX_ITER = total + 1  # the last step also writes model_final: left out
    cfg.SOLVER.WARMUP_STEPS = [0, 0]
    cfg.SOLVER.CHECKPOINT_PERIOD = 0
    cfg.SOLVER.LOG_PERIOD = 10**9
    cfg.TEST.EVAL_PERIOD = 0
    cfg.DATASETS.TEST = ()
    cfg.OUTPUT_DIR = tmp
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    checks: list[float] = []

    class TimeCheck(HookBase):
        def after_step(self) -> None:
            named = step_tensors(trainer.module, trainer.optimizer)
            start = time.perf_counter()
            non_finite_names(named)
            checks.append(time.perf_counter() - start)

    hooks = trainer.build_hooks()
    trainer.register_hooks(hooks[:2] + [TimeCheck()] + hooks[2:])
    trainer.train()
    steps = [v for v, _ in trainer.storage.history("time").values()][warmup_iters:total]
    checks = checks[warmup_iters:total]
    named = step_tensors(trainer.module, trainer.optimizer)
    step_ms, check_ms = 1e3 * float(np.median(steps)), 1e3 * float(np.median(checks))
    out = {
        "checked_tensors": len(named),
        "checked_elements": sum(t.numel() for _, t in named),
        "step_ms": step_ms,
        "check_ms": check_ms,
        "check_over_step_pct": 100 * check_ms / step_ms,
    }
    print(
        f"finite-check: {check_ms:.1f} ms per check ({out['checked_tensors']} tensors, "
        f"{out['checked_elements'] / 1e6:.1f} M elements), training step {step_ms:.1f} ms: "
        f"{out['check_over_step_pct']:.2f}% of a step"
    )
    return out
