"""``VideoPredictor``: a config + weights -> per-frame results for any video.

Offline (``predictor(video)``) follows the evaluation protocol: classes are decided by
the class logits averaged over the *whole* video, so no frame's result is final before the last
frame has been seen. Memory stays bounded however long the video is:

* pass 1 reads the frames lazily, runs the model window by window (query state carried over) and
  keeps the running sum of the class logits, (Q, K+1) numbers. It also caches the frames' mask
  logits while they fit in ``cache_mb``;
* pass 2 turns each frame's mask logits into that frame's result with the video-mean classes.
  If the cache overflowed, pass 2 decodes the video again and re-runs the model (identical
  outputs: same frames, same windows), trading compute for memory instead of keeping
  T x Q x H/4 x W/4 mask logits (about 20 MB per 720p frame for 200 queries).

Results are yielded one frame at a time (masks at the input resolution), so a caller that
writes them out never holds the whole video either. ``predictor.stream()`` is the online path:
one frame in, that frame's result out, with causal running-mean class scores.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

import numpy as np
import torch
from fvcore.common.config import CfgNode

from ..checkpoint import load_checkpoint
from ..config import load_config
from ..data import MetadataCatalog
from ..data.augmentation import apply_clip_augmentations
from ..data.mappers.common import frames_to_tensor
from ..data.mappers.inference import VideoTestMapper
from ..errors import ConfigError
from ..hub import load_pretrained
from ..model import build_model
from ..postprocess import (
    FrameGeometry,
    PanopticVideo,
    best_class_per_query,
    instance_masks,
    semantic_map,
)
from ..utils.device import resolve_device
from ..utils.progress import progress_bar
from .offline import first_pass
from .runtime import CoreRunner
from .video_io import VideoInputError, VideoSource, as_rgb_frame, open_video

__all__ = ["VideoPredictor", "VideoStream"]

logger = logging.getLogger(__name__)


class VideoPredictor:
    """Run a VidEoMT config on videos, frame folders, frame arrays and live streams.

    Args:
        config: a YAML path or a config node (``videomt.load_config``).
        weights: a checkpoint (any layout ``videomt.load_checkpoint`` reads); None uses
            ``MODEL.WEIGHTS``; both empty -> random weights (a warning is logged).
        device: e.g. "cpu", "cuda"; None uses ``MODEL.DEVICE``.
        dtype: None/"fp32", "bf16" or "fp16": low precision stores the core's weights in that
            dtype (in place, also for a ``model`` passed in) except the fp32 query propagation,
            and runs under autocast; outputs stay fp32 (``videomt.inference.runtime``).
        model: an already built meta-architecture to use instead of building one.
        compile: torch.compile the per-frame step of streams (True or a mode string).
        cache_mb: mask logits kept between the two offline passes before falling back to
            re-running the model (see the module docstring).
    """

    def __init__(
        self,
        config,
        weights: str | None = None,
        device: str | None = None,
        dtype=None,
        *,
        model: torch.nn.Module | None = None,
        compile: bool | str = False,
        cache_mb: float = 1024.0,
    ):
        cfg = config if isinstance(config, CfgNode) else load_config(config)
        cfg = cfg.clone()
        cfg.defrost()
        if device is not None:
            cfg.MODEL.DEVICE = str(device)
        resolved = resolve_device(
            cfg.MODEL.DEVICE, "device" if device is not None else "MODEL.DEVICE"
        )
        if model is None:
            weights = cfg.MODEL.WEIGHTS if weights is None else weights
            if weights:
                cfg.MODEL.BACKBONE.PRETRAINED = ""  # every weight comes from the checkpoint
            model = build_model(cfg)
            if weights:
                load_checkpoint(model, weights)
            else:
                logger.warning(
                    "no weights given (MODEL.WEIGHTS is empty): the predictor uses random weights"
                )
        elif device is not None:
            model = model.to(resolved)
        cfg.freeze()
        self.cfg = cfg
        self.model = model.eval()
        if self.model.task is None:
            raise ConfigError("MODEL.BACKBONE.TEST.TASK must be vis, vps or vss for the predictor")
        self.task = self.model.task
        self.runner = CoreRunner(self.model.core, dtype=dtype, compile=compile)
        self.mapper = VideoTestMapper(**VideoTestMapper.from_config(cfg))
        self.window_size = max(1, int(self.model.window_size or 1))
        self.cache_bytes = int(cache_mb * 2**20)
        self.class_names = _class_names(cfg, self.model.core.num_classes, self.task)
        self.last_offline_run: dict = {}  # frames and how pass 2 got its mask logits, for reports

    @classmethod
    def from_pretrained(cls, name_or_dir: str, **kwargs) -> VideoPredictor:
        """A predictor of a published model (``tools/publish.py``): a local folder, or a
        Hugging Face hub id ``org/name`` / ``hf://org/name[@revision]``; ``kwargs`` as for the
        constructor (``device``, ``dtype``, ...)."""
        pretrained = load_pretrained(name_or_dir)
        cfg = pretrained.cfg.clone()
        cfg.defrost()
        cfg.DATASETS.TEST = ()  # the class names come with the model, not from its datasets
        predictor = cls(cfg, pretrained.weights, **kwargs)
        predictor.class_names = list(pretrained.class_names)
        return predictor

    @property
    def device(self) -> torch.device:
        return self.model.device

    # ------------------------------------------------------------------ preprocessing
    def resize(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """(H, W, 3) uint8 RGB frames of one size -> uint8 (n, 3, h, w) resized by the test
        mapper's augmentations and channel order (the evaluation's resizing, not a copy)."""
        resized, _ = apply_clip_augmentations(
            self.mapper.augmentations, list(frames), np.random.default_rng(0)
        )
        return frames_to_tensor(resized, self.mapper.image_format)

    def model_input(self, frames: Sequence[np.ndarray]) -> tuple[torch.Tensor, FrameGeometry]:
        """Frames of one size -> normalised, padded (n, 3, H', W') on the device and their
        geometry (also the multi-task predictor's frame preparation)."""
        x, image_size = self.model.preprocess(self.resize(frames))
        return x, FrameGeometry(tuple(x.shape[-2:]), tuple(image_size), tuple(frames[0].shape[:2]))

    # ------------------------------------------------------------------ offline
    def raw_frames(
        self, video, max_frames: int | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, FrameGeometry]]:
        """Model outputs frame by frame, through the evaluation's window loop
        (``VidEoMTOnline.run_windows``: windows of ``TEST.WINDOW_SIZE`` frames, query state
        carried across windows) in this predictor's precision: yields
        (class logits (Q, K+1), mask logits (Q, H'/4, W'/4), geometry), fp32 on the CPU."""
        source = open_video(video, max_frames)
        frames = iter(source)
        output_sizes = []  # each window's original frame size, for its geometry

        def windows():
            while chunk := list(islice(frames, self.window_size)):
                output_sizes.append(tuple(chunk[0].shape[:2]))
                yield self.resize(chunk)

        outputs = self.model.run_windows(windows(), self.runner.window)
        for w, (logits, masks, image_size, padded_size) in enumerate(outputs):
            geo = FrameGeometry(padded_size, tuple(image_size), output_sizes[w])
            for i in range(logits.shape[0]):
                yield logits[i], masks[i], geo

    def __call__(
        self, video, max_frames: int | None = None, progress: bool = False
    ) -> Iterator[dict]:
        """Per-frame results of a whole video (file path, frame folder, list / array of RGB
        frames), yielded in order; see the module docstring for the two passes. Each result has
        ``frame_index`` and the task's fields:

        * vis: ``scores`` (N,), ``labels`` (N,), ``track_ids`` (N,), ``masks`` bool (N, H, W):
          one entry per query (its best class; the ``TEST.MAX_NUM`` queries with the most
          probable best class), the same N tracks (video-level classes) in every frame, masks
          possibly empty. The dataset evaluation instead keeps the top (query, class) pairs,
          where one query may appear with two classes (``videomt.postprocess``);
        * vps: ``panoptic_seg`` int32 (H, W) (0 = void) and ``segments_info`` (segments present);
        * vss: ``sem_seg`` int64 (H, W).
        """
        source = open_video(video, max_frames)
        if not source.reiterable:
            raise VideoInputError(
                f"{source.name}: a live source cannot be predicted offline; use predictor.stream()"
            )
        return self._offline(source, progress)

    def _offline(self, source: VideoSource, progress: bool) -> Iterator[dict]:
        frames = progress_bar(
            self.raw_frames(source),
            enabled=progress,
            total=source.num_frames,
            desc="pass 1/2 (classes)",
            unit="frame",
        )
        frames = (([lg], [mk], g) for lg, mk, g in frames)  # one model
        first = first_pass(frames, self.cache_bytes, source.name)
        self.last_offline_run = first.report
        if first.cache is not None:
            masks = ((m[0], g) for m, g in first.cache)
        else:
            masks = ((m, g) for _, m, g in self.raw_frames(source))
        masks = progress_bar(
            masks, enabled=progress, total=first.frames, desc="pass 2/2 (masks)", unit="frame"
        )
        yield from self._results(first.means[0], masks)

    def _results(
        self, mean: torch.Tensor, frames: Iterable[tuple[torch.Tensor, FrameGeometry]]
    ) -> Iterator[dict]:
        if self.task == "vps":
            video = self.panoptic_video(mean)
            for masks, geo in frames:
                video.add(masks, geo)
            results = video.frames()
        else:
            results = (self.frame_result(mean, masks, geo) for masks, geo in frames)
        for t, result in enumerate(results):
            yield {"frame_index": t, **result}

    def frame_result(
        self, class_logits: torch.Tensor, masks: torch.Tensor, geo: FrameGeometry
    ) -> dict:
        """One frame's instance or semantic result from the class logits (Q, K+1) that decide
        the classes and the frame's mask logits (Q, h, w).

        vis: one entry per query (``best_class_per_query``): ``scores`` (N,), ``labels`` (N,),
        ``track_ids`` (N,) (the query: an object keeps its id in every frame) and ``masks`` bool
        (N, H0, W0). vss: ``sem_seg`` (H0, W0) int64.
        """
        if self.task == "vss":
            return {"sem_seg": semantic_map(class_logits, masks, geo)}
        scores, labels, queries = best_class_per_query(class_logits, self.model.max_num)
        return {
            "scores": scores,
            "labels": labels,
            "track_ids": queries,
            "masks": instance_masks(masks, queries, geo),
        }

    def panoptic_video(self, class_logits: torch.Tensor, stable_ids: bool = False):
        """A ``PanopticVideo`` with this model's thresholds for class logits (Q, K+1)."""
        m = self.model
        return PanopticVideo(
            class_logits,
            object_mask_threshold=m.object_mask_threshold,
            overlap_threshold=m.overlap_threshold,
            num_things=m.num_things,
            stable_ids=stable_ids,
        )

    # ------------------------------------------------------------------ online
    def stream(self) -> VideoStream:
        """A new online stream: ``stream.step(frame)`` returns that frame's result."""
        return VideoStream(self)

    def step_streams(self, streams: Sequence[VideoStream], frames: Sequence) -> list[dict]:
        """Advance several independent streams by one frame each; streams whose frames resize
        to the same size run as one batch (B = number of such streams)."""
        if len(streams) != len(frames):
            raise ValueError(f"got {len(streams)} streams but {len(frames)} frames")
        if len({id(s) for s in streams}) != len(streams):
            raise ValueError("a stream can take only one frame per step_streams call")
        arrays = []
        for s, f in zip(streams, frames):
            if s.predictor is not self:
                raise ValueError("every stream must come from this predictor (predictor.stream())")
            arrays.append(s.check_frame(f))
        groups: dict[tuple[int, int], list[int]] = {}
        for i, a in enumerate(arrays):
            groups.setdefault(a.shape[:2], []).append(i)
        results: list[dict | None] = [None] * len(streams)
        for idx in groups.values():
            x, geo = self.model_input([arrays[i] for i in idx])
            states = [streams[i].state for i in idx]
            state = (
                None
                if all(st is None for st in states)
                else torch.cat(
                    [self.runner.initial_state(1) if st is None else st for st in states]
                )
            )
            logits, masks, next_state = self.runner.step(x, state)
            logits, masks = logits.cpu(), masks.cpu()
            for j, i in enumerate(idx):
                results[i] = streams[i].advance(logits[j], masks[j], next_state[j : j + 1], geo)
        return results

    def stream_result(
        self, class_logits: torch.Tensor, masks: torch.Tensor, geo: FrameGeometry
    ) -> dict:
        """One frame's result from causal class logits (Q, K+1) and its mask logits."""
        if self.task != "vps":
            return self.frame_result(class_logits, masks, geo)
        video = self.panoptic_video(class_logits, stable_ids=True)
        video.add(masks, geo)
        return next(video.frames())


class VideoStream:
    """One online video: constant memory (the propagated queries (1, Q, C) and the running sum of
    class logits (Q, K+1)) however many frames it has seen.

    Class scores are causal: frame t uses the mean of the class logits of frames 0..t,
    so a track's label and score may change while the video goes on; after the
    last frame they equal the offline predictor's video-level ones. Track ids are query indices
    (vis) or query/class-derived segment ids (vps), stable over the stream.
    """

    def __init__(self, predictor: VideoPredictor):
        self.predictor = predictor
        self.reset()

    def reset(self) -> None:
        """Forget the video: the next frame starts a new stream."""
        self._state: torch.Tensor | None = None
        self.logit_sum: torch.Tensor | None = None
        self.num_frames = 0
        self.frame_size: tuple[int, int] | None = None

    @property
    def state(self) -> torch.Tensor | None:
        """Propagated queries (1, Q, C) on the predictor's device; None before the first frame."""
        return self._state

    @state.setter
    def state(self, value: torch.Tensor | None) -> None:
        core = self.predictor.model.core
        want = (1, core.num_queries, core.q.weight.shape[1])
        if value is not None and (
            not isinstance(value, torch.Tensor)
            or tuple(value.shape) != want
            or not value.is_floating_point()
        ):
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"stream state must be a float tensor of shape {want}, got {got}")
        self._state = None if value is None else value.to(self.predictor.device, torch.float32)

    @property
    def mean_logits(self) -> torch.Tensor | None:
        """Causal class logits (Q, K+1): the mean over the frames seen so far."""
        return None if self.logit_sum is None else (self.logit_sum / self.num_frames).float()

    def step(self, frame) -> dict:
        """Feed one (H, W, 3) uint8 RGB frame; returns its result (as the offline predictor's,
        with causal classes) plus ``frame_index``."""
        return self.predictor.step_streams([self], [frame])[0]

    def check_frame(self, frame) -> np.ndarray:
        """The next frame as an (H, W, 3) uint8 RGB array; a frame of another size than the
        stream's first is a ``VideoInputError``. Public for ``MultiTaskStream``, as ``advance``."""
        arr = as_rgb_frame(frame, f"stream frame {self.num_frames}")
        if self.frame_size is not None and arr.shape[:2] != self.frame_size:
            raise VideoInputError(
                f"stream frame {self.num_frames} is {arr.shape[0]}x{arr.shape[1]} but the stream "
                "started at "
                f"{self.frame_size[0]}x{self.frame_size[1]} (call stream.reset() for a new video)"
            )
        return arr

    def advance(
        self, logits: torch.Tensor, masks: torch.Tensor, state: torch.Tensor, geo: FrameGeometry
    ) -> dict:
        """Take one frame's model outputs (class logits (Q, K+1), mask logits (Q, h, w), next
        state (1, Q, C)) into the stream and return its result."""
        self._state = state
        self.frame_size = geo.output_size
        self.logit_sum = (
            logits.double() if self.logit_sum is None else self.logit_sum + logits.double()
        )
        self.num_frames += 1
        result = self.predictor.stream_result(self.mean_logits, masks, geo)
        return {"frame_index": self.num_frames - 1, **result}


def _class_names(cfg, num_classes: int, task: str) -> list[str]:
    """Contiguous class names from the test dataset's metadata, else "class <i>"."""
    names: list[str] = []
    if cfg.DATASETS.TEST:
        meta = MetadataCatalog.get(cfg.DATASETS.TEST[0])
        key = "thing_classes" if task == "vis" else "stuff_classes"
        names = list(getattr(meta, key, None) or getattr(meta, "thing_classes", None) or [])
    return [names[i] if i < len(names) else f"class {i}" for i in range(num_classes)]
