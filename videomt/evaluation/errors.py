"""The one exception type the metric code raises for bad input."""

from ..errors import UserError


class EvaluationError(UserError):
    """Input that cannot be scored honestly (unknown video, bad RLE, missing PNG, ...): raised,
    not a lower score."""
