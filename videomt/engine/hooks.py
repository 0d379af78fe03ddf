"""Trainer hooks (Detectron2's ``HookBase`` protocol): called before/after training and each
step."""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable

from .comm import is_main_process, synchronize

__all__ = [
    "HookBase",
    "IterationTimer",
    "LRSchedulerHook",
    "PeriodicCheckpointer",
    "EvalHook",
    "PeriodicWriter",
]

logger = logging.getLogger(__name__)


class HookBase:
    trainer = None  # set by the trainer when registered

    def before_train(self) -> None:
        pass

    def after_train(self) -> None:
        pass

    def before_step(self) -> None:
        pass

    def after_step(self) -> None:
        pass


class IterationTimer(HookBase):
    """Records ``time`` (seconds per iteration, data loading included) and logs the total."""

    def before_train(self) -> None:
        self._train_start = time.perf_counter()
        self._first_iter = self.trainer.iter

    def before_step(self) -> None:
        self._step_start = time.perf_counter()

    def after_step(self) -> None:
        self.trainer.storage.put_scalar("time", time.perf_counter() - self._step_start)

    def after_train(self) -> None:
        total = time.perf_counter() - self._train_start
        done = self.trainer.iter + 1 - self._first_iter
        if done > 0:
            logger.info(
                f"Overall training time: {datetime.timedelta(seconds=int(total))} "
                f"({total / done:.4f} s / it over {done} iterations)"
            )


class LRSchedulerHook(HookBase):
    """Records the largest learning rate of any group (the head's, or in the two-stage warmup
    the last encoder block's once it is ahead) and steps the schedule."""

    def __init__(self, optimizer, scheduler):
        self.optimizer, self.scheduler = optimizer, scheduler

    def after_step(self) -> None:
        lr = max(g["lr"] for g in self.optimizer.param_groups)
        self.trainer.storage.put_scalar("lr", lr)
        self.scheduler.step()


class PeriodicCheckpointer(HookBase):
    """``model_{iter:07d}.pth`` every ``period`` iterations, ``model_final.pth`` after the last one
    (instead of, not in addition to, a periodic save there: one file per state), and a checkpoint
    of the current iteration when training stops early on a signal (``trainer.stop_requested``)."""

    def __init__(self, checkpointer, period: int, max_iter: int):
        self.checkpointer, self.period, self.max_iter = checkpointer, int(period), int(max_iter)

    def after_step(self) -> None:
        if not is_main_process():
            return
        it = self.trainer.iter
        if it >= self.max_iter - 1:
            self.checkpointer.save("model_final", iteration=it)
        elif (self.period > 0 and (it + 1) % self.period == 0) or getattr(
            self.trainer, "stop_requested", False
        ):
            self.checkpointer.save(f"model_{it:07d}", iteration=it)


class EvalHook(HookBase):
    """Run ``eval_fn()`` every ``period`` iterations (0: never) and after the last one."""

    def __init__(self, period: int, eval_fn: Callable[[], dict]):
        self.period, self.eval_fn = int(period), eval_fn
        self.results: list[tuple[int, dict]] = []

    def _evaluate(self) -> None:
        results = self.eval_fn()
        self.results.append((self.trainer.iter, results))
        for dataset, metrics in (results or {}).items():
            for task, values in (metrics or {}).items():
                if isinstance(values, dict):
                    for k, v in values.items():
                        if isinstance(v, (int, float)):
                            self.trainer.storage.put_scalar(
                                f"{dataset}/{task}/{k}", v, smooth=False
                            )
        synchronize()

    def after_step(self) -> None:
        nxt = self.trainer.iter + 1
        if self.period > 0 and nxt % self.period == 0 and nxt != self.trainer.max_iter:
            self._evaluate()

    def after_train(self) -> None:
        if self.trainer.iter + 1 >= self.trainer.max_iter:  # finished, not interrupted
            self._evaluate()


class PeriodicWriter(HookBase):
    """Flush the metric writers every ``period`` iterations and at the end, and once after the
    first ``first`` iterations of a run (or a resumed run), so the first log line comes within
    seconds, not after a whole ``period``."""

    def __init__(self, writers: list, period: int = 20, first: int = 5):
        self.writers, self.period, self.first = writers, int(period), int(first)

    def after_step(self) -> None:
        it = self.trainer.iter
        if (
            (it + 1) % self.period == 0
            or it == self.trainer.max_iter - 1
            or it - self.trainer.start_iter + 1 == self.first
        ):
            for w in self.writers:
                w.write(self.trainer.storage)

    def after_train(self) -> None:
        for w in self.writers:
            w.write(self.trainer.storage)
            w.close()
