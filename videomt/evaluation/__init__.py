"""Evaluation: metric functions over files or arrays (no model needed; dicts of percentages, or
:class:`EvaluationError`) and the in-loop evaluators that write the official formats and score them."""
from .errors import EvaluationError
from ..data.io import id2rgb, rgb2id
from .stq import STQuality, stq_from_arrays
from .vpq import VPQ_WINDOWS, vpq_from_arrays
from .vps import evaluate_stq, evaluate_vpq, evaluate_vps
from .vss import evaluate_vss, evaluate_vss_files, vss_from_arrays
from .ytvis import evaluate as evaluate_ytvis
from .ytvis import evaluate_ytvis22

__all__ = ["EvaluationError", "evaluate_ytvis", "evaluate_ytvis22", "evaluate_vpq", "evaluate_stq", "evaluate_vps",
           "vpq_from_arrays", "VPQ_WINDOWS", "STQuality", "stq_from_arrays", "evaluate_vss", "evaluate_vss_files",
           "vss_from_arrays", "rgb2id", "id2rgb"]
