"""The one exception type the metric code raises for bad input."""


class EvaluationError(ValueError):
    """Input that cannot be scored honestly (unknown video or category, wrong frame count, malformed RLE,
    missing or mis-sized PNG, ...): raised instead of a lower score, naming the video and frame."""
