"""Synthetic video datasets written in the real on-disk formats (no download needed).

* :func:`generate_vis`: YouTube-VIS JSON + JPEG frames (``JPEGImages/<video>/<frame>.jpg``).
* :func:`generate_vps`: VIPSeg-style panoptic: JPEG frames, RGB-encoded id PNGs
  (``panomasksRGB/<video>/<frame>.png``) and the VIPSeg panoptic JSON, with stuff regions.
* :func:`generate_vss`: VSPW-style semantic: ``data/<video>/{origin,mask}`` + ``<split>.txt``.
* :func:`generate_coco`: COCO instances JSON of still images (pseudo-video training), with an
  extra category outside the mapping (to exercise the drop-and-count path).

Everything is deterministic by ``seed`` (same seed and sizes -> identical files). Labels come
from the scene geometry (:mod:`videomt.data.synthetic_scene`), never from the lossy JPEGs.
:func:`ensure_synthetic` generates a registered ``synthetic_*`` dataset on first use under
``$DETECTRON2_DATASETS/synthetic/<name>``.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_util

from .catalog import DatasetError, dataset_root
from .io import id2rgb, rgb2id
from .synthetic_scene import (
    DISTRACTOR_CLASS,
    SHAPE_CLASSES,
    SHAPE_COLORS,
    STUFF_CLASSES,
    STUFF_COLORS,
    make_scene,
    rasterize,
)

__all__ = [
    "SYNTHETIC_THING_CLASSES",
    "SYNTHETIC_PANOPTIC_CATEGORIES",
    "SYNTHETIC_COCO_TO_TARGET",
    "SYNTHETIC_SPECS",
    "generate_vis",
    "generate_vps",
    "generate_vss",
    "generate_coco",
    "ensure_synthetic",
    "synthetic_layout",
]

logger = logging.getLogger(__name__)

SYNTHETIC_THING_CLASSES: tuple[str, ...] = SHAPE_CLASSES

# Panoptic/semantic raw categories; things and stuff interleaved in raw-id order on purpose, so
# the things-first contiguous order differs from the raw order (as in VIPSeg).
_RAW_ORDER = ("sky", "circle", "ground", "square", "triangle", "wall", "star", "cross")
SYNTHETIC_PANOPTIC_CATEGORIES: list[dict[str, Any]] = [
    {
        "id": i,
        "name": n,
        "isthing": int(n in SHAPE_CLASSES),
        "color": list(SHAPE_COLORS[SHAPE_CLASSES.index(n)] if n in SHAPE_CLASSES
                      else STUFF_COLORS[STUFF_CLASSES.index(n)]),
    }
    for i, n in enumerate(_RAW_ORDER)
]
_THING_RAW = [_RAW_ORDER.index(n) for n in SHAPE_CLASSES]
_STUFF_RAW = [_RAW_ORDER.index(n) for n in STUFF_CLASSES]

# Synthetic COCO set: category ids 11..15 = the shape classes, 20 = distractor (unmapped).
_COCO_IDS = [11, 12, 13, 14, 15, 20]
SYNTHETIC_COCO_TO_TARGET: dict[int, int] = {c: i + 1 for i, c in enumerate(_COCO_IDS[:-1])}

# Registered synthetic datasets: kind and generator arguments.
SYNTHETIC_SPECS: dict[str, dict[str, Any]] = {
    "synthetic_vis_train": dict(kind="vis", num_videos=32, num_frames=10, height=192, width=256,
                                seed=0),
    "synthetic_vis_val": dict(kind="vis", num_videos=8, num_frames=10, height=192, width=256,
                              seed=1),
    "synthetic_vps_train": dict(kind="vps", num_videos=24, num_frames=10, height=192, width=256,
                                seed=2),
    "synthetic_vps_val": dict(kind="vps", num_videos=6, num_frames=10, height=192, width=256,
                              seed=3),
    "synthetic_vss_train": dict(kind="vss", num_videos=24, num_frames=10, height=192, width=256,
                                seed=4, split="train"),
    "synthetic_vss_val": dict(kind="vss", num_videos=6, num_frames=10, height=192, width=256,
                              seed=5, split="val"),
    "synthetic_coco_train": dict(kind="coco", num_images=64, height=192, width=256, seed=6),
}

_JPEG = [int(cv2.IMWRITE_JPEG_QUALITY), 92]


def _write_jpg(path: str, rgb: np.ndarray) -> None:
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), _JPEG):
        raise DatasetError(f"{path}: could not write image")


def _write_png(path: str, arr: np.ndarray) -> None:
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(path, arr):
        raise DatasetError(f"{path}: could not write PNG")


def _write_json(path: str, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, separators=(",", ":"))


def _rle(mask: np.ndarray) -> dict:
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _bbox(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
            float(ys.max() - ys.min() + 1)]


def _video_name(i: int) -> str:
    return f"vid_{i:04d}"


def _frame_stem(t: int) -> str:
    return f"{t:05d}"


def generate_vis(root: str, num_videos: int = 8, num_frames: int = 6, height: int = 96,
                 width: int = 128, seed: int = 0) -> str:
    """Write a YouTube-VIS-format instance dataset under ``root``; returns the JSON path.

    Layout: ``root/JPEGImages/vid_XXXX/NNNNN.jpg`` and ``root/annotations.json`` (video ids
    1..N, annotation (track) ids unique over the dataset, category ids 1..5 =
    ``SYNTHETIC_THING_CLASSES``, compressed RLE per frame, ``None`` where the object is absent).
    """
    img_root = os.path.join(root, "JPEGImages")
    videos, anns = [], []
    next_ann = 1
    for v in range(num_videos):
        scene = make_scene(seed, v, height, width, num_frames)
        name = _video_name(v)
        os.makedirs(os.path.join(img_root, name), exist_ok=True)
        n_tr = len(scene.tracks)
        segs: list[list[Any]] = [[None] * num_frames for _ in range(n_tr)]
        boxes: list[list[Any]] = [[None] * num_frames for _ in range(n_tr)]
        areas: list[list[Any]] = [[None] * num_frames for _ in range(n_tr)]
        file_names = []
        for t in range(num_frames):
            r = scene.render(t)
            fn = f"{name}/{_frame_stem(t)}.jpg"
            _write_jpg(os.path.join(img_root, fn), r["image"])
            file_names.append(fn)
            for k in range(n_tr):
                m = r["inst"] == k + 1
                if m.any():
                    segs[k][t], boxes[k][t], areas[k][t] = _rle(m), _bbox(m), int(m.sum())
        videos.append({"id": v + 1, "file_names": file_names, "height": height, "width": width,
                       "length": num_frames})
        for k, tr in enumerate(scene.tracks):
            if all(s is None for s in segs[k]):
                continue  # never visible
            anns.append({"id": next_ann, "video_id": v + 1, "category_id": tr.cls + 1,
                         "iscrowd": 0, "segmentations": segs[k], "bboxes": boxes[k],
                         "areas": areas[k], "height": height, "width": width,
                         "length": num_frames})
            next_ann += 1
    cats = [{"id": i + 1, "name": n, "supercategory": "shape"}
            for i, n in enumerate(SYNTHETIC_THING_CLASSES)]
    path = os.path.join(root, "annotations.json")
    _write_json(path, {"info": {"description": f"synthetic VIS seed {seed}"}, "videos": videos,
                       "annotations": anns, "categories": cats})
    return path


def generate_vps(root: str, num_videos: int = 8, num_frames: int = 6, height: int = 96,
                 width: int = 128, seed: int = 0) -> str:
    """Write a VIPSeg-style panoptic dataset under ``root``; returns the JSON path.

    Layout: ``root/images/vid_XXXX/NNNNN.jpg``, ``root/panomasksRGB/vid_XXXX/NNNNN.png`` (RGB,
    id = R + 256 G + 256^2 B, 0 = void: 1-pixel borders between stuff bands) and
    ``root/panoptic_gt.json`` (VIPSeg format, raw category ids of
    ``SYNTHETIC_PANOPTIC_CATEGORIES``; segment ids consistent across the frames of a video;
    image names end in ``.png`` as in the real files).
    """
    img_root, pan_root = os.path.join(root, "images"), os.path.join(root, "panomasksRGB")
    videos, annotations = [], []
    for v in range(num_videos):
        scene = make_scene(seed, v, height, width, num_frames, with_stuff=True)
        name = _video_name(v)
        os.makedirs(os.path.join(img_root, name), exist_ok=True)
        os.makedirs(os.path.join(pan_root, name), exist_ok=True)
        rng = np.random.default_rng([seed, v, 7])
        stuff_ids = [int(rgb2id(np.array(c))) for c in STUFF_COLORS]
        used = set(stuff_ids)
        thing_ids = []
        for tr in scene.tracks:  # unique colour near the class colour, as VIPSeg's id generator
            base = np.array(SHAPE_COLORS[tr.cls])
            while True:
                c = np.clip(base + rng.integers(-30, 31, 3), 0, 255)
                sid = int(rgb2id(c))
                if sid not in used and sid != 0:
                    break
            used.add(sid)
            thing_ids.append(sid)
        images, frames = [], []
        for t in range(num_frames):
            r = scene.render(t)
            stem = _frame_stem(t)
            _write_jpg(os.path.join(img_root, name, stem + ".jpg"), r["image"])
            pan = np.zeros((height, width), dtype=np.int64)
            segs = []
            for k, sid in enumerate(stuff_ids):
                m = (r["stuff"] == k) & (r["inst"] == 0)
                if m.any():
                    pan[m] = sid
                    segs.append({"id": sid, "category_id": _STUFF_RAW[k], "iscrowd": 0,
                                 "area": int(m.sum()), "bbox": _bbox(m)})
            for k, (tr, sid) in enumerate(zip(scene.tracks, thing_ids)):
                m = r["inst"] == k + 1
                if m.any():
                    pan[m] = sid
                    segs.append({"id": sid, "category_id": _THING_RAW[tr.cls], "iscrowd": 0,
                                 "area": int(m.sum()), "bbox": _bbox(m)})
            _write_png(os.path.join(pan_root, name, stem + ".png"), id2rgb(pan))
            images.append({"file_name": stem + ".png", "id": f"{name}_{stem}",  # as VIPSeg: the
                           "height": height, "width": width})  # mask's name, frame is .jpg
            frames.append({"file_name": stem + ".png", "image_id": f"{name}_{stem}",
                           "segments_info": segs})
        videos.append({"video_id": name, "images": images})
        annotations.append({"video_id": name, "annotations": frames})
    path = os.path.join(root, "panoptic_gt.json")
    _write_json(path, {"videos": videos, "annotations": annotations,
                       "categories": SYNTHETIC_PANOPTIC_CATEGORIES})
    return path


def generate_vss(root: str, num_videos: int = 8, num_frames: int = 6, height: int = 96,
                 width: int = 128, seed: int = 0, split: str = "train") -> str:
    """Write a VSPW-style semantic dataset under ``root``; returns the split txt path.

    Layout: ``root/data/vid_XXXX/origin/NNNNN.jpg``, ``root/data/vid_XXXX/mask/NNNNN.png``
    (uint8: raw category id + 1 of ``SYNTHETIC_PANOPTIC_CATEGORIES``, 0 on the void borders),
    ``root/<split>.txt``.
    """
    data = os.path.join(root, "data")
    lut_stuff = np.array([r + 1 for r in _STUFF_RAW], dtype=np.uint8)
    names = []
    for v in range(num_videos):
        scene = make_scene(seed, v, height, width, num_frames, with_stuff=True)
        name = _video_name(v)
        names.append(name)
        os.makedirs(os.path.join(data, name, "origin"), exist_ok=True)
        os.makedirs(os.path.join(data, name, "mask"), exist_ok=True)
        for t in range(num_frames):
            r = scene.render(t)
            stem = _frame_stem(t)
            _write_jpg(os.path.join(data, name, "origin", stem + ".jpg"), r["image"])
            sem = np.zeros((height, width), dtype=np.uint8)
            valid = r["stuff"] >= 0
            sem[valid] = lut_stuff[r["stuff"][valid]]
            for k, tr in enumerate(scene.tracks):
                sem[r["inst"] == k + 1] = _THING_RAW[tr.cls] + 1
            _write_png(os.path.join(data, name, "mask", stem + ".png"), sem)
    path = os.path.join(root, f"{split}.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(names) + "\n")
    return path


def generate_coco(root: str, num_images: int = 16, height: int = 96, width: int = 128,
                  seed: int = 0) -> str:
    """Write a COCO instances JSON of still shape images under ``root``; returns its path.

    Layout: ``root/images/NNNNNN.jpg``, ``root/annotations.json``. Category ids 11..15 are the
    shape classes (``SYNTHETIC_COCO_TO_TARGET`` maps them to 1..5), id 20 a distractor class
    outside the mapping. Unoccluded objects inside the image get polygons, others RLE; objects
    whose class is the distractor are sometimes marked ``iscrowd`` with an RLE.
    """
    img_root = os.path.join(root, "images")
    os.makedirs(img_root, exist_ok=True)
    images, anns = [], []
    next_ann = 1
    for i in range(num_images):
        scene = make_scene(seed, i, height, width, 1, num_classes=len(SHAPE_CLASSES) + 1)
        r = scene.render(0)
        fname = f"{i:06d}.jpg"
        _write_jpg(os.path.join(img_root, fname), r["image"])
        images.append({"id": i + 1, "file_name": fname, "height": height, "width": width})
        for k, tr in enumerate(scene.tracks):
            m = r["inst"] == k + 1
            if not m.any():
                continue
            poly = tr.polygon(0)
            full = rasterize(poly, height, width)
            inside = (poly >= 0).all() and (poly[:, 0] <= width - 1).all() and (
                poly[:, 1] <= height - 1).all()
            crowd = int(tr.cls == len(SHAPE_CLASSES) and k % 2 == 0)
            if inside and not crowd and (full == m).all():
                segm: Any = [[float(c) for c in poly.reshape(-1)]]
            else:
                segm = _rle(m)
            anns.append({"id": next_ann, "image_id": i + 1, "category_id": _COCO_IDS[tr.cls],
                         "iscrowd": crowd, "segmentation": segm, "bbox": _bbox(m),
                         "area": int(m.sum())})
            next_ann += 1
    cats = [{"id": c, "name": n, "supercategory": "shape"}
            for c, n in zip(_COCO_IDS, list(SHAPE_CLASSES) + [DISTRACTOR_CLASS])]
    path = os.path.join(root, "annotations.json")
    _write_json(path, {"images": images, "annotations": anns, "categories": cats})
    return path


def synthetic_layout(name: str, folder: str) -> dict[str, str]:
    """Paths of a generated ``synthetic_*`` dataset in ``folder`` (json / image root / ...)."""
    kind = SYNTHETIC_SPECS[name]["kind"]
    if kind == "vis":
        return {"json_file": os.path.join(folder, "annotations.json"),
                "image_root": os.path.join(folder, "JPEGImages")}
    if kind == "vps":
        return {"json_file": os.path.join(folder, "panoptic_gt.json"),
                "image_root": os.path.join(folder, "images"),
                "panoptic_root": os.path.join(folder, "panomasksRGB")}
    if kind == "vss":
        return {"split_file": os.path.join(folder, f"{SYNTHETIC_SPECS[name]['split']}.txt"),
                "image_root": os.path.join(folder, "data")}
    return {"json_file": os.path.join(folder, "annotations.json"),
            "image_root": os.path.join(folder, "images")}


_GENERATORS = {"vis": generate_vis, "vps": generate_vps, "vss": generate_vss,
               "coco": generate_coco}
_MARKER = "GENERATED.json"


def ensure_synthetic(name: str, root: str | None = None) -> str:
    """Generate the registered synthetic dataset ``name`` if needed; returns its folder.

    The folder is ``<root>/synthetic/<name>`` with ``root`` = ``$DETECTRON2_DATASETS`` by
    default. Generation goes to a temporary sibling folder renamed into place when complete, so
    concurrent callers (data-loader workers, ranks) never see a half-written dataset.
    """
    if name not in SYNTHETIC_SPECS:
        raise KeyError(f"unknown synthetic dataset '{name}' (known: {sorted(SYNTHETIC_SPECS)})")
    spec = dict(SYNTHETIC_SPECS[name])
    kind = spec.pop("kind")
    parent = os.path.join(root if root is not None else dataset_root(), "synthetic")
    folder = os.path.join(parent, name)
    marker = os.path.join(folder, _MARKER)
    if os.path.isfile(marker):
        with open(marker, encoding="utf-8") as f:
            if json.load(f) != spec:
                logger.warning("%s was generated with other settings than %s; delete it to "
                               "regenerate", folder, spec)
        return folder
    if os.path.exists(folder):
        raise DatasetError(f"{folder}: exists but is not a complete synthetic dataset (no "
                           f"{_MARKER}); delete it to regenerate")
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise DatasetError(f"{parent}: cannot create the synthetic data folder ({e})") from None
    tmp = tempfile.mkdtemp(prefix=f".{name}.", dir=parent)
    try:
        logger.info("Generating synthetic dataset %s in %s", name, folder)
        _GENERATORS[kind](tmp, **spec)
        with open(os.path.join(tmp, _MARKER), "w", encoding="utf-8") as f:
            json.dump(spec, f)
        os.chmod(tmp, 0o755)  # mkdtemp creates it private
        try:
            os.rename(tmp, folder)
        except OSError:
            if not os.path.isfile(marker):  # not a concurrent winner: a real error
                raise
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return folder
