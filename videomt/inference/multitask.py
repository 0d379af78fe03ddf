"""``MultiTaskPredictor``: several PMT models over one frozen encoder, one encoder pass per frame.

PMT models trained for different tasks (e.g. VIS, VPS and VSS heads) on top of the same frozen
ViT differ only after the encoder. This predictor checks that they really share it (same encoder
weights, same tapped blocks, same frame preparation), keeps one copy of the encoder, runs it once
per frame (``core.encoder_features``) and feeds its taps to every model's own fusion and decoder
(``core.fuse`` + ``core.step``). Each task's results are exactly those of its
:class:`~videomt.inference.predictor.VideoPredictor` run alone: the same code resizes the frames
and turns the model outputs into results, only the encoder pass is shared.

    predictor = MultiTaskPredictor([vis_cfg, vps_cfg, vss_cfg], [w_vis, w_vps, w_vss])
    for vis, vps, vss in predictor("video.mp4"):   # offline: video-level classes per task
        ...
    stream = predictor.stream()                    # online: one frame in, each task's result out
    vis, vps, vss = stream.step(frame)

Offline, as for one model, class logits are averaged over the whole video first (pass 1, with the
mask logits of every task cached while they fit in ``cache_mb``), then each frame's results are
made (pass 2). A panoptic task needs one more pass over the cached (or recomputed) mask logits
before its first frame can be given, since its segments are decided over the whole video.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice

import torch
from fvcore.common.config import CfgNode
from torch import nn

from ..checkpoint import CheckpointError, load_checkpoint, read_state_dict, to_videomt_layout
from ..config import load_config
from ..errors import ConfigError
from ..model import PMTOnline, build_model, meta_arch_class
from ..modeling.core import unroll
from ..modeling.pmt import PMT
from ..postprocess import FrameGeometry
from ..utils.device import resolve_device
from ..utils.progress import progress_bar
from .offline import first_pass
from .predictor import VideoPredictor, VideoStream
from .runtime import CoreRunner, autocast, resolve_dtype
from .video_io import VideoInputError, VideoSource, open_video

__all__ = ["MultiTaskPredictor", "MultiTaskStream"]

# the config values that decide how frames become encoder input: equal for every task
FRAME_KEYS = (
    "INPUT.MIN_SIZE_TEST",
    "INPUT.MAX_SIZE_TEST",
    "INPUT.FORMAT",
    "MODEL.PIXEL_MEAN",
    "MODEL.PIXEL_STD",
)
# the config values that decide the encoder's architecture: equal for every task (its weights are
# compared by content)
ENCODER_KEYS = (
    "MODEL.BACKBONE.MODEL_NAME",
    "MODEL.BACKBONE.IMG_SIZE",
    "MODEL.BACKBONE.PATCH_SIZE",
    "MODEL.BACKBONE.DEPTH",
)
ENCODER_PREFIX = "core.encoder."  # the encoder's keys in this project's checkpoint layout


class MultiTaskPredictor:
    """Several PMT models sharing one frozen encoder, run with one encoder pass per frame.

    Args:
        configs: one config per task (YAML path or config node), at least one.
        weights: None (each config's ``MODEL.WEIGHTS``) or one checkpoint (or None) per config.
        device, dtype, cache_mb: as for :class:`VideoPredictor` (one device and precision for all).
        models: already built meta-architectures, one per config, instead of building them.
        names: how messages name each model (default: its config path, else "config <i>").

    Raises ``ConfigError`` (one line) when a model is not a PMT model, when the models sit on
    different devices or prepare frames differently, or when their frozen encoders differ
    (architecture, weights or tapped blocks). Every model holds the first model's encoder module
    (one copy in memory). The first model is built as ``VideoPredictor`` builds it; a later task
    with a checkpoint has its file's encoder tensors compared with that encoder first, and is
    then built around it, so no second encoder is ever built (the file is read twice for that).
    A model passed in, or one without a checkpoint, is compared by content once built and its own
    encoder dropped before the next task is built.
    """

    def __init__(
        self,
        configs: Sequence,
        weights: Sequence[str | None] | None = None,
        device: str | None = None,
        dtype=None,
        *,
        models: Sequence[nn.Module] | None = None,
        names: Sequence[str] | None = None,
        cache_mb: float = 1024.0,
    ):
        if isinstance(configs, (str, bytes)) or not configs:
            raise ConfigError("MultiTaskPredictor needs a list of one config per task")
        weights = [None] * len(configs) if weights is None else list(weights)
        models = [None] * len(configs) if models is None else list(models)
        for name, values in (("weights", weights), ("models", models)):
            if len(values) != len(configs):
                raise ConfigError(f"got {len(configs)} configs but {len(values)} {name}")
        self.names = (
            list(names)
            if names is not None
            else [c if isinstance(c, str) else f"config {i + 1}" for i, c in enumerate(configs)]
        )
        # fp32 first: the encoders are compared on the weights as loaded
        self.predictors = [VideoPredictor(configs[0], weights[0], device=device, model=models[0])]
        self._check_model(self.predictors[0], self.names[0])
        for cfg, w, m, name in zip(configs[1:], weights[1:], models[1:], self.names[1:]):
            p = self._task_predictor(cfg, w, m, device, name)
            self._check_model(p, name)
            p.model.core.encoder = self.predictors[0].model.core.encoder  # one copy kept
            self.predictors.append(p)
        self.dtype = resolve_dtype(dtype)
        for p in self.predictors:
            p.runner = CoreRunner(p.model.core, dtype=self.dtype)
        self.window_size = self.predictors[0].window_size
        self.cache_bytes = int(cache_mb * 2**20)
        self.last_offline_run: dict = {}

    def _task_predictor(self, config, weights, model, device, name: str) -> VideoPredictor:
        """The predictor of a task after the first. With a checkpoint, its model is built around
        the first model's encoder module once the checkpoint's encoder tensors are found equal to
        it, so no second encoder is ever built. A model passed in, or one without a checkpoint
        (its encoder comes from ``MODEL.BACKBONE.PRETRAINED``), is built in full and compared by
        content after loading."""
        cfg = config if isinstance(config, CfgNode) else load_config(config)
        weights = cfg.MODEL.WEIGHTS if weights is None else weights
        if model is not None or not weights:
            return VideoPredictor(cfg, weights or None, device=device, model=model)
        cfg = cfg.clone()
        cfg.defrost()
        lead = self.predictors[0]
        self._check_config(cfg, name)
        if device is None:
            asked = resolve_device(cfg.MODEL.DEVICE, "MODEL.DEVICE")
        else:
            asked = resolve_device(device, "device")
        if torch.empty(0, device=asked).device != lead.device:
            raise ConfigError(
                f"{name}: device {asked} differs from {self.names[0]}'s {lead.device}"
            )
        self._check_checkpoint_encoder(weights, name)
        cfg.MODEL.DEVICE = str(lead.device)
        cfg.MODEL.BACKBONE.PRETRAINED = ""  # every weight comes from the checkpoint
        core = meta_arch_class(cfg).build_core(cfg, encoder=lead.model.core.encoder)
        model = build_model(cfg, core)
        load_checkpoint(model, weights)  # rewrites the shared encoder with the equal values
        return VideoPredictor(cfg, model=model)

    # ------------------------------------------------------------------ checks
    def _check_config(self, cfg, name: str) -> None:
        """Refuse, before building anything, a config whose model cannot share the first
        model's encoder pass: not PMT, other frame preparation or another encoder."""
        lead_cfg, lead_name = self.predictors[0].cfg, self.names[0]
        if not issubclass(meta_arch_class(cfg), PMTOnline):
            raise _not_pmt(name, cfg)
        for key in FRAME_KEYS + ENCODER_KEYS:
            mine, theirs = _cfg_value(cfg, key), _cfg_value(lead_cfg, key)
            if mine != theirs:
                what = "prepare frames alike" if key in FRAME_KEYS else "use the same encoder"
                raise ConfigError(
                    f"{name}: {key} {mine} differs from {lead_name}'s {theirs}; the tasks "
                    f"must {what} to share the encoder pass"
                )

    def _check_checkpoint_encoder(self, path: str, name: str) -> None:
        """Refuse a checkpoint whose frozen encoder tensors differ from the first model's. A file
        without the same encoder keys and shapes is left to ``load_checkpoint``, which names the
        keys that do not fit (before loading anything)."""
        state = read_state_dict(path)
        try:
            state = to_videomt_layout(state)
        except CheckpointError as e:
            raise CheckpointError(f"{path}: {e}") from None
        lead = self.predictors[0].model.core.encoder.state_dict()
        theirs = {k: state.get(ENCODER_PREFIX + k) for k in lead}
        if any(v is None or v.shape != lead[k].shape for k, v in theirs.items()):
            return
        for key, value in theirs.items():
            if not torch.equal(value.to(lead[key].device, lead[key].dtype), lead[key]):
                raise _encoders_differ(name, self.names[0])

    def _check_model(self, p: VideoPredictor, name: str) -> None:
        """Refuse a built model that cannot share the first model's encoder pass."""
        if not isinstance(p.model.core, PMT):
            raise _not_pmt(name, p.cfg)
        lead, lead_name = self.predictors[0], self.names[0]
        if p is lead:
            return
        if p.device != lead.device:
            raise ConfigError(f"{name}: device {p.device} differs from {lead_name}'s {lead.device}")
        self._check_config(p.cfg, name)
        if p.model.size_divisibility != lead.model.size_divisibility:
            raise ConfigError(
                f"{name}: frames are padded to multiples of {p.model.size_divisibility}, "
                f"{lead_name}'s to {lead.model.size_divisibility}"
            )
        core, lead_core = p.model.core, lead.model.core
        if core.taps != lead_core.taps:
            raise ConfigError(
                f"{name}: MODEL.BACKBONE.INTERACTION_INDICES {core.taps} differ from "
                f"{lead_name}'s {lead_core.taps}; the tasks must tap the same encoder blocks"
            )
        if core.encoder is not lead_core.encoder and not core.shares_encoder_with(lead_core):
            raise _encoders_differ(name, lead_name)

    # ------------------------------------------------------------------ properties
    @property
    def tasks(self) -> list[str]:
        return [p.task for p in self.predictors]

    @property
    def class_names(self) -> list[list[str]]:
        return [p.class_names for p in self.predictors]

    @property
    def device(self) -> torch.device:
        return self.predictors[0].device

    # ------------------------------------------------------------------ the shared pass
    @torch.inference_mode()
    def run_window(
        self, frames: torch.Tensor, states: list[torch.Tensor | None]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """Consecutive frames of one video (T, 3, H, W), normalised and padded, through the
        encoder once and every task's fusion + decoder, each with its own query state (1, Q, C)
        or None. Returns per task fp32 class logits (T, Q, K+1), mask logits (T, Q, H/4, W/4)
        and the next state (1, Q, C)."""
        logits, masks, next_states = [], [], []
        with autocast(self.device, self.dtype):
            taps, grid = self.predictors[0].model.core.encoder_features(frames)  # 4 x (T, S, C)
            for p, state in zip(self.predictors, states):
                core = p.model.core
                tokens = core.fuse(taps).unsqueeze(0)  # (1, T, S, C)
                out = unroll(
                    core, tokens, grid, state, rope_scale=None, with_aux=False, num_aux=None
                )
                logits.append(out["pred_logits"][0].float())
                masks.append(out["pred_masks"][0].float())
                next_states.append(out["state"].float())
        return logits, masks, next_states

    @torch.inference_mode()
    def step(
        self, frames: torch.Tensor, states: list[torch.Tensor | None]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """One frame of B streams (B, 3, H, W), normalised and padded, for every task: the
        encoder once, then each task's ``fuse`` + ``step`` with its state (B, Q, C) or None.
        Returns per task fp32 class logits (B, Q, K+1), mask logits (B, Q, H/4, W/4) and the
        next state (B, Q, C)."""
        logits, masks, next_states = [], [], []
        with autocast(self.device, self.dtype):
            taps, grid = self.predictors[0].model.core.encoder_features(frames)  # 4 x (B, S, C)
            for p, state in zip(self.predictors, states):
                if state is None:
                    state = p.runner.initial_state(frames.shape[0])
                out, next_state = p.model.core.step(p.model.core.fuse(taps), state, grid)
                logits.append(out["pred_logits"].float())
                masks.append(out["pred_masks"].float())
                next_states.append(next_state.float())
        return logits, masks, next_states

    # ------------------------------------------------------------------ offline
    def raw_frames(
        self, video, max_frames: int | None = None
    ) -> Iterator[tuple[list[torch.Tensor], list[torch.Tensor], FrameGeometry]]:
        """Per frame: each task's class logits (Q, K+1) and mask logits (Q, H'/4, W'/4) (fp32,
        CPU) and the frame's geometry; windows of the first config's ``TEST.WINDOW_SIZE``."""
        frames = iter(open_video(video, max_frames))
        lead = self.predictors[0]
        states: list[torch.Tensor | None] = [None] * len(self.predictors)
        while chunk := list(islice(frames, self.window_size)):
            x, geo = lead.model_input(chunk)  # (n, 3, H', W')
            logits, masks, states = self.run_window(x, states)
            logits, masks = [t.cpu() for t in logits], [t.cpu() for t in masks]
            for i in range(x.shape[0]):
                yield [t[i] for t in logits], [t[i] for t in masks], geo

    def __call__(
        self, video, max_frames: int | None = None, progress: bool = False
    ) -> Iterator[list[dict]]:
        """Per frame, the list of the tasks' results (in config order), each as
        :meth:`VideoPredictor.__call__` gives it for that task alone."""
        source = open_video(video, max_frames)
        if not source.reiterable:
            raise VideoInputError(
                f"{source.name}: a live source cannot be predicted offline; use predictor.stream()"
            )
        return self._offline(source, progress)

    def _offline(self, source: VideoSource, progress: bool) -> Iterator[list[dict]]:
        frames = progress_bar(
            self.raw_frames(source),
            enabled=progress,
            total=source.num_frames,
            desc="pass 1/2 (classes)",
            unit="frame",
        )
        first = first_pass(frames, self.cache_bytes, source.name)
        means, cache, count = first  # means: per task (Q, K+1) video-mean class logits
        self.last_offline_run = first.report

        def mask_frames():
            if cache is not None:
                return iter(cache)
            return ((m, g) for _, m, g in self.raw_frames(source))

        panoptic = {
            i: p.panoptic_video(means[i]) for i, p in enumerate(self.predictors) if p.task == "vps"
        }
        if panoptic:  # a panoptic task's segments are decided over the whole video first
            for masks, geo in mask_frames():
                for i, video in panoptic.items():
                    video.add(masks[i], geo)
        panoptic_frames = {i: video.frames() for i, video in panoptic.items()}
        if len(panoptic) == len(self.predictors):
            frames = ((None, None) for _ in range(count))  # no mask logits needed any more
        else:
            frames = mask_frames()
        frames = progress_bar(
            frames, enabled=progress, total=count, desc="pass 2/2 (masks)", unit="frame"
        )
        for t, (masks, geo) in enumerate(frames):
            results = []
            for i, p in enumerate(self.predictors):
                if i in panoptic_frames:
                    result = next(panoptic_frames[i])
                else:
                    result = p.frame_result(means[i], masks[i], geo)
                results.append({"frame_index": t, **result})
            yield results

    # ------------------------------------------------------------------ online
    def stream(self) -> MultiTaskStream:
        """A new online stream: ``stream.step(frame)`` returns every task's result."""
        return MultiTaskStream(self)


class MultiTaskStream:
    """One online video for every task: a :class:`VideoStream` per task (its state and causal
    class logits) advanced together, with one encoder pass per frame."""

    def __init__(self, predictor: MultiTaskPredictor):
        self.predictor = predictor
        self.streams: list[VideoStream] = [p.stream() for p in predictor.predictors]

    def reset(self) -> None:
        """Forget the video: the next frame starts a new stream for every task."""
        for stream in self.streams:
            stream.reset()

    def step(self, frame) -> list[dict]:
        """Feed one (H, W, 3) uint8 RGB frame; returns each task's result for it (as its
        ``VideoStream.step`` would), in config order."""
        arr = self.streams[0].check_frame(frame)
        x, geo = self.predictor.predictors[0].model_input([arr])  # (1, 3, H', W')
        logits, masks, states = self.predictor.step(x, [s.state for s in self.streams])
        return [
            stream.advance(lg[0].cpu(), mk[0].cpu(), st, geo)
            for stream, lg, mk, st in zip(self.streams, logits, masks, states)
        ]


def _not_pmt(name: str, cfg) -> ConfigError:
    return ConfigError(
        f"{name}: MODEL.META_ARCHITECTURE {cfg.MODEL.META_ARCHITECTURE} has no frozen encoder to "
        "share; only pmt_online models run as one multi-task pass"
    )


def _encoders_differ(name: str, lead_name: str) -> ConfigError:
    return ConfigError(
        f"{name}: its frozen encoder weights differ from {lead_name}'s; only models trained over "
        "the same frozen encoder can share one encoder pass"
    )


def _cfg_value(cfg, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return list(node) if isinstance(node, (list, tuple)) else node
