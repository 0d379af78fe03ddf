"""Procedural scenes for the synthetic datasets: moving, scaling, rotating shapes over a texture
that enter and leave (start/end frames, paths crossing the border) and occlude each other (fixed
depth order), with exact label maps from the geometry (not from the JPEG)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pycocotools import mask as mask_util

# Instance classes: one shape and one base colour each (RGB).
SHAPE_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross")
SHAPE_COLORS: tuple[tuple[int, int, int], ...] = (
    (220, 40, 40),
    (40, 190, 60),
    (50, 80, 230),
    (235, 210, 30),
    (200, 50, 200),
)
# An extra shape used only as an unmapped "distractor" category in the synthetic COCO set.
DISTRACTOR_CLASS = "hexagon"
DISTRACTOR_COLOR = (120, 120, 120)
# Stuff regions (panoptic / semantic scenes), top to bottom.
STUFF_CLASSES: tuple[str, ...] = ("sky", "wall", "ground")
STUFF_COLORS: tuple[tuple[int, int, int], ...] = ((120, 170, 235), (150, 140, 130), (110, 85, 50))


def _unit_polygon(shape: str) -> np.ndarray:
    """``(N, 2)`` vertices of a shape of radius ~1 centred at 0."""
    if shape == "square":
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) * 0.8
    if shape == "cross":
        t = 0.35
        return np.array(
            [
                [-t, -1],
                [t, -1],
                [t, -t],
                [1, -t],
                [1, t],
                [t, t],
                [t, 1],
                [-t, 1],
                [-t, t],
                [-1, t],
                [-1, -t],
                [-t, -t],
            ],
            dtype=np.float64,
        )
    if shape == "circle":
        a = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    elif shape == "triangle":
        a = np.array([-90, 30, 150]) * np.pi / 180
    elif shape == "star":
        a = np.arange(10) * np.pi / 5 - np.pi / 2
    else:  # the hexagon distractor
        a = np.arange(6) * np.pi / 3
    r = (
        np.where(np.arange(len(a)) % 2 == 0, 1.0, 0.45) if shape == "star" else 1.0
    )  # star: inner vertices
    return np.stack([r * np.cos(a), r * np.sin(a)], 1)


def rasterize(poly: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(N, 2)`` x, y vertices -> ``(H, W)`` bool mask, with pycocotools' polygon rasteriser
    (the one the mappers use to decode polygon annotations), so written polygons are exact."""
    rle = mask_util.frPyObjects([poly.reshape(-1).astype(np.float64).tolist()], height, width)
    return mask_util.decode(rle)[:, :, 0].astype(bool)


@dataclass
class ShapeTrack:
    """One object: class, appearance, and motion over ``[start, end]`` (inclusive frames)."""

    cls: int  # index in SHAPE_CLASSES (len(SHAPE_CLASSES) = the distractor)
    color: tuple[int, int, int]
    start: int
    end: int
    pos0: np.ndarray  # (2,) x, y in pixels at t = 0
    vel: np.ndarray  # (2,) pixels per frame
    radius0: float
    scale_rate: float  # radius(t) = radius0 * (1 + scale_rate * t), clipped
    angle0: float
    spin: float  # radians per frame

    def polygon(self, t: int) -> np.ndarray | None:
        """``(N, 2)`` float vertices at frame ``t``, or ``None`` outside ``[start, end]``."""
        if t < self.start or t > self.end:
            return None
        r = self.radius0 * max(0.3, 1.0 + self.scale_rate * t)
        a = self.angle0 + self.spin * t
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        return _unit_polygon((*SHAPE_CLASSES, DISTRACTOR_CLASS)[self.cls]) @ rot.T * r + (
            self.pos0 + self.vel * t
        )


def _texture(rng: np.random.Generator, h: int, w: int, base: np.ndarray, amp: float) -> np.ndarray:
    """``(h, w, 3)`` float texture: base colour + smooth noise + fine noise + stripes."""
    coarse = rng.normal(0, 1, (max(2, h // 16), max(2, w // 16), 3)).astype(np.float32)
    coarse = 0.7 * coarse.mean(axis=2, keepdims=True) + 0.3 * coarse  # mostly luminance
    smooth = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 0.35, (h, w, 3)).astype(np.float32)
    freq, phase = rng.uniform(0.05, 0.2), rng.uniform(0, 2 * np.pi)
    stripes = np.sin(np.arange(w, dtype=np.float32) * freq + phase)[None, :, None] * 0.5
    return base[None, None, :].astype(np.float32) + amp * (smooth + fine + stripes)


class Scene:
    """A synthetic video: background (optionally stuff bands), shape tracks, camera pan."""

    def __init__(
        self,
        rng: np.random.Generator,
        height: int,
        width: int,
        num_frames: int,
        with_stuff: bool = False,
        num_classes: int = len(SHAPE_CLASSES),
        max_objects: int = 4,
    ) -> None:
        self.h, self.w, self.T, self.with_stuff = height, width, num_frames, with_stuff
        self.pad = pad = 24
        self.pan = rng.uniform(-1.5, 1.5, 2)
        ph, pw = height + 2 * pad, width + 2 * pad
        if with_stuff:
            self.bg = [_texture(rng, ph, pw, np.array(c), 10.0) for c in STUFF_COLORS]
            self.bands = [
                (
                    rng.uniform(0.2, 0.35),
                    rng.uniform(0.03, 0.08),
                    rng.uniform(0.02, 0.06),
                    rng.uniform(0, 2 * np.pi),
                    rng.uniform(0.1, 0.4),
                ),
                (
                    rng.uniform(0.65, 0.8),
                    rng.uniform(0.02, 0.06),
                    rng.uniform(0.02, 0.06),
                    rng.uniform(0, 2 * np.pi),
                    rng.uniform(0.1, 0.4),
                ),
            ]
        else:
            self.bg = [_texture(rng, ph, pw, rng.uniform(60, 190, 3), 18.0)]
        self.tracks = [
            self._random_track(rng, num_classes)
            for _ in range(int(rng.integers(2, max_objects + 1)))
        ]

    def _random_track(self, rng: np.random.Generator, num_classes: int) -> ShapeTrack:
        h, w, T = self.h, self.w, self.T
        cls = int(rng.integers(0, num_classes))
        base = np.array((*SHAPE_COLORS, DISTRACTOR_COLOR)[cls])
        color = tuple(int(c) for c in np.clip(base + rng.integers(-25, 26, 3), 0, 255))
        radius0 = float(rng.uniform(0.08, 0.2) * min(h, w))
        mode = rng.uniform()
        start, end = 0, T - 1
        speed = rng.uniform(0.01, 0.04) * w
        if mode < 0.3:  # crosses the frame horizontally: enters and / or leaves through a border
            side = rng.choice([-1, 1])
            x0 = w / 2 - side * (w / 2 + radius0 * rng.uniform(0.0, 1.0))
            pos0 = np.array([x0, rng.uniform(0.25, 0.75) * h])
            vel = np.array(
                [
                    side * rng.uniform(w / max(T, 2), 1.6 * w / max(T, 2)),
                    rng.uniform(-0.01, 0.01) * h,
                ]
            )
        else:  # moves around the centre so objects meet and occlude each other
            pos0 = np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h])
            direction = np.array([w / 2, h / 2]) - pos0 + rng.normal(0, 0.1 * min(h, w), 2)
            vel = direction / (np.linalg.norm(direction) + 1e-6) * speed
            if mode > 0.75 and T > 3:  # appears late or disappears early
                if rng.uniform() < 0.5:
                    start = int(rng.integers(1, T // 2 + 1))
                else:
                    end = int(rng.integers(T // 2, T - 1))
        return ShapeTrack(
            cls=cls,
            color=color,
            start=start,
            end=end,
            pos0=pos0,
            vel=vel,
            radius0=radius0,
            scale_rate=float(rng.uniform(-0.06, 0.08)),
            angle0=float(rng.uniform(0, 2 * np.pi)),
            spin=float(rng.uniform(-0.15, 0.15)),
        )

    def _stuff_map(self, t: int) -> np.ndarray:
        h, w = self.h, self.w
        x = np.arange(w, dtype=np.float64)
        yy = np.arange(h, dtype=np.float64)[:, None]
        lines = [
            (y_rel + amp * np.sin(freq * x + phase + speed * t)) * h
            for y_rel, amp, freq, phase, speed in self.bands
        ]  # 2 x (W,) band edges
        out = np.ones((h, w), dtype=np.int32)  # wall
        out[yy < lines[0]] = 0  # sky above the first band edge
        out[yy >= lines[1]] = 2  # ground below the second
        for y in lines:  # a 1-pixel void boundary along each band edge
            yi = np.clip(np.round(y).astype(int), 0, h - 1)
            out[yi, np.arange(w)] = -1
        return out

    def render(self, t: int) -> dict[str, np.ndarray]:
        """Frame ``t``: ``image`` (H, W, 3) uint8 RGB; ``inst`` (H, W) int32, 0 = no object, k+1 =
        visible pixels of object k; with ``with_stuff``, ``stuff`` (H, W) int32 band (0 sky, 1 wall,
        2 ground, -1 void boundary)."""
        h, w, pad = self.h, self.w, self.pad
        off = np.clip(np.round(self.pan * t).astype(int) + pad, 0, 2 * pad)
        crop = (slice(off[1], off[1] + h), slice(off[0], off[0] + w))
        out: dict[str, np.ndarray] = {}
        if self.with_stuff:
            stuff = self._stuff_map(t)
            img = np.zeros((h, w, 3), dtype=np.float32)
            for k, tex in enumerate(self.bg):
                sel = stuff == k
                img[sel] = tex[crop][sel]
            img[stuff < 0] = 40.0
            out["stuff"] = stuff
        else:
            img = self.bg[0][crop].copy()
        inst = np.zeros((h, w), dtype=np.int32)
        for k, tr in enumerate(self.tracks):
            poly = tr.polygon(t)
            if poly is not None:
                inst[rasterize(poly, h, w)] = k + 1
        for k, tr in enumerate(self.tracks):
            sel = inst == k + 1
            if sel.any():
                shade = 0.85 + 0.15 * (img[sel].mean(axis=1, keepdims=True) / 255.0)
                img[sel] = np.array(tr.color, dtype=np.float32)[None] * shade
        out["image"] = np.clip(img, 0, 255).astype(np.uint8)
        out["inst"] = inst
        return out


def make_scene(
    seed: int,
    index: int,
    height: int,
    width: int,
    num_frames: int,
    with_stuff: bool = False,
    num_classes: int = len(SHAPE_CLASSES),
) -> Scene:
    """The ``index``-th scene of a dataset generated with ``seed`` (independent streams)."""
    rng = np.random.default_rng([seed, index])
    return Scene(rng, height, width, num_frames, with_stuff=with_stuff, num_classes=num_classes)
