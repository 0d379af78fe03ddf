"""Per-clip augmentation: sizes, one decision per clip, masks follow images, pseudo-clip
rotation."""

from __future__ import annotations

import numpy as np
import pytest

from videomt.config import get_cfg
from videomt.data.augmentation import (
    RandomApplyClip,
    RandomBrightness,
    RandomContrast,
    RandomCropClip,
    RandomFlipClip,
    RandomRotationClip,
    RandomRotationFrames,
    RandomSaturation,
    ResizeShortestEdgeClip,
    ResizeTransform,
    RotationTransform,
    apply_clip_augmentations,
    build_clip_augmentation,
    build_pseudo_augmentation,
    build_segmentation_augmentation,
    build_test_augmentation,
    shortest_edge_size,
)


def coord_clip(T: int = 4, h: int = 60, w: int = 90) -> list[np.ndarray]:
    """T frames whose R/G channels encode (x, y) and whose B channel is the frame index."""
    ys, xs = np.mgrid[0:h, 0:w]
    frames = []
    for t in range(T):
        img = np.stack([xs, ys, np.full_like(xs, 10 * t)], axis=2).astype(np.uint8)
        frames.append(img)
    return frames


def test_shortest_edge_rule():
    assert shortest_edge_size(480, 640, 320, 768) == (320, 427)  # 426.67 rounds up
    assert shortest_edge_size(640, 480, 320, 768) == (427, 320)
    assert shortest_edge_size(100, 1000, 400, 768) == (77, 768)  # long side capped
    assert shortest_edge_size(720, 1280, 720, 1333) == (720, 1280)


def test_resize_choice_by_clip_same_size_for_all_frames():
    aug = ResizeShortestEdgeClip((20, 30, 40), 1000, "choice_by_clip")
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        out, tfms = apply_clip_augmentations([aug], coord_clip(), rng)
        assert len({f.shape for f in out}) == 1
        assert len({id(t) for t in tfms}) == 1  # one transform list shared by the clip
        seen.add(min(out[0].shape[:2]))
    assert seen == {20, 30, 40}


def test_resize_range_bounds_inclusive():
    aug = ResizeShortestEdgeClip((20, 22), 1000, "range")
    rng = np.random.default_rng(1)
    sizes = {min(aug.get_transforms(coord_clip(1), rng)[0].new_h, 10**6) for _ in range(60)}
    assert sizes == {20, 21, 22}


@pytest.mark.parametrize(
    "crop_type,size",
    [
        ("absolute_range", (20, 50)),
        ("absolute", (25, 70)),
        ("relative", (0.5, 0.5)),
        ("relative_range", (0.3, 0.6)),
    ],
)
def test_crop_same_box_for_all_frames(crop_type, size):
    aug = RandomCropClip(crop_type, size)
    rng = np.random.default_rng(2)
    for _ in range(20):
        out, _ = apply_clip_augmentations([aug], coord_clip(), rng)
        x0, y0 = int(out[0][0, 0, 0]), int(out[0][0, 0, 1])
        for t, fr in enumerate(out):
            assert fr.shape == out[0].shape
            np.testing.assert_array_equal(fr[..., :2], out[0][..., :2])  # same box
            assert (fr[..., 2] == 10 * t).all()  # frames kept their own content
        h, w = out[0].shape[:2]
        assert out[0][-1, -1, 0] == x0 + w - 1 and out[0][-1, -1, 1] == y0 + h - 1
        if crop_type == "absolute_range":
            assert 20 <= h <= 50 and 20 <= w <= 50


def test_absolute_range_clamped_to_small_images():
    aug = RandomCropClip("absolute_range", (384, 600))
    rng = np.random.default_rng(3)
    for _ in range(10):
        ch, cw = aug.crop_hw(60, 500, rng)
        assert ch == 60 and 384 <= cw <= 500


def test_flip_by_clip_vs_per_frame():
    rng = np.random.default_rng(4)
    by_clip = RandomFlipClip(0.5, horizontal=True, by_clip=True)
    states = set()
    for _ in range(30):
        out, _ = apply_clip_augmentations([by_clip], coord_clip(), rng)
        flipped = [fr[0, 0, 0] != 0 for fr in out]
        assert len(set(flipped)) == 1
        states.add(flipped[0])
    assert states == {True, False}
    per_frame = RandomFlipClip(0.5, horizontal=True, by_clip=False)
    mixed = 0
    for _ in range(30):
        out, _ = apply_clip_augmentations([per_frame], coord_clip(), rng)
        mixed += len({fr[0, 0, 0] != 0 for fr in out}) == 2
    assert mixed > 0


def test_masks_follow_images_through_the_clip_pipeline():
    """A mask cut from the R/G pattern must land where the image pattern lands."""
    cfg = get_cfg()
    cfg.INPUT.CROP.ENABLED = True
    cfg.INPUT.PSEUDO.CROP.SIZE = (30, 50)
    cfg.INPUT.MIN_SIZE_TRAIN = (40, 50)
    cfg.INPUT.MAX_SIZE_TRAIN = 200
    cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING = "choice_by_clip"
    cfg.INPUT.RANDOM_FLIP = "flip_by_clip"
    augs = build_clip_augmentation(cfg)
    rng = np.random.default_rng(5)
    frames = coord_clip(3, 120, 160)
    mask = np.zeros((120, 160), np.uint8)
    mask[30:90, 40:100] = 1  # x in [40, 100), y in [30, 90)
    for _ in range(15):
        out, tfms = apply_clip_augmentations(augs, frames, rng)
        assert len({f.shape for f in out}) == 1 and min(out[0].shape[:2]) in (40, 50)
        for fr, tfm in zip(out, tfms):
            m = tfm.apply_segmentation(mask.copy())
            assert m.shape == fr.shape[:2]
            x, y = fr[..., 0].astype(int), fr[..., 1].astype(int)
            inside = (x >= 42) & (x < 98) & (y >= 32) & (y < 88)  # well inside, away from blur
            outside = (x < 38) | (x >= 102) | (y < 28) | (y >= 92)
            assert (m[inside] == 1).all() and (m[outside] == 0).all()
            np.testing.assert_array_equal(fr[..., :2], out[0][..., :2])


def test_rotation_clip_sorted_angles_and_shared_centre():
    aug = RandomRotationClip()
    rng = np.random.default_rng(6)
    frames = coord_clip(5, 50, 80)
    ascending = 0
    for _ in range(200):
        tfms = aug.get_transforms(frames, rng)
        angles = np.array([t.angle for t in tfms])
        assert (np.abs(angles) <= 15).all()
        assert (np.diff(angles) >= 0).all() or (np.diff(angles) <= 0).all()
        ascending += bool((np.diff(angles) > 0).all())
        centres = {t.center for t in tfms}
        assert len(centres) == 1
        cx, cy = centres.pop()
        assert 0.4 * 80 <= cx <= 0.6 * 80 and 0.4 * 50 <= cy <= 0.6 * 50
    assert 60 < ascending < 140  # reversed with probability 0.5


def test_rotation_no_canvas_expansion_and_nearest_masks():
    seg = np.zeros((40, 60), np.int32)
    seg[10:30, 20:40] = 7
    seg[0:5, 0:5] = 3
    t = RotationTransform(40, 60, 15.0, (30.0, 20.0))
    out = t.apply_segmentation(seg)
    assert out.shape == (40, 60)
    assert set(np.unique(out)) <= {0, 3, 7}
    assert out[20, 30] == 7 and out.dtype == np.int32
    # coordinates follow the same rotation as pixels: the centre is fixed
    np.testing.assert_allclose(t.apply_coords(np.array([[30.0, 20.0]])), [[30.0, 20.0]])


def test_rotation_frames_are_independent():
    aug = RandomRotationFrames()
    tfms = aug.get_transforms(coord_clip(4), np.random.default_rng(7))
    assert len({t.angle for t in tfms}) == 4


def test_colour_jitter_range_and_masks_untouched():
    rng = np.random.default_rng(8)
    img = np.full((10, 10, 3), 100, np.uint8)
    for aug in (RandomBrightness(0.9, 1.1), RandomContrast(0.9, 1.1), RandomSaturation(0.9, 1.1)):
        out, tfms = apply_clip_augmentations([aug], [img, img], rng)
        for o, t in zip(out, tfms):
            assert o.dtype == np.uint8 and o.shape == img.shape
            assert 89 <= int(o.mean()) <= 111
            m = np.eye(10, dtype=np.uint8)
            np.testing.assert_array_equal(t.apply_segmentation(m), m)
    out, _ = apply_clip_augmentations([RandomBrightness(0.9, 1.1)], [img, img.copy()], rng)
    assert not np.array_equal(out[0], out[1])  # drawn per frame


def test_random_apply_is_per_clip():
    aug = RandomApplyClip([RandomCropClip("absolute", (10, 10))], prob=0.5)
    rng = np.random.default_rng(9)
    applied = set()
    for _ in range(30):
        out, _ = apply_clip_augmentations([aug], coord_clip(), rng)
        shapes = {f.shape[:2] for f in out}
        assert len(shapes) == 1
        applied.add(shapes.pop() == (10, 10))
    assert applied == {True, False}


def test_resize_many_stacked_masks():
    masks = np.zeros((20, 30, 600), np.uint8)
    masks[5:15, 5:15, ::2] = 1
    out = ResizeTransform(20, 30, 40, 60).apply_segmentation(masks)
    assert out.shape == (40, 60, 600)
    assert out[20, 20, 0] == 1 and out[20, 20, 1] == 0
    single = ResizeTransform(20, 30, 10, 15).apply_segmentation(masks[:, :, :1])
    assert single.shape == (10, 15, 1)


def test_builders_from_default_config():
    cfg = get_cfg()
    cfg.INPUT.MIN_SIZE_TRAIN = (320, 352)
    cfg.INPUT.MAX_SIZE_TRAIN = 768
    augs = build_clip_augmentation(cfg)
    assert [type(a).__name__ for a in augs] == ["ResizeShortestEdgeClip", "RandomFlipClip"]
    cfg.INPUT.CROP.ENABLED = True
    cfg.INPUT.AUGMENTATIONS = ["brightness", "rotation"]
    names = [type(a).__name__ for a in build_clip_augmentation(cfg)]
    assert names == [
        "RandomApplyClip",
        "ResizeShortestEdgeClip",
        "RandomFlipClip",
        "RandomBrightness",
        "RandomRotationFrames",
    ]
    shared, per_frame = build_pseudo_augmentation(cfg)
    assert [type(a).__name__ for a in per_frame] == ["RandomRotationClip"]
    assert type(shared[0]).__name__ == "ResizeShortestEdgeClip"  # PSEUDO.CROP disabled
    seg = build_segmentation_augmentation(cfg)
    assert seg[1].by_clip and seg[1].horizontal
    test = build_test_augmentation(cfg)
    out, _ = apply_clip_augmentations(test, coord_clip(2, 60, 90), np.random.default_rng(0))
    assert out[0].shape[:2] == (800, 1200)
    cfg.INPUT.AUGMENTATIONS = ["sharpness"]
    with pytest.raises(ValueError, match="sharpness"):
        build_clip_augmentation(cfg)


@pytest.mark.parametrize(
    "h,w,new_h,new_w", [(72, 128, 45, 80), (37, 53, 100, 17), (13, 7, 5, 3), (101, 99, 303, 201)]
)
def test_resize_equals_pil(h, w, new_h, new_w):
    """Detectron2 resizes uint8 frames with PIL bilinear (antialiased when shrinking) and masks /
    panoptic RGB maps with PIL nearest: PIL itself is the oracle."""
    from PIL import Image

    rng = np.random.default_rng(h * w)
    t = ResizeTransform(h, w, new_h, new_w)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    np.testing.assert_array_equal(
        t.apply_image(img), np.asarray(Image.fromarray(img).resize((new_w, new_h), Image.BILINEAR))
    )
    mask = rng.integers(0, 2, (h, w), dtype=np.uint8)
    pil_mask = np.asarray(Image.fromarray(mask).resize((new_w, new_h), Image.NEAREST))
    np.testing.assert_array_equal(t.apply_segmentation(mask), pil_mask)
    stacked = np.stack([mask, 1 - mask], axis=2)  # masks stacked as channels: same per channel
    np.testing.assert_array_equal(t.apply_segmentation(stacked)[:, :, 1], 1 - pil_mask)
    pil_rgb = np.asarray(Image.fromarray(img).resize((new_w, new_h), Image.NEAREST))
    np.testing.assert_array_equal(t.apply_segmentation(img), pil_rgb)  # a panoptic RGB map
    to_id = np.array([1, 256, 65536], dtype=np.int32)
    np.testing.assert_array_equal(
        t.apply_segmentation(img.astype(np.int32) @ to_id),  # int32 ids
        pil_rgb.astype(np.int32) @ to_id,
    )


@pytest.mark.parametrize("size", [9, 10])
def test_rotation_half_pixel_centre(size):
    """With Detectron2's half-pixel centre a quarter turn about the centre of a square image moves
    every pixel exactly (np.rot90); rotating about (w/2, h/2) without it shifts by one pixel."""
    img = np.random.default_rng(size).integers(0, 256, (size, size), dtype=np.uint8)
    t = RotationTransform(size, size, 90.0)
    np.testing.assert_array_equal(t.apply_segmentation(img), np.rot90(img))
    np.testing.assert_array_equal(t.apply_image(img), np.rot90(img))
    # coordinates (continuous, pixel corners at integers) turn about the centre itself
    np.testing.assert_allclose(t.apply_coords(np.array([[0.0, 0.0]])), [[0.0, size]], atol=1e-9)
