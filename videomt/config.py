"""The configuration: every key the project reads, with its default, in one place.

Key names follow the reference VidEoMT code (Detectron2 + ``add_videomt_config``) so the
reference YAML files load unchanged. Keys that appear in reference YAMLs but that no code
reads are listed in ``IGNORED_KEYS`` with their reference default: they are accepted and dropped,
and a config that sets one to another value gets one warning naming it (the setting changes
nothing). Any other unknown key is an error that names the key and the file.
"""

from __future__ import annotations

import ast
import logging
import os
from collections.abc import Iterable
from typing import Any

import yaml
from fvcore.common.config import CfgNode as _FvCfgNode

from .errors import ConfigError

__all__ = ["CfgNode", "ConfigError", "get_cfg", "IGNORED_KEYS", "default_device"]

logger = logging.getLogger(__name__)


# Keys (or whole subtrees) that reference YAMLs may set but that nothing here reads, with the
# value at which ignoring them changes nothing (the reference default; ANY_VALUE: every value
# set is reported). Detectron2 and Mask2Former settings of other architectures and solvers, and
# VidEoMT keys that its own code never read or that our implementation fixes.
ANY_VALUE = object()


class OneOf(tuple):
    """Several values of an ignored key that all change nothing here."""


class OnlyValue(tuple):
    """An ignored reference knob whose other values select behaviour this project does not
    implement: ``OnlyValue((v,))`` accepts ``v`` silently, another value is a ``ConfigError``."""


IGNORED_KEYS: dict[str, Any] = {
    "VERSION": 2,
    "VIS_PERIOD": 0,
    "CUDNN_BENCHMARK": False,
    "GLOBAL": ANY_VALUE,
    "MODEL.MASK_ON": False,
    "MODEL.KEYPOINT_ON": False,
    "MODEL.LOAD_PROPOSALS": False,
    "MODEL.RESNETS": ANY_VALUE,
    "MODEL.FPN": ANY_VALUE,
    "MODEL.MASK_FORMER": ANY_VALUE,
    "MODEL.SEM_SEG_HEAD": ANY_VALUE,
    "MODEL.ROI_HEADS": ANY_VALUE,
    "MODEL.ROI_BOX_HEAD": ANY_VALUE,
    "MODEL.ROI_MASK_HEAD": ANY_VALUE,
    "MODEL.ROI_KEYPOINT_HEAD": ANY_VALUE,
    "MODEL.ROI_BOX_CASCADE_HEAD": ANY_VALUE,
    "MODEL.RPN": ANY_VALUE,
    "MODEL.ANCHOR_GENERATOR": ANY_VALUE,
    "MODEL.PROPOSAL_GENERATOR": ANY_VALUE,
    "MODEL.RETINANET": ANY_VALUE,
    "MODEL.PANOPTIC_FPN": ANY_VALUE,
    "MODEL.SWIN": ANY_VALUE,
    "MODEL.DINO": ANY_VALUE,
    # no backbone registry: MODEL.META_ARCHITECTURE picks the model (PMT configs say "PMT")
    "MODEL.BACKBONE.NAME": OneOf(("VidEoMT", "PMT")),
    "MODEL.BACKBONE.FUSED_QKV": False,  # timm's DINOv3 attention is always one fused qkv
    "MODEL.BACKBONE.FREEZE_AT": 2,
    "MODEL.BACKBONE.NHEADS": 8,
    "MODEL.BACKBONE.DROPOUT": 0.1,
    "MODEL.BACKBONE.DIM_FEEDFORWARD": 2048,
    "MODEL.BACKBONE.ENC_LAYERS": 0,
    "MODEL.BACKBONE.DEC_LAYERS": 6,
    "MODEL.BACKBONE.PRE_NORM": False,
    "MODEL.BACKBONE.WINDOW_INFERENCE": True,
    "MODEL.BACKBONE.TRANSFORMER_IN_FEATURE": "res5",
    "MODEL.BACKBONE.ENFORCE_INPUT_PROJ": False,
    "MODEL.BACKBONE.TEST.SEMANTIC_ON": True,
    "MODEL.BACKBONE.TEST.INSTANCE_ON": False,
    "MODEL.BACKBONE.TEST.PANOPTIC_ON": False,
    "MODEL.BACKBONE.TEST.SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE": False,
    "MODEL.BACKBONE.TEST.WINDOW_INFERENCE": True,  # test videos always run window by window
    "MODEL.BACKBONE.NUM_Q": 200,
    "MODEL.BACKBONE.MASKED": False,
    "MODEL.BACKBONE.TRACKER_BLOCKS": [22, 23],
    "MODEL.BACKBONE.ATTN_MASK_ANNEALING_ENABLED": True,
    "MODEL.BACKBONE.START_STEPS": [14782, 29564, 44346, 59128],
    "MODEL.BACKBONE.END_STEPS": [29564, 44346, 59128, 73910],
    "MODEL.BACKBONE.DYNAMIC_EVAL": False,
    "MODEL.BACKBONE.REID_BRANCH": True,
    "MODEL.BACKBONE.CONTEXT_FILTER_SIZE": 9,
    # PMT-video: its video decoder never masks attention; RESIDUAL_PATH is read by nothing
    "MODEL.BACKBONE.MASKED_ATTN_ENABLED": False,
    "MODEL.BACKBONE.RESIDUAL_PATH": ANY_VALUE,
    # PMT-video architecture knobs: only the value every published model uses is implemented
    "MODEL.BACKBONE.EXTRA_BN": OnlyValue((True,)),  # BatchNorm on each tapped level
    "MODEL.BACKBONE.LATERAL_PROJECTION": OnlyValue(("mlp",)),  # C -> C/2 -> C per level
    "MODEL.BACKBONE.RESIDUAL_PROJECTION": OnlyValue((True,)),  # u + MLP(u), not MLP(u)
    "MODEL.BACKBONE.LEVEL_SCALERS": OnlyValue((True,)),  # learned per-channel scale per level
    "MODEL.BACKBONE.DECODER_PE": OnlyValue(("rope",)),  # rotary positions in the decoder
    "MODEL.BACKBONE.DECODER_TYPE": OnlyValue(("online",)),  # queries propagated frame to frame
    "INPUT.COLOR_AUG_SSD": False,
    "INPUT.SIZE_DIVISIBILITY": -1,
    "INPUT.CROP.SINGLE_CATEGORY_MAX_AREA": 1.0,
    "INPUT.IMAGE_SIZE": 1024,
    "INPUT.MIN_SCALE": 0.1,
    "INPUT.MAX_SCALE": 2.0,
    "INPUT.MASK_FORMAT": "polygon",
    "INPUT.DATASET_MAPPER_NAME": ANY_VALUE,
    "INPUT.LSJ_AUG.ENABLED": False,  # large-scale jitter: off in every reference config
    "INPUT.LSJ_AUG.IMAGE_SIZE": 1024,
    "INPUT.LSJ_AUG.MIN_SCALE": 0.1,
    "INPUT.LSJ_AUG.MAX_SCALE": 2.0,
    "DATASETS.PROPOSAL_FILES_TRAIN": [],
    "DATASETS.PROPOSAL_FILES_TEST": [],
    "DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TRAIN": 2000,
    "DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TEST": 1000,
    # the test mapper follows MODEL.BACKBONE.TEST.TASK
    "DATASETS.DATASET_TYPE_TEST": ["video_instance"],
    # COCO pseudo-video sets (coco2ytvis2019_*, ...) map their classes to the target's by name
    "DATASETS.DATASET_NEED_MAP": [False],
    "DATALOADER.SAMPLER_TRAIN": "TrainingSampler",
    "DATALOADER.REPEAT_THRESHOLD": 0.0,
    "DATALOADER.ASPECT_RATIO_GROUPING": True,  # clips are lists, not padded image batches
    "SOLVER.STEPS": [30000],
    "SOLVER.GAMMA": 0.1,
    "SOLVER.MOMENTUM": 0.9,
    "SOLVER.NESTEROV": False,
    "SOLVER.WARMUP_FACTOR": 0.001,
    "SOLVER.WARMUP_ITERS": 1000,
    "SOLVER.WARMUP_METHOD": "linear",
    "SOLVER.LR_SCHEDULER_NAME": "WarmupMultiStepLR",
    "SOLVER.BIAS_LR_FACTOR": 1.0,
    "SOLVER.WEIGHT_DECAY_NORM": 0.0,
    "SOLVER.WEIGHT_DECAY_BIAS": None,
    "SOLVER.REFERENCE_WORLD_SIZE": 0,
    "SOLVER.BASE_LR_END": 0.0,
    "SOLVER.WEIGHT_DECAY_EMBED": 0.0,
    "SOLVER.OPTIMIZER": "ADAMW",
    "SOLVER.BACKBONE_MULTIPLIER": 0.1,
    "SOLVER.POLY_LR_POWER": 0.9,
    "SOLVER.POLY_LR_CONSTANT_ENDING": 0.0,
    "SOLVER.RESCALE_INTERVAL": False,
    "TEST.DETECTIONS_PER_IMAGE": 100,
    "TEST.EXPECTED_RESULTS": [],
    "TEST.KEYPOINT_OKS_SIGMAS": [],
    "TEST.PRECISE_BN": ANY_VALUE,
    "TEST.AUG.MIN_SIZES": [400, 500, 600, 700, 800, 900, 1000, 1100, 1200],
    "TEST.AUG.MAX_SIZE": 4000,
    "TEST.AUG.FLIP": True,
}


def _ignored_key(dotted: str) -> str | None:
    """The ``IGNORED_KEYS`` entry that covers ``dotted`` (the key itself or a subtree), or None."""
    for key in IGNORED_KEYS:
        if dotted == key or dotted.startswith(key + "."):
            return key
    return None


def _plain(value: Any) -> Any:
    """Tuples as lists, recursively, so YAML lists and Python tuples compare equal."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _changes_something(dotted: str, value: Any) -> bool:
    """Whether setting ignored key ``dotted`` to ``value`` asks for something that is not done."""
    default = IGNORED_KEYS[_ignored_key(dotted)]
    if default is ANY_VALUE or dotted not in IGNORED_KEYS:
        return True
    accepted = default if isinstance(default, (OneOf, OnlyValue)) else (default,)
    return all(_plain(value) != _plain(v) for v in accepted)


def _warn_ignored(source: str, settings: list[tuple[str, Any]]) -> None:
    """One warning naming every ignored key that ``source`` sets to a value that would matter;
    a ``ConfigError`` for the first knob set to a value whose behaviour is not implemented."""
    for key, value in settings:
        only = IGNORED_KEYS.get(key)
        if isinstance(only, OnlyValue):
            raise ConfigError(
                f"{source}: {key} {value!r} is not implemented (only {only[0]!r}, the value of "
                "every published model)"
            )
    if settings:
        shown = ", ".join(f"{key}={value!r}" for key, value in settings)
        logger.warning(
            f"{source}: ignored config keys (nothing reads them; see IGNORED_KEYS in "
            f"videomt/config.py) set to non-default values: {shown}"
        )


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class CfgNode(_FvCfgNode):
    """fvcore ``CfgNode`` that drops ignored reference keys (warning once per source about those
    set to a value that would matter) and names the file of an unknown key."""

    def merge_from_file(self, cfg_filename: str, allow_unsafe: bool = False) -> None:
        if not os.path.isfile(cfg_filename):
            raise ConfigError(f"{cfg_filename}: config file not found")
        try:
            loaded = self.load_yaml_with_base(cfg_filename, allow_unsafe=False)
        except yaml.YAMLError as e:
            first = str(e).strip().splitlines()
            raise ConfigError(f"{cfg_filename}: invalid YAML ({' '.join(first[:2])})") from None
        except (OSError, AssertionError) as e:
            raise ConfigError(f"{cfg_filename}: cannot load config ({e})") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{cfg_filename}: top level must be a mapping of keys")
        self._merge_checked(loaded, cfg_filename)

    def merge_from_list(self, cfg_list: list) -> None:
        if len(cfg_list) % 2:
            raise ConfigError(f"command-line overrides: expected KEY VALUE pairs, got {cfg_list}")
        kept, ignored = [], []
        for key, value in zip(cfg_list[0::2], cfg_list[1::2]):
            if _ignored_key(key):
                value = _literal(value)
                if _changes_something(key, value):
                    ignored.append((key, value))
                continue
            node, leaf = self, key.split(".")
            for part in leaf[:-1]:
                if not isinstance(node, dict) or part not in node:
                    break
                node = node[part]
            if not isinstance(node, dict) or leaf[-1] not in node:
                raise ConfigError(f"command-line overrides: unknown config key '{key}'")
            kept += [key, value]
        _warn_ignored("command-line overrides", ignored)
        try:
            super().merge_from_list(kept)
        except (AssertionError, ValueError, KeyError) as e:
            raise ConfigError(f"command-line overrides: {e}") from None

    def _merge_checked(self, loaded: dict, source: str) -> None:
        ignored: list[tuple[str, Any]] = []
        cleaned = self._drop_ignored(loaded, "", source, ignored)
        _warn_ignored(source, ignored)
        other = CfgNode(cleaned)
        try:
            self.merge_from_other_cfg(other)
        except (AssertionError, ValueError, KeyError) as e:
            raise ConfigError(f"{source}: {str(e).strip(chr(39)).strip()}") from None

    def _drop_ignored(
        self, loaded: dict, prefix: str, source: str, ignored: list[tuple[str, Any]]
    ) -> dict:
        """``loaded`` without the ignored keys, which go to ``ignored`` as (key, value) where the
        value would matter; an unknown key raises ``ConfigError``."""
        out: dict[str, Any] = {}
        for k, v in loaded.items():
            dotted = prefix + k
            if _ignored_key(dotted):
                ignored += [(key, value) for key, value in _leaves(v, dotted)]
                continue
            if isinstance(v, dict):
                kept = self._drop_ignored(v, dotted + ".", source, ignored)
                if kept or _has_key(self, dotted):
                    out[k] = kept
                continue
            out[k] = v
            if not _has_key(self, dotted):
                raise ConfigError(f"{source}: unknown config key '{dotted}'")
        return out


def _leaves(value: Any, dotted: str) -> list[tuple[str, Any]]:
    """(key, value) of the ignored settings under ``dotted`` that would matter."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{dotted}.{k}")]
    return [(dotted, value)] if _changes_something(dotted, value) else []


def _literal(text: Any) -> Any:
    """A command-line override value as the config would read it (``"True"`` -> True)."""
    try:
        return ast.literal_eval(text) if isinstance(text, str) else text
    except (ValueError, SyntaxError):
        return text


def _has_key(cfg: dict, dotted: str) -> bool:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _sizes(lo: int, hi: int, step: int) -> tuple[int, ...]:
    return tuple(range(lo, hi + 1, step))


def get_cfg() -> CfgNode:
    """A fresh config holding every key with its default (reference names and values);
    MODEL.DEVICE is ``cuda`` where a CUDA GPU is usable, else ``cpu``. The learning-rate schedule
    is VidEoMT's: ``load_config`` chooses it after merging, from the file's meta-architecture."""
    cfg = _defaults()
    _choose_unset(cfg)
    return cfg


# MODEL.DEVICE, SOLVER.LR_SCHEDULE and SOLVER.WARMUP_STEPS of ``_defaults()``: "decide after
# merging". Choosing cuda/cpu imports torch (about 2 s), so ``load_config`` only does it once the
# file and overrides are known to be valid and have not named a device themselves. The schedule
# depends on MODEL.META_ARCHITECTURE, which the file may set.
_UNSET = ""

# The learning-rate schedule of each meta-architecture's reference recipe (others: VidEoMT's), and
# the reference warmup of each schedule.
SCHEDULE_OF_META_ARCHITECTURE = {"pmt_online": "warmup_poly"}
DEFAULT_SCHEDULE = "two_stage_warmup_poly"
WARMUP_STEPS_OF_SCHEDULE = {"two_stage_warmup_poly": [500, 1000], "warmup_poly": [6000]}


def _choose_unset(cfg: CfgNode) -> None:
    """Fill the keys that neither the file nor the overrides set: the device, then the schedule."""
    if cfg.MODEL.DEVICE == _UNSET:
        cfg.MODEL.DEVICE = default_device()
    _choose_schedule(cfg.SOLVER, cfg.MODEL.META_ARCHITECTURE)


def _choose_schedule(solver: CfgNode, meta_architecture: str) -> None:
    """A reference PMT YAML sets neither SOLVER.LR_SCHEDULE nor SOLVER.WARMUP_STEPS (its code's
    defaults are PMT's): it gets PMT's schedule, not VidEoMT's. A value set is kept as it is."""
    if solver.LR_SCHEDULE == _UNSET:
        solver.LR_SCHEDULE = SCHEDULE_OF_META_ARCHITECTURE.get(meta_architecture, DEFAULT_SCHEDULE)
    if not solver.WARMUP_STEPS and solver.LR_SCHEDULE in WARMUP_STEPS_OF_SCHEDULE:
        solver.WARMUP_STEPS = list(WARMUP_STEPS_OF_SCHEDULE[solver.LR_SCHEDULE])


def _defaults() -> CfgNode:
    """Every key with its default; MODEL.DEVICE and the schedule left unset (no torch import)."""
    C = CfgNode
    cfg = C()
    cfg.SEED = 42
    cfg.OUTPUT_DIR = "./output"
    # Longest wait of a multi-process run for the other processes in one collective operation:
    # a frozen or lost process then ends the job instead of hanging it. Raise it when the main
    # process alone works longer between collectives (evaluation scoring, very slow disks).
    cfg.DIST_TIMEOUT_SECONDS = 1800  # whole seconds

    cfg.MODEL = C()
    cfg.MODEL.META_ARCHITECTURE = "videomt_online"
    cfg.MODEL.DEVICE = _UNSET
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.REINIT_CLASS_HEAD = (
        False  # fine-tuning: keep the class head of MODEL.WEIGHTS out (other classes)
    )
    cfg.MODEL.PIXEL_MEAN = [123.675, 116.28, 103.53]
    cfg.MODEL.PIXEL_STD = [58.395, 57.12, 57.375]

    b = cfg.MODEL.BACKBONE = C()
    b.MODEL_NAME = "vit_large_patch14_reg4_dinov2"  # timm name, or an HF DINOv3 id
    b.PRETRAINED = ""  # "" random init | "timm" timm's weights | path to a local file
    b.IMG_SIZE = 640  # position-table grid = IMG_SIZE / PATCH_SIZE
    b.PATCH_SIZE = 16
    b.SEGMENTER_BLOCKS = [20, 21, 22, 23]
    b.NUM_OBJECT_QUERIES = 100
    b.NUM_CLASSES = 133
    b.NORM_QUERIES = False
    b.DROP_PATH_RATE = 0.0
    b.DEPTH = 0  # > 0 overrides the ViT depth (tiny test / quickstart models)
    b.GRAD_CHECKPOINTING = False  # recompute ViT block activations in backward (less memory)
    # PMT (MODEL.META_ARCHITECTURE pmt_online) only; VidEoMT reads none of these four:
    b.NUM_BLOCKS = 6  # decoder (query) blocks
    b.HIDDEN_DIM = 1024  # decoder MLP hidden units (0: the encoder width)
    b.INTERACTION_INDICES = []  # the 4 tapped encoder blocks ([]: the last block of each quarter)
    b.FROZEN_ENCODER = True  # PMT's encoder is always frozen (False is refused)
    b.ROPE_RESCALE = 2.0  # DINOv3 training: RoPE coords x log-uniform [1/R, R] per clip (<= 1: off)
    b.SIZE_DIVISIBILITY = 32
    b.DEEP_SUPERVISION = True
    b.NO_OBJECT_WEIGHT = 0.1
    b.CLASS_WEIGHT = 1.0
    b.DICE_WEIGHT = 1.0
    b.MASK_WEIGHT = 20.0
    b.TRAIN_NUM_POINTS = 12544
    b.OVERSAMPLE_RATIO = 3.0
    b.IMPORTANCE_SAMPLE_RATIO = 0.75
    b.TEST = C()
    b.TEST.TASK = "vis"  # vis | vps | vss
    b.TEST.MAX_NUM = 20
    b.TEST.OBJECT_MASK_THRESHOLD = 0.0
    b.TEST.OVERLAP_THRESHOLD = 0.0
    b.TEST.WINDOW_SIZE = 3

    cfg.INPUT = C()
    cfg.INPUT.FORMAT = "RGB"
    cfg.INPUT.MIN_SIZE_TRAIN = (800,)
    cfg.INPUT.MAX_SIZE_TRAIN = 1333
    cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING = "choice"
    cfg.INPUT.MIN_SIZE_TEST = 800
    cfg.INPUT.MAX_SIZE_TEST = 1333
    cfg.INPUT.RANDOM_FLIP = "horizontal"
    cfg.INPUT.CROP = C()
    cfg.INPUT.CROP.ENABLED = False
    cfg.INPUT.CROP.TYPE = "relative_range"
    cfg.INPUT.CROP.SIZE = [0.9, 0.9]
    cfg.INPUT.SAMPLING_FRAME_NUM = 2
    cfg.INPUT.SAMPLING_FRAME_RANGE = 20
    cfg.INPUT.SAMPLING_FRAME_SHUFFLE = False
    cfg.INPUT.REVERSE_AGU = False
    cfg.INPUT.AUGMENTATIONS = []
    cfg.INPUT.PSEUDO = C()
    cfg.INPUT.PSEUDO.AUGMENTATIONS = ["rotation"]
    cfg.INPUT.PSEUDO.MIN_SIZE_TRAIN = _sizes(480, 768, 32)
    cfg.INPUT.PSEUDO.MAX_SIZE_TRAIN = 768
    cfg.INPUT.PSEUDO.MIN_SIZE_TRAIN_SAMPLING = "choice_by_clip"
    cfg.INPUT.PSEUDO.CROP = C()
    cfg.INPUT.PSEUDO.CROP.ENABLED = False
    cfg.INPUT.PSEUDO.CROP.TYPE = "absolute_range"
    cfg.INPUT.PSEUDO.CROP.SIZE = (384, 600)

    cfg.DATASETS = C()
    cfg.DATASETS.TRAIN = ()
    cfg.DATASETS.TEST = ()
    cfg.DATASETS.DATASET_RATIO = [1.0]
    cfg.DATASETS.DATASET_TYPE = ["video_instance"]

    cfg.DATALOADER = C()
    cfg.DATALOADER.NUM_WORKERS = 4
    cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS = True

    s = cfg.SOLVER = C()
    s.IMS_PER_BATCH = 16
    s.BASE_LR = 1e-4
    s.MAX_ITER = 40000
    s.WEIGHT_DECAY = 0.05
    s.LLRD = 0.8
    s.POLY_POWER = 0.9
    # two_stage_warmup_poly: head / encoder groups warm up over WARMUP_STEPS [w1, w2] in turn
    # (VidEoMT); warmup_poly: every group warms up linearly over WARMUP_STEPS[0], then poly decay
    # (PMT). Left empty, both follow the model: the schedule of MODEL.META_ARCHITECTURE's
    # reference recipe, and that schedule's reference warmup (see _choose_schedule).
    s.LR_SCHEDULE = _UNSET
    s.WARMUP_STEPS = []
    s.CHECKPOINT_PERIOD = 5000
    s.ACCUMULATION_STEPS = (
        1  # micro-batches per optimizer step (IMS_PER_BATCH clips in total per step)
    )
    s.LOG_PERIOD = 20  # iterations between metrics.json / console / TensorBoard / wandb writes
    s.AMP = C()
    s.AMP.ENABLED = False
    s.AMP.DTYPE = "float16"  # float16 (with a grad scaler) | bfloat16
    s.AMP.ON_CPU = False  # also apply AMP.ENABLED when training on the CPU (slower than fp32 there)
    s.CLIP_GRADIENTS = C()
    s.CLIP_GRADIENTS.ENABLED = False  # reference YAMLs request clipping that never ran: see README
    s.CLIP_GRADIENTS.CLIP_TYPE = "full_model"
    s.CLIP_GRADIENTS.CLIP_VALUE = 0.01
    s.CLIP_GRADIENTS.NORM_TYPE = 2.0

    cfg.WANDB = C()
    cfg.WANDB.ENABLED = False
    cfg.WANDB.PROJECT = "videomt"
    cfg.WANDB.MODE = "online"  # online | offline (sync later with `wandb sync`)

    cfg.TEST = C()
    cfg.TEST.EVAL_PERIOD = 0
    cfg.TEST.AUG = C()
    cfg.TEST.AUG.ENABLED = False
    return cfg


def load_config(config_file: str | None = None, opts: Iterable[str] = ()) -> CfgNode:
    """``get_cfg()`` + a YAML file (with ``_BASE_``) + ``KEY VALUE`` overrides, frozen.

    A mistake in the file or the overrides is reported before torch is imported: the default
    MODEL.DEVICE (cuda where usable, else cpu) is chosen last, and only if neither set it. So are
    SOLVER.LR_SCHEDULE and SOLVER.WARMUP_STEPS, from the meta-architecture's reference recipe.
    """
    cfg = _defaults()
    if config_file:
        cfg.merge_from_file(config_file)
    opts = list(opts)
    if opts:
        cfg.merge_from_list(opts)
    _choose_unset(cfg)
    cfg.freeze()
    return cfg
