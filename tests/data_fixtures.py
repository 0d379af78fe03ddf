"""Small hand-written dataset fixtures in the real on-disk formats (shared by the data tests).

Each ``write_*`` function writes into a given folder and returns the paths the loaders need.
They are written by hand (not by ``videomt.data.synthetic``) so that loader tests do not share
assumptions with the generator. Frame images are tiny solid-colour JPEGs.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_util

H, W = 24, 32


def rle_str(mask: np.ndarray) -> dict:
    """Compressed RLE with a str ``counts`` (OVIS style)."""
    r = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    r["counts"] = r["counts"].decode("ascii")
    return r


def rle_list(mask: np.ndarray) -> dict:
    """Uncompressed RLE with a list ``counts`` (YouTube-VIS train style, column-major runs)."""
    flat = mask.astype(np.uint8).flatten(order="F")
    counts, cur, run = [], 0, 0
    for v in flat:
        if v != cur:
            counts.append(run)
            cur, run = v, 0
        run += 1
    counts.append(run)
    return {"counts": counts, "size": [int(mask.shape[0]), int(mask.shape[1])]}


def box_mask(y0: int, x0: int, y1: int, x1: int, h: int = H, w: int = W) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def write_jpg(path: str, h: int = H, w: int = W, value: int = 128, mode: str = "RGB") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if mode == "RGB":
        Image.new("RGB", (w, h), (value, 255 - value, 60)).save(path, quality=90)
    elif mode == "L":
        Image.new("L", (w, h), value).save(path)
    elif mode == "RGBA":
        Image.new("RGBA", (w, h), (value, 10, 20, 100)).save(path)


def write_json(path: str, obj: Any) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def ytvis_dict() -> dict:
    """Two videos (ids 7 and 9) of 3 and 2 frames; categories 1, 3 (sparse ids -> 0, 1).

    Track 100 (cat 3) in video 7: frames 0 and 2 (absent in 1), list-count RLE.
    Track 101 (cat 1) in video 7: frame 1 only, polygon.
    Track 200 (cat 1, crowd) in video 9: both frames, str-count RLE, no ``bboxes`` key.
    """
    m0, m2 = box_mask(2, 3, 10, 12), box_mask(5, 6, 15, 20)
    poly = [[4.0, 4.0, 20.0, 4.0, 20.0, 18.0, 4.0, 18.0]]
    return {
        "videos": [
            {
                "id": 7,
                "file_names": ["a/0.jpg", "a/1.jpg", "a/2.jpg"],
                "height": H,
                "width": W,
                "length": 3,
            },
            {"id": 9, "file_names": ["b/0.jpg", "b/1.jpg"], "height": H, "width": W},
        ],
        "annotations": [
            {
                "id": 100,
                "video_id": 7,
                "category_id": 3,
                "iscrowd": 0,
                "segmentations": [rle_list(m0), None, rle_list(m2)],
                "bboxes": [[3, 2, 9, 8], None, [6, 5, 14, 10]],
                "areas": [72, None, 140],
            },
            {
                "id": 101,
                "video_id": 7,
                "category_id": 1,
                "iscrowd": 0,
                "segmentations": [None, poly, None],
                "bboxes": [None, [4, 4, 16, 14], None],
            },
            {
                "id": 200,
                "video_id": 9,
                "category_id": 1,
                "iscrowd": 1,
                "segmentations": [rle_str(m0), rle_str(m2)],
            },
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}],
    }


def write_ytvis(root: str, data: dict | None = None, frames: bool = True) -> tuple[str, str]:
    """Write ``data`` (default :func:`ytvis_dict`) + its frames; returns (json, image_root)."""
    data = ytvis_dict() if data is None else data
    image_root = os.path.join(root, "JPEGImages")
    os.makedirs(image_root, exist_ok=True)
    if frames:
        for v in data.get("videos", []):
            for fn in v["file_names"]:
                write_jpg(os.path.join(image_root, fn), v.get("height", H), v.get("width", W))
    return write_json(os.path.join(root, "train.json"), data), image_root


def write_large_ytvis(
    root: str,
    num_videos: int = 3000,
    num_frames: int = 36,
    tracks: int = 2,
    h: int = 720,
    w: int = 1280,
    counts: str = "str",
    frame_folders: int | None = None,
) -> tuple[str, str]:
    """A YouTube-VIS-size JSON (one RLE per frame per track, absent every 7th frame) + empty
    frame files. ``counts="str"``: compressed RLE strings; ``"list"``: uncompressed count lists.

    ``frame_folders``: if given, videos share that many frame folders (fewer files to create on
    slow disks); default one folder per video as in YouTube-VIS. The JSON text is assembled from
    pre-serialised pieces, so writing it is fast.
    """
    image_root = os.path.join(root, "JPEGImages")
    rng = np.random.default_rng(0)
    templates = []
    for k in range(8):  # a few distinct masks, reused (encoding 200k masks would be slow)
        y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
        m = box_mask(y0, x0, y0 + h // 3 + k, x0 + w // 4 + 3 * k, h, w)
        m[y0 + 5 : y0 + 9, x0 : x0 + 50] = False
        templates.append(json.dumps(rle_str(m) if counts == "str" else rle_list(m)))
    n_folders = num_videos if frame_folders is None else frame_folders
    for v in range(n_folders):
        d = os.path.join(image_root, f"v{v:05d}")
        os.makedirs(d, exist_ok=True)
        for f in range(num_frames):
            open(os.path.join(d, f"{f:05d}.jpg"), "wb").close()
    videos, anns = [], []
    for v in range(num_videos):
        folder = f"v{v % n_folders:05d}"
        names = json.dumps([f"{folder}/{f:05d}.jpg" for f in range(num_frames)])
        videos.append(
            f'{{"id":{v + 1},"file_names":{names},"height":{h},"width":{w},"length":{num_frames}}}'
        )
        for t in range(tracks):
            present = [(f + t) % 7 != 0 for f in range(num_frames)]
            segs = ",".join(
                templates[(v + t + f) % 8] if p else "null" for f, p in enumerate(present)
            )
            boxes = ",".join("[1.0,2.0,30.0,40.0]" if p else "null" for p in present)
            areas = ",".join("100" if p else "null" for p in present)
            anns.append(
                f'{{"id":{v * tracks + t + 1},"video_id":{v + 1},'
                f'"category_id":{1 + t % 40},"iscrowd":0,"segmentations":[{segs}],'
                f'"bboxes":[{boxes}],"areas":[{areas}]}}'
            )
    cats = json.dumps([{"id": i + 1, "name": f"c{i}"} for i in range(40)])
    path = os.path.join(root, "large.json")
    with open(path, "w") as f:
        f.write(
            '{"videos":['
            + ",".join(videos)
            + '],"annotations":['
            + ",".join(anns)
            + '],"categories":'
            + cats
            + "}"
        )
    return path, image_root


def coco_dict() -> dict:
    """Two images; COCO cats 1 (person), 3 (car), 10 (traffic light, unmapped everywhere)."""
    m = box_mask(2, 3, 10, 12)
    return {
        "images": [
            {"id": 1, "file_name": "000001.jpg", "height": H, "width": W},
            {"id": 2, "file_name": "000002.jpg", "height": H, "width": W},
        ],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 0,
                "segmentation": [[1, 1, 10, 1, 10, 10, 1, 10]],
                "bbox": [1, 1, 9, 9],
                "area": 81,
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 10,
                "iscrowd": 0,
                "segmentation": [[1, 1, 5, 1, 5, 5]],
                "bbox": [1, 1, 4, 4],
                "area": 8,
            },
            {
                "id": 3,
                "image_id": 2,
                "category_id": 3,
                "iscrowd": 1,
                "segmentation": rle_str(m),
                "bbox": [3, 2, 9, 8],
                "area": 72,
            },
        ],
        "categories": [
            {"id": 1, "name": "person"},
            {"id": 3, "name": "car"},
            {"id": 10, "name": "traffic light"},
        ],
    }


def write_coco(root: str, data: dict | None = None) -> tuple[str, str]:
    data = coco_dict() if data is None else data
    image_root = os.path.join(root, "train2017")
    for im in data["images"]:
        write_jpg(os.path.join(image_root, im["file_name"]), im["height"], im["width"])
    return write_json(os.path.join(root, "annotations", "instances.json"), data), image_root


# Panoptic fixture: raw categories 0 = wall (stuff), 1 = door (thing), 2 = sky (stuff),
# 3 = car (thing) -> things first: door 0, car 1, wall 2, sky 3.
PAN_CATEGORIES = [
    {"id": 0, "name": "wall", "isthing": 0},
    {"id": 1, "name": "door", "isthing": 1},
    {"id": 2, "name": "sky", "isthing": 0},
    {"id": 3, "name": "car", "isthing": 1},
]


def _id_png(path: str, ids: np.ndarray) -> None:
    rgb = np.stack([ids % 256, (ids // 256) % 256, ids // 65536], -1).astype(np.uint8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(rgb).save(path)


def write_vipseg(
    root: str,
    with_videos: bool = True,
    with_annotations: bool = True,
    mask_hw: tuple[int, int] = (H, W),
) -> tuple[str, str, str]:
    """One video 'v1' of 2 frames: wall (id 5000) top, sky (id 7000) bottom, door id 300
    (frame 0 only), car id 70000 (both frames, crowd in frame 1). Returns (json, images, pan).

    Real VIPSeg layout: ``images[].file_name`` ends in ``.png`` (named after the masks) while the
    frames are ``.jpg``; annotations refer to images by ``image_id``, and the ``images`` list is
    written in the opposite order to the annotations."""
    img_root, pan_root = os.path.join(root, "images"), os.path.join(root, "panomasksRGB")
    frames, images = [], []
    for t in range(2):
        ids = np.zeros(mask_hw, dtype=np.int64)
        ids[: mask_hw[0] // 2] = 5000
        ids[mask_hw[0] // 2 :] = 7000
        segs = [
            {"id": 5000, "category_id": 0, "iscrowd": 0},
            {"id": 7000, "category_id": 2, "iscrowd": 0},
        ]
        if t == 0:
            ids[1:5, 1:5] = 300
            segs.append({"id": 300, "category_id": 1, "iscrowd": 0})
        ids[10:20, 10:20] = 70000
        segs.append({"id": 70000, "category_id": 3, "iscrowd": int(t == 1)})
        _id_png(os.path.join(pan_root, "v1", f"{t:03d}.png"), ids)
        write_jpg(os.path.join(img_root, "v1", f"{t:03d}.jpg"))
        frames.append({"file_name": f"{t:03d}.png", "image_id": f"v1_{t}", "segments_info": segs})
        images.append({"file_name": f"{t:03d}.png", "id": f"v1_{t}", "height": H, "width": W})
    data: dict[str, Any] = {"categories": PAN_CATEGORIES}
    if with_videos:
        data["videos"] = [
            {"video_id": "v1", "images": images[::-1] if with_annotations else images}
        ]
    if with_annotations:
        data["annotations"] = [{"video_id": "v1", "annotations": frames}]
    return write_json(os.path.join(root, "pan.json"), data), img_root, pan_root


def write_vspw(
    root: str,
    split: str = "val",
    videos: tuple[str, ...] = ("s1", "s2"),
    num_frames: int = 3,
    masks: bool = True,
) -> tuple[str, str]:
    """VSPW layout: data/<v>/origin/<t>.jpg + data/<v>/mask/<t>.png (values 0, 1, 4, 255).
    Returns (data_root, split_file)."""
    data = os.path.join(root, "data")
    for v in videos:
        for t in range(num_frames):
            write_jpg(os.path.join(data, v, "origin", f"{t:05d}.jpg"))
            if masks:
                m = np.zeros((H, W), dtype=np.uint8)
                m[:8], m[8:16], m[16:20] = 1, 4, 255
                os.makedirs(os.path.join(data, v, "mask"), exist_ok=True)
                Image.fromarray(m).save(os.path.join(data, v, "mask", f"{t:05d}.png"))
    split_file = os.path.join(root, f"{split}.txt")
    with open(split_file, "w") as f:
        f.write("\n".join(videos) + "\n\n")
    return data, split_file
