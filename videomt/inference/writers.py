"""Streaming video writers: each frame is encoded and written when it arrives (flat memory).

``open_writer(path, fps)`` picks the format from the path: ``.gif`` (PyAV's GIF encoder, one
256-colour palette per frame), ``.mp4`` (H.264 via PyAV, yuv420p) or, for any other path that is not
a video or image file name, a folder of PNG files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from PIL import Image

from .video_io import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, VideoInputError

__all__ = [
    "open_writer",
    "check_output_path",
    "GifWriter",
    "Mp4Writer",
    "PngFolderWriter",
    "OUTPUT_SUFFIXES",
]

OUTPUT_SUFFIXES = (".gif", ".mp4")


class _PyAVWriter:
    """Opens the container lazily on the first frame (its size fixes the stream's)."""

    codec = ""
    pix_fmt = ""

    def __init__(self, path: str, fps: float):
        self.path = path
        self.fps = Fraction(fps).limit_denominator(1000)
        self.container = None
        self.stream = None
        self.size: tuple[int, int] | None = None
        self.count = 0

    def _open(self, h: int, w: int) -> None:
        import av

        try:
            self.container = av.open(self.path, "w")
        except (av.error.FFmpegError, OSError) as e:
            raise VideoInputError(f"{self.path}: cannot write the video ({e})") from None
        self.stream = self.container.add_stream(self.codec, rate=self.fps)
        self.stream.width, self.stream.height, self.stream.pix_fmt = w, h, self.pix_fmt
        self.size = (h, w)

    def _frame(self, rgb: np.ndarray):
        raise NotImplementedError

    def write(self, rgb: np.ndarray) -> None:
        """Encode one (H, W, 3) uint8 RGB frame (all frames must have one size)."""
        rgb = self._fit(rgb)
        if self.container is None:
            self._open(*rgb.shape[:2])
        elif rgb.shape[:2] != self.size:
            raise VideoInputError(
                f"{self.path}: frame {self.count} is {rgb.shape[:2]} but the video is {self.size}"
            )
        for packet in self.stream.encode(self._frame(rgb)):
            self.container.mux(packet)
        self.count += 1

    def _fit(self, rgb: np.ndarray) -> np.ndarray:
        return rgb

    def close(self) -> None:
        if self.container is None:
            return
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        self.container = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class GifWriter(_PyAVWriter):
    """Animated GIF; each frame gets its own adaptive 256-colour palette (PIL median cut)."""

    codec = "gif"
    pix_fmt = "pal8"

    def _frame(self, rgb: np.ndarray):
        import av

        indexed = Image.fromarray(rgb).quantize(colors=256, dither=Image.Dither.NONE)
        colours = np.asarray(indexed.getpalette()[: 3 * 256], dtype=np.uint8).reshape(-1, 3)
        palette = np.zeros((256, 4), dtype=np.uint8)  # PyAV's pal8 rows: alpha, red, green, blue
        palette[:, 0] = 255
        palette[: len(colours), 1:] = colours
        return av.VideoFrame.from_ndarray((np.asarray(indexed), palette), format="pal8")


class Mp4Writer(_PyAVWriter):
    """H.264 MP4 (yuv420p); odd frame sizes are padded by one edge pixel to even ones."""

    codec = "libx264"
    pix_fmt = "yuv420p"

    def _fit(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        if h % 2 or w % 2:
            rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        return rgb

    def _frame(self, rgb: np.ndarray):
        import av

        return av.VideoFrame.from_ndarray(rgb, format="rgb24")


class PngFolderWriter:
    """One PNG per frame, named after the input frame (``names``) or numbered ``000000.png``."""

    def __init__(self, folder: str, names: Sequence[str] | None = None):
        os.makedirs(folder, exist_ok=True)
        self.folder = folder
        self.names = list(names) if names else None
        self.count = 0

    def write(self, rgb: np.ndarray) -> None:
        name = (
            self.names[self.count]
            if self.names and self.count < len(self.names)
            else f"{self.count:06d}"
        )
        Image.fromarray(rgb).save(os.path.join(self.folder, f"{name}.png"))
        self.count += 1

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_output_path(path: str) -> str:
    """The output kind's suffix (".gif", ".mp4" or "" for a PNG folder); other video or image
    extensions are an error."""
    suffix = os.path.splitext(path.rstrip("/"))[1].lower()
    if suffix not in OUTPUT_SUFFIXES and suffix in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS:
        raise VideoInputError(
            f"{path}: the output must end in .gif or .mp4, or be a folder (for PNG frames)"
        )
    return suffix if suffix in OUTPUT_SUFFIXES else ""


def open_writer(path: str, fps: float, frame_names: Sequence[str] | None = None):
    """A writer for ``path``: ``.gif``, ``.mp4`` or a folder of PNGs (any path that does not end in
    a video or image extension)."""
    if fps <= 0:
        raise VideoInputError(f"fps must be positive, got {fps}")
    suffix = check_output_path(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if suffix == ".gif":
        return GifWriter(path, fps)
    if suffix == ".mp4":
        return Mp4Writer(path, fps)
    return PngFolderWriter(path, frame_names)
