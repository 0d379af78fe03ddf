"""The training loop: data -> (micro-batches) -> loss -> backward -> optimizer step, with hooks.

One optimizer step consumes ``SOLVER.IMS_PER_BATCH`` clips in total, whatever the number of
processes ``W`` and of gradient-accumulation steps ``A`` (``SOLVER.ACCUMULATION_STEPS``): each
process loads its ``IMS_PER_BATCH / W`` clips of the iteration (a pure function of
``(SEED, iteration)``) and runs them as ``A`` micro-batches. The loss normalisers (number of
(track, frame) targets and of clips) are summed over micro-batches and processes before the
first forward, so the accumulated, DDP-averaged gradient equals the gradient of one process
running the whole batch: a run is reproducible on any number of machines.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import os
import signal
import threading
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..checkpoint import (
    CheckpointMismatchError,
    TrainingCheckpointer,
    load_checkpoint,
    remove_stale_temporary_files,
)
from ..data.build import build_train_loader
from ..errors import ConfigError
from ..evaluation.build import build_evaluator
from ..model import build_model, count_loss_targets, global_loss_normalizer
from .comm import get_world_size, is_main_process, synchronize
from .defaults import seed_everything
from .evaluate import evaluate_model
from .events import (
    ConsoleWriter,
    EventStorage,
    JSONWriter,
    TensorboardWriter,
    WandbWriter,
    peak_memory_mb,
)
from .hooks import (
    EvalHook,
    HookBase,
    IterationTimer,
    LRSchedulerHook,
    PeriodicCheckpointer,
    PeriodicWriter,
)
from .lr_schedule import build_lr_scheduler
from .numerics import NonFiniteError, gradient_tensors, non_finite_names, step_tensors
from .optimizer import build_optimizer
from .own_data import class_head_differs
from .resume_changes import changed_model_keys, solver_changes_message
from .training_config import check_training_config

__all__ = ["Trainer", "micro_batches", "amp_settings"]

logger = logging.getLogger(__name__)

# The buffers (pixel mean / std, class weights) are constants, equal on every rank: no sync
# before each forward. Newer torch names the option forward_sync_buffers and warns (once per
# process) about the old name.
_NO_FORWARD_BUFFER_SYNC = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    else {"broadcast_buffers": False}
)

_AMP_DTYPES = {
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def micro_batches(batch: list, steps: int) -> list[list]:
    """Split this process's clips into ``steps`` equal, ordered micro-batches."""
    if len(batch) % steps:
        raise ValueError(f"{len(batch)} clips cannot be split into {steps} accumulation steps")
    n = len(batch) // steps
    return [batch[i * n : (i + 1) * n] for i in range(steps)]


def amp_settings(cfg, device: torch.device) -> tuple[bool, torch.dtype]:
    """(enabled, dtype) of mixed-precision training on ``device``.

    ``SOLVER.AMP.ENABLED`` turns AMP on for a GPU. On the CPU it also needs ``SOLVER.AMP.ON_CPU``
    (off by default: CPU autocast is slower than fp32 for the models here, see
    ``model_zoo/benchmarks.md``), so a published config (AMP on) still trains in fp32 on a CPU
    while tests and CPU users can run the very autocast + grad-scaler path that GPUs run.
    """
    dtype_name = str(cfg.SOLVER.AMP.DTYPE).lower()
    if dtype_name not in _AMP_DTYPES:
        raise ConfigError(
            f"SOLVER.AMP.DTYPE must be one of {sorted(_AMP_DTYPES)}, got '{cfg.SOLVER.AMP.DTYPE}'"
        )
    requested = bool(cfg.SOLVER.AMP.ENABLED)
    enabled = requested and (device.type != "cpu" or bool(cfg.SOLVER.AMP.ON_CPU))
    if requested and not enabled:
        logger.info(
            "SOLVER.AMP.ENABLED is not applied on the CPU: training in fp32 "
            "(set SOLVER.AMP.ON_CPU True to use autocast there too)"
        )
    return enabled, _AMP_DTYPES[dtype_name]


class Trainer:
    """Detectron2-style trainer: ``Trainer(cfg).resume_or_load(resume).train()``."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.world_size = get_world_size()
        check_training_config(cfg, self.world_size)
        self.accum_steps = int(cfg.SOLVER.ACCUMULATION_STEPS)
        self.max_iter = int(cfg.SOLVER.MAX_ITER)
        if cfg.SEED >= 0:
            seed_everything(cfg.SEED)  # same initial weights on every rank and in every run
        model = self.build_model(cfg)
        model.train()
        self.device = model.device
        self.module = model  # unwrapped (checkpoints, evaluation)
        self.optimizer = self.build_optimizer(cfg, model)
        self.scheduler = self.build_lr_scheduler(cfg, self.optimizer)
        self.amp, self.amp_dtype = amp_settings(cfg, self.device)
        # fp16 needs loss scaling (its gradients underflow); bf16 has fp32's exponent range
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.amp and self.amp_dtype == torch.float16
        )
        if self.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model: nn.Module = DistributedDataParallel(
                model, device_ids=ids, **_NO_FORWARD_BUFFER_SYNC
            )
        else:
            self.model = model
        self.checkpointer = TrainingCheckpointer(
            model,
            cfg.OUTPUT_DIR,
            save_to_disk=is_main_process(),
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            grad_scaler=self.scaler,
        )
        self.start_iter = 0
        self.iter = 0
        self.storage = EventStorage()
        self.hooks: list[HookBase] = []
        self.stop_requested = False  # all processes stop after this step (a signal arrived)
        self.stop_signal: str | None = None  # the signal that stopped training, if any
        self._signal_received: str | None = None

    # ------------------------------------------------------------------ extension points
    # As Detectron2's DefaultTrainer: a subclass overrides one of these to change that part.
    @classmethod
    def build_model(cls, cfg) -> nn.Module:
        """The model to train (on ``MODEL.DEVICE``): the meta-architecture of the config."""
        return build_model(cfg)

    @classmethod
    def build_optimizer(cls, cfg, model: nn.Module) -> torch.optim.Optimizer:
        return build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer: torch.optim.Optimizer):
        """A scheduler stepped once per iteration (``step()``), saved in checkpoints."""
        return build_lr_scheduler(cfg, optimizer)

    @classmethod
    def build_train_loader(cls, cfg, start_iter: int = 0):
        """An iterable of batches (lists of mapped clips) from iteration ``start_iter`` on."""
        return build_train_loader(cfg, start_iter=start_iter)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name: str, output_dir: str):
        """The ``DatasetEvaluator`` of one ``DATASETS.TEST`` set, writing under ``output_dir``."""
        return build_evaluator(cfg, dataset_name, output_dir)

    @classmethod
    def test(cls, cfg, model: nn.Module) -> dict:
        """``{dataset name: metrics}`` of ``model`` on every ``DATASETS.TEST`` set, with the
        evaluators of :meth:`build_evaluator`."""
        return evaluate_model(cfg, model, build_evaluator=cls.build_evaluator)

    # ------------------------------------------------------------------ set-up
    def resume_or_load(self, resume: bool = True) -> None:
        """``resume``: continue from ``OUTPUT_DIR/last_checkpoint`` (model, optimizer, schedule,
        grad scaler, iteration, RNG); without a checkpoint there, start fresh and say so.
        Otherwise initialise from ``MODEL.WEIGHTS`` (any layout, non-strict, as the reference)."""
        if resume and self.checkpointer.has_checkpoint():
            path = self.checkpointer.get_checkpoint_file()
            try:
                extra = self.checkpointer.load(path)
            except CheckpointMismatchError as e:
                raise CheckpointMismatchError(
                    f"--resume: {path} cannot continue with this config: "
                    f"{changed_model_keys(self.cfg)}{len(e.differences)} saved tensor(s) do not "
                    f"fit, e.g. {e.differences[0]}; restore those values, or train in a new "
                    "OUTPUT_DIR (MODEL.WEIGHTS <checkpoint> starts from its weights)",
                    e.differences,
                ) from None
            self.start_iter = int(extra.get("iteration", -1)) + 1
            logger.info(f"Resumed from {path}: continuing at iteration {self.start_iter}")
            changes = solver_changes_message(self.cfg, self.start_iter, self.scheduler)
            if changes and not self.already_finished:
                logger.warning(changes)
            return
        if resume:
            logger.info(
                f"--resume: no checkpoint in {self.cfg.OUTPUT_DIR} (no last_checkpoint), "
                "starting fresh"
            )
        self.start_iter = 0
        weights = self.cfg.MODEL.WEIGHTS
        if weights:
            reinit_head = bool(self.cfg.MODEL.REINIT_CLASS_HEAD)
            if not reinit_head and (why := class_head_differs(weights, self.module)):
                logger.info(f"Class head re-initialised: {why}")
                reinit_head = True
            info = load_checkpoint(self.module, weights, strict=False, skip_class_head=reinit_head)
            logger.info(f"Initialised from {weights} ({info['layout']} layout)")
            if info["missing"]:
                logger.info(
                    f"Not in {weights}, left at their initialisation ({len(info['missing'])}): "
                    + ", ".join(info["missing"][:20])
                    + (" ..." if len(info["missing"]) > 20 else "")
                )
            if info["ignored"]:
                logger.info(f"Ignored from {weights}: " + ", ".join(info["ignored"]))

    def build_hooks(self) -> list[HookBase]:
        cfg = self.cfg
        writers = []
        if is_main_process():
            writers = [
                ConsoleWriter(self.max_iter),
                JSONWriter(
                    os.path.join(cfg.OUTPUT_DIR, "metrics.json"), start_iter=self.start_iter
                ),
            ]
            try:
                writers.append(TensorboardWriter(cfg.OUTPUT_DIR))
            except ImportError:
                logger.info(
                    'TensorBoard logging off: install `tensorboard` (pip install -e ".[logging]")'
                )
            if cfg.WANDB.ENABLED:
                writers.append(
                    WandbWriter(
                        cfg.WANDB.PROJECT, cfg.OUTPUT_DIR, config=_plain(cfg), mode=cfg.WANDB.MODE
                    )
                )
        return [
            IterationTimer(),
            LRSchedulerHook(self.optimizer, self.scheduler),
            PeriodicCheckpointer(self.checkpointer, cfg.SOLVER.CHECKPOINT_PERIOD, self.max_iter),
            EvalHook(cfg.TEST.EVAL_PERIOD, lambda: self.test(cfg, self.module)),
            PeriodicWriter(writers, cfg.SOLVER.LOG_PERIOD),  # last: sees this step's eval metrics
        ]

    def register_hooks(self, hooks: list[HookBase]) -> None:
        for h in hooks:
            h.trainer = self
        self.hooks.extend(hooks)

    # ------------------------------------------------------------------ loop
    @property
    def already_finished(self) -> bool:
        """A resumed run whose checkpoint is its last iteration: nothing left to train."""
        return self.start_iter >= self.max_iter

    def train(self) -> dict:
        """Train from ``start_iter`` to ``SOLVER.MAX_ITER``; returns the last evaluation results.

        SIGTERM (how clusters preempt a job) or SIGINT (Ctrl-C) ends training after the current
        step, on every process, with a checkpoint of that iteration (``stop_signal`` then names
        the signal); a second Ctrl-C stops at once."""
        if self.already_finished:
            logger.warning(
                f"Nothing to train: the run in {self.cfg.OUTPUT_DIR} already finished "
                f"({self.start_iter} of SOLVER.MAX_ITER {self.max_iter} iterations done). Raise "
                "SOLVER.MAX_ITER to train longer, or evaluate it with --eval-only --resume"
            )
            return {}
        if is_main_process():
            remove_stale_temporary_files(self.cfg.OUTPUT_DIR)
        if not self.hooks:
            self.register_hooks(self.build_hooks())
        logger.info(
            f"Starting training from iteration {self.start_iter} to {self.max_iter} "
            f"({self.world_size} process(es) x {self.accum_steps} accumulation step(s), "
            f"{self.cfg.SOLVER.IMS_PER_BATCH} clips per step)"
        )
        loader = self.build_train_loader(self.cfg, start_iter=self.start_iter)
        self._data = iter(loader)
        self.iter = self.start_iter
        self.storage = EventStorage(self.start_iter)
        with self.storage:  # get_event_storage() returns it, also in the hooks
            for h in self.hooks:
                h.before_train()
            failed = True
            try:
                with self._stop_on_signals():
                    for iteration in range(self.start_iter, self.max_iter):
                        self.iter = iteration
                        self.storage.iter = iteration
                        for h in self.hooks:
                            h.before_step()
                        self.run_step()
                        for h in self.hooks:
                            h.after_step()  # the checkpoint hook saves this iteration when stopping
                        if self.stop_requested:
                            self.stop_signal = (
                                self._signal_received or "a signal on another process"
                            )
                            break
                failed = False
            finally:
                for h in self.hooks:
                    if not failed:
                        h.after_train()
                        continue
                    try:  # a second error (e.g. the full disk again) must not hide the first
                        h.after_train()
                    except Exception as e:
                        logger.error(f"{type(h).__name__} failed after the error above: {e}")
        if self.stop_signal:
            synchronize()  # no process exits before the main one has saved
            logger.warning(
                f"Stopped by {self.stop_signal} after iteration {self.iter}, saved in "
                f"{self.cfg.OUTPUT_DIR}: continue with --resume"
            )
        evals = [h for h in self.hooks if isinstance(h, EvalHook)]
        return evals[0].results[-1][1] if evals and evals[0].results else {}

    @contextlib.contextmanager
    def _stop_on_signals(self):
        """Catch SIGTERM / SIGINT while training (main thread only): the first one asks to stop
        after this step, a second SIGINT raises KeyboardInterrupt at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request_stop(signum, frame):
            name = signal.Signals(signum).name
            if self._signal_received and signum == signal.SIGINT:
                raise KeyboardInterrupt
            if not self._signal_received:
                self._signal_received = name
                logger.warning(
                    f"{name} received: stopping after this step with a checkpoint "
                    "(Ctrl-C again to stop at once, without one)"
                )

        previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _loss_normalizer(self, micro: list[list]) -> tuple[float, float]:
        """(targets, clips) summed over micro-batches and processes, divided by the world size."""
        local = [count_loss_targets(m) for m in micro]
        return global_loss_normalizer(
            sum(c[0] for c in local), sum(c[1] for c in local), self.device
        )

    def run_step(self) -> None:
        start = time.perf_counter()
        batch = next(self._data)
        data_time = time.perf_counter() - start
        micro = micro_batches(batch, self.accum_steps)
        normalizer = self._loss_normalizer(micro)
        totals: dict[str, torch.Tensor] = {}
        for i, inputs in enumerate(micro):
            last = i == len(micro) - 1
            sync = (
                contextlib.nullcontext() if last or self.world_size == 1 else self.model.no_sync()
            )
            with sync:
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
                    loss_dict = self.model(inputs, loss_normalizer=normalizer)
                loss = sum(loss_dict.values())
                self.scaler.scale(loss).backward()
            for k, v in loss_dict.items():
                totals[k] = totals.get(k, 0.0) + v.detach().float()
        self._check_and_log(totals, data_time)
        clip = self.cfg.SOLVER.CLIP_GRADIENTS
        if clip.ENABLED:
            self.scaler.unscale_(self.optimizer)
            params = [
                p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None
            ]
            if clip.CLIP_TYPE == "value":
                torch.nn.utils.clip_grad_value_(params, clip.CLIP_VALUE)
            else:  # "full_model" / "norm": one norm over every gradient
                torch.nn.utils.clip_grad_norm_(params, clip.CLIP_VALUE, norm_type=clip.NORM_TYPE)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self._check_finite_step()
        self.optimizer.zero_grad(set_to_none=True)

    def _check_finite_step(self) -> None:
        """Stop on a non-finite weight or optimizer state, at the step that produced it and
        before any hook can save it, naming the first non-finite gradient when there is one (its
        cause). Gradients are not blamed under an fp16 grad scaler, which skips steps with
        non-finite gradients by design (the weights and state then stay finite)."""
        bad = non_finite_names(step_tensors(self.module, self.optimizer))
        if not bad:
            return
        if not self.scaler.is_enabled():
            bad = non_finite_names(gradient_tensors(self.module)) + bad
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise NonFiniteError(
            f"non-finite values at iteration {self.iter} (the losses were finite): "
            f"{bad[0]}{more}; stopped before saving them. Lower SOLVER.BASE_LR or the loss "
            "weights, or enable SOLVER.CLIP_GRADIENTS"
        )

    def _check_and_log(self, totals: dict[str, torch.Tensor], data_time: float) -> None:
        """Average the losses over processes; stop on a non-finite one (before the weights
        change)."""
        names = sorted(totals)
        values = torch.stack([totals[k] for k in names]).to(torch.float64)
        stop = torch.tensor([1.0 if self._signal_received else 0.0], dtype=torch.float64)
        values = torch.cat([values, stop.to(values.device)])  # the stop request rides along
        if self.world_size > 1:
            dist.all_reduce(values)
            values /= self.world_size
        *values, stop_votes = values.tolist()
        self.stop_requested = stop_votes > 0  # any process got a signal: all stop after this step
        losses = dict(zip(names, values))
        total = sum(losses.values())
        if not math.isfinite(total):
            shown = ", ".join(f"{k}={v:.4g}" for k, v in losses.items())
            raise NonFiniteError(
                f"non-finite loss at iteration {self.iter}: total_loss={total}, {shown}"
            )
        self.storage.put_scalars(
            total_loss=total, data_time=data_time, max_mem=peak_memory_mb(self.device), **losses
        )


def _plain(cfg) -> dict:
    """A CfgNode as nested plain dicts (for wandb's run config)."""
    return {k: _plain(v) if isinstance(v, dict) else v for k, v in cfg.items()}
