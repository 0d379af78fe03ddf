"""The one exception type the metric code raises for bad input."""


class EvaluationError(ValueError):
    """Input that cannot be scored honestly (unknown video or category, wrong frame count, malformed
    RLE, missing or mis-sized PNG, ...), raised instead of returning a lower score. The message
    names the video and, where it applies, the frame."""
