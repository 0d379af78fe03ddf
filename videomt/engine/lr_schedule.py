"""Warmup + polynomial learning-rate schedules, built from fvcore param schedulers and applied per
parameter group as a multiplier of its initial lr. ``SOLVER.LR_SCHEDULE`` picks one.

With ``s`` the iteration, ``N = MAX_ITER`` and ``power = POLY_POWER``:

``two_stage_warmup_poly`` (VidEoMT, ``WARMUP_STEPS = [w1, w2]``):

* head groups:    s / w1 for s < w1, then (1 - (s - w1) / (N - w1)) ** power
* encoder groups: 0 for s < w1, (s - w1) / w2 for s < w1 + w2,
                  then (1 - (s - w1 - w2) / (N - w1 - w2)) ** power

``warmup_poly`` (PMT, ``WARMUP_STEPS = [w]``): every group s / w for s < w, then
(1 - (s - w) / (N - w)) ** power.
"""

from __future__ import annotations

from fvcore.common.param_scheduler import (
    CompositeParamScheduler,
    ConstantParamScheduler,
    LinearParamScheduler,
    ParamScheduler,
    PolynomialDecayParamScheduler,
)
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from ..errors import ConfigError

__all__ = [
    "two_stage_warmup_poly",
    "warmup_poly",
    "GroupLRScheduler",
    "lr_multipliers",
    "build_lr_scheduler",
]


def _composite(parts: list[tuple[ParamScheduler, int]], max_iter: int) -> ParamScheduler:
    parts = [(sched, n) for sched, n in parts if n > 0]
    return CompositeParamScheduler(
        [p for p, _ in parts],
        interval_scaling=["rescaled"] * len(parts),
        lengths=[n / max_iter for _, n in parts],
    )


def two_stage_warmup_poly(
    max_iter: int, warmup_steps: tuple[int, int], power: float
) -> dict[str, ParamScheduler]:
    """Multipliers by group kind ("head", "encoder") as fvcore schedulers of ``s / max_iter``."""
    w1, w2 = (int(w) for w in warmup_steps)
    if min(w1, w2) < 0 or w1 + w2 >= max_iter:
        raise ConfigError(
            f"SOLVER.WARMUP_STEPS {[w1, w2]} must be non-negative and sum to less than "
            f"SOLVER.MAX_ITER ({max_iter})"
        )
    poly = PolynomialDecayParamScheduler(1.0, power)
    head = _composite([(LinearParamScheduler(0.0, 1.0), w1), (poly, max_iter - w1)], max_iter)
    encoder = _composite(
        [
            (ConstantParamScheduler(0.0), w1),
            (LinearParamScheduler(0.0, 1.0), w2),
            (poly, max_iter - w1 - w2),
        ],
        max_iter,
    )
    return {"head": head, "encoder": encoder}


def warmup_poly(
    max_iter: int, warmup_steps: tuple[int, ...], power: float
) -> dict[str, ParamScheduler]:
    """One multiplier for every group kind: linear warmup over ``warmup_steps[0]`` iterations,
    then polynomial decay to 0 at ``max_iter``."""
    steps = [int(w) for w in warmup_steps]
    if not steps or any(steps[1:]) or not 0 <= steps[0] < max_iter:
        raise ConfigError(
            f"SOLVER.WARMUP_STEPS {steps} with SOLVER.LR_SCHEDULE warmup_poly must be one "
            f"warmup length [w] (0 <= w < SOLVER.MAX_ITER {max_iter})"
        )
    warmup = steps[0]
    poly = PolynomialDecayParamScheduler(1.0, power)
    schedule = _composite(
        [(LinearParamScheduler(0.0, 1.0), warmup), (poly, max_iter - warmup)], max_iter
    )
    return {"head": schedule, "encoder": schedule}


SCHEDULES = {"two_stage_warmup_poly": two_stage_warmup_poly, "warmup_poly": warmup_poly}


def multiplier_at(schedule: ParamScheduler, iteration: int, max_iter: int) -> float:
    """The multiplier of ``schedule`` at ``iteration`` of ``max_iter`` (the last value after)."""
    value = schedule(min(iteration, max_iter) / max_iter)
    return max(0.0, value)  # fvcore's rescaling can leave -1e-16 at a segment start


class GroupLRScheduler(LRScheduler):
    """``lr_g(s) = initial_lr_g * multipliers[kind_g](s / max_iter)``; step once per iteration.

    ``last_epoch`` is the iteration whose lr is currently set (Detectron2's ``LRMultiplier``)."""

    def __init__(
        self,
        optimizer: Optimizer,
        multipliers: dict[str, ParamScheduler],
        max_iter: int,
        last_iter: int = -1,
    ):
        missing = {g.get("kind", "head") for g in optimizer.param_groups} - set(multipliers)
        if missing:
            raise ValueError(f"no schedule for parameter groups of kind {sorted(missing)}")
        self._multipliers = multipliers
        self._max_iter = int(max_iter)
        super().__init__(optimizer, last_epoch=last_iter)

    def state_dict(self) -> dict:
        return {"base_lrs": self.base_lrs, "last_epoch": self.last_epoch}

    def multiplier(self, kind: str, iteration: int) -> float:
        return multiplier_at(self._multipliers[kind], iteration, self._max_iter)

    def get_lr(self) -> list[float]:
        return [
            base * self.multiplier(g.get("kind", "head"), self.last_epoch)
            for base, g in zip(self.base_lrs, self.optimizer.param_groups)
        ]


def lr_multipliers(cfg) -> dict[str, ParamScheduler]:
    """The multipliers of ``SOLVER.LR_SCHEDULE`` for ``SOLVER.MAX_ITER``, ``WARMUP_STEPS`` and
    ``POLY_POWER``; an unknown schedule or warmup lengths that do not fit are one
    :class:`ConfigError` (``train_net_video.py`` checks this before anything is built)."""
    s = cfg.SOLVER
    if s.LR_SCHEDULE not in SCHEDULES:
        raise ConfigError(
            f"unknown SOLVER.LR_SCHEDULE '{s.LR_SCHEDULE}' (known: {sorted(SCHEDULES)})"
        )
    return SCHEDULES[s.LR_SCHEDULE](s.MAX_ITER, s.WARMUP_STEPS, s.POLY_POWER)


def build_lr_scheduler(cfg, optimizer: Optimizer) -> GroupLRScheduler:
    return GroupLRScheduler(optimizer, lr_multipliers(cfg), cfg.SOLVER.MAX_ITER)
