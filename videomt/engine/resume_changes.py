"""What a resumed run changed since its saved ``OUTPUT_DIR/config.yaml``, and what that does.

A resumed run continues from its checkpoint: the weights, the optimizer (its learning rates and
weight decay per group) and the schedule's position. So a model key changed since the run started
may no longer fit the saved tensors, ``SOLVER.BASE_LR``, ``LLRD`` and ``WEIGHT_DECAY`` changes
have no effect, and ``SOLVER.MAX_ITER`` / the schedule keys recompute the learning-rate curve
from the resumed iteration on, so the learning rate jumps (Detectron2 behaves the same; we say so).
"""

from __future__ import annotations

import os

import yaml

from ..errors import ConfigError
from .lr_schedule import SCHEDULES, GroupLRScheduler, multiplier_at

# Model keys that a checkpoint does not depend on (where the weights came from, where they run).
_NOT_IN_CHECKPOINT = ("MODEL.WEIGHTS", "MODEL.DEVICE", "MODEL.BACKBONE.PRETRAINED")
# Solver keys whose effect is in the optimizer state the checkpoint restores.
KEPT_FROM_CHECKPOINT = ("SOLVER.BASE_LR", "SOLVER.LLRD", "SOLVER.WEIGHT_DECAY")
# Solver keys from which the learning-rate curve is recomputed on resume.
SCHEDULE_KEYS = (
    "SOLVER.LR_SCHEDULE",
    "SOLVER.MAX_ITER",
    "SOLVER.POLY_POWER",
    "SOLVER.WARMUP_STEPS",
)


def saved_config(cfg) -> tuple[str, dict] | None:
    """``(path, flat keys)`` of ``OUTPUT_DIR/config.yaml``, or None where there is none readable."""
    path = os.path.join(cfg.OUTPUT_DIR, "config.yaml")
    try:
        with open(path) as f:
            return path, _flat(yaml.safe_load(f) or {})
    except (OSError, yaml.YAMLError):
        return None


def changed_model_keys(cfg) -> str:
    """``"MODEL.X a -> b, ... (changed since OUTPUT_DIR/config.yaml); "`` for the model keys that
    differ from the run's saved config, or "" (no saved config, or no model key changed)."""
    saved = saved_config(cfg)
    if saved is None:
        return ""
    path, old = saved
    changed = _changes(
        old,
        _flat(yaml.safe_load(cfg.dump())),
        lambda k: k.startswith("MODEL.") and k not in _NOT_IN_CHECKPOINT,
    )
    return f"{', '.join(changed)} (changed since {path}); " if changed else ""


def solver_changes_message(cfg, start_iter: int, scheduler: GroupLRScheduler) -> str:
    """One line on the solver keys changed since the saved config and what each change does on
    resume, or "" where none changed."""
    saved = saved_config(cfg)
    if saved is None:
        return ""
    path, old = saved
    now = _flat(yaml.safe_load(cfg.dump()))
    parts = []
    kept = _changes(old, now, lambda k: k in KEPT_FROM_CHECKPOINT)
    if kept:
        parts.append(
            f"{', '.join(kept)} change nothing: the checkpoint's learning rates and weight decay "
            "continue (to change them, train in a new OUTPUT_DIR with MODEL.WEIGHTS <checkpoint>)"
        )
    schedule = _changes(old, now, lambda k: k in SCHEDULE_KEYS)
    if schedule:
        # iteration start_iter trains at the learning rates the checkpoint saved; the scheduler
        # sets the next ones from the new curve
        following = start_iter + 1
        after = scheduler.multiplier("head", following)
        before = _saved_multiplier(old, following)
        saved_curve = f" (the saved schedule: {before:.3g})" if before is not None else ""
        parts.append(
            f"{', '.join(schedule)}: the learning-rate schedule is recomputed from iteration "
            f"{following} on, where the head's rate is {after:.3g} times its base rate"
            f"{saved_curve}"
        )
    if not parts:
        return ""
    return f"--resume with settings changed since {path}: " + "; ".join(parts)


def _saved_multiplier(old: dict, iteration: int) -> float | None:
    """The head's learning-rate multiplier at ``iteration`` under the saved schedule, or None
    where the saved config does not describe a schedule we know."""
    name = old.get("SOLVER.LR_SCHEDULE")
    try:
        max_iter = int(old["SOLVER.MAX_ITER"])
        multipliers = SCHEDULES[name](
            max_iter, old["SOLVER.WARMUP_STEPS"], float(old["SOLVER.POLY_POWER"])
        )
    except (KeyError, ConfigError):  # a key or schedule name it lacks, a warmup that does not fit
        return None
    return multiplier_at(multipliers["head"], iteration, max_iter)


def _changes(old: dict, now: dict, selected) -> list[str]:
    return [
        f"{k} {old.get(k, 'absent')} -> {now.get(k, 'absent')}"
        for k in sorted(set(old) | set(now))
        if selected(k) and old.get(k) != now.get(k)
    ]


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
