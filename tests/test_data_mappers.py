"""Clip mappers and loaders on small fixtures written here in each dataset-dict format."""

from __future__ import annotations

import itertools
import logging
import os

import numpy as np
import pytest
import torch
from data_fixtures import rle_list, rle_str
from fvcore.transforms.transform import CropTransform, HFlipTransform, TransformList
from PIL import Image
from pycocotools import mask as mask_util

from videomt.config import ConfigError, get_cfg
from videomt.data.augmentation import ClipAugmentation, RandomRotationClip, ResizeTransform
from videomt.data.build import build_test_loader, build_train_loader, filter_empty_annotations
from videomt.data.catalog import DatasetCatalog, DatasetError, MetadataCatalog
from videomt.data.mappers import (
    MAPPER_REGISTRY,
    CocoClipDatasetMapper,
    PanopticDatasetVideoMapper,
    SemanticDatasetVideoMapper,
    VideoTestMapper,
    YTVISDatasetMapper,
    build_mapper,
)

H, W = 40, 60


# ----------------------------------------------------------------------------- fixture writers


def frame_pattern(t: int, h: int = H, w: int = W) -> np.ndarray:
    """RGB frame: R = 4x, G = 6y (mod 256), B = 20 t (identifies the frame)."""
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([(4 * xs) % 256, (6 * ys) % 256, np.full_like(xs, 20 * t)], 2).astype(np.uint8)


def write_frames(folder, n: int, h: int = H, w: int = W, modes: dict | None = None) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    paths = []
    for t in range(n):
        img = Image.fromarray(frame_pattern(t, h, w))
        mode = (modes or {}).get(t)
        if mode is not None:
            img = img.convert(mode)
        p = os.path.join(str(folder), f"{t:05d}.png")
        img.save(p)
        paths.append(p)
    return paths


def rect(y0, y1, x0, x1, h=H, w=W) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


rle, uncompressed_rle = rle_str, rle_list  # encoders shared with the data fixtures


def polygon(y0, y1, x0, x1) -> list[list[float]]:
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def anno(tid, cls, segm, crowd=0) -> dict:
    return {
        "id": tid,
        "category_id": cls,
        "iscrowd": crowd,
        "bbox": [0, 0, 1, 1],
        "bbox_mode": "XYWH_ABS",
        "segmentation": segm,
    }


def track11_mask(t: int) -> np.ndarray:
    return rect(5, 15, 5 + t, 20 + t)


def vis_video(folder, vid: int = 1) -> dict:
    """8 frames. Track 11 (class 3, RLE) in every frame, moving right; track 22 (class 5,
    polygon) only in frames 0-2; track 33 (class 1, uncompressed RLE) only in frame 7; a crowd
    object in every frame."""
    files = write_frames(folder, 8)
    annos = []
    for t in range(8):
        objs = [anno(11, 3, rle(track11_mask(t))), anno(44, 2, rle(rect(30, 40, 0, 10)), crowd=1)]
        if t <= 2:
            objs.append(anno(22, 5, polygon(20, 35, 30, 50)))
        if t == 7:
            objs.append(anno(33, 1, uncompressed_rle(rect(0, 4, 0, 4))))
        annos.append(objs)
    return {
        "file_names": files,
        "height": H,
        "width": W,
        "length": 8,
        "video_id": vid,
        "annotations": annos,
    }


class FixedCrop(ClipAugmentation):
    """Deterministic crop of rows [y0, y0 + h) for every frame (test helper)."""

    def __init__(self, h: int, y0: int = 0):
        self.h, self.y0 = h, y0

    def get_transforms(self, images, rng):
        fh, fw = images[0].shape[:2]
        return [CropTransform(0, self.y0, fw, self.h, fw, fh)] * len(images)


def vis_mapper(**kw) -> YTVISDatasetMapper:
    args = dict(augmentations=[], sampling_frame_num=5, sampling_frame_range=2)
    args.update(kw)
    return YTVISDatasetMapper(**args)


# ----------------------------------------------------------------------------- YTVIS mapper


def test_ytvis_mapper_shapes_and_id_bookkeeping(tmp_path):
    d = vis_video(tmp_path / "v")
    mapper = vis_mapper()
    starts = set()
    for seed in range(12):
        out = mapper(d, rng=np.random.default_rng(seed))
        fi = out["frame_idx"]
        starts.add(fi[0])
        assert fi == list(range(fi[0], fi[0] + 5)) and fi[0] <= 2
        assert out["file_names"] == [d["file_names"][i] for i in fi]
        img = out["image"]
        assert img.dtype == torch.uint8 and img.shape == (5, 3, H, W)
        for t, i in enumerate(fi):
            assert (img[t, 2] == 20 * i).all()  # frame content in sampling order, RGB
        inst = out["instances"]
        assert inst["ids"].dtype == torch.int64 and inst["labels"].dtype == torch.int64
        assert inst["masks"].dtype == torch.bool
        # track 33 (frame 7 only) is never in a clip -> dropped; the crowd object is skipped
        assert inst["ids"].shape == (2, 5) and inst["masks"].shape == (2, 5, H, W)
        assert inst["ids"][0].tolist() == [11] * 5
        assert inst["ids"][1].tolist() == [22 if i <= 2 else -1 for i in fi]
        assert inst["labels"].tolist() == [3, 5]  # class of 22 from a frame where it is present
        for t, i in enumerate(fi):
            assert torch.equal(inst["masks"][0, t], torch.from_numpy(track11_mask(i).astype(bool)))
            expect22 = rect(20, 35, 30, 50) > 0 if i <= 2 else np.zeros((H, W), bool)
            # polygon rasterisation may differ by a pixel on the border
            diff = (inst["masks"][1, t].numpy() != expect22).sum()
            assert diff <= 40 and (inst["masks"][1, t].any().item() == (i <= 2))
        assert out["height"] == H and out["width"] == W and out["video_id"] == 1
    assert len(starts) > 1


def test_ytvis_object_emptied_by_crop_gets_minus_one(tmp_path):
    files = write_frames(tmp_path / "c", 5)
    top, bottom = rect(2, 8, 10, 20), rect(30, 38, 10, 20)
    annos = []
    for t in range(5):
        annos.append(
            [
                anno(7, 2, rle(top if t < 2 else bottom)),  # leaves the crop at t = 2
                anno(8, 4, rle(rect(0, 10, 30, 40))),  # always kept
                anno(9, 1, rle(bottom)),
            ]
        )  # always cropped away -> dropped
    d = {
        "file_names": files,
        "height": H,
        "width": W,
        "length": 5,
        "video_id": 3,
        "annotations": annos,
    }
    out = vis_mapper(augmentations=[FixedCrop(20)])(d, rng=np.random.default_rng(0))
    inst = out["instances"]
    assert out["image"].shape == (5, 3, 20, W)
    assert inst["ids"].tolist() == [[7, 7, -1, -1, -1], [8] * 5]
    assert inst["labels"].tolist() == [2, 4]
    assert not inst["masks"][0, 2:].any() and inst["masks"][0, :2].all(dim=0).sum() == 60
    # everything cropped away: empty targets with consistent shapes
    empty = vis_mapper(augmentations=[FixedCrop(5, y0=15)])(d, rng=np.random.default_rng(0))[
        "instances"
    ]
    assert empty["ids"].shape == (0, 5) and empty["labels"].shape == (0,)
    assert empty["masks"].shape == (0, 5, 5, W)


def test_ytvis_mapper_from_config_per_clip_consistency(tmp_path):
    d = vis_video(tmp_path / "v")
    cfg = get_cfg()
    cfg.INPUT.SAMPLING_FRAME_NUM, cfg.INPUT.SAMPLING_FRAME_RANGE = 5, 2
    cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN = (20, 30), 100
    cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING = "choice_by_clip"
    cfg.INPUT.RANDOM_FLIP = "flip_by_clip"
    cfg.INPUT.CROP.ENABLED = True
    cfg.INPUT.PSEUDO.CROP.SIZE = (20, 30)
    mapper = build_mapper(cfg, "video_instance")
    assert isinstance(mapper, YTVISDatasetMapper)
    for seed in range(10):
        out = mapper(d, rng=np.random.default_rng(seed))
        img = out["image"].numpy()
        assert min(img.shape[2:]) in (20, 30)
        # the R/G coordinate pattern is identical in all frames: same crop/size/flip per clip
        assert (img[:, :2] == img[:1, :2]).all()
        inst = out["instances"]
        assert inst["masks"].shape[2:] == img.shape[2:]
        assert ((inst["ids"] >= 0) == inst["masks"].flatten(2).any(2)).all()


def test_ytvis_mapper_is_deterministic_given_the_generator(tmp_path):
    d = vis_video(tmp_path / "v")
    cfg = get_cfg()
    cfg.INPUT.SAMPLING_FRAME_NUM, cfg.INPUT.SAMPLING_FRAME_RANGE = 3, 1
    cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN = (20, 24, 28), 100
    cfg.INPUT.AUGMENTATIONS = ["brightness", "contrast", "saturation", "rotation"]
    mapper = build_mapper(cfg, "video_instance")
    a, b = mapper(d, rng=np.random.default_rng(9)), mapper(d, rng=np.random.default_rng(9))
    assert torch.equal(a["image"], b["image"]) and a["frame_idx"] == b["frame_idx"]
    assert torch.equal(a["instances"]["masks"], b["instances"]["masks"])


def test_ytvis_mask_size_disagreeing_with_frame_names_the_file(tmp_path):
    d = vis_video(tmp_path / "v")
    for frame in d["annotations"]:
        frame[0]["segmentation"] = rle(np.ones((20, 30), np.uint8))
    with pytest.raises(DatasetError, match=r"\.png.*RLE size \[20, 30\].*\[40, 60\]"):
        vis_mapper()(d, rng=np.random.default_rng(0))


def test_frame_size_disagreeing_with_dict_names_the_file(tmp_path):
    d = vis_video(tmp_path / "v")
    d["height"] = 41
    with pytest.raises(DatasetError, match=r"00000\.png|0000\d\.png"):
        vis_mapper()(d, rng=np.random.default_rng(0))


def test_missing_frame_names_the_file(tmp_path):
    d = vis_video(tmp_path / "v")
    d["file_names"] = [p.replace(".png", ".jpg") for p in d["file_names"]]
    with pytest.raises(DatasetError, match=r"\.jpg"):
        vis_mapper()(d, rng=np.random.default_rng(0))


def test_grayscale_and_rgba_frames_are_converted(tmp_path):
    files = write_frames(tmp_path / "g", 5, modes={0: "L", 1: "RGBA", 2: "LA"})
    d = {
        "file_names": files,
        "height": H,
        "width": W,
        "length": 5,
        "video_id": 2,
        "annotations": [[anno(1, 0, rle(rect(0, 5, 0, 5)))] for _ in range(5)],
    }
    out = vis_mapper()(d, rng=np.random.default_rng(0))
    img = out["image"]
    assert img.shape == (5, 3, H, W)
    assert torch.equal(img[0, 0], img[0, 1]) and torch.equal(img[0, 1], img[0, 2])  # grey
    assert torch.equal(img[1], torch.from_numpy(frame_pattern(1)).permute(2, 0, 1))  # alpha dropped
    bgr = vis_mapper(image_format="BGR")(d, rng=np.random.default_rng(0))["image"]
    assert torch.equal(bgr, img.flip(1))


# ----------------------------------------------------------------------------- COCO pseudo-clips


def coco_image(folder) -> dict:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(str(folder), "img.png")
    Image.fromarray(frame_pattern(3, 50, 70)).save(path)
    return {
        "file_name": path,
        "height": 50,
        "width": 70,
        "image_id": 77,
        "annotations": [
            anno(100, 2, rle(rect(10, 30, 10, 40, 50, 70))),
            anno(101, 1, rle(rect(0, 50, 0, 70, 50, 70)), crowd=1),
            anno(102, 0, polygon(30, 45, 45, 65)),
        ],
    }


def test_coco_pseudo_clip_mapper(tmp_path):
    d = coco_image(tmp_path)
    mapper = CocoClipDatasetMapper(
        shared_augmentations=[], frame_augmentations=[RandomRotationClip()], sampling_frame_num=4
    )
    out = mapper(d, rng=np.random.default_rng(1))
    assert out["image"].shape == (4, 3, 50, 70)
    inst = out["instances"]
    assert inst["ids"].tolist() == [[0] * 4, [1] * 4]  # crowd removed, ids 0..n-1
    assert inst["labels"].tolist() == [2, 0]
    assert inst["masks"].shape == (2, 4, 50, 70)
    areas = inst["masks"][0].flatten(1).sum(1).float()
    assert ((areas - 600).abs() < 60).all()  # rotation keeps the object (no expansion)
    assert not torch.equal(inst["masks"][0, 0], inst["masks"][0, 3])  # frames rotated differently
    assert not torch.equal(out["image"][0], out["image"][3])
    assert out["frame_idx"] == [0] * 4 and out["video_id"] == 77
    assert out["file_names"] == [d["file_name"]] * 4


def test_coco_pseudo_mapper_from_config_and_emptied_object(tmp_path):
    d = coco_image(tmp_path)
    cfg = get_cfg()
    cfg.INPUT.SAMPLING_FRAME_NUM = 3
    cfg.INPUT.PSEUDO.MIN_SIZE_TRAIN = (25,)
    cfg.INPUT.PSEUDO.MAX_SIZE_TRAIN = 100
    mapper = build_mapper(cfg, "image_instance")
    out = mapper(d, rng=np.random.default_rng(0))
    assert out["image"].shape == (3, 3, 25, 35)
    assert out["instances"]["masks"].shape == (2, 3, 25, 35)
    # an object cropped away in the shared step is dropped
    m = CocoClipDatasetMapper(
        shared_augmentations=[FixedCrop(20)], frame_augmentations=[], sampling_frame_num=2
    )
    inst = m(d, rng=np.random.default_rng(0))["instances"]
    assert inst["ids"].tolist() == [[0, 0]] and inst["labels"].tolist() == [2]


class FixedCropResizeFlip(ClipAugmentation):
    """Crop x in [5, 55), y in [3, 43) of a 50x70 image, resize 40x50 -> 27x33, flip (test
    helper)."""

    def get_transforms(self, images, rng):
        return [
            TransformList(
                [
                    CropTransform(5, 3, 50, 40, 70, 50),
                    ResizeTransform(40, 50, 27, 33),
                    HFlipTransform(33),
                ]
            )
        ] * len(images)


def test_coco_polygons_are_transformed_as_coordinates_then_rasterised(tmp_path):
    """Detectron2's order: the polygon is clipped by the crop, scaled, flipped, then rasterised at
    the output size (oracle: pycocotools on the hand-transformed rectangle); an RLE mask of the same
    image goes through the transform as an image (PIL nearest)."""
    d = coco_image(tmp_path)
    d["annotations"] = [
        anno(7, 0, [[2.3, 10.2, 34.5, 10.2, 34.5, 44.6, 2.3, 44.6]]),
        anno(8, 1, rle(rect(10, 30, 10, 40, 50, 70))),
    ]
    mapper = CocoClipDatasetMapper(
        shared_augmentations=[FixedCropResizeFlip()], frame_augmentations=[], sampling_frame_num=2
    )
    masks = mapper(d, rng=np.random.default_rng(0))["instances"]["masks"].numpy()  # (2, 2, 27, 33)
    # clip to x [5, 34.5], y [10.2, 43]; shift by (5, 3); scale x 33/50, y 27/40; flip x -> 33 - x
    x0, x1, y0, y1 = 33 - 29.5 * 33 / 50, 33.0, 7.2 * 27 / 40, 40 * 27 / 40
    oracle = mask_util.decode(mask_util.frPyObjects([[x0, y0, x1, y0, x1, y1, x0, y1]], 27, 33))[
        ..., 0
    ]
    assert np.array_equal(masks[0, 0], oracle) and np.array_equal(masks[0, 1], oracle)
    rasterised_first = mask_util.decode(
        mask_util.frPyObjects(d["annotations"][0]["segmentation"], 50, 70)
    )[..., 0]
    tfm = FixedCropResizeFlip().get_transforms([None], None)[0]
    assert (
        tfm.apply_segmentation(rasterised_first) != oracle
    ).sum() > 10  # the old order differs on the edge
    assert np.array_equal(masks[1, 0], tfm.apply_segmentation(rect(10, 30, 10, 40, 50, 70)))


def test_odd_polygon_is_one_clear_error(tmp_path):
    d = coco_image(tmp_path)
    d["annotations"] = [anno(7, 0, [[2.0, 10.0, 30.0, 10.0, 30.0, 44.0, 2.0]])]
    mapper = CocoClipDatasetMapper(
        shared_augmentations=[], frame_augmentations=[], sampling_frame_num=1
    )
    with pytest.raises(DatasetError, match=r"img\.png, annotation id 7: .*odd number"):
        mapper(d, rng=np.random.default_rng(0))


# ----------------------------------------------------------------------------- VIPSeg panoptic


def write_id_png(path, ids: np.ndarray) -> str:
    rgb = np.stack([ids % 256, (ids // 256) % 256, (ids // 65536) % 256], 2).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return str(path)


A_ID = 1 + 256 * 2 + 65536 * 3  # needs all three channels to decode


def vps_video(folder) -> dict:
    """4 frames 30x40: thing A (class 0) moving, stuff B (id 7, class 60) background, a crowd
    segment (id 9), id 300 listed but absent from the masks, F (id 600, class 5) only in frame 1,
    E (id 500) only in frame 3."""
    files = write_frames(folder, 4, 30, 40)
    pans, infos = [], []
    for t in range(4):
        ids = np.full((30, 40), 7, np.int64)
        ids[5:15, 5 + t : 15 + t] = A_ID
        ids[20:30, 0:5] = 9
        ids[0:2, :] = 0  # void
        listed = [
            {"id": A_ID, "category_id": 0, "iscrowd": 0, "isthing": True},
            {"id": 7, "category_id": 60, "iscrowd": 0, "isthing": False},
            {"id": 9, "category_id": 1, "iscrowd": 1, "isthing": True},
            {"id": 300, "category_id": 2, "iscrowd": 0, "isthing": True},
        ]
        if t == 1:
            ids[20:25, 30:38] = 600
            listed.append({"id": 600, "category_id": 5, "iscrowd": 0, "isthing": True})
        if t == 3:
            ids[20:25, 30:38] = 500
            listed.append({"id": 500, "category_id": 6, "iscrowd": 0, "isthing": True})
        pans.append(write_id_png(os.path.join(str(folder), f"{t:05d}_pan.png"), ids))
        infos.append(listed)
    return {
        "file_names": files,
        "pan_seg_file_names": pans,
        "segments_infos": infos,
        "height": 30,
        "width": 40,
        "length": 4,
        "video_id": "vid_a",
    }


def test_panoptic_mapper_decodes_rgb_ids(tmp_path):
    d = vps_video(tmp_path)
    mapper = PanopticDatasetVideoMapper(
        augmentations=[], sampling_frame_num=3, sampling_frame_range=1
    )
    out = mapper(d, rng=np.random.default_rng(0))
    assert out["frame_idx"] == [0, 1, 2]  # randrange(4 - 3) == 0
    inst = out["instances"]
    assert inst["labels"].tolist() == [0, 60, 5]  # A, B, F; crowd 9, absent 300, unsampled 500 out
    assert inst["ids"].tolist() == [[0, 0, 0], [1, 1, 1], [2, 2, 2]]
    for t in range(3):
        expect_a = np.zeros((30, 40), bool)
        expect_a[5:15, 5 + t : 15 + t] = True
        assert np.array_equal(inst["masks"][0, t].numpy(), expect_a)
    assert inst["masks"][2, 1].sum() == 40 and not inst["masks"][2, 0].any()  # empty frames kept
    assert not inst["masks"][:, :, 0:2].any()  # void pixels in no mask
    assert not (inst["masks"][:, :, 20:30, 0:5]).any()  # crowd pixels in no mask
    assert out["image"].shape == (3, 3, 30, 40)


def test_panoptic_mapper_from_config_resizes_and_flips_per_clip(tmp_path):
    d = vps_video(tmp_path)
    cfg = get_cfg()
    cfg.INPUT.SAMPLING_FRAME_NUM, cfg.INPUT.SAMPLING_FRAME_RANGE = 3, 1
    cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN = (60,), 1000
    mapper = build_mapper(cfg, "video_panoptic")
    flips = set()
    for seed in range(8):
        out = mapper(d, rng=np.random.default_rng(seed))
        img = out["image"].numpy()
        assert img.shape == (3, 3, 60, 80) and (img[:, :2] == img[:1, :2]).all()
        masks = out["instances"]["masks"]
        assert masks.shape == (3, 3, 60, 80)
        assert masks[0, 0].sum() == 400  # 10x10 -> 20x20 with nearest
        flips.add(bool(masks[0, 0, :, :40].sum() == 0))
    assert flips == {True, False}


def test_panoptic_mask_size_mismatch_names_the_file(tmp_path):
    d = vps_video(tmp_path)
    write_id_png(d["pan_seg_file_names"][1], np.zeros((10, 10), np.int64))
    mapper = PanopticDatasetVideoMapper(
        augmentations=[], sampling_frame_num=3, sampling_frame_range=1
    )
    with pytest.raises(DatasetError, match=r"00001_pan\.png.*10x10"):
        mapper(d, rng=np.random.default_rng(0))


# ----------------------------------------------------------------------------- VSPW semantic


def vss_video(folder) -> dict:
    """3 frames 20x30: values 0 (ignore) rows 0-4, 255 (ignore) rows 5-9, 3 elsewhere, and 7
    in a box in frame 2 only. Frame 0's PNG is palette mode, frame 1's is RGB (read channel 0),
    frame 2's is L."""
    files = write_frames(folder, 3, 20, 30)
    sems = []
    for t in range(3):
        v = np.full((20, 30), 3, np.uint8)
        v[0:5], v[5:10] = 0, 255
        if t == 2:
            v[12:16, 10:20] = 7
        p = os.path.join(str(folder), f"{t:05d}_sem.png")
        if t == 0:
            img = Image.fromarray(v, mode="L").convert("P")  # indices == values
            img.putpalette([c for i in range(256) for c in ((i * 37) % 256, i, 255 - i)])
            img.save(p)
        elif t == 1:
            Image.fromarray(np.stack([v, 255 - v, v // 2], 2)).save(p)
        else:
            Image.fromarray(v).save(p)
        sems.append(p)
    return {
        "file_names": files,
        "sem_seg_file_names": sems,
        "height": 20,
        "width": 30,
        "length": 3,
        "video_id": "vss_a",
    }


def test_semantic_mapper_ignore_and_classes(tmp_path):
    d = vss_video(tmp_path)
    mapper = SemanticDatasetVideoMapper(
        augmentations=[], sampling_frame_num=3, sampling_frame_range=1
    )
    out = mapper(d, rng=np.random.default_rng(0))
    inst = out["instances"]
    assert out["frame_idx"] == [0, 1, 2]
    assert inst["labels"].tolist() == [2, 6]  # value v -> class v - 1
    assert inst["ids"].tolist() == [[0, 0, 0], [1, 1, 1]]
    assert not inst["masks"][:, :, 0:10].any()  # 0 and 255 are ignored
    union = inst["masks"].any(0)
    assert union[:, 10:].all()
    assert inst["masks"][1, 2].sum() == 40 and not inst["masks"][1, :2].any()
    lut = np.full(256, 255, np.uint8)
    lut[3], lut[7] = 10, 4
    custom = SemanticDatasetVideoMapper(
        augmentations=[], sampling_frame_num=3, sampling_frame_range=1, value_to_class=lut
    )
    assert custom(d, rng=np.random.default_rng(0))["instances"]["labels"].tolist() == [4, 10]


def test_semantic_mapper_size_mismatch_names_the_file(tmp_path):
    d = vss_video(tmp_path)
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(d["sem_seg_file_names"][2])
    mapper = SemanticDatasetVideoMapper(
        augmentations=[], sampling_frame_num=3, sampling_frame_range=1
    )
    with pytest.raises(DatasetError, match=r"00002_sem\.png"):
        mapper(d, rng=np.random.default_rng(0))


# ----------------------------------------------------------------------------- test mapper


def test_video_test_mapper_whole_video_and_pass_through(tmp_path):
    d = vps_video(tmp_path)
    cfg = get_cfg()
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = 15, 1000
    mapper = build_mapper(cfg, is_train=False)
    assert isinstance(mapper, VideoTestMapper)
    out = mapper(d)
    assert out["image"].shape == (4, 3, 15, 20) and out["image"].dtype == torch.uint8
    pil = Image.open(d["file_names"][2]).convert("RGB").resize((20, 15), Image.BILINEAR)  # oracle
    np.testing.assert_array_equal(out["image"][2].permute(1, 2, 0).numpy(), np.asarray(pil))
    assert (out["height"], out["width"], out["length"], out["video_id"]) == (30, 40, 4, "vid_a")
    assert out["pan_seg_file_names"] == d["pan_seg_file_names"]
    assert out["segments_infos"] == d["segments_infos"]
    assert "instances" not in out and "sem_seg_file_names" not in out
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = 30, 35
    assert build_mapper(cfg, is_train=False)(d)["image"].shape[2:] == (26, 35)  # long side cap
    with pytest.raises(DatasetError, match=r"video None: no frames \('file_names'\)"):
        mapper(
            {"file_name": d["file_names"][0], "image_id": 3}
        )  # a still image is not a test video


# ----------------------------------------------------------------------------- loaders


def loader_cfg(**overrides):
    cfg = get_cfg()
    cfg.SEED = 3
    cfg.DATASETS.TRAIN = ("fx_coco", "fx_vis")
    cfg.DATASETS.DATASET_TYPE = ["image_instance", "video_instance"]
    cfg.DATASETS.DATASET_RATIO = [1.0, 1.0]
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.INPUT.SAMPLING_FRAME_NUM, cfg.INPUT.SAMPLING_FRAME_RANGE = 3, 1
    cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN = (20, 24), 100
    cfg.INPUT.PSEUDO.MIN_SIZE_TRAIN, cfg.INPUT.PSEUDO.MAX_SIZE_TRAIN = (20,), 100
    for k, v in overrides.items():
        node = cfg
        *path, leaf = k.split("__")
        for p in path:
            node = node[p]
        node[leaf] = v
    return cfg


def fingerprint(batch) -> list:
    return [
        (x["video_id"], tuple(x["frame_idx"]), tuple(x["image"].shape), int(x["image"].sum()))
        for x in batch
    ]


def test_train_loader_mixes_and_resumes_exactly(tmp_path):
    datasets = [
        [coco_image(tmp_path / "coco")],
        [vis_video(tmp_path / "v1", 1), vis_video(tmp_path / "v2", 2)],
    ]
    cfg = loader_cfg()
    run = [fingerprint(b) for b in itertools.islice(build_train_loader(cfg, datasets=datasets), 6)]
    assert all(len(b) == 2 for b in run)
    assert {x[0] for b in run for x in b} == {77, 1, 2}  # both sources are drawn
    assert {x[1] for b in run for x in b if x[0] == 77} == {(0, 0, 0)}
    resumed = [
        fingerprint(b)
        for b in itertools.islice(build_train_loader(cfg, datasets=datasets, start_iter=3), 3)
    ]
    assert resumed == run[3:]
    two_ranks = [
        next(iter(build_train_loader(cfg, datasets=datasets, rank=r, world_size=2)))
        for r in range(2)
    ]
    assert [fingerprint(b)[0] for b in two_ranks] == run[0]


def test_train_loader_workers_give_the_same_stream(tmp_path):
    datasets = [[coco_image(tmp_path / "coco")], [vis_video(tmp_path / "v1", 1)]]
    single = [
        fingerprint(b)
        for b in itertools.islice(build_train_loader(loader_cfg(), datasets=datasets), 4)
    ]
    multi = build_train_loader(loader_cfg(DATALOADER__NUM_WORKERS=2), datasets=datasets)
    assert [fingerprint(b) for b in itertools.islice(multi, 4)] == single


def test_filter_empty_annotations_logs_count(tmp_path, caplog):
    good = vis_video(tmp_path / "v1")
    crowd_only = dict(
        good, video_id=5, annotations=[[a for a in f if a["iscrowd"]] for f in good["annotations"]]
    )
    empty = dict(good, video_id=6, annotations=[[] for _ in good["annotations"]])
    with caplog.at_level(logging.INFO, logger="videomt.data.build"):
        kept = filter_empty_annotations([good, crowd_only, empty], "fx")
    assert [d["video_id"] for d in kept] == [1]
    assert "Removed 2 of 3" in caplog.text
    with pytest.raises(ValueError, match="fx"):
        filter_empty_annotations([empty], "fx")


def test_loaders_through_the_catalog(tmp_path):
    name = "fx_mapper_catalog_vis"
    vids = [vis_video(tmp_path / f"v{i}", i) for i in range(3)]
    if name in DatasetCatalog:
        DatasetCatalog.remove(name)
    DatasetCatalog.register(name, lambda: [dict(v) for v in vids])
    MetadataCatalog.get(name).set(evaluator_type="ytvis", thing_classes=["a"] * 6)
    try:
        cfg = loader_cfg(
            DATASETS__TRAIN=(name,),
            DATASETS__DATASET_TYPE=["video_instance"],
            DATASETS__DATASET_RATIO=[1.0],
        )
        batch = next(iter(build_train_loader(cfg)))
        assert len(batch) == 2 and {x["video_id"] for x in batch} <= {0, 1, 2}
        cfg.INPUT.MIN_SIZE_TEST = 20
        shards = [
            [b[0]["video_id"] for b in build_test_loader(cfg, name, rank=r, world_size=2)]
            for r in range(2)
        ]
        assert shards == [[0, 1], [2]]
        b = next(iter(build_test_loader(cfg, name)))
        assert len(b) == 1 and b[0]["image"].shape == (8, 3, 20, 30)
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def test_loader_config_errors(tmp_path):
    datasets = [[coco_image(tmp_path / "coco")], [vis_video(tmp_path / "v1", 1)]]
    with pytest.raises(ConfigError, match="DATASET_RATIO"):
        build_train_loader(loader_cfg(DATASETS__DATASET_RATIO=[1.0, 1.0, 1.0]), datasets=datasets)
    with pytest.raises(ConfigError, match="unknown DATASETS.DATASET_TYPE 'video'"):
        build_train_loader(
            loader_cfg(DATASETS__DATASET_TYPE=["image_instance", "video"]), datasets=datasets
        )
    with pytest.raises(ConfigError, match="not divisible"):
        build_train_loader(
            loader_cfg(SOLVER__IMS_PER_BATCH=3), datasets=datasets, world_size=2, rank=0
        )


# ----------------------------------------------------------------------------- synthetic round trip


def test_synthetic_datasets_through_loaders_and_mappers(tmp_path):
    """Part 1's generators + loaders (real on-disk formats) feed every training mapper."""
    from videomt.data.metadata import things_first_metadata
    from videomt.data.synthetic import (
        SYNTHETIC_COCO_TO_TARGET,
        SYNTHETIC_PANOPTIC_CATEGORIES,
        generate_coco,
        generate_vis,
        generate_vps,
        generate_vss,
    )
    from videomt.data.vipseg import load_vipseg_json
    from videomt.data.vspw import load_vspw
    from videomt.data.ytvis import load_coco_pseudo_json, load_ytvis_json

    kw = dict(num_videos=2, num_frames=6, height=48, width=64)
    vis = load_ytvis_json(
        generate_vis(str(tmp_path / "vis"), **kw), str(tmp_path / "vis" / "JPEGImages")
    )
    vps = load_vipseg_json(
        generate_vps(str(tmp_path / "vps"), **kw),
        str(tmp_path / "vps" / "images"),
        str(tmp_path / "vps" / "panomasksRGB"),
        SYNTHETIC_PANOPTIC_CATEGORIES,
    )
    vss = load_vspw(str(tmp_path / "vss" / "data"), generate_vss(str(tmp_path / "vss"), **kw), True)
    coco = load_coco_pseudo_json(
        generate_coco(str(tmp_path / "coco"), num_images=2, height=48, width=64),
        str(tmp_path / "coco" / "images"),
        {c: t - 1 for c, t in SYNTHETIC_COCO_TO_TARGET.items()},
    )
    meta = things_first_metadata(SYNTHETIC_PANOPTIC_CATEGORIES)
    mappers = [
        (vis, vis_mapper(sampling_frame_num=3, sampling_frame_range=1), 5),
        (
            coco,
            CocoClipDatasetMapper(
                shared_augmentations=[],
                frame_augmentations=[RandomRotationClip()],
                sampling_frame_num=3,
            ),
            5,
        ),
        (
            vps,
            PanopticDatasetVideoMapper(
                augmentations=[], sampling_frame_num=3, sampling_frame_range=1
            ),
            meta["num_classes"],
        ),
        (
            vss,
            SemanticDatasetVideoMapper(
                augmentations=[],
                sampling_frame_num=3,
                sampling_frame_range=1,
                value_to_class=meta["raw_value_to_contiguous"],
            ),
            meta["num_classes"],
        ),
    ]
    for dicts, mapper, num_classes in mappers:
        for i, d in enumerate(dicts):
            out = mapper(d, rng=np.random.default_rng(i))
            inst = out["instances"]
            assert out["image"].shape == (3, 3, 48, 64)
            assert (
                inst["masks"].shape[1:] == (3, 48, 64)
                and inst["ids"].shape == inst["masks"].shape[:2]
            )
            assert ((inst["ids"] >= 0) | ~inst["masks"].flatten(2).any(2)).all()
            assert ((inst["labels"] >= 0) & (inst["labels"] < num_classes)).all()
        assert any(
            len(mapper(d, rng=np.random.default_rng(0))["instances"]["labels"]) for d in dicts
        )


def test_malformed_rle_in_a_video_is_a_dataset_error_naming_the_frame(tmp_path):
    d = vis_video(tmp_path / "v")
    for frame in d["annotations"]:
        frame[0]["segmentation"] = dict(
            frame[0]["segmentation"], counts=frame[0]["segmentation"]["counts"][:-1]
        )
    with pytest.raises(DatasetError, match=r"\.png \(video 1\), annotation id 11: malformed RLE"):
        vis_mapper()(d, rng=np.random.default_rng(0))


def test_build_mapper_names_an_unknown_dataset_type():
    with pytest.raises(ConfigError, match="DATASETS.DATASET_TYPE") as e:
        build_mapper(get_cfg(), "video_bogus")
    assert "'video_bogus'" in str(e.value) and "video_instance" in str(e.value)


def test_a_newly_registered_mapper_is_used_for_its_dataset_type():
    """A new training mapper is one decorated class: no table to edit."""

    @MAPPER_REGISTRY.register_as("_test_video_depth")
    class DepthMapper:
        def __init__(self, scale: float):
            self.scale = scale

        @classmethod
        def from_config(cls, cfg, is_train, dataset_name):
            return {"scale": float(cfg.INPUT.SAMPLING_FRAME_NUM)}

    try:
        mapper = build_mapper(get_cfg(), "_test_video_depth", True, "any")
        assert isinstance(mapper, DepthMapper) and mapper.scale == 2.0
    finally:
        for name in ("_test_video_depth", "DepthMapper"):
            MAPPER_REGISTRY._obj_map.pop(name)
