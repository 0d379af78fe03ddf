"""Evaluation: metric maths (plain functions over files or arrays, usable without a model) and the
in-loop dataset evaluators built on them.

Metric functions return dicts of percentages and raise :class:`EvaluationError` (a
``ValueError``) on input that cannot be scored honestly:

* YouTube-VIS / OVIS AP and AR: :func:`evaluate_ytvis`; YouTube-VIS 2022 short/long:
  :func:`evaluate_ytvis22` (``ytvis.py``).
* VIPSeg VPQ and STQ from files: :func:`evaluate_vps` (both in one pass), :func:`evaluate_vpq`,
  :func:`evaluate_stq` (``vps.py``); from arrays: :func:`vpq_from_arrays`, :func:`stq_from_arrays`,
  :class:`STQuality` (``vpq.py``, ``stq.py`` over the per-video tables of ``panoptic_io.py``).
* VSPW mIoU and VC: :func:`evaluate_vss`, :func:`evaluate_vss_files`, :func:`vss_from_arrays`.

The evaluators (``evaluator.py``, ``dense_evaluators.py``, ``build.py``) write the official
prediction formats and score them with these functions.
"""
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
