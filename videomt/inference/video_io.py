"""Lazy video readers: a video file, a folder of frames, in-memory frames or a webcam.

Every source yields ``(H, W, 3)`` uint8 RGB frames one at a time, so a long video is never held
in memory. File and folder sources can be iterated again (the offline predictor reads a long
video twice); a webcam can be iterated once.

Documented conversions: grayscale frames (``(H, W)`` or ``(H, W, 1)``) are replicated to RGB,
RGBA frames lose their alpha channel, channel-first arrays ``(3, H, W)`` are transposed. Anything
else (floats, changing frame sizes, zero frames, unreadable files, a video file that decodes to
fewer frames than its container declares) raises :class:`VideoInputError` with one line naming
the input and the problem: a video is never silently shortened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from ..data.catalog import DatasetError
from ..data.io import read_image_rgb
from ..errors import UserError, first_line

__all__ = [
    "VideoInputError",
    "VideoSource",
    "open_video",
    "as_rgb_frame",
    "VIDEO_EXTENSIONS",
    "IMAGE_EXTENSIONS",
]

VIDEO_EXTENSIONS = (
    ".mp4",
    ".avi",
    ".webm",
    ".gif",
    ".mov",
    ".mkv",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".wmv",
)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class VideoInputError(UserError):
    """A video, frame or stream input that cannot be used as it is (one-line message)."""


def _to_uint8_hint(dtype: np.dtype) -> str:
    """How to turn frames of ``dtype`` into uint8, for the error message."""
    if np.issubdtype(dtype, np.floating):
        return " (for floats in [0, 1] pass (x * 255).round().astype(np.uint8))"
    if dtype == np.uint16:
        return " (for 16-bit frames in [0, 65535] pass (x >> 8).astype(np.uint8))"
    if np.issubdtype(dtype, np.integer):
        return " (for values already in [0, 255] pass x.astype(np.uint8))"
    return ""


def as_rgb_frame(frame, where: str) -> np.ndarray:
    """One frame (numpy array or torch tensor) -> contiguous ``(H, W, 3)`` uint8 RGB.

    Accepts ``(H, W)``, ``(H, W, 1|3|4)`` and channel-first ``(1|3|4, H, W)``; grayscale is
    replicated, alpha dropped. ``where`` names the frame in error messages.
    """
    if isinstance(frame, torch.Tensor):
        frame = frame.detach().cpu().numpy()
    if not isinstance(frame, np.ndarray):
        raise VideoInputError(f"{where}: expected an image array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise VideoInputError(
            f"{where}: frames must be uint8 RGB in [0, 255], got dtype {frame.dtype}"
            + _to_uint8_hint(frame.dtype)
        )
    if frame.ndim == 3 and frame.shape[-1] not in (1, 3, 4) and frame.shape[0] in (1, 3, 4):
        frame = frame.transpose(1, 2, 0)  # channel-first -> channel-last
    if frame.ndim == 2:
        frame = frame[:, :, None]
    if frame.ndim != 3 or frame.shape[-1] not in (1, 3, 4):
        raise VideoInputError(
            f"{where}: expected an (H, W, 3) RGB frame, got shape {tuple(frame.shape)}"
        )
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise VideoInputError(f"{where}: empty frame of shape {tuple(frame.shape)}")
    if frame.shape[-1] == 1:
        frame = np.repeat(frame, 3, axis=2)
    elif frame.shape[-1] == 4:
        frame = frame[:, :, :3]
    return np.ascontiguousarray(frame)


class VideoSource:
    """Re-iterable lazy frames with a name (for messages), an ``fps`` and, when known, a length.

    Iterating checks every frame (uint8 RGB, one size for the whole video) and raises
    :class:`VideoInputError` on zero frames. ``max_frames`` truncates the video.
    """

    reiterable = True

    def __init__(
        self,
        name: str,
        fps: float | None = None,
        num_frames: int | None = None,
        max_frames: int | None = None,
        frame_names: Sequence[str] | None = None,
    ):
        self.name = name
        self.fps = fps
        self.max_frames = max_frames
        if num_frames is not None and max_frames is not None:
            num_frames = min(num_frames, max_frames)
        self.num_frames = num_frames
        self.frame_names = frame_names  # file stems of a frame folder (None otherwise)

    def _raw_frames(self) -> Iterator:
        raise NotImplementedError

    def __iter__(self) -> Iterator[np.ndarray]:
        first_hw = None
        count = 0
        for raw in self._raw_frames():
            if self.max_frames is not None and count >= self.max_frames:
                break
            frame = as_rgb_frame(raw, f"{self.name}: frame {count}")
            if first_hw is None:
                first_hw = frame.shape[:2]
            elif frame.shape[:2] != first_hw:
                raise VideoInputError(
                    f"{self.name}: frame {count} is {frame.shape[0]}x{frame.shape[1]} but frame 0 "
                    "is "
                    f"{first_hw[0]}x{first_hw[1]} (all frames of a video must have one size)"
                )
            count += 1
            yield frame
        if count == 0:
            raise VideoInputError(f"{self.name}: the video has no frames")

    def __len__(self) -> int:
        if self.num_frames is None:
            raise TypeError(f"{self.name}: the number of frames is unknown before decoding")
        return self.num_frames


class _FileVideo(VideoSource):
    """A video file decoded with PyAV (mp4, avi, webm, gif, ...)."""

    def __init__(self, path: str, max_frames: int | None = None):
        import av  # PyAV, only needed for video files

        try:
            with av.open(path) as container:
                if not container.streams.video:
                    raise VideoInputError(f"{path}: the file has no video stream")
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate
                fps = float(rate) if rate else None
                frames = stream.frames or None
        except av.error.FFmpegError as e:
            raise VideoInputError(f"{path}: not a readable video ({first_line(e)})") from None
        super().__init__(path, fps=fps, num_frames=frames, max_frames=max_frames)
        self.path = path
        self.declared_frames = frames  # the container's frame count (None: not declared)

    def _raw_frames(self):
        import av

        decoded = 0
        try:
            with av.open(self.path) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    decoded += 1
                    yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as e:
            raise VideoInputError(
                f"{self.path}: decoding failed after {decoded} frames ({first_line(e)})"
            ) from None
        # A truncated or damaged file can end early without a decoder error (frame-threaded
        # decoding drops the broken frames): the container's own count tells.
        if self.declared_frames and decoded < self.declared_frames:
            raise VideoInputError(
                f"{self.path}: only {decoded} of the {self.declared_frames} frames the file "
                "declares could be decoded (the file is truncated or damaged)"
            )


class _FrameFolder(VideoSource):
    """Image files of a folder in sorted file-name order."""

    def __init__(self, folder: str, max_frames: int | None = None):
        files = sorted(
            f
            for f in os.listdir(folder)
            if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")
        )
        if not files:
            raise VideoInputError(
                f"{folder}: the folder has no image files ({', '.join(IMAGE_EXTENSIONS)})"
            )
        super().__init__(
            folder,
            num_frames=len(files),
            max_frames=max_frames,
            frame_names=[os.path.splitext(f)[0] for f in files],
        )
        self.files = [os.path.join(folder, f) for f in files]

    def _raw_frames(self):
        for path in self.files:
            try:
                yield read_image_rgb(path)
            except DatasetError as e:
                raise VideoInputError(str(e)) from None


class _ImageFile(VideoSource):
    """A still image: a one-frame video."""

    def __init__(self, path: str, max_frames: int | None = None):
        super().__init__(
            path,
            num_frames=1,
            max_frames=max_frames,
            frame_names=[os.path.splitext(os.path.basename(path))[0]],
        )
        self.path = path

    def _raw_frames(self):
        try:
            yield read_image_rgb(self.path)
        except DatasetError as e:
            raise VideoInputError(str(e)) from None


class _FileList(VideoSource):
    """Image files in the given order (e.g. a dataset dict's ``file_names``)."""

    def __init__(self, files: Sequence[str], max_frames: int | None = None):
        super().__init__(
            os.path.dirname(files[0]) or files[0],
            num_frames=len(files),
            max_frames=max_frames,
            frame_names=[os.path.splitext(os.path.basename(f))[0] for f in files],
        )
        self.files = list(files)

    _raw_frames = _FrameFolder._raw_frames


class _InMemory(VideoSource):
    """A list of frames, a (T, H, W, C) / (T, C, H, W) array or tensor."""

    def __init__(self, frames, max_frames: int | None = None):
        if isinstance(frames, (np.ndarray, torch.Tensor)) and frames.ndim != 4:
            raise VideoInputError(
                f"frames: a video array must be 4-D (T, H, W, 3), got shape {tuple(frames.shape)}"
            )
        super().__init__("frames", num_frames=len(frames), max_frames=max_frames)
        self.frames = frames

    def _raw_frames(self):
        return iter(self.frames)


class _Webcam(VideoSource):
    """An OpenCV capture device (``cv2.VideoCapture(index)``); iterable once, endless."""

    reiterable = False

    def __init__(self, index: int, max_frames: int | None = None):
        import cv2

        level = cv2.utils.logging.getLogLevel()  # OpenCV's own WARN lines would repeat our error
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            self.capture = cv2.VideoCapture(index)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not self.capture.isOpened():
            raise VideoInputError(f"webcam {index}: cannot be opened (no camera with this index?)")
        fps = self.capture.get(cv2.CAP_PROP_FPS) or None
        super().__init__(f"webcam {index}", fps=fps, max_frames=max_frames)

    def _raw_frames(self):
        import cv2

        try:
            while True:
                ok, bgr = self.capture.read()
                if not ok:
                    return
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            self.capture.release()


def open_video(source, max_frames: int | None = None) -> VideoSource:
    """A :class:`VideoSource` for a video file path, a frame folder, an image file, a webcam
    index (int), a list of frames or of image paths, or a 4-D array / tensor of frames. Nothing is
    decoded yet."""
    if max_frames is not None and max_frames <= 0:
        raise VideoInputError(f"max_frames must be positive, got {max_frames}")
    if isinstance(source, VideoSource):
        return source
    if isinstance(source, int) and not isinstance(source, bool):
        return _Webcam(source, max_frames)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            return _FrameFolder(path, max_frames)
        if not os.path.exists(path):
            raise VideoInputError(f"{path}: video file or frame folder not found")
        if path.lower().endswith(IMAGE_EXTENSIONS):
            return _ImageFile(path, max_frames)
        return _FileVideo(path, max_frames)
    if isinstance(source, (list, tuple, np.ndarray, torch.Tensor)):
        if len(source) == 0:
            raise VideoInputError("frames: the video has no frames")
        if all(isinstance(f, (str, os.PathLike)) for f in source):
            return _FileList([os.fspath(f) for f in source], max_frames)
        return _InMemory(source, max_frames)
    raise VideoInputError(
        f"unsupported video input of type {type(source).__name__} (a file path, a frame "
        "folder, a webcam index, a list of frames or a (T, H, W, 3) array)"
    )
