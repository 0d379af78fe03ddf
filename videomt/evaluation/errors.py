"""The one exception type the metric code raises for bad input."""
from __future__ import annotations

__all__ = ["EvaluationError"]


class EvaluationError(ValueError):
    """Input that cannot be scored honestly (unknown video or category, wrong number of
    frames, malformed RLE, missing or mis-sized prediction PNG, ...).

    The message always names the offending video and, where it applies, the frame, so the
    user can find the problem. The metric functions raise this instead of silently
    returning a lower score.
    """
