"""Inference for people: the video predictor, live streams, video I/O and drawing.

predictor = videomt.VideoPredictor("configs/ytvis19/videomt_dinov2_small.yaml", "weights.pth")
for result in predictor("video.mp4"):        # offline, video-level classes
    ...
stream = predictor.stream()                 # online, causal classes
result = stream.step(frame)
multi = videomt.MultiTaskPredictor([vis_cfg, vss_cfg], [w_vis, w_vss])  # PMT: one encoder pass
"""

from ..postprocess import FrameGeometry, PanopticVideo
from .multitask import MultiTaskPredictor, MultiTaskStream
from .predictor import VideoPredictor, VideoStream
from .runtime import CoreRunner, FrameStep, resolve_dtype
from .video_io import VideoInputError, VideoSource, as_rgb_frame, open_video

__all__ = [
    "VideoPredictor",
    "VideoStream",
    "MultiTaskPredictor",
    "MultiTaskStream",
    "VideoInputError",
    "VideoSource",
    "open_video",
    "as_rgb_frame",
    "CoreRunner",
    "FrameStep",
    "resolve_dtype",
    "FrameGeometry",
    "PanopticVideo",
]
