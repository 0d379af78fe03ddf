"""The one exception type the metric code raises for bad input."""


class EvaluationError(ValueError):
    """Input that cannot be scored honestly (unknown video, bad RLE, missing PNG, ...): raised, not
    a lower score."""
