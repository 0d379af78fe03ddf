"""Export the per-frame step for deployment: ONNX (onnxruntime, TensorRT, ...) and torch.export.

The exported graph is :class:`~videomt.inference.runtime.FrameStep`: inputs ``frames`` (B, 3, H, W)
(normalised with the config's pixel mean / std, zero-padded to multiples of the size
divisibility) and ``state`` (B, Q, C) (the learned queries ``initial_state.npy`` for a stream's
first frame, then the previous call's ``next_state``); outputs ``class_logits`` (B, Q, K+1),
``mask_logits`` (B, Q, H/4, W/4) and ``next_state``. Height, width and batch are dynamic
(``dynamic=True``): H and W any multiple of the patch size. ``encode`` (the query-free blocks
alone, frames -> tokens) exports the same way for pipelines that batch them over many frames.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from ..modeling.videomt import VidEoMT
from .runtime import FrameStep

__all__ = [
    "Encode",
    "export_onnx",
    "export_program",
    "export_metadata",
    "STEP_INPUTS",
    "STEP_OUTPUTS",
]

STEP_INPUTS = ["frames", "state"]
STEP_OUTPUTS = ["class_logits", "mask_logits", "next_state"]


class Encode(nn.Module):
    """frames (B, 3, H, W) -> tokens (B, P + H/16 * W/16, C) after the query-free blocks."""

    def __init__(self, core: VidEoMT):
        super().__init__()
        self.core = core

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.core.encode(frames)[0]


def _example(
    core: VidEoMT, input_size: tuple[int, int], batch: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    device = core.q.weight.device
    frames = torch.zeros(batch, 3, *input_size, device=device)
    state = core.initial_state(batch).detach().float().contiguous()
    return frames, state


def _dynamic_shapes(core: VidEoMT, part: str, input_size: tuple[int, int]):
    """Batch and H, W (multiples of the patch size) free; the example size sets the upper bound
    x4."""
    p = core.patch_size
    batch = torch.export.Dim("batch", min=1, max=256)
    grid_h = torch.export.Dim("grid_h", min=1, max=max(4 * input_size[0] // p, 2))
    grid_w = torch.export.Dim("grid_w", min=1, max=max(4 * input_size[1] // p, 2))
    frames = {0: batch, 2: p * grid_h, 3: p * grid_w}
    return (frames,) if part == "encode" else (frames, {0: batch})


def _module(core: VidEoMT, part: str) -> nn.Module:
    if part not in ("step", "encode"):
        raise UserError(f"unknown export part '{part}' (step or encode)")
    return (FrameStep(core) if part == "step" else Encode(core)).eval()


def _check_size(core: VidEoMT, input_size) -> tuple[int, int]:
    h, w = (int(v) for v in input_size)
    if h <= 0 or w <= 0 or h % core.patch_size or w % core.patch_size:
        raise UserError(
            f"export input size {h}x{w} must be positive multiples of the patch size "
            f"{core.patch_size}"
        )
    return h, w


def export_onnx(
    core: VidEoMT,
    path: str,
    input_size=(640, 640),
    part: str = "step",
    dynamic: bool = True,
    opset: int = 18,
) -> str:
    """Write ``part`` ("step" = :class:`FrameStep`, or "encode") as an ONNX file (torch.onnx's
    dynamo exporter; needs ``onnxscript``). Returns ``path``."""
    input_size = _check_size(core, input_size)
    module = _module(core, part)
    frames, state = _example(
        core, input_size, batch=2 if dynamic else 1
    )  # batch 1 would be specialised
    args = (frames,) if part == "encode" else (frames, state)
    names_in = ["frames"] if part == "encode" else STEP_INPUTS
    names_out = ["tokens"] if part == "encode" else STEP_OUTPUTS
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # frames and state share their batch axis on purpose; the exporter warns that the second
        # "batch" name is not used
        warnings.filterwarnings(
            "ignore", "# The axis name: .* will not be used, since it shares", UserWarning
        )
        program = torch.onnx.export(
            module,
            args,
            dynamo=True,
            opset_version=opset,
            input_names=names_in,
            output_names=names_out,
            verbose=False,
            dynamic_shapes=_dynamic_shapes(core, part, input_size) if dynamic else None,
        )
    program.save(path)
    return path


def export_program(
    core: VidEoMT, path: str, input_size=(640, 640), part: str = "step", dynamic: bool = True
) -> str:
    """Write ``part`` as a ``torch.export`` program (``.pt2``; load with ``torch.export.load``)."""
    input_size = _check_size(core, input_size)
    module = _module(core, part)
    frames, state = _example(core, input_size, batch=2 if dynamic else 1)
    args = (frames,) if part == "encode" else (frames, state)
    with torch.no_grad():
        program = torch.export.export(
            module,
            args,
            dynamic_shapes=_dynamic_shapes(core, part, input_size) if dynamic else None,
        )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.export.save(program, path)
    return path


def export_metadata(
    model,
    folder: str,
    class_names: list[str],
    input_size,
    test_resize: tuple[int, int] | None = None,
) -> str:
    """``metadata.json`` (what a deployment needs to prepare frames and read outputs) and
    ``initial_state.npy`` (the first frame's state, (1, Q, C) float32). ``test_resize``:
    (``INPUT.MIN_SIZE_TEST``, ``INPUT.MAX_SIZE_TEST``), the resize the model was evaluated with."""
    core = model.core
    os.makedirs(folder, exist_ok=True)
    np.save(
        os.path.join(folder, "initial_state.npy"),
        _example(core, _check_size(core, input_size))[1].cpu().numpy(),
    )
    meta = {
        "inputs": {
            "frames": (
                "float32 (B, 3, H, W): RGB in [0, 255] minus pixel_mean, divided by pixel_std, "
                "zero-padded bottom/right to multiples of size_divisibility"
            ),
            "state": (
                "float32 (B, Q, C): initial_state.npy (repeated over B) for a stream's first "
                "frame, then the previous next_state"
            ),
        },
        "outputs": {
            "class_logits": "(B, Q, K+1), last = no object",
            "mask_logits": "(B, Q, H/4, W/4)",
            "next_state": "(B, Q, C)",
        },
        "pixel_mean": model.pixel_mean.flatten().tolist(),
        "pixel_std": model.pixel_std.flatten().tolist(),
        "input_format": model.input_format,
        "size_divisibility": model.size_divisibility,
        "patch_size": core.patch_size,
        "num_queries": core.num_queries,
        "num_classes": core.num_classes,
        "hidden_dim": int(core.q.weight.shape[1]),
        "task": model.task,
        "class_names": list(class_names),
        "export_input_size": list(input_size),
    }
    if test_resize is not None:
        meta["test_resize"] = {
            "min_size": int(test_resize[0]),
            "max_size": int(test_resize[1]),
            "rule": (
                "scale = min(min_size / min(H, W), max_size / max(H, W)); new side = "
                "int(side * scale + 0.5); PIL bilinear on uint8 RGB, then normalise and pad"
            ),
        }
    path = os.path.join(folder, "metadata.json")
    with open(path, "w") as f:
        json.dump(meta, f, indent=2)
    return path


def onnx_step_parity(
    core: VidEoMT, path: str, input_size, num_frames: int = 3, seed: int = 0
) -> float:
    """Run an exported step with onnxruntime (CPU) and :class:`FrameStep` on the same random
    frames of ``input_size``, feeding each one's state back; returns the largest absolute
    difference over all outputs and frames."""
    import onnxruntime  # optional: only needed to check an export

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    step = FrameStep(core).eval()
    g = torch.Generator().manual_seed(seed)
    _, state = _example(core, tuple(input_size))
    state_ort = state.cpu().numpy()
    worst = 0.0
    for _ in range(num_frames):
        frames = torch.randn(1, 3, *input_size, generator=g)
        with torch.no_grad():
            ours = step(frames.to(state.device), state)
        theirs = session.run(STEP_OUTPUTS, {"frames": frames.numpy(), "state": state_ort})
        worst = max(
            [worst] + [float(np.abs(a.cpu().numpy() - b).max()) for a, b in zip(ours, theirs)]
        )
        state, state_ort = ours[2], theirs[2]
    return worst
