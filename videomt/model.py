"""The meta-architectures: pixel normalisation, padding, window inference around a model core
(VidEoMT or PMT, see ``modeling/core.py``), and in training mode the weighted losses of a batch
of clips.

``build_model(cfg)`` is the one place where config keys become constructor arguments
(``from_config``); the classes themselves take plain arguments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from .checkpoint import load_backbone_weights
from .errors import ConfigError
from .modeling.criterion import VideoSetCriterion, loss_weight_dict
from .modeling.matcher import ConsistentMatcher
from .modeling.pmt import PMT
from .modeling.videomt import VidEoMT
from .postprocess import postprocess_vis, postprocess_vps, postprocess_vss
from .utils.registry import Registry

__all__ = [
    "META_ARCH_REGISTRY",
    "VidEoMTOnline",
    "PMTOnline",
    "build_model",
    "build_core",
    "build_criterion",
    "pad_frames",
    "count_loss_targets",
    "clip_generator",
]


META_ARCH_REGISTRY = Registry("META_ARCH")
META_ARCH_REGISTRY.__doc__ = """Meta-architectures by ``MODEL.META_ARCHITECTURE`` name. A class
registered with ``@META_ARCH_REGISTRY.register_as("name")`` is selectable by that name (and its
class name); it provides ``build_core(cfg)`` (its one config -> core place; ``from_config`` is
inherited) and takes a core that follows ``videomt.modeling.core``."""


def encoder_init(pretrained: str) -> str:
    """``create_encoder``'s ``pretrained`` for a ``MODEL.BACKBONE.PRETRAINED`` value: "", "none"
    and "timm" as they are; a file starts random and is loaded by :func:`load_pretrained_file`."""
    return pretrained if pretrained in ("", "none", "timm") else ""


def load_pretrained_file(core: nn.Module, pretrained: str) -> nn.Module:
    """Load a ``MODEL.BACKBONE.PRETRAINED`` backbone file (not "", "none", "timm") into
    ``core.encoder``."""
    if encoder_init(pretrained) != pretrained:
        load_backbone_weights(core.encoder, pretrained)
    return core


def core_kwargs_from_config(cfg) -> dict:
    b = cfg.MODEL.BACKBONE
    return dict(
        model_name=b.MODEL_NAME,
        img_size=b.IMG_SIZE,
        patch_size=b.PATCH_SIZE,
        num_queries=b.NUM_OBJECT_QUERIES,
        num_classes=b.NUM_CLASSES,
        first_query_block=b.SEGMENTER_BLOCKS[0],
        norm_queries=b.NORM_QUERIES,
        pretrained=encoder_init(b.PRETRAINED),
        drop_path_rate=b.DROP_PATH_RATE,
        depth=b.DEPTH,
        grad_checkpointing=b.GRAD_CHECKPOINTING,
    )


def build_core(cfg) -> nn.Module:
    """The core (pure-PyTorch module) of the meta-architecture named in the config."""
    return meta_arch_class(cfg).build_core(cfg)


def build_videomt_core(cfg) -> VidEoMT:
    """The pure-PyTorch VidEoMT module described by ``cfg.MODEL.BACKBONE``."""
    blocks = list(cfg.MODEL.BACKBONE.SEGMENTER_BLOCKS)
    try:
        core = VidEoMT(**core_kwargs_from_config(cfg))
    except ValueError as e:
        if "query block" in str(e):
            raise ConfigError(f"MODEL.BACKBONE.SEGMENTER_BLOCKS {blocks}: {e}") from None
        raise
    depth = len(core.encoder.blocks)
    if blocks != list(range(blocks[0], depth)):
        raise ConfigError(
            f"MODEL.BACKBONE.SEGMENTER_BLOCKS {blocks} must be the last consecutive blocks "
            f"of the {depth}-block encoder (e.g. {list(range(depth - len(blocks), depth))})"
        )
    return load_pretrained_file(core, cfg.MODEL.BACKBONE.PRETRAINED)


def build_pmt_core(cfg, encoder: nn.Module | None = None) -> PMT:
    """The pure-PyTorch PMT module described by ``cfg.MODEL.BACKBONE``; ``encoder``: an already
    built frozen encoder (e.g. another task model's) to hold instead of creating and loading one
    (``MODEL.BACKBONE.PRETRAINED`` is then not read)."""
    b = cfg.MODEL.BACKBONE
    if not b.FROZEN_ENCODER:
        raise ConfigError(
            "MODEL.BACKBONE.FROZEN_ENCODER False: PMT trains its decoder over a frozen encoder "
            "only (MODEL.META_ARCHITECTURE videomt_online fine-tunes the encoder)"
        )
    for key, value in (("GRAD_CHECKPOINTING", False), ("DROP_PATH_RATE", 0.0)):
        if b[key] != value:
            raise ConfigError(
                f"MODEL.BACKBONE.{key} {b[key]}: not used by PMT (frozen encoder); set {value}"
            )
    try:
        core = PMT(
            b.MODEL_NAME,
            img_size=b.IMG_SIZE,
            patch_size=b.PATCH_SIZE,
            num_queries=b.NUM_OBJECT_QUERIES,
            num_classes=b.NUM_CLASSES,
            taps=list(b.INTERACTION_INDICES) or None,
            num_blocks=b.NUM_BLOCKS,
            mlp_dim=b.HIDDEN_DIM,
            pretrained=encoder_init(b.PRETRAINED),
            depth=b.DEPTH,
            encoder=encoder,
        )
    except ValueError as e:
        if str(e).startswith("taps"):
            raise ConfigError(f"MODEL.BACKBONE.INTERACTION_INDICES: {e}") from None
        if str(e).startswith("num_blocks"):
            raise ConfigError(f"MODEL.BACKBONE.NUM_BLOCKS: {e}") from None
        raise
    return core if encoder is not None else load_pretrained_file(core, b.PRETRAINED)


def build_criterion(cfg, num_query_blocks: int) -> VideoSetCriterion:
    """The training criterion; deep supervision weighs the outputs entering the first
    ``num_query_blocks - 1`` query blocks (the last one's loss is dropped)."""
    b = cfg.MODEL.BACKBONE
    matcher = ConsistentMatcher(
        class_weight=b.CLASS_WEIGHT,
        mask_weight=b.MASK_WEIGHT,
        dice_weight=b.DICE_WEIGHT,
        num_points=b.TRAIN_NUM_POINTS,
    )
    num_aux = num_query_blocks - 1 if b.DEEP_SUPERVISION else 0
    weights = loss_weight_dict(b.CLASS_WEIGHT, b.MASK_WEIGHT, b.DICE_WEIGHT, num_aux)
    return VideoSetCriterion(
        b.NUM_CLASSES,
        matcher,
        weights,
        no_object_weight=b.NO_OBJECT_WEIGHT,
        num_points=b.TRAIN_NUM_POINTS,
        oversample_ratio=b.OVERSAMPLE_RATIO,
        importance_sample_ratio=b.IMPORTANCE_SAMPLE_RATIO,
    )


def count_loss_targets(batched_inputs: list[dict]) -> tuple[float, float]:
    """LOCAL loss normaliser counts of a batch: (number of (track, frame) targets = sum of N*T,
    number of clips). The trainer sums them over micro-batches and processes."""
    num_masks = sum(float(inp["instances"]["ids"].numel()) for inp in batched_inputs)
    return num_masks, float(len(batched_inputs))


def global_loss_normalizer(
    num_masks: float, num_clips: float, device: torch.device
) -> tuple[float, float]:
    """Local counts summed over torch.distributed processes (if initialised) / world size."""
    if dist.is_available() and dist.is_initialized():
        counts = torch.tensor([num_masks, num_clips], dtype=torch.float64, device=device)
        dist.all_reduce(counts)
        counts /= dist.get_world_size()
        num_masks, num_clips = counts.tolist()
    return num_masks, num_clips


def clip_generator(seed: int, position: int, device: torch.device) -> torch.Generator:
    """The random generator of one training clip, keyed by (seed, global clip position) only."""
    state = np.random.SeedSequence([seed % 2**63, position % 2**63]).generate_state(
        2, dtype=np.uint32
    )
    g = torch.Generator(device=device)
    g.manual_seed(int(state[0]) << 32 | int(state[1]))
    return g


def pad_frames(frames: torch.Tensor, divisibility: int) -> torch.Tensor:
    """Zero-pad (N, 3, H, W) bottom/right to multiples of ``divisibility``."""
    h, w = frames.shape[-2:]
    ph = int(math.ceil(h / divisibility) * divisibility) - h
    pw = int(math.ceil(w / divisibility) * divisibility) - w
    return F.pad(frames, (0, pw, 0, ph)) if ph or pw else frames


@META_ARCH_REGISTRY.register_as("videomt_online", "videomt")
class VidEoMTOnline(nn.Module):
    """Normalise + pad frames, run the core (in windows at inference) and post-process."""

    def __init__(
        self,
        core: VidEoMT,
        *,
        pixel_mean,
        pixel_std,
        size_divisibility: int = 32,
        window_size: int = 1,
        input_format: str = "RGB",
        task: str | None = "vis",
        max_num: int = 10,
        object_mask_threshold: float = 0.8,
        overlap_threshold: float = 0.8,
        num_things: int | None = None,
        criterion: VideoSetCriterion | None = None,
        seed: int = 0,
        rope_rescale: float = 2.0,
    ):
        """``task``: "vis" | "vps" | "vss" post-processing of ``forward`` (None: raw outputs);
        ``max_num`` VIS tracks per video; the thresholds and ``num_things`` (things are the
        contiguous classes ``< num_things``) are for "vps".

        Training: ``criterion`` (None: inference only); ``seed`` keys every random draw of a
        clip together with the clip's ``sample_position``; ``rope_rescale`` R > 1 multiplies a
        DINOv3 clip's RoPE coordinates by a log-uniform factor in [1/R, R]."""
        super().__init__()
        if task not in (None, "vis", "vps", "vss"):
            raise ConfigError(f"unknown MODEL.BACKBONE.TEST.TASK '{task}' (vis, vps or vss)")
        if task == "vps" and num_things is None:
            raise ValueError("panoptic post-processing needs the number of thing classes")
        self.task, self.max_num = task, max_num
        self.object_mask_threshold, self.overlap_threshold = (
            object_mask_threshold,
            overlap_threshold,
        )
        self.num_things = num_things
        self.core = core
        self.register_buffer(
            "pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), persistent=False
        )
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), persistent=False)
        self.size_divisibility = max(size_divisibility, core.patch_size)
        self.window_size = window_size
        self.input_format = input_format
        self.criterion = criterion
        self.seed = seed
        self.rope_rescale = rope_rescale

    @classmethod
    def build_core(cls, cfg) -> nn.Module:
        return build_videomt_core(cfg)

    @classmethod
    def from_config(cls, cfg, core: nn.Module | None = None) -> dict:
        core = cls.build_core(cfg) if core is None else core
        return dict(
            core=core,
            pixel_mean=list(cfg.MODEL.PIXEL_MEAN),
            pixel_std=list(cfg.MODEL.PIXEL_STD),
            size_divisibility=cfg.MODEL.BACKBONE.SIZE_DIVISIBILITY,
            window_size=cfg.MODEL.BACKBONE.TEST.WINDOW_SIZE,
            input_format=cfg.INPUT.FORMAT,
            task=cfg.MODEL.BACKBONE.TEST.TASK,
            max_num=cfg.MODEL.BACKBONE.TEST.MAX_NUM,
            object_mask_threshold=cfg.MODEL.BACKBONE.TEST.OBJECT_MASK_THRESHOLD,
            overlap_threshold=cfg.MODEL.BACKBONE.TEST.OVERLAP_THRESHOLD,
            num_things=_num_things(cfg),
            criterion=build_criterion(cfg, core.num_query_blocks),
            seed=cfg.SEED,
            rope_rescale=cfg.MODEL.BACKBONE.ROPE_RESCALE,
        )

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess(self, frames: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """uint8/float frames (T, 3, H, W) in [0, 255] -> normalised, padded (T, 3, H', W') and (H,
        W)."""
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(
                f"frames must be (T, 3, H, W) with 3 channels, got {tuple(frames.shape)}"
            )
        image_size = (frames.shape[-2], frames.shape[-1])
        x = (frames.to(self.device, torch.float32) - self.pixel_mean) / self.pixel_std
        return pad_frames(x, self.size_divisibility), image_size

    def forward_window(
        self, x: torch.Tensor, state: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One window of a video through the core: normalised, padded frames (n, 3, H', W') and
        the state (1, Q, C) carried from the previous window (None: the video's first window).
        Returns (class logits (n, Q, K+1), mask logits (n, Q, H'/4, W'/4), next state)."""
        out = self.core(x.unsqueeze(0), state)
        return out["pred_logits"][0], out["pred_masks"][0], out["state"]

    @torch.no_grad()
    def run_windows(
        self, windows: Iterable[torch.Tensor], forward_window: Callable | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, tuple[int, int], tuple[int, int]]]:
        """The inference window loop: ``windows`` yields the consecutive (n, 3, H, W) pixel
        chunks of one video; each is normalised and padded on the device, run with the query
        state of the previous window, and its outputs come back at once, so memory holds one
        window. ``forward_window`` (default :meth:`forward_window`, same signature) lets a
        caller run the core another way (e.g. in low precision).

        Yields per window (class logits (n, Q, K+1), mask logits (n, Q, H'/4, W'/4)) as fp32 on
        the CPU, the frames' size (H, W) and the padded size (H', W').
        """
        forward_window = forward_window or self.forward_window
        state = None
        for frames in windows:
            x, image_size = self.preprocess(frames)  # (n, 3, H', W')
            logits, masks, state = forward_window(x, state)
            yield logits.float().cpu(), masks.float().cpu(), image_size, tuple(x.shape[-2:])

    def run_video(
        self,
        frames: torch.Tensor,
        window_size: int | None = None,
        forward_window: Callable | None = None,
    ) -> dict:
        """Raw outputs for one whole video, processed in windows of ``window_size`` frames
        (default ``TEST.WINDOW_SIZE``; < 0 or 0 with no default: the whole video at once) with
        the query state carried across windows (results do not depend on the window size);
        ``forward_window`` as for :meth:`run_windows`.

        frames: (T, 3, H, W) pixels. Returns ``pred_logits`` (T, Q, K+1) and ``pred_masks``
        (T, Q, H'/4, W'/4) as fp32 on the CPU, plus ``image_size`` (H, W) and ``padded_size``.
        """
        window = window_size or self.window_size or frames.shape[0]
        window = frames.shape[0] if window < 0 else window
        chunks = (frames[start : start + window] for start in range(0, frames.shape[0], window))
        outputs = self.run_windows(chunks, forward_window)
        logits, masks, image_size, padded_size = zip(*outputs)
        return {
            "pred_logits": torch.cat(logits),
            "pred_masks": torch.cat(masks),
            "image_size": image_size[-1],
            "padded_size": padded_size[-1],
        }

    def forward(
        self, batched_inputs: list[dict], loss_normalizer: tuple[float, float] | None = None
    ) -> list[dict] | dict[str, torch.Tensor]:
        """Inference on a batch of videos. Each input dict holds ``image`` (T, 3, H, W) pixels and
        optionally the original ``height``/``width`` that masks are resized back to. Returns one
        dict per video: the task's post-processed prediction (see ``videomt.postprocess``).

        In training mode: the weighted loss dict of a batch of training clips (see ``losses``)."""
        if self.training:
            return self.losses(batched_inputs, loss_normalizer)
        results = []
        for inp in batched_inputs:
            raw = self.run_video(inp["image"])
            size = (inp.get("height", raw["image_size"][0]), inp.get("width", raw["image_size"][1]))
            results.append(self.postprocess(raw, size))
        return results

    def losses(
        self, batched_inputs: list[dict], loss_normalizer: tuple[float, float] | None = None
    ) -> dict[str, torch.Tensor]:
        """Weighted training losses (each multiplied by its weight; only weighted keys).

        batched_inputs: mapped clips with ``image`` uint8 (T, 3, H, W) (sizes may differ),
        ``instances`` {``ids`` (N, T) (-1 = absent), ``labels`` (N,), ``masks`` bool (N, T, H, W)}
        and ``sample_position`` (global clip index; default: the index in the list).
        loss_normalizer: (num_masks, num_clips), each the global count over all processes and
        accumulation steps of the optimizer step divided by the world size; None: this batch's
        counts all-reduced over processes / world size.
        """
        if self.criterion is None:
            raise RuntimeError("this model was built without a training criterion")
        if not batched_inputs:
            raise ValueError("training batch is empty")
        for i, inp in enumerate(batched_inputs):
            if "instances" not in inp:
                raise ValueError(f"training clip {i} has no 'instances' (use a training mapper)")
        lengths = {inp["image"].shape[0] for inp in batched_inputs}
        if len(lengths) != 1:
            raise ValueError(
                f"training clips must have the same number of frames, got {sorted(lengths)}"
            )
        generators = [
            clip_generator(self.seed, int(inp.get("sample_position", i)), self.device)
            for i, inp in enumerate(batched_inputs)
        ]
        if loss_normalizer is None:
            loss_normalizer = global_loss_normalizer(
                *count_loss_targets(batched_inputs), self.device
            )
        num_masks, num_clips = (
            max(float(v), 1e-6) for v in loss_normalizer
        )  # only guards against 0
        # Each clip is padded to its own size (a multiple of the size divisibility), as the
        # reference with its one clip per GPU; clips of equal padded size share one forward. So a
        # clip's loss does not depend on which clips share its batch, process or accumulation step.
        groups: dict[tuple[int, int], list[int]] = {}
        for i, inp in enumerate(batched_inputs):
            groups.setdefault(self.padded_size(inp["image"].shape[-2:]), []).append(i)
        batches = []  # per group: (video (B, T, 3, H, W), B target dicts, B generators)
        for indices in groups.values():
            clips, gens = [batched_inputs[i] for i in indices], [generators[i] for i in indices]
            batches.append((*self.prepare_training_batch(clips), gens))
        num_aux = (
            self.criterion.num_aux
        )  # the last query block's input carries no loss: not computed
        group_outputs = self.forward_training_groups(
            [video for video, _, _ in batches],
            [self.draw_rope_scale(gens) for _, _, gens in batches],
            num_aux,
        )
        total: dict[str, torch.Tensor] = {}
        for (_, targets, gens), outputs in zip(batches, group_outputs):
            for k, v in self.criterion(outputs, targets, gens, num_masks, num_clips).items():
                total[k] = (
                    total[k] + v if k in total else v
                )  # sums over clips / global normalisers: additive
        weights = self.criterion.weight_dict
        return {k: v * weights[k] for k, v in total.items() if k in weights}

    def forward_training_groups(
        self, videos: list[torch.Tensor], rope_scales: list, num_aux: int
    ) -> list[dict]:
        """The core on each group of equal-size training clips (B_i, T, 3, H_i, W_i) with its
        RoPE factors (None or (B_i,)); the clips of different groups do not interact."""
        return [
            self.core(video, rope_scale=scale, with_aux=num_aux > 0, num_aux=num_aux)
            for video, scale in zip(videos, rope_scales)
        ]

    def padded_size(self, hw) -> tuple[int, int]:
        """(H, W) rounded up to multiples of the size divisibility."""
        div = self.size_divisibility
        return int(math.ceil(hw[0] / div) * div), int(math.ceil(hw[1] / div) * div)

    def draw_rope_scale(self, generators: list[torch.Generator]) -> torch.Tensor | None:
        """One RoPE coordinate factor per clip, log-uniform in [1/R, R]; None when the core has
        no rotary positions (VidEoMT with DINOv2) or R <= 1."""
        if not self.core.uses_rope or self.rope_rescale <= 1:
            return None
        log_r = math.log(self.rope_rescale)
        return torch.cat(
            [
                torch.empty(1, device=self.device).uniform_(-log_r, log_r, generator=g).exp()
                for g in generators
            ]
        )  # (B,)

    def prepare_training_batch(self, batched_inputs: list[dict]) -> tuple[torch.Tensor, list[dict]]:
        """Normalised clips padded bottom/right to one common size divisible by the size
        divisibility -> (B, T, 3, H, W), and per clip the targets with masks placed top-left in
        that size: ``labels`` (N,), ``ids`` (N, T), ``masks`` bool (N, T, H, W). The clips are
        checked by :meth:`losses` (non-empty batch, ``instances``, one clip length)."""
        num_frames = batched_inputs[0]["image"].shape[0]
        height, width = self.padded_size(
            (
                max(inp["image"].shape[-2] for inp in batched_inputs),
                max(inp["image"].shape[-1] for inp in batched_inputs),
            )
        )
        video = torch.zeros(len(batched_inputs), num_frames, 3, height, width, device=self.device)
        targets = []
        for b, inp in enumerate(batched_inputs):
            frames = inp["image"]  # (T, 3, h, w)
            h, w = frames.shape[-2:]
            video[b, :, :, :h, :w] = (
                frames.to(self.device, torch.float32) - self.pixel_mean
            ) / self.pixel_std
            targets.append(self._clip_targets(inp, b, (height, width)))
        return video, targets

    def _clip_targets(self, inp: dict, index: int, padded: tuple[int, int]) -> dict:
        inst = inp["instances"]
        t, _, h, w = inp["image"].shape
        ids, labels, masks = inst["ids"], inst["labels"], inst["masks"]
        n = labels.shape[0]
        if ids.shape != (n, t) or masks.shape != (n, t, h, w):
            raise ValueError(
                f"training clip {index}: instances need ids ({n}, {t}) and masks ({n}, {t}, {h}, "
                f"{w}), "
                f"got {tuple(ids.shape)} and {tuple(masks.shape)}"
            )
        num_classes = self.criterion.num_classes
        if n and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise ConfigError(
                f"training clip {index}: class labels {labels.tolist()} outside "
                f"[0, MODEL.BACKBONE.NUM_CLASSES={num_classes})"
            )
        padded_masks = torch.zeros(
            n, t, *padded, dtype=torch.bool, device=self.device
        )  # (N, T, H, W)
        padded_masks[..., :h, :w] = masks.to(self.device, torch.bool)
        return {"labels": labels.to(self.device), "ids": ids.to(self.device), "masks": padded_masks}

    def postprocess(self, raw: dict, output_size) -> dict:
        if self.task == "vis":
            out = postprocess_vis(raw, output_size, self.max_num)
        elif self.task == "vss":
            out = {"pred_sem_seg": postprocess_vss(raw, output_size)}
        elif self.task == "vps":
            out = postprocess_vps(
                raw,
                output_size,
                object_mask_threshold=self.object_mask_threshold,
                overlap_threshold=self.overlap_threshold,
                num_things=self.num_things,
            )
        else:
            return raw
        out["task"] = self.task
        out["num_frames"] = raw["pred_logits"].shape[0]
        return out


@META_ARCH_REGISTRY.register_as("pmt_online")
class PMTOnline(VidEoMTOnline):
    """The VidEoMT meta-architecture around the PMT core (frozen encoder + query decoder): same
    pre-/post-processing, targets, matcher and losses. In training, all clips of a micro-batch
    share the fusion BatchNorm statistics, whatever their padded sizes."""

    @classmethod
    def build_core(cls, cfg, encoder: nn.Module | None = None) -> nn.Module:
        return build_pmt_core(cfg, encoder)

    def forward_training_groups(
        self, videos: list[torch.Tensor], rope_scales: list, num_aux: int
    ) -> list[dict]:
        return self.core.forward_clips(
            videos, rope_scale=rope_scales, with_aux=num_aux > 0, num_aux=num_aux
        )


def _num_things(cfg) -> int | None:
    """Thing-class count for panoptic post-processing, from the test dataset's metadata."""
    if cfg.MODEL.BACKBONE.TEST.TASK != "vps" or not cfg.DATASETS.TEST:
        return None
    from .data import MetadataCatalog

    meta = MetadataCatalog.get(cfg.DATASETS.TEST[0])
    return int(getattr(meta, "num_things", None) or len(meta.thing_classes))


def meta_arch_class(cfg) -> type:
    """The registered class named by ``MODEL.META_ARCHITECTURE``."""
    return META_ARCH_REGISTRY.lookup(cfg.MODEL.META_ARCHITECTURE, "MODEL.META_ARCHITECTURE")


def build_model(cfg, core: nn.Module | None = None) -> nn.Module:
    """The meta-architecture named by ``MODEL.META_ARCHITECTURE`` on ``MODEL.DEVICE``; ``core``:
    an already built core to wrap instead of building one (e.g. a PMT core around another
    model's encoder: ``PMTOnline.build_core(cfg, encoder)``)."""
    cls = meta_arch_class(cfg)
    model = cls(**cls.from_config(cfg, core))
    return model.to(torch.device(cfg.MODEL.DEVICE))
