"""Per-clip augmentations built on fvcore transforms. A :class:`ClipAugmentation` draws one
``Transform`` per frame from an explicit numpy ``Generator``: the same object for every frame when
decided per clip, one per frame for colour jitter, the ``INPUT.AUGMENTATIONS`` rotation and
``RANDOM_FLIP="horizontal"`` (as the reference). Resizing and rotation reproduce Detectron2's
pixels, which the published models were trained on."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from fvcore.transforms.transform import (
    BlendTransform,
    CropTransform,
    HFlipTransform,
    NoOpTransform,
    Transform,
    TransformList,
    VFlipTransform,
)
from PIL import Image

from ..errors import ConfigError

_CV2_MAX_CHANNELS = 128  # OpenCV 5 rejects more channels; masks are stacked as channels


def _pil_nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """Source index of each of ``n_out`` pixels in PIL's (separable) NEAREST resize of an ``n_in``
    axis: gathering with it reproduces PIL for any dtype and channel count (stacked masks, id
    maps)."""
    row = Image.fromarray(np.arange(n_in, dtype=np.int32)[None, :])  # mode "I"
    return np.asarray(row.resize((n_out, 1), Image.NEAREST))[0]


class ResizeTransform(Transform):
    """Resize ``(h, w) -> (new_h, new_w)`` as Detectron2: PIL bilinear (antialiased when shrinking)
    for uint8 frames, the only images resized bilinearly; PIL nearest for segmentation (masks, class
    maps, panoptic id maps)."""

    def __init__(self, h: int, w: int, new_h: int, new_w: int):
        super().__init__()
        self._set_attributes(locals())

    def apply_image(self, img: np.ndarray, nearest: bool = False) -> np.ndarray:
        if img.shape[:2] != (self.h, self.w):
            raise ValueError(
                f"ResizeTransform: input is {img.shape[:2]} but the transform expects "
                f"{(self.h, self.w)}"
            )
        if nearest:
            return img[_pil_nearest_index(self.h, self.new_h)][
                :, _pil_nearest_index(self.w, self.new_w)
            ]
        if img.dtype != np.uint8 or img.shape[2:] not in ((), (3,)):
            raise ValueError(
                "ResizeTransform: bilinear resizing takes uint8 (H, W[, 3]) frames, got "
                f"{img.dtype} "
                f"{img.shape}"
            )
        return np.asarray(Image.fromarray(img).resize((self.new_w, self.new_h), Image.BILINEAR))

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords * np.array([self.new_w / self.w, self.new_h / self.h])

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return self.apply_image(segmentation, nearest=True)


class RotationTransform(Transform):
    """Rotate by ``angle`` degrees (counter-clockwise) about ``center`` (x, y) without expanding
    the canvas, as Detectron2 (``expand=False``): coordinates rotate about ``center``, pixels
    about ``center - 0.5`` (pixel (i, j) is the unit square centred on (j + 0.5, i + 0.5)), so
    a 90-degree turn of a square image about its centre is an exact ``np.rot90``. Frames are
    bilinear, segmentation nearest; uncovered pixels become 0."""

    def __init__(self, h: int, w: int, angle: float, center: tuple[float, float] | None = None):
        super().__init__()
        center = (w / 2.0, h / 2.0) if center is None else (float(center[0]), float(center[1]))
        self._set_attributes(locals())
        self.matrix = cv2.getRotationMatrix2D(center, float(angle), 1.0)  # (2, 3), coordinates
        self.image_matrix = cv2.getRotationMatrix2D(
            (center[0] - 0.5, center[1] - 0.5), float(angle), 1.0
        )  # pixels

    def apply_image(self, img: np.ndarray, nearest: bool = False) -> np.ndarray:
        if img.shape[:2] != (self.h, self.w):
            raise ValueError(
                f"RotationTransform: input is {img.shape[:2]} but expects {(self.h, self.w)}"
            )
        flag = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
        chans = (img.view(np.uint8) if img.dtype == np.bool_ else img).reshape(
            self.h, self.w, -1
        )  # (H, W, C)
        out = [
            cv2.warpAffine(
                np.ascontiguousarray(chans[:, :, c : c + _CV2_MAX_CHANNELS]),
                self.image_matrix,
                (self.w, self.h),
                flags=flag,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
            for c in range(0, chans.shape[2], _CV2_MAX_CHANNELS)
        ]  # (H, W[, c]) each
        out = np.concatenate([o.reshape(self.h, self.w, -1) for o in out], axis=2)  # (H, W, C)
        return out.reshape(img.shape).astype(img.dtype)  # bool masks back from uint8

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return np.asarray(coords, dtype=np.float64) @ self.matrix[:, :2].T + self.matrix[:, 2]

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return self.apply_image(segmentation, nearest=True)


class ClipAugmentation:
    """Draws one transform per frame of a clip (the same object when decided per clip)."""

    def get_transforms(
        self, images: Sequence[np.ndarray], rng: np.random.Generator
    ) -> list[Transform]:
        raise NotImplementedError

    def apply(
        self, images: Sequence[np.ndarray], rng: np.random.Generator
    ) -> tuple[list[np.ndarray], list[Transform]]:
        """Draw the transforms and apply them; returns (new frames, one transform per frame)."""
        tfms = self.get_transforms(images, rng)
        if len(tfms) != len(images):
            raise RuntimeError(
                f"{type(self).__name__} returned {len(tfms)} transforms for {len(images)} frames"
            )
        return [tfm.apply_image(img) for img, tfm in zip(images, tfms)], list(tfms)


def shortest_edge_size(h: int, w: int, short: int, max_size: int) -> tuple[int, int]:
    """``(new_h, new_w)`` with the shorter side ``short`` and the longer side at most ``max_size``
    (Detectron2's rule, rounding ``int(x + 0.5)``)."""
    scale = short / min(h, w)
    new_h, new_w = (short, scale * w) if h < w else (scale * h, short)
    if max(new_h, new_w) > max_size:
        rescale = max_size / max(new_h, new_w)
        new_h, new_w = new_h * rescale, new_w * rescale
    return int(new_h + 0.5), int(new_w + 0.5)


class ResizeShortestEdgeClip(ClipAugmentation):
    """Resize the shorter side to a size drawn once per clip (the frames of a clip stack into one
    tensor): ``"choice"`` picks one of ``short_edge_length``, ``"range"`` an integer in ``[min,
    max]`` (``"_by_clip"`` suffixes mean the same). A size of 0 disables resizing."""

    def __init__(
        self,
        short_edge_length: int | Sequence[int],
        max_size: int = 10**9,
        sample_style: str = "choice",
    ):
        sizes = (
            (short_edge_length,) * 2 if isinstance(short_edge_length, int) else short_edge_length
        )
        self.short_edge_length = tuple(int(s) for s in sizes)
        self.sample_style = sample_style.replace("_by_clip", "")
        if self.sample_style not in ("choice", "range"):
            raise ConfigError(f"ResizeShortestEdgeClip: unknown sample_style '{sample_style}'")
        if self.sample_style == "range" and len(self.short_edge_length) != 2:
            raise ConfigError(
                "ResizeShortestEdgeClip: 'range' needs (min, max) sizes, got "
                f"{self.short_edge_length}"
            )
        self.max_size = int(max_size)

    def get_transforms(self, images, rng):
        if self.sample_style == "range":
            short = int(rng.integers(self.short_edge_length[0], self.short_edge_length[1] + 1))
        else:
            short = int(self.short_edge_length[rng.integers(len(self.short_edge_length))])
        h, w = images[0].shape[:2]
        if short == 0:
            return [NoOpTransform()] * len(images)
        return [ResizeTransform(h, w, *shortest_edge_size(h, w, short, self.max_size))] * len(
            images
        )


class RandomCropClip(ClipAugmentation):
    """One random crop box for the whole clip (Detectron2 ``RandomCrop`` types): ``"relative"``
    (fraction), ``"relative_range"`` (fraction in [size, 1]), ``"absolute"`` (pixels),
    ``"absolute_range"`` (h and w each uniform in ``[min(side, size[0]), min(side, size[1])]``)."""

    def __init__(self, crop_type: str, crop_size: Sequence[float]):
        if crop_type not in ("relative", "relative_range", "absolute", "absolute_range"):
            raise ConfigError(f"RandomCropClip: unknown crop type '{crop_type}'")
        self.crop_type, self.crop_size = crop_type, tuple(crop_size)

    def crop_hw(self, h: int, w: int, rng: np.random.Generator) -> tuple[int, int]:
        a, b = self.crop_size
        if self.crop_type == "relative":
            return int(h * a + 0.5), int(w * b + 0.5)
        if self.crop_type == "relative_range":
            fh, fw = np.asarray([a, b]) + rng.random(2) * (1 - np.asarray([a, b]))
            return int(h * fh + 0.5), int(w * fw + 0.5)
        if self.crop_type == "absolute":
            return min(int(a), h), min(int(b), w)
        return (
            int(rng.integers(min(h, int(a)), min(h, int(b)) + 1)),
            int(rng.integers(min(w, int(a)), min(w, int(b)) + 1)),
        )

    def get_transforms(self, images, rng):
        h, w = images[0].shape[:2]
        ch, cw = (max(1, min(c, side)) for c, side in zip(self.crop_hw(h, w, rng), (h, w)))
        y0, x0 = int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1))
        return [CropTransform(x0, y0, cw, ch, orig_w=w, orig_h=h)] * len(images)


class RandomApplyClip(ClipAugmentation):
    """Apply a list of augmentations with probability ``prob`` (one decision per clip)."""

    def __init__(self, augmentations: Sequence[ClipAugmentation], prob: float = 0.5):
        self.augmentations, self.prob = list(augmentations), float(prob)

    def apply(self, images, rng):
        if rng.random() >= self.prob:
            return list(images), [NoOpTransform()] * len(images)
        return apply_clip_augmentations(self.augmentations, images, rng)


class RandomFlipClip(ClipAugmentation):
    """Flip with probability ``prob``: one decision per clip (``by_clip``) or per frame."""

    def __init__(self, prob: float = 0.5, horizontal: bool = True, by_clip: bool = True):
        self.prob, self.horizontal, self.by_clip = float(prob), horizontal, by_clip

    def get_transforms(self, images, rng):
        h, w = images[0].shape[:2]
        flip = HFlipTransform(w) if self.horizontal else VFlipTransform(h)
        if self.by_clip:
            return [flip if rng.random() < self.prob else NoOpTransform()] * len(images)
        return [flip if rng.random() < self.prob else NoOpTransform() for _ in images]


class RandomBrightness(ClipAugmentation):
    """Per-frame colour jitter ``out = (1 - f) * source(img) + f * img``, ``f ~ U[min, max]``;
    brightness blends with 0 (scales the pixel values by f)."""

    def __init__(self, intensity_min: float = 0.9, intensity_max: float = 1.1):
        self.intensity_min, self.intensity_max = float(intensity_min), float(intensity_max)

    def source(self, img: np.ndarray) -> np.ndarray | float:
        return 0.0

    def get_transforms(self, images, rng):
        factors = rng.uniform(
            self.intensity_min, self.intensity_max, len(images)
        ).tolist()  # floats keep float32
        return [
            BlendTransform(self.source(img), src_weight=1 - f, dst_weight=f)
            for img, f in zip(images, factors)
        ]


class RandomContrast(RandomBrightness):
    """Colour jitter blending with the frame's mean intensity."""

    def source(self, img):
        return float(img.mean())


class RandomSaturation(RandomBrightness):
    """Colour jitter blending with the frame's grey version (RGB weights 0.299/0.587/0.114)."""

    def source(self, img):
        return (img.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32))[
            :, :, None
        ]


class RandomRotationFrames(ClipAugmentation):
    """Independent rotation per frame: angle ~ U[angle_range], centre ~ U[center_range]^2
    (fractions of the size), no canvas expansion (``INPUT.AUGMENTATIONS: ["rotation"]``)."""

    def __init__(
        self,
        angle_range: tuple[float, float] = (-15.0, 15.0),
        center_range: tuple[float, float] = (0.4, 0.6),
    ):
        self.angle_range, self.center_range = tuple(angle_range), tuple(center_range)

    def _center(self, h: int, w: int, rng: np.random.Generator) -> tuple[float, float]:
        cx, cy = rng.uniform(self.center_range[0], self.center_range[1], size=2)
        return float(cx * w), float(cy * h)

    def get_transforms(self, images, rng):
        h, w = images[0].shape[:2]
        return [
            RotationTransform(h, w, float(rng.uniform(*self.angle_range)), self._center(h, w, rng))
            for _ in images
        ]


class RandomRotationClip(RandomRotationFrames):
    """COCO pseudo-clip rotation: T angles ~ U[angle_range] sorted ascending (reversed with prob
    0.5), frame f gets the f-th angle; one rotation centre for the clip."""

    def get_transforms(self, images, rng):
        h, w = images[0].shape[:2]
        angles = np.sort(rng.uniform(*self.angle_range, size=len(images)))
        angles = angles[::-1] if rng.random() < 0.5 else angles
        center = self._center(h, w, rng)
        return [RotationTransform(h, w, float(a), center) for a in angles]


def apply_clip_augmentations(
    augmentations: Sequence[ClipAugmentation],
    images: Sequence[np.ndarray],
    rng: np.random.Generator,
) -> tuple[list[np.ndarray], list[TransformList]]:
    """Run ``augmentations`` in order over a clip; returns the frames and per frame the
    ``TransformList`` applied (for masks: ``apply_segmentation``), one object for frames that got
    the very same transforms."""
    images, per_frame = list(images), [[] for _ in images]
    for aug in augmentations:
        images, tfms = aug.apply(images, rng)
        for f, tfm in enumerate(tfms):
            per_frame[f].append(tfm)
    shared: dict[tuple[int, ...], TransformList] = {}
    return images, [
        shared.setdefault(tuple(id(t) for t in ts), TransformList(ts)) for ts in per_frame
    ]


def _colour_and_rotation(names: Sequence[str], clip_rotation: bool) -> list[ClipAugmentation]:
    known = {
        "brightness": RandomBrightness,
        "contrast": RandomContrast,
        "saturation": RandomSaturation,
        "rotation": RandomRotationClip if clip_rotation else RandomRotationFrames,
    }
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown augmentation name(s) {unknown}; known: {sorted(known)}")
    return [cls() for n, cls in known.items() if n in names]  # always in this order


def _crop_and_resize(crop_cfg, min_size, max_size, sampling, flip: str) -> list[ClipAugmentation]:
    """With prob 0.5 per clip resize the shorter side to 400/500/600 (long side <= 1333) and crop
    (``crop_cfg.TYPE/SIZE``) when ``crop_cfg`` is given; shortest-edge resize;
    ``INPUT.RANDOM_FLIP``."""
    augs: list[ClipAugmentation] = []
    if crop_cfg is not None:
        augs.append(
            RandomApplyClip(
                [
                    ResizeShortestEdgeClip((400, 500, 600), 1333, "choice_by_clip"),
                    RandomCropClip(crop_cfg.TYPE, crop_cfg.SIZE),
                ],
                prob=0.5,
            )
        )
    augs.append(ResizeShortestEdgeClip(min_size, max_size, sampling))
    if flip not in ("none", "flip_by_clip", "horizontal", "vertical"):
        raise ConfigError(f"INPUT.RANDOM_FLIP: unknown mode '{flip}'")
    if flip != "none":
        augs.append(
            RandomFlipClip(0.5, horizontal=flip != "vertical", by_clip=flip == "flip_by_clip")
        )
    return augs


def build_clip_augmentation(cfg) -> list[ClipAugmentation]:
    """Training augmentation of real videos; ``INPUT.CROP.ENABLED`` crops with the type/size
    of ``INPUT.PSEUDO.CROP`` (as the reference)."""
    inp = cfg.INPUT
    return _crop_and_resize(
        inp.PSEUDO.CROP if inp.CROP.ENABLED else None,
        inp.MIN_SIZE_TRAIN,
        inp.MAX_SIZE_TRAIN,
        inp.MIN_SIZE_TRAIN_SAMPLING,
        inp.RANDOM_FLIP,
    ) + _colour_and_rotation(list(inp.AUGMENTATIONS), clip_rotation=False)


def build_pseudo_augmentation(cfg) -> tuple[list[ClipAugmentation], list[ClipAugmentation]]:
    """COCO pseudo-clips: ``(shared, per_frame)``. ``shared`` (``INPUT.PSEUDO`` crop and resize,
    flip) is applied once to the still image, ``per_frame`` (``INPUT.PSEUDO.AUGMENTATIONS``) turns T
    copies into a clip."""
    ps = cfg.INPUT.PSEUDO
    shared = _crop_and_resize(
        ps.CROP if ps.CROP.ENABLED else None,
        ps.MIN_SIZE_TRAIN,
        ps.MAX_SIZE_TRAIN,
        ps.MIN_SIZE_TRAIN_SAMPLING,
        cfg.INPUT.RANDOM_FLIP,
    )
    return shared, _colour_and_rotation(list(ps.AUGMENTATIONS), clip_rotation=True)


def build_segmentation_augmentation(cfg) -> list[ClipAugmentation]:
    """VIPSeg / VSPW training: per-clip shortest-edge resize + horizontal flip (p 0.5)."""
    inp = cfg.INPUT
    return _crop_and_resize(
        None, inp.MIN_SIZE_TRAIN, inp.MAX_SIZE_TRAIN, inp.MIN_SIZE_TRAIN_SAMPLING, "flip_by_clip"
    )


def build_test_augmentation(cfg) -> list[ClipAugmentation]:
    """Inference: shorter side ``MIN_SIZE_TEST``, longer side <= ``MAX_SIZE_TEST``."""
    return [ResizeShortestEdgeClip(int(cfg.INPUT.MIN_SIZE_TEST), cfg.INPUT.MAX_SIZE_TEST, "choice")]
