"""What a model core is: the contract every video segmentation core of this package follows.

A *core* is the plain-PyTorch network under a meta-architecture (``model.core``): no config
object, no pixel normalisation, no hidden state between calls. Two cores exist today,
:class:`~videomt.modeling.videomt.VidEoMT` (queries inside the last ViT blocks) and
:class:`~videomt.modeling.pmt.PMT` (frozen ViT + small query decoder). The meta-architectures,
the trainer, the predictor, the benchmark and the exporter only use what is listed here.

Stream API (one frame of B streams at a time, explicit state)::

    tokens, grid = core.encode(frames, rope_scale=None)     # (N, S, C), (Hg, Wg); N frames batched
    out, state = core.step(tokens, state, grid)             # one frame of B streams
    out = core(video, state=None)                           # encode + step over time

* ``encode(frames (N, 3, H, W), rope_scale=None) -> (tokens (N, S, C), (Hg, Wg))``: the
  query-free part, all frames at once; ``S = P + Hg*Wg`` tokens laid out [cls, registers,
  patches row-major]. H, W multiples of ``patch_size``.
* ``step(tokens (B, S, C), state (B, Q, C) | None, grid, with_aux=False, rope_scale=None,
  num_aux=None) -> (out, next_state (B, Q, C))``: the query part for one frame. ``state=None``
  starts a stream (``initial_state``). ``out`` holds ``pred_logits`` (B, Q, K+1) and
  ``pred_masks`` (B, Q, Hg*4, Wg*4) and, with ``with_aux``, ``aux_outputs``: the predictions
  made from the sequence entering each query block, only the first ``num_aux`` (None: all).
* ``forward(video (B, T, 3, H, W), state=None, *, rope_scale=None, with_aux=None, num_aux=None)
  -> dict``: ``pred_logits`` (B, T, Q, K+1), ``pred_masks`` (B, T, Q, H/4, W/4), ``state``
  (B, Q, C) and, with ``with_aux`` (default: in training mode), ``aux_outputs`` (list of dicts
  with the same shapes). Feeding a video window by window (passing ``state`` on) equals one pass.
* ``initial_state(B) -> (B, Q, C)``: the query input of a stream's first frame.

``rope_scale``: None, or one RoPE coordinate factor per stream (B,) / per frame (N,) for
``encode``, drawn by the caller in training (the same factors for ``encode`` and every ``step``
of a clip). Ignored where no attention uses rotary positions.

Attributes: ``num_queries`` (Q), ``num_classes`` (K; the class head has K+1 outputs, K =
no-object), ``num_query_blocks`` (blocks that see the queries; deep supervision predicts from
the input of each), ``patch_size``, ``num_prefix_tokens`` (P), ``uses_rope`` (whether
``rope_scale`` changes anything, i.e. whether training should draw it), ``encoder`` (the timm
ViT), ``q`` (learned queries, ``nn.Embedding(Q, C)``), ``query_updater``, ``class_head``,
``mask_head``, ``upscale``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

__all__ = ["ModelCore", "unroll", "stack_time"]


@runtime_checkable
class ModelCore(Protocol):
    """Structural type of a core (see the module docstring for shapes and meaning)."""

    num_queries: int
    num_classes: int
    patch_size: int
    num_prefix_tokens: int
    encoder: nn.Module

    @property
    def num_query_blocks(self) -> int: ...

    @property
    def uses_rope(self) -> bool: ...

    def encode(
        self, frames: torch.Tensor, rope_scale: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, tuple[int, int]]: ...

    def initial_state(self, batch_size: int) -> torch.Tensor: ...

    def step(
        self,
        tokens: torch.Tensor,
        state: torch.Tensor | None,
        grid: tuple[int, int],
        with_aux: bool = False,
        rope_scale: torch.Tensor | None = None,
        num_aux: int | None = None,
    ) -> tuple[dict, torch.Tensor]: ...

    def __call__(
        self, video: torch.Tensor, state: torch.Tensor | None = None, **kwargs
    ) -> dict: ...


def check_video(video: torch.Tensor) -> None:
    if video.dim() != 5 or video.shape[2] != 3:
        raise ValueError(f"video must be (B, T, 3, H, W), got {tuple(video.shape)}")


def unroll(
    core: ModelCore,
    tokens: torch.Tensor,
    grid: tuple[int, int],
    state: torch.Tensor | None,
    *,
    rope_scale: torch.Tensor | None,
    with_aux: bool,
    num_aux: int | None,
) -> dict:
    """``core.step`` over the frames of encoded clips: the time loop every core's ``forward`` runs.

    tokens: (B, T, S, C). Returns ``pred_logits`` (B, T, Q, K+1), ``pred_masks``
    (B, T, Q, 4Hg, 4Wg), ``state`` (B, Q, C) and, with ``with_aux``, ``aux_outputs``."""
    frames = []
    for i in range(tokens.shape[1]):
        out, state = core.step(
            tokens[:, i], state, grid, with_aux=with_aux, rope_scale=rope_scale, num_aux=num_aux
        )
        frames.append(out)
    result = stack_time(frames)
    result["state"] = state
    if with_aux:
        result["aux_outputs"] = [
            stack_time([f["aux_outputs"][j] for f in frames])
            for j in range(len(frames[0]["aux_outputs"]))
        ]
    return result


def stack_time(frames: list[dict]) -> dict:
    """Stack per-frame {pred_logits (B,Q,K+1), pred_masks (B,Q,h,w)} along a new time dim 1."""
    return {k: torch.stack([f[k] for f in frames], dim=1) for k in ("pred_logits", "pred_masks")}
