"""Per-clip augmentations built on fvcore transforms (SPEC 3.7).

A :class:`ClipAugmentation` looks at the frames of a clip and returns one deterministic fvcore
``Transform`` per frame. "By clip" augmentations return the *same* transform object for every
frame (one decision per clip); per-frame augmentations (colour jitter, ``INPUT.AUGMENTATIONS``
rotation, ``RANDOM_FLIP="horizontal"``) draw one decision per frame, as the reference does.

All randomness comes from an explicit ``numpy.random.Generator`` so that a clip is a pure
function of (dataset dict, generator state); the training loader seeds one generator per
(seed, sample position), which makes whole runs reproducible and resumable.

Frames are HxWx3 uint8 RGB arrays. Masks / segmentation maps go through
``Transform.apply_segmentation`` (nearest neighbour). Resizing and rotation reproduce
Detectron2's pixels (PIL bilinear / nearest, half-pixel rotation centre): the published models
were trained and scored on them.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from fvcore.transforms.transform import (
    BlendTransform,
    CropTransform,
    HFlipTransform,
    NoOpTransform,
    Transform,
    TransformList,
    VFlipTransform,
)

__all__ = [
    "ResizeTransform",
    "RotationTransform",
    "ClipAugmentation",
    "ResizeShortestEdgeClip",
    "RandomCropClip",
    "RandomApplyClip",
    "RandomFlipClip",
    "RandomBrightness",
    "RandomContrast",
    "RandomSaturation",
    "RandomRotationFrames",
    "RandomRotationClip",
    "apply_clip_augmentations",
    "shortest_edge_size",
    "build_clip_augmentation",
    "build_pseudo_augmentation",
    "build_segmentation_augmentation",
    "build_test_augmentation",
]

_PIL_RESAMPLE = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR}
_CV2_MAX_CHANNELS = 128  # OpenCV 5 rejects > 128 channels; masks are stacked as channels


def _pil_nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """Source index of each of ``n_out`` pixels in PIL's NEAREST resize of an ``n_in`` axis.

    PIL's nearest resize is separable, so resizing a 1 x n_in row of indices gives the exact
    sampling of any 2-D resize; gathering with it reproduces PIL for every dtype and any number
    of channels (stacked masks, int32 id maps)."""
    row = Image.fromarray(np.arange(n_in, dtype=np.int32)[None, :])  # mode "I"
    return np.asarray(row.resize((n_out, 1), Image.NEAREST))[0]


def _pil_resize(img: np.ndarray, new_hw: tuple[int, int], interp: str) -> np.ndarray:
    """Resize as Detectron2 does: uint8 through PIL (bilinear is antialiased when shrinking),
    nearest by PIL's own sampling for any dtype; other dtypes bilinear with torch."""
    new_h, new_w = new_hw
    if interp == "nearest":
        rows = _pil_nearest_index(img.shape[0], new_h)
        cols = _pil_nearest_index(img.shape[1], new_w)
        return img[rows][:, cols]
    if img.dtype != np.uint8:  # Detectron2's path for non-uint8 images
        x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))
        x = x.reshape(*img.shape[:2], -1).permute(2, 0, 1)[None]  # (1, C, H, W)
        x = F.interpolate(x, size=new_hw, mode="bilinear", align_corners=False)
        return x[0].permute(1, 2, 0).reshape(new_h, new_w, *img.shape[2:]).numpy().astype(img.dtype)
    size = (new_w, new_h)
    if img.ndim == 3 and img.shape[2] == 3:
        return np.asarray(Image.fromarray(img).resize(size, Image.BILINEAR))
    planes = img.reshape(*img.shape[:2], -1)
    out = [np.asarray(Image.fromarray(np.ascontiguousarray(planes[:, :, c])).resize(size, Image.BILINEAR))
           for c in range(planes.shape[2])]
    return np.stack(out, axis=2).reshape(new_h, new_w, *img.shape[2:])


def _cv2_per_chunk(fn, img: np.ndarray) -> np.ndarray:
    """Apply a cv2 op ``fn(HxW[xC]) -> HxW[xC]`` to an array of any channel count / dtype."""
    dtype = img.dtype
    work = img.astype(np.uint8) if dtype == np.bool_ else np.ascontiguousarray(img)
    if work.ndim == 2 or work.shape[2] == 0:
        out = fn(work) if work.ndim == 2 else work
    else:
        chunks = [fn(np.ascontiguousarray(work[:, :, c0:c0 + _CV2_MAX_CHANNELS]))
                  for c0 in range(0, work.shape[2], _CV2_MAX_CHANNELS)]
        out = np.concatenate([c.reshape(*c.shape[:2], -1) for c in chunks], axis=2)
    return out.astype(np.bool_) if dtype == np.bool_ else out


# ----------------------------------------------------------------------------- transforms


class ResizeTransform(Transform):
    """Resize ``(h, w) -> (new_h, new_w)`` as Detectron2: PIL bilinear for uint8 frames, PIL
    nearest for segmentation (masks, class maps, panoptic id maps)."""

    def __init__(self, h: int, w: int, new_h: int, new_w: int, interp: str = "bilinear"):
        super().__init__()
        if interp not in _PIL_RESAMPLE:
            raise ValueError(f"ResizeTransform: unknown interpolation '{interp}'")
        self._set_attributes(locals())

    def apply_image(self, img: np.ndarray, interp: str | None = None) -> np.ndarray:
        if img.shape[:2] != (self.h, self.w):
            raise ValueError(
                f"ResizeTransform: input is {img.shape[:2]} but the transform expects {(self.h, self.w)}")
        return _pil_resize(img, (self.new_h, self.new_w), interp or self.interp)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords[:, 0] = coords[:, 0] * (self.new_w / self.w)
        coords[:, 1] = coords[:, 1] * (self.new_h / self.h)
        return coords

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return self.apply_image(segmentation, interp="nearest")

    def inverse(self) -> Transform:
        return ResizeTransform(self.new_h, self.new_w, self.h, self.w, self.interp)


class RotationTransform(Transform):
    """Rotate by ``angle`` degrees (counter-clockwise) about ``center`` (x, y) without expanding
    the canvas, as Detectron2 (``expand=False``): coordinates rotate about ``center``, pixels
    about ``center - 0.5`` (pixel (i, j) is the unit square centred on (j + 0.5, i + 0.5)), so
    a 90-degree turn of a square image about its centre is an exact ``np.rot90``. Frames are
    bilinear, segmentation nearest; uncovered pixels become 0."""

    def __init__(self, h: int, w: int, angle: float, center: tuple[float, float] | None = None,
                 interp: str = "bilinear"):
        super().__init__()
        if center is None:
            center = (w / 2.0, h / 2.0)
        center = (float(center[0]), float(center[1]))
        self._set_attributes(locals())
        self.matrix = cv2.getRotationMatrix2D(center, float(angle), 1.0)  # (2, 3), coordinates
        self.image_matrix = cv2.getRotationMatrix2D((center[0] - 0.5, center[1] - 0.5),
                                                    float(angle), 1.0)  # (2, 3), pixel indices

    def apply_image(self, img: np.ndarray, interp: str | None = None) -> np.ndarray:
        if img.shape[:2] != (self.h, self.w):
            raise ValueError(
                f"RotationTransform: input is {img.shape[:2]} but expects {(self.h, self.w)}")
        if self.angle % 360 == 0:
            return img
        flag = cv2.INTER_NEAREST if (interp or self.interp) == "nearest" else cv2.INTER_LINEAR
        return _cv2_per_chunk(
            lambda a: cv2.warpAffine(a, self.image_matrix, (self.w, self.h), flags=flag,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0), img)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords = np.asarray(coords, dtype=np.float64)
        return coords @ self.matrix[:, :2].T + self.matrix[:, 2]

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return self.apply_image(segmentation, interp="nearest")


# ----------------------------------------------------------------------------- augmentations


class ClipAugmentation:
    """Draws one transform per frame of a clip (the same object when decided per clip)."""

    def get_transforms(self, images: Sequence[np.ndarray], rng: np.random.Generator
                       ) -> list[Transform]:
        raise NotImplementedError

    def apply(self, images: Sequence[np.ndarray], rng: np.random.Generator
              ) -> tuple[list[np.ndarray], list[Transform]]:
        """Draw the transforms and apply them; returns (new frames, one transform per frame)."""
        tfms = self.get_transforms(images, rng)
        if len(tfms) != len(images):
            raise RuntimeError(f"{self!r} returned {len(tfms)} transforms for {len(images)} frames")
        out: list[np.ndarray] = []
        for f, (img, tfm) in enumerate(zip(images, tfms)):
            # a transform shared by frames with the same input array is computed once
            reuse = next((out[g] for g in range(f) if images[g] is img and tfms[g] is tfm), None)
            out.append(reuse if reuse is not None else tfm.apply_image(img))
        return out, list(tfms)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def shortest_edge_size(h: int, w: int, short: int, max_size: int) -> tuple[int, int]:
    """Output (new_h, new_w) when the shorter side becomes ``short`` and the longer side is
    capped at ``max_size`` (Detectron2 rule, rounding ``int(x + 0.5)``)."""
    scale = short / min(h, w)
    new_h, new_w = (short, scale * w) if h < w else (scale * h, short)
    if max(new_h, new_w) > max_size:
        rescale = max_size / max(new_h, new_w)
        new_h, new_w = new_h * rescale, new_w * rescale
    return int(new_h + 0.5), int(new_w + 0.5)


class ResizeShortestEdgeClip(ClipAugmentation):
    """Resize the shorter side to a size drawn once per clip.

    ``sample_style``: ``"choice"``/``"choice_by_clip"`` pick one of ``short_edge_length``;
    ``"range"``/``"range_by_clip"`` draw an integer in ``[min, max]``. Frames of a clip must
    stack into one tensor, so the size is drawn per clip for every style. A size of 0 disables
    resizing.
    """

    def __init__(self, short_edge_length: int | Sequence[int], max_size: int = 10**9,
                 sample_style: str = "choice", interp: str = "bilinear"):
        if isinstance(short_edge_length, int):
            short_edge_length = (short_edge_length, short_edge_length)
        self.short_edge_length = tuple(int(s) for s in short_edge_length)
        style = sample_style.replace("_by_clip", "")
        if style not in ("choice", "range"):
            raise ValueError(f"ResizeShortestEdgeClip: unknown sample_style '{sample_style}'")
        if style == "range" and len(self.short_edge_length) != 2:
            raise ValueError("ResizeShortestEdgeClip: 'range' needs (min, max) sizes, got "
                             f"{self.short_edge_length}")
        self.max_size = int(max_size)
        self.sample_style = style
        self.interp = interp

    def get_transforms(self, images, rng):
        if self.sample_style == "range":
            short = int(rng.integers(self.short_edge_length[0], self.short_edge_length[1] + 1))
        else:
            short = int(self.short_edge_length[rng.integers(len(self.short_edge_length))])
        h, w = images[0].shape[:2]
        if short == 0:
            return [NoOpTransform()] * len(images)
        new_h, new_w = shortest_edge_size(h, w, short, self.max_size)
        tfm = ResizeTransform(h, w, new_h, new_w, self.interp)
        return [tfm] * len(images)


class RandomCropClip(ClipAugmentation):
    """One random crop box for the whole clip (Detectron2 ``RandomCrop`` crop types).

    ``crop_type``: ``"relative"`` (fraction), ``"relative_range"`` (fraction in [size, 1]),
    ``"absolute"`` (pixels), ``"absolute_range"`` (h and w each uniform in
    ``[min(side, size[0]), min(side, size[1])]``).
    """

    def __init__(self, crop_type: str, crop_size: Sequence[float]):
        if crop_type not in ("relative", "relative_range", "absolute", "absolute_range"):
            raise ValueError(f"RandomCropClip: unknown crop type '{crop_type}'")
        self.crop_type = crop_type
        self.crop_size = tuple(crop_size)

    def crop_hw(self, h: int, w: int, rng: np.random.Generator) -> tuple[int, int]:
        a, b = self.crop_size
        if self.crop_type == "relative":
            return int(h * a + 0.5), int(w * b + 0.5)
        if self.crop_type == "relative_range":
            fh, fw = np.asarray([a, b]) + rng.random(2) * (1 - np.asarray([a, b]))
            return int(h * fh + 0.5), int(w * fw + 0.5)
        if self.crop_type == "absolute":
            return min(int(a), h), min(int(b), w)
        lo, hi = int(a), int(b)
        ch = int(rng.integers(min(h, lo), min(h, hi) + 1))
        cw = int(rng.integers(min(w, lo), min(w, hi) + 1))
        return ch, cw

    def get_transforms(self, images, rng):
        h, w = images[0].shape[:2]
        ch, cw = self.crop_hw(h, w, rng)
        ch, cw = max(1, min(ch, h)), max(1, min(cw, w))
        y0 = int(rng.integers(h - ch + 1))
        x0 = int(rng.integers(w - cw + 1))
        tfm = CropTransform(x0, y0, cw, ch, orig_w=w, orig_h=h)
        return [tfm] * len(images)


class RandomApplyClip(ClipAugmentation):
    """Apply a list of augmentations with probability ``prob`` (one decision per clip)."""

    def __init__(self, augmentations: Sequence[ClipAugmentation], prob: float = 0.5):
        self.augmentations = list(augmentations)
        self.prob = float(prob)

    def get_transforms(self, images, rng):
        return self.apply(images, rng)[1]

    def apply(self, images, rng):
        if rng.random() >= self.prob:
            return list(images), [NoOpTransform()] * len(images)
        return apply_clip_augmentations(self.augmentations, images, rng)


class RandomFlipClip(ClipAugmentation):
    """Flip with probability ``prob``: one decision per clip (``by_clip``) or per frame."""

    def __init__(self, prob: float = 0.5, horizontal: bool = True, by_clip: bool = True):
        self.prob = float(prob)
        self.horizontal = horizontal
        self.by_clip = by_clip

    def _flip(self, h: int, w: int) -> Transform:
        return HFlipTransform(w) if self.horizontal else VFlipTransform(h)

    def get_transforms(self, images, rng):
        h, w = images[0].shape[:2]
        if self.by_clip:
            tfm = self._flip(h, w) if rng.random() < self.prob else NoOpTransform()
            return [tfm] * len(images)
        return [self._flip(h, w) if rng.random() < self.prob else NoOpTransform()
                for _ in images]


class _RandomBlend(ClipAugmentation):
    """Per-frame colour jitter: ``out = (1 - f) * src(img) + f * img``, f ~ U[lo, hi]."""

    def __init__(self, intensity_min: float = 0.9, intensity_max: float = 1.1):
        self.intensity_min = float(intensity_min)
        self.intensity_max = float(intensity_max)

    def _source(self, img: np.ndarray) -> np.ndarray | float:
        raise NotImplementedError

    def get_transforms(self, images, rng):
        out = []
        for img in images:
            f = float(rng.uniform(self.intensity_min, self.intensity_max))
            out.append(BlendTransform(src_image=self._source(img), src_weight=1 - f, dst_weight=f))
        return out


class RandomBrightness(_RandomBlend):
    """Scale pixel values by f."""

    def _source(self, img):
        return 0.0


class RandomContrast(_RandomBlend):
    """Blend with the frame's mean intensity."""

    def _source(self, img):
        return float(img.mean())


class RandomSaturation(_RandomBlend):
    """Blend with the frame's grey version (RGB weights 0.299/0.587/0.114)."""

    def _source(self, img):
        grey = img.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
        return grey[:, :, None]


class RandomRotationFrames(ClipAugmentation):
    """Independent rotation per frame: angle ~ U[angle_range], centre ~ U[center_range]^2
    (fractions of the size), no canvas expansion (``INPUT.AUGMENTATIONS: ["rotation"]``)."""

    def __init__(self, angle_range: tuple[float, float] = (-15.0, 15.0),
                 center_range: tuple[float, float] = (0.4, 0.6)):
        self.angle_range = tuple(angle_range)
        self.center_range = tuple(center_range)

    def _center(self, h: int, w: int, rng: np.random.Generator) -> tuple[float, float]:
        cx, cy = rng.uniform(self.center_range[0], self.center_range[1], size=2)
        return float(cx * w), float(cy * h)

    def get_transforms(self, images, rng):
        h, w = images[0].shape[:2]
        return [RotationTransform(h, w, float(rng.uniform(*self.angle_range)),
                                  self._center(h, w, rng)) for _ in images]


class RandomRotationClip(RandomRotationFrames):
    """COCO pseudo-clip rotation: T angles ~ U[angle_range] sorted ascending (reversed with
    prob 0.5), frame f gets the f-th angle; one rotation centre for the clip."""

    def get_transforms(self, images, rng):
        h, w = images[0].shape[:2]
        angles = np.sort(rng.uniform(*self.angle_range, size=len(images)))
        if rng.random() < 0.5:
            angles = angles[::-1]
        center = self._center(h, w, rng)
        return [RotationTransform(h, w, float(a), center) for a in angles]


def apply_clip_augmentations(augmentations: Sequence[ClipAugmentation],
                             images: Sequence[np.ndarray], rng: np.random.Generator
                             ) -> tuple[list[np.ndarray], list[TransformList]]:
    """Run augmentations in order over the frames of a clip.

    Returns the augmented frames and, per frame, the ``TransformList`` that was applied (use it
    on masks with ``apply_segmentation``). A transform shared by several frames is applied to an
    identical input only once.
    """
    images = list(images)
    per_frame: list[list[Transform]] = [[] for _ in images]
    for aug in augmentations:
        images, tfms = aug.apply(images, rng)
        for f, tfm in enumerate(tfms):
            per_frame[f].append(tfm)
    # frames that went through the very same transform objects share one TransformList
    shared: dict[tuple[int, ...], TransformList] = {}
    lists = [shared.setdefault(tuple(id(t) for t in ts), TransformList(ts)) for ts in per_frame]
    return images, lists


# ----------------------------------------------------------------------------- builders


def _colour_and_rotation(names: Sequence[str], clip_rotation: bool) -> list[ClipAugmentation]:
    augs: list[ClipAugmentation] = []
    known = {"brightness", "contrast", "saturation", "rotation"}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown augmentation name(s) {unknown}; known: {sorted(known)}")
    if "brightness" in names:
        augs.append(RandomBrightness(0.9, 1.1))
    if "contrast" in names:
        augs.append(RandomContrast(0.9, 1.1))
    if "saturation" in names:
        augs.append(RandomSaturation(0.9, 1.1))
    if "rotation" in names:
        augs.append(RandomRotationClip() if clip_rotation else RandomRotationFrames())
    return augs


def _flip_from_cfg(mode: str) -> list[ClipAugmentation]:
    if mode == "none":
        return []
    if mode not in ("flip_by_clip", "horizontal", "vertical"):
        raise ValueError(f"INPUT.RANDOM_FLIP: unknown mode '{mode}'")
    return [RandomFlipClip(0.5, horizontal=mode != "vertical", by_clip="by_clip" in mode)]


def build_clip_augmentation(cfg) -> list[ClipAugmentation]:
    """Training augmentation for real videos (YTVIS/OVIS, SPEC 3.7).

    1. If ``INPUT.CROP.ENABLED``: with prob 0.5 per clip, resize the shorter side to one of
       {400, 500, 600} (long side <= 1333) then crop one box of type/size
       ``INPUT.PSEUDO.CROP.TYPE/SIZE`` (as the reference does).
    2. Shortest-edge resize to ``INPUT.MIN_SIZE_TRAIN`` (long side <= ``MAX_SIZE_TRAIN``).
    3. Flip per ``INPUT.RANDOM_FLIP``. 4. ``INPUT.AUGMENTATIONS`` (per frame).
    """
    inp = cfg.INPUT
    augs: list[ClipAugmentation] = []
    if inp.CROP.ENABLED:
        augs.append(RandomApplyClip([
            ResizeShortestEdgeClip((400, 500, 600), 1333, "choice_by_clip"),
            RandomCropClip(inp.PSEUDO.CROP.TYPE, inp.PSEUDO.CROP.SIZE),
        ], prob=0.5))
    augs.append(ResizeShortestEdgeClip(inp.MIN_SIZE_TRAIN, inp.MAX_SIZE_TRAIN,
                                       inp.MIN_SIZE_TRAIN_SAMPLING))
    augs += _flip_from_cfg(inp.RANDOM_FLIP)
    augs += _colour_and_rotation(list(inp.AUGMENTATIONS), clip_rotation=False)
    return augs


def build_pseudo_augmentation(cfg) -> tuple[list[ClipAugmentation], list[ClipAugmentation]]:
    """COCO pseudo-clip augmentation: ``(shared, per_frame)``.

    ``shared`` is applied once to the still image (prob-0.5 crop as for videos when
    ``INPUT.PSEUDO.CROP.ENABLED``, shortest-edge resize ``INPUT.PSEUDO.MIN_SIZE_TRAIN`` /
    ``MAX_SIZE_TRAIN``, flip); ``per_frame`` then turns T copies into a clip (colour jitter and
    the sorted-angle ``RandomRotationClip`` from ``INPUT.PSEUDO.AUGMENTATIONS``).
    """
    inp, ps = cfg.INPUT, cfg.INPUT.PSEUDO
    shared: list[ClipAugmentation] = []
    if ps.CROP.ENABLED:
        shared.append(RandomApplyClip([
            ResizeShortestEdgeClip((400, 500, 600), 1333, "choice_by_clip"),
            RandomCropClip(ps.CROP.TYPE, ps.CROP.SIZE),
        ], prob=0.5))
    shared.append(ResizeShortestEdgeClip(ps.MIN_SIZE_TRAIN, ps.MAX_SIZE_TRAIN,
                                         ps.MIN_SIZE_TRAIN_SAMPLING))
    shared += _flip_from_cfg(inp.RANDOM_FLIP)
    per_frame = _colour_and_rotation(list(ps.AUGMENTATIONS), clip_rotation=True)
    return shared, per_frame


def build_segmentation_augmentation(cfg) -> list[ClipAugmentation]:
    """VIPSeg / VSPW training: per-clip shortest-edge resize + horizontal flip (p 0.5)."""
    inp = cfg.INPUT
    return [ResizeShortestEdgeClip(inp.MIN_SIZE_TRAIN, inp.MAX_SIZE_TRAIN,
                                   inp.MIN_SIZE_TRAIN_SAMPLING),
            RandomFlipClip(0.5, horizontal=True, by_clip=True)]


def build_test_augmentation(cfg) -> list[ClipAugmentation]:
    """Inference: shorter side ``MIN_SIZE_TEST``, longer side <= ``MAX_SIZE_TEST``."""
    return [ResizeShortestEdgeClip(int(cfg.INPUT.MIN_SIZE_TEST), cfg.INPUT.MAX_SIZE_TEST, "choice")]
