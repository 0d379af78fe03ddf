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
from torch import nn
from tqdm import tqdm

from ..errors import ConfigError
from ..modeling.core import unroll
from ..modeling.pmt import PMT
from ..postprocess import FrameGeometry
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
    (weights or tapped blocks). After the check every model uses the first model's encoder
    module (one copy in memory).
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
        # fp32 first: the encoders are compared on the weights as loaded
        self.predictors = [
            VideoPredictor(cfg, w, device=device, model=m)
            for cfg, w, m in zip(configs, weights, models)
        ]
        self.names = (
            list(names)
            if names is not None
            else [c if isinstance(c, str) else f"config {i + 1}" for i, c in enumerate(configs)]
        )
        self._check_shareable()
        lead = self.predictors[0].model.core
        for p in self.predictors[1:]:
            p.model.core.encoder = lead.encoder  # one copy of the (equal) frozen weights
        self.dtype = resolve_dtype(dtype)
        for p in self.predictors:
            p.runner = CoreRunner(p.model.core, dtype=self.dtype)
        self.window_size = self.predictors[0].window_size
        self.cache_bytes = int(cache_mb * 2**20)
        self.last_offline_run: dict = {}

    # ------------------------------------------------------------------ checks
    def _check_shareable(self) -> None:
        lead, lead_name = self.predictors[0], self.names[0]
        for p, name in zip(self.predictors, self.names):
            if not isinstance(p.model.core, PMT):
                raise ConfigError(
                    f"{name}: MODEL.META_ARCHITECTURE {p.cfg.MODEL.META_ARCHITECTURE} has no "
                    "frozen encoder to share; only pmt_online models run as one multi-task pass"
                )
        for p, name in zip(self.predictors[1:], self.names[1:]):
            if p.device != lead.device:
                raise ConfigError(
                    f"{name}: device {p.device} differs from {lead_name}'s {lead.device}"
                )
            for key in FRAME_KEYS:
                mine, theirs = _cfg_value(p.cfg, key), _cfg_value(lead.cfg, key)
                if mine != theirs:
                    raise ConfigError(
                        f"{name}: {key} {mine} differs from {lead_name}'s {theirs}; the tasks "
                        "must prepare frames alike to share the encoder pass"
                    )
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
            if not core.shares_encoder_with(lead_core):
                raise ConfigError(
                    f"{name}: its frozen encoder weights differ from {lead_name}'s; only models "
                    "trained over the same frozen encoder can share one encoder pass"
                )

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
            x, geo = lead._model_input(chunk)  # (n, 3, H', W')
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
        totals: list[torch.Tensor] | None = None
        count, cached_bytes = 0, 0
        cache: list[tuple[list[torch.Tensor], FrameGeometry]] | None = []
        for logits, masks, geo in tqdm(
            self.raw_frames(source),
            total=source.num_frames,
            disable=not progress,
            desc="pass 1/2 (classes)",
            unit="frame",
        ):
            logits = [t.double() for t in logits]
            totals = logits if totals is None else [a + b for a, b in zip(totals, logits)]
            count += 1
            if cache is not None:
                cached_bytes += sum(m.numel() * m.element_size() for m in masks)
                if cached_bytes <= self.cache_bytes:
                    cache.append((masks, geo))
                else:
                    cache = None  # too long to cache: the next passes re-run the model
        if totals is None:
            raise VideoInputError(f"{source.name}: no frames")
        means = [(t / count).float() for t in totals]  # (Q, K+1) video-mean class logits per task
        self.last_offline_run = {
            "frames": count,
            "second_pass": "cached" if cache is not None else "re-ran the model",
        }

        def mask_frames():
            if cache is not None:
                return iter(cache)
            return ((m, g) for _, m, g in self.raw_frames(source))

        panoptic = {
            i: p._panoptic_video(means[i]) for i, p in enumerate(self.predictors) if p.task == "vps"
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
        frames = tqdm(
            frames, total=count, disable=not progress, desc="pass 2/2 (masks)", unit="frame"
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
        arr = self.streams[0]._check_frame(frame)
        x, geo = self.predictor.predictors[0]._model_input([arr])  # (1, 3, H', W')
        logits, masks, states = self.predictor.step(x, [s.state for s in self.streams])
        return [
            stream._advance(lg[0].cpu(), mk[0].cpu(), st, geo)
            for stream, lg, mk, st in zip(self.streams, logits, masks, states)
        ]


def _cfg_value(cfg, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return list(node) if isinstance(node, (list, tuple)) else node
