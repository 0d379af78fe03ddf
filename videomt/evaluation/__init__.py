"""Metrics over files or arrays (dicts of percentages, :class:`EvaluationError` on bad input) and
evaluators."""

from ..data.io import id2rgb, rgb2id
from .errors import EvaluationError
from .stq import STQuality, stq_from_arrays
from .vpq import VPQ_WINDOWS, vpq_from_arrays
from .vps import evaluate_stq, evaluate_vpq, evaluate_vps
from .vss import evaluate_vss, evaluate_vss_files, vss_from_arrays
from .ytvis import evaluate as evaluate_ytvis
from .ytvis import evaluate_ytvis22

__all__ = [
    "EvaluationError",
    "evaluate_ytvis",
    "evaluate_ytvis22",
    "evaluate_vpq",
    "evaluate_stq",
    "evaluate_vps",
    "vpq_from_arrays",
    "VPQ_WINDOWS",
    "STQuality",
    "stq_from_arrays",
    "evaluate_vss",
    "evaluate_vss_files",
    "vss_from_arrays",
    "rgb2id",
    "id2rgb",
]
