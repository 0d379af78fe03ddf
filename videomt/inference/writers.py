"""Streaming video writers: each frame is encoded and written when it arrives (flat memory).

``open_writer(path, fps)`` picks the format from the path: ``.gif`` (PyAV's GIF encoder, one
256-colour palette for the video, only changed pixels stored), ``.mp4`` (H.264 via PyAV, yuv420p)
or, for any other path that is not a video or image file name, a folder of PNG files. Used as a
context manager, a writer left by an exception (a bad input frame, a full disk, Ctrl-C) removes
what it wrote instead of leaving an unfinished file that looks complete.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from PIL import Image

from ..utils.files import require_writable_dir, require_writable_file
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
        import av

        rgb = self._fit(rgb)
        if self.container is None:
            self._open(*rgb.shape[:2])
        elif rgb.shape[:2] != self.size:
            raise VideoInputError(
                f"{self.path}: frame {self.count} is {rgb.shape[:2]} but the video is {self.size}"
            )
        try:
            for packet in self.stream.encode(self._frame(rgb)):
                self.container.mux(packet)
        except (av.error.FFmpegError, OSError) as e:  # e.g. no space left on the device
            raise VideoInputError(f"{self.path}: cannot write frame {self.count} ({e})") from None
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

    def discard(self) -> None:
        """Stop writing and delete the unfinished file."""
        if self.container is not None:
            with contextlib.suppress(Exception):
                self.container.close()
            self.container = None
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


class GifWriter(_PyAVWriter):
    """Animated GIF with one palette for the whole video and frame differences.

    The palette is the first frame's (PIL median cut, 228 colours) plus a 3x3x3 cube of saturated
    colours for what appears later (e.g. drawn masks); one entry stays free for FFmpeg to use as
    the transparent colour. From the second frame on, a pixel keeps the colour already shown when
    that colour is at most ``tolerance`` (per channel, 0-255) worse than the pixel's best palette
    colour, so sensor noise does not repaint a still background. FFmpeg's GIF encoder then stores
    only the rectangle that changed, with unchanged pixels transparent: a still camera costs a
    fraction of a frame per frame. A panning camera changes nearly every pixel; MP4 suits it better.

    Two options shrink any GIF further: ``frame_step`` N keeps every Nth frame (the first, then
    N later, ...) and shows each N times as long, so the clip plays at its speed; ``max_width``
    scales wider frames down to that width (area averaging, aspect ratio kept).
    """

    codec = "gif"
    pix_fmt = "pal8"
    tolerance = 8
    adaptive_colours = 228  # + 27 cube colours + 1 free entry = 256

    def __init__(self, path: str, fps: float, frame_step: int = 1, max_width: int | None = None):
        super().__init__(path, fps / frame_step)
        self.frame_step, self.max_width = frame_step, max_width
        self.received = 0  # frames given to write(), kept or not
        self._palette_image: Image.Image | None = None  # PIL "P" image holding the shared palette
        self._colours = np.zeros((256, 3), dtype=np.uint8)  # palette rows as RGB
        self._shown: np.ndarray | None = None  # (H, W) palette indices on screen after last frame

    def write(self, rgb: np.ndarray) -> None:
        """Encode one (H, W, 3) uint8 RGB frame, or skip it (``frame_step``)."""
        self.received += 1
        if (self.received - 1) % self.frame_step == 0:
            super().write(rgb)

    def _fit(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        if self.max_width is None or w <= self.max_width:
            return rgb
        size = (self.max_width, max(1, round(h * self.max_width / w)))  # (W', H')
        return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BOX))

    def _make_palette(self, rgb: np.ndarray) -> None:
        first = Image.fromarray(rgb).quantize(
            colors=self.adaptive_colours, dither=Image.Dither.NONE
        )
        adaptive = np.asarray(first.getpalette()[: 3 * self.adaptive_colours], dtype=np.uint8)
        levels = np.array([0, 128, 255], dtype=np.uint8)
        cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
        used = np.concatenate([adaptive.reshape(-1, 3), cube])  # (<= 255, 3)
        self._colours[: len(used)] = used
        self._palette_image = Image.new("P", (1, 1))
        self._palette_image.putpalette(self._colours.reshape(-1).tolist())

    def _frame(self, rgb: np.ndarray):
        import av

        if self._palette_image is None:
            self._make_palette(rgb)
        image = Image.fromarray(rgb).quantize(palette=self._palette_image, dither=Image.Dither.NONE)
        indices = np.array(image, dtype=np.uint8)  # (H, W)
        if self._shown is not None:
            pixels = rgb.astype(np.int16)  # (H, W, 3)
            best_error = np.abs(pixels - self._colours[indices]).max(-1)  # (H, W)
            shown_error = np.abs(pixels - self._colours[self._shown]).max(-1)
            keep = shown_error <= best_error + self.tolerance
            indices[keep] = self._shown[keep]
        self._shown = indices
        palette = np.zeros((256, 4), dtype=np.uint8)  # PyAV's pal8 rows: alpha, red, green, blue
        palette[:, 0] = 255
        palette[:, 1:] = self._colours
        return av.VideoFrame.from_ndarray((indices, palette), format="pal8")


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
        self.written: list[str] = []

    def write(self, rgb: np.ndarray) -> None:
        name = (
            self.names[self.count]
            if self.names and self.count < len(self.names)
            else f"{self.count:06d}"
        )
        path = os.path.join(self.folder, f"{name}.png")
        self.written.append(path)
        try:
            Image.fromarray(rgb).save(path)
        except OSError as e:  # e.g. no space left on the device
            raise VideoInputError(f"{path}: cannot write frame {self.count} ({e})") from None
        self.count += 1

    def close(self) -> None:
        pass

    def discard(self) -> None:
        """Delete the PNG files written so far (other files in the folder are left alone)."""
        for path in self.written:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        self.written = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            self.discard()


def check_output_path(path: str) -> str:
    """The output kind's suffix (".gif", ".mp4" or "" for a PNG folder); other video or image
    extensions, and a folder that cannot be written (read-only, no permission), are an error."""
    suffix = os.path.splitext(path.rstrip("/"))[1].lower()
    if suffix not in OUTPUT_SUFFIXES and suffix in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS:
        raise VideoInputError(
            f"{path}: the output must end in .gif or .mp4, or be a folder (for PNG frames)"
        )
    if suffix in OUTPUT_SUFFIXES:
        require_writable_file(path, "output")
        return suffix
    require_writable_dir(path, "output folder")
    return ""


def open_writer(
    path: str,
    fps: float,
    frame_names: Sequence[str] | None = None,
    gif_frame_step: int = 1,
    gif_max_width: int | None = None,
):
    """A writer for ``path``: ``.gif``, ``.mp4`` or a folder of PNGs (any path that does not end in
    a video or image extension); ``gif_frame_step`` / ``gif_max_width``: see :class:`GifWriter`
    (a GIF only)."""
    if fps <= 0:
        raise VideoInputError(f"fps must be positive, got {fps}")
    suffix = check_output_path(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if suffix == ".gif":
        return GifWriter(path, fps, gif_frame_step, gif_max_width)
    if suffix == ".mp4":
        return Mp4Writer(path, fps)
    return PngFolderWriter(path, frame_names)
