"""Evaluation: metric maths (plain numpy / pycocotools functions, usable without a model) and,
alongside, the in-loop dataset evaluators built on them.

Metric functions (SPEC 6); all return dicts of percentages and raise :class:`EvaluationError`
(a ``ValueError``) on input that cannot be scored honestly:

* YouTube-VIS / OVIS AP and AR: :func:`evaluate_ytvis` (``ytvis.evaluate``); YouTube-VIS 2022
  short/long protocol: :func:`evaluate_ytvis22`.
* VIPSeg VPQ and STQ from files in the official format: :func:`evaluate_vpq`,
  :func:`evaluate_stq`, or both in one pass :func:`evaluate_vps`; from arrays:
  :func:`vpq_from_arrays`, :class:`STQuality`, :func:`stq_from_arrays`.
* VSPW mIoU and VC: :func:`evaluate_vss` (folder layout), :func:`evaluate_vss_files` (file
  lists), :func:`vss_from_arrays`.
* Panoptic PNG helpers: :func:`rgb2id`, :func:`id2rgb`.

The DatasetEvaluator classes (``evaluator.py``, ``dense_evaluators.py``, ``build.py``) need torch
and are imported from their modules, so importing this package stays numpy-only.
"""
from .errors import EvaluationError
from ..data.io import id2rgb, rgb2id
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
