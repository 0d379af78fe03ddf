"""Pass 1 of the offline protocol, shared by ``VideoPredictor`` (one model) and
``MultiTaskPredictor`` (several models over one encoder pass).

Classes are decided by the class logits averaged over the whole video, so pass 1 runs the
model(s) over every frame and keeps the running sum of each model's class logits, (Q, K+1)
numbers. It also caches the frames' mask logits while they fit in the budget; pass 2 turns them
into results, or re-runs the model(s) when the cache overflowed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import NamedTuple

import torch

from ..postprocess import FrameGeometry
from .video_io import VideoInputError

__all__ = ["FirstPass", "first_pass"]

logger = logging.getLogger(__name__)


class FirstPass(NamedTuple):
    means: list[torch.Tensor]  # per model: video-mean class logits (Q, K+1), fp32
    # per frame: (mask logits per model (Q, h, w), geometry); None when they overflowed the budget
    cache: list[tuple[list[torch.Tensor], FrameGeometry]] | None
    frames: int

    @property
    def report(self) -> dict:
        """What the predictors keep as ``last_offline_run``."""
        second = "cached" if self.cache is not None else "re-ran the model"
        return {"frames": self.frames, "second_pass": second}


def first_pass(
    frames: Iterable[tuple[list[torch.Tensor], list[torch.Tensor], FrameGeometry]],
    cache_bytes: int,
    name: str,
) -> FirstPass:
    """Pass 1 over per-frame (class logits per model, each (Q, K+1); mask logits per model, each
    (Q, h, w); geometry). ``name`` names the video in messages."""
    totals: list[torch.Tensor] | None = None
    count, cached_bytes = 0, 0
    cache: list[tuple[list[torch.Tensor], FrameGeometry]] | None = []
    for logits, masks, geo in frames:
        logits = [t.double() for t in logits]
        totals = logits if totals is None else [a + b for a, b in zip(totals, logits)]
        count += 1
        if cache is not None:
            cached_bytes += sum(m.numel() * m.element_size() for m in masks)
            if cached_bytes <= cache_bytes:
                cache.append((list(masks), geo))
            else:
                cache = None  # too long to cache: pass 2 re-runs the model(s)
                logger.info(f"{name}: mask logits exceed cache_mb; pass 2 re-runs the model")
    if totals is None:
        raise VideoInputError(f"{name}: no frames")
    return FirstPass([(t / count).float() for t in totals], cache, count)
