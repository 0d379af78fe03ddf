"""How the core runs at inference: device, precision, torch.compile, and the per-frame step as one
module (the unit that is compiled, benchmarked and exported).

Precision: ``fp32`` runs as is. ``bf16`` / ``fp16`` store the core's weights in that dtype, except
the query propagation (``q`` and ``query_updater``), and run under ``torch.autocast``: activations
stay in low precision from block to block (no fp32 round trips between ops, no per-call weight
casts), while the propagated state ``query_updater(q_out) + q`` is computed and carried in fp32 so
that rounding does not build up over a long stream. Outputs come back as fp32. On a CPU with
AVX512-BF16 / AMX this is about 1.5x as fast as fp32 (``model_zoo/benchmarks.md``); on a CPU
without bf16 units it is tens of times slower than fp32, and :class:`CoreRunner` warns
(``benchmark.py --task matmul`` shows the ratio).
"""

from __future__ import annotations

import contextlib
import functools
import logging

import torch
from torch import nn

from ..errors import UserError
from ..modeling.videomt import VidEoMT

__all__ = [
    "DTYPES",
    "resolve_dtype",
    "autocast",
    "cast_core_weights",
    "cpu_runs_fast",
    "FrameStep",
    "CoreRunner",
]

logger = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_dtype(dtype) -> torch.dtype:
    """None / "fp32" / "bf16" / "fp16" / a torch dtype -> torch dtype."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise UserError(f"dtype {dtype} is not supported (use one of {sorted(DTYPES)})")
        return dtype
    key = (
        str(dtype)
        .lower()
        .replace("float32", "fp32")
        .replace("bfloat16", "bf16")
        .replace("float16", "fp16")
    )
    if key not in DTYPES:
        raise UserError(f"unknown dtype '{dtype}' (use one of {sorted(DTYPES)})")
    return DTYPES[key]


def cpu_runs_fast(dtype: torch.dtype) -> bool:
    """Whether this CPU has oneDNN kernels for ``dtype`` matmuls (fp32 always; bf16 / fp16 need
    AVX512 or AMX on x86, the bf16 / fp16 extensions on Arm). Without them PyTorch falls back to
    kernels that are tens of times slower than fp32 (AMD EPYC Zen 3: bf16 0.15 against fp32
    7.4 GMAC/s per core, ``benchmark.py --task matmul``)."""
    if dtype == torch.float32:
        return True
    if dtype == torch.bfloat16:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())


@functools.cache
def _warn_slow_cpu_dtype(dtype: torch.dtype) -> None:
    """Once per process and dtype."""
    name = {v: k for k, v in DTYPES.items()}[dtype]
    logger.warning(
        f"dtype {name} on this CPU, which has no {name} matrix support (AVX512 / AMX): the model "
        "runs many times slower than in fp32 (benchmark.py --task matmul measures the ratio); "
        "use dtype fp32 here"
    )


def autocast(device: torch.device, dtype: torch.dtype):
    """``torch.autocast`` for low precision, a no-op context for fp32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def cast_core_weights(core: VidEoMT, dtype: torch.dtype) -> VidEoMT:
    """Store the core's weights in ``dtype`` in place, keeping the query propagation (``q``,
    ``query_updater``) in fp32. Run the result under :func:`autocast`."""
    core.to(dtype)
    core.q.float()
    core.query_updater.float()
    return core


class FrameStep(nn.Module):
    """One frame of B streams through the whole core: encode (query-free blocks) + step.

    forward(frames (B, 3, H, W) normalised and padded, state (B, Q, C)) ->
    (class logits (B, Q, K+1), mask logits (B, Q, H/4, W/4), next state (B, Q, C)).
    The state is always a tensor (``core.initial_state(B)`` for a stream's first frame), so the
    graph has static shapes for a fixed frame size: the unit for torch.compile, CUDA graphs and
    ONNX / torch.export.
    """

    def __init__(self, core: VidEoMT):
        super().__init__()
        self.core = core

    def forward(
        self, frames: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        tokens, grid = self.core.encode(frames)  # (B, P + Hg*Wg, C)
        out, next_state = self.core.step(tokens, state, grid)
        return out["pred_logits"], out["pred_masks"], next_state


class CoreRunner:
    """Runs the core on one device in one precision; outputs come back as fp32.

    ``compile``: False, True (torch.compile default mode) or a torch.compile mode string
    (``"reduce-overhead"`` uses CUDA graphs on a GPU, ``"max-autotune"``); it compiles the per-frame
    :class:`FrameStep` used by streams and benchmarks. The offline window path runs eagerly.
    A low-precision ``dtype`` converts the core's weights in place (:func:`cast_core_weights`)
    unless ``cast_weights=False`` (then autocast alone, fp32 weights).
    """

    def __init__(
        self, core: VidEoMT, dtype=None, compile: bool | str = False, cast_weights: bool = True
    ):
        self.core = core
        self.dtype = resolve_dtype(dtype)
        if self.device.type == "cpu" and not cpu_runs_fast(self.dtype):
            _warn_slow_cpu_dtype(self.dtype)
        if self.dtype != torch.float32 and cast_weights:
            cast_core_weights(core, self.dtype)
        self.frame_step = FrameStep(core).eval()
        self._step_fn = self.frame_step
        self._compiled = bool(compile)
        if compile:
            mode = None if compile is True else str(compile)
            self._step_fn = torch.compile(self.frame_step, mode=mode, dynamic=False)

    @property
    def device(self) -> torch.device:
        return self.core.q.weight.device

    def initial_state(self, batch_size: int) -> torch.Tensor:
        """The learned queries as a new contiguous fp32 (B, Q, C) tensor: the same strides as every
        later state and no memory shared with the ``q`` weight (at batch 1 the expanded queries
        are already contiguous fp32, i.e. the weight itself, and torch.compile would trace the
        step a second time for the second frame, whose state is a fresh tensor)."""
        return (
            self.core.initial_state(batch_size).float().clone(memory_format=torch.contiguous_format)
        )

    @torch.inference_mode()
    def step(self, frames: torch.Tensor, state: torch.Tensor | None):
        """frames (B, 3, H, W) normalised + padded; state (B, Q, C) or None (first frame).
        Returns fp32 (logits (B, Q, K+1), masks (B, Q, H/4, W/4), next state (B, Q, C))."""
        if state is None:
            state = self.initial_state(frames.shape[0])
        if (
            self._compiled
        ):  # CUDA-graph modes reuse output buffers: a new step begins, outputs are copied
            torch.compiler.cudagraph_mark_step_begin()
        with autocast(self.device, self.dtype):
            logits, masks, next_state = self._step_fn(frames, state)
        if self._compiled:
            logits, masks, next_state = logits.clone(), masks.clone(), next_state.clone()
        return logits.float(), masks.float(), next_state.float()

    @torch.inference_mode()
    def window(self, frames: torch.Tensor, state: torch.Tensor | None):
        """A window of consecutive frames (T, 3, H, W) of one video, as the evaluation runs it
        (query-free blocks batched over the window). Returns fp32 (logits (T, Q, K+1),
        masks (T, Q, H/4, W/4), next state (1, Q, C))."""
        with autocast(self.device, self.dtype):
            out = self.core(frames.unsqueeze(0), state)
        return out["pred_logits"][0].float(), out["pred_masks"][0].float(), out["state"].float()
