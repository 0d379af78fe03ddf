"""The configuration: every key the project reads, with its default, in one place.

Key names follow the reference VidEoMT code (Detectron2 + ``add_videomt_config``) so the
reference YAML files load unchanged. Keys that appear in reference YAMLs but that no code
reads are listed in ``DEAD_KEYS``: they are accepted and ignored. Any other unknown key is an
error that names the key and the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import yaml
from fvcore.common.config import CfgNode as _FvCfgNode

__all__ = ["CfgNode", "ConfigError", "get_cfg", "DEAD_KEYS", "default_device"]


class ConfigError(ValueError):
    """A config file or override that cannot be applied (message names the key and source)."""


# Dotted keys (or key prefixes) that reference YAMLs may set but nothing here reads.
# Detectron2 defaults inherited by the reference configs, Mask2Former leftovers and the
# VidEoMT keys marked dead in SPEC 9.2.
DEAD_KEYS: tuple[str, ...] = (
    "VERSION",
    "VIS_PERIOD",
    "CUDNN_BENCHMARK",
    "GLOBAL",
    "MODEL.MASK_ON",
    "MODEL.KEYPOINT_ON",
    "MODEL.LOAD_PROPOSALS",
    "MODEL.RESNETS",
    "MODEL.FPN",
    "MODEL.MASK_FORMER",
    "MODEL.SEM_SEG_HEAD",
    "MODEL.ROI_HEADS",
    "MODEL.ROI_BOX_HEAD",
    "MODEL.ROI_MASK_HEAD",
    "MODEL.ROI_KEYPOINT_HEAD",
    "MODEL.ROI_BOX_CASCADE_HEAD",
    "MODEL.RPN",
    "MODEL.ANCHOR_GENERATOR",
    "MODEL.PROPOSAL_GENERATOR",
    "MODEL.RETINANET",
    "MODEL.PANOPTIC_FPN",
    "MODEL.SWIN",
    "MODEL.DINO",
    "MODEL.BACKBONE.FREEZE_AT",
    "MODEL.BACKBONE.NHEADS",
    "MODEL.BACKBONE.DROPOUT",
    "MODEL.BACKBONE.DIM_FEEDFORWARD",
    "MODEL.BACKBONE.ENC_LAYERS",
    "MODEL.BACKBONE.DEC_LAYERS",
    "MODEL.BACKBONE.PRE_NORM",
    "MODEL.BACKBONE.WINDOW_INFERENCE",
    "MODEL.BACKBONE.HIDDEN_DIM",
    "MODEL.BACKBONE.TRANSFORMER_IN_FEATURE",
    "MODEL.BACKBONE.ENFORCE_INPUT_PROJ",
    "MODEL.BACKBONE.TEST.SEMANTIC_ON",
    "MODEL.BACKBONE.TEST.INSTANCE_ON",
    "MODEL.BACKBONE.TEST.PANOPTIC_ON",
    "MODEL.BACKBONE.TEST.SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE",
    "MODEL.BACKBONE.NUM_Q",
    "MODEL.BACKBONE.MASKED",
    "MODEL.BACKBONE.TRACKER_BLOCKS",
    "MODEL.BACKBONE.ATTN_MASK_ANNEALING_ENABLED",
    "MODEL.BACKBONE.START_STEPS",
    "MODEL.BACKBONE.END_STEPS",
    "MODEL.BACKBONE.DYNAMIC_EVAL",
    "MODEL.BACKBONE.REID_BRANCH",
    "MODEL.BACKBONE.CONTEXT_FILTER_SIZE",
    "INPUT.COLOR_AUG_SSD",
    "INPUT.SIZE_DIVISIBILITY",
    "INPUT.CROP.SINGLE_CATEGORY_MAX_AREA",
    "INPUT.IMAGE_SIZE",
    "INPUT.MIN_SCALE",
    "INPUT.MAX_SCALE",
    "INPUT.MASK_FORMAT",
    "INPUT.DATASET_MAPPER_NAME",
    "DATASETS.PROPOSAL_FILES_TRAIN",
    "DATASETS.PROPOSAL_FILES_TEST",
    "DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TRAIN",
    "DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TEST",
    "DATALOADER.SAMPLER_TRAIN",
    "DATALOADER.REPEAT_THRESHOLD",
    "SOLVER.STEPS",
    "SOLVER.GAMMA",
    "SOLVER.MOMENTUM",
    "SOLVER.NESTEROV",
    "SOLVER.WARMUP_FACTOR",
    "SOLVER.WARMUP_ITERS",
    "SOLVER.WARMUP_METHOD",
    "SOLVER.LR_SCHEDULER_NAME",
    "SOLVER.BIAS_LR_FACTOR",
    "SOLVER.WEIGHT_DECAY_NORM",
    "SOLVER.WEIGHT_DECAY_BIAS",
    "SOLVER.REFERENCE_WORLD_SIZE",
    "SOLVER.BASE_LR_END",
    "SOLVER.WEIGHT_DECAY_EMBED",
    "SOLVER.OPTIMIZER",
    "SOLVER.BACKBONE_MULTIPLIER",
    "SOLVER.POLY_LR_POWER",
    "SOLVER.POLY_LR_CONSTANT_ENDING",
    "SOLVER.RESCALE_INTERVAL",
    "TEST.DETECTIONS_PER_IMAGE",
    "TEST.EXPECTED_RESULTS",
    "TEST.KEYPOINT_OKS_SIGMAS",
    "TEST.PRECISE_BN",
    "TEST.AUG.MIN_SIZES",
    "TEST.AUG.MAX_SIZE",
    "TEST.AUG.FLIP",
)


def _is_dead(dotted: str) -> bool:
    return any(dotted == k or dotted.startswith(k + ".") for k in DEAD_KEYS)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class CfgNode(_FvCfgNode):
    """fvcore ``CfgNode`` that drops dead reference keys and names the file of an unknown key."""

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
        kept = []
        for key, value in zip(cfg_list[0::2], cfg_list[1::2]):
            if _is_dead(key):
                continue
            node, leaf = self, key.split(".")
            for part in leaf[:-1]:
                if not isinstance(node, dict) or part not in node:
                    break
                node = node[part]
            if not isinstance(node, dict) or leaf[-1] not in node:
                raise ConfigError(f"command-line overrides: unknown config key '{key}'")
            kept += [key, value]
        try:
            super().merge_from_list(kept)
        except (AssertionError, ValueError, KeyError) as e:
            raise ConfigError(f"command-line overrides: {e}") from None

    def _merge_checked(self, loaded: dict, source: str) -> None:
        cleaned = self._drop_dead(loaded, prefix="", source=source)
        other = CfgNode(cleaned)
        try:
            self.merge_from_other_cfg(other)
        except (AssertionError, ValueError, KeyError) as e:
            raise ConfigError(f"{source}: {str(e).strip(chr(39)).strip()}") from None

    def _drop_dead(self, loaded: dict, prefix: str, source: str) -> dict:
        out: dict[str, Any] = {}
        for k, v in loaded.items():
            dotted = prefix + k
            if _is_dead(dotted):
                continue
            if isinstance(v, dict):
                out[k] = self._drop_dead(v, dotted + ".", source)
                continue
            out[k] = v
            if not _has_key(self, dotted):
                raise ConfigError(f"{source}: unknown config key '{dotted}'")
        return out


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
    """A fresh config holding every key with its default (reference names and values)."""
    C = CfgNode
    cfg = C()
    cfg.SEED = 42
    cfg.OUTPUT_DIR = "./output"

    cfg.MODEL = C()
    cfg.MODEL.META_ARCHITECTURE = "videomt_online"
    cfg.MODEL.DEVICE = default_device()
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.REINIT_CLASS_HEAD = (
        False  # fine-tuning: keep the class head of MODEL.WEIGHTS out (other classes)
    )
    cfg.MODEL.PIXEL_MEAN = [123.675, 116.28, 103.53]
    cfg.MODEL.PIXEL_STD = [58.395, 57.12, 57.375]

    b = cfg.MODEL.BACKBONE = C()
    b.NAME = "VidEoMT"
    b.MODEL_NAME = "vit_large_patch14_reg4_dinov2"  # timm name, or an HF DINOv3 id
    b.PRETRAINED = ""  # "" random init | "timm" timm's weights | path to a local file
    b.IMG_SIZE = 640  # position-table grid = IMG_SIZE / PATCH_SIZE
    b.PATCH_SIZE = 16
    b.SEGMENTER_BLOCKS = [20, 21, 22, 23]
    b.NUM_OBJECT_QUERIES = 100
    b.NUM_CLASSES = 133
    b.NORM_QUERIES = False
    b.FUSED_QKV = False
    b.DROP_PATH_RATE = 0.0
    b.DEPTH = 0  # > 0 overrides the ViT depth (tiny test / quickstart models)
    b.GRAD_CHECKPOINTING = False  # recompute ViT block activations in backward (less memory)
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
    b.TEST.WINDOW_INFERENCE = True
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
    cfg.INPUT.LSJ_AUG = C()
    cfg.INPUT.LSJ_AUG.ENABLED = False
    cfg.INPUT.LSJ_AUG.IMAGE_SIZE = 1024
    cfg.INPUT.LSJ_AUG.MIN_SCALE = 0.1
    cfg.INPUT.LSJ_AUG.MAX_SCALE = 2.0

    cfg.DATASETS = C()
    cfg.DATASETS.TRAIN = ()
    cfg.DATASETS.TEST = ()
    cfg.DATASETS.DATASET_RATIO = [1.0]
    cfg.DATASETS.DATASET_NEED_MAP = [False]
    cfg.DATASETS.DATASET_TYPE = ["video_instance"]
    cfg.DATASETS.DATASET_TYPE_TEST = ["video_instance"]

    cfg.DATALOADER = C()
    cfg.DATALOADER.NUM_WORKERS = 4
    cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS = True
    cfg.DATALOADER.ASPECT_RATIO_GROUPING = True

    s = cfg.SOLVER = C()
    s.IMS_PER_BATCH = 16
    s.BASE_LR = 1e-4
    s.MAX_ITER = 40000
    s.WEIGHT_DECAY = 0.05
    s.LLRD = 0.8
    s.POLY_POWER = 0.9
    s.WARMUP_STEPS = [500, 1000]
    s.CHECKPOINT_PERIOD = 5000
    s.ACCUMULATION_STEPS = (
        1  # micro-batches per optimizer step (IMS_PER_BATCH clips in total per step)
    )
    s.LOG_PERIOD = 20  # iterations between metrics.json / console / TensorBoard / wandb writes
    s.AMP = C()
    s.AMP.ENABLED = False
    s.AMP.DTYPE = "float16"  # float16 (with a grad scaler) | bfloat16; AMP is CUDA-only
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
    """``get_cfg()`` + a YAML file (with ``_BASE_``) + ``KEY VALUE`` overrides, frozen."""
    cfg = get_cfg()
    if config_file:
        cfg.merge_from_file(config_file)
    opts = list(opts)
    if opts:
        cfg.merge_from_list(opts)
    cfg.freeze()
    return cfg
