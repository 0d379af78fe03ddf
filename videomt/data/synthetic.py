"""Synthetic datasets in the real on-disk formats (no download needed): YouTube-VIS instances,
VIPSeg panoptic, VSPW semantic videos and COCO still images (``generate_*``), deterministic by
``seed``, labelled from the scene geometry (:mod:`.synthetic_scene`), never from the lossy JPEGs.
:func:`ensure_synthetic` generates a registered ``synthetic_*`` dataset on first use."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_util

from ..utils.files import read_json, write_json
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

logger = logging.getLogger(__name__)

SYNTHETIC_THING_CLASSES: tuple[str, ...] = SHAPE_CLASSES

# Panoptic/semantic raw categories, things and stuff interleaved in raw-id order on purpose (so
# the things-first contiguous order differs from the raw order, as in VIPSeg).
_RAW_ORDER = ("sky", "circle", "ground", "square", "triangle", "wall", "star", "cross")
_COLORS = dict(zip(SHAPE_CLASSES + STUFF_CLASSES, SHAPE_COLORS + STUFF_COLORS))
SYNTHETIC_PANOPTIC_CATEGORIES: list[dict[str, Any]] = [
    {"id": i, "name": n, "isthing": int(n in SHAPE_CLASSES), "color": list(_COLORS[n])}
    for i, n in enumerate(_RAW_ORDER)
]
_THING_RAW = [_RAW_ORDER.index(n) for n in SHAPE_CLASSES]
_STUFF_RAW = [_RAW_ORDER.index(n) for n in STUFF_CLASSES]

# Synthetic COCO set: category ids 11..15 = the shape classes, 20 = distractor (unmapped).
_COCO_IDS = [11, 12, 13, 14, 15, 20]
SYNTHETIC_COCO_TO_TARGET: dict[int, int] = {c: i + 1 for i, c in enumerate(_COCO_IDS[:-1])}

# Registered synthetic datasets: kind and generator arguments.
_SIZE = dict(num_frames=10, height=192, width=256)
SYNTHETIC_SPECS: dict[str, dict[str, Any]] = {
    "synthetic_vis_train": dict(kind="vis", num_videos=32, **_SIZE, seed=0),
    "synthetic_vis_val": dict(kind="vis", num_videos=8, **_SIZE, seed=1),
    "synthetic_vps_train": dict(kind="vps", num_videos=24, **_SIZE, seed=2),
    "synthetic_vps_val": dict(kind="vps", num_videos=6, **_SIZE, seed=3),
    "synthetic_vss_train": dict(kind="vss", num_videos=24, **_SIZE, seed=4, split="train"),
    "synthetic_vss_val": dict(kind="vss", num_videos=6, **_SIZE, seed=5, split="val"),
    "synthetic_coco_train": dict(kind="coco", num_images=64, height=192, width=256, seed=6),
}


def _write_image(path: str, arr: np.ndarray) -> None:
    """A JPEG (quality 92) or PNG file of an RGB or single-channel array."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    params = [int(cv2.IMWRITE_JPEG_QUALITY), 92] if path.endswith(".jpg") else []
    if not cv2.imwrite(
        path, cv2.cvtColor(arr, cv2.COLOR_RGB2BGR) if arr.ndim == 3 else arr, params
    ):
        raise DatasetError(f"{path}: could not write image")


def _rle(mask: np.ndarray) -> dict:
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(rle, counts=rle["counts"].decode("ascii"))


def _bbox(mask: np.ndarray) -> list[float]:
    return [
        float(v) for v in cv2.boundingRect(mask.astype(np.uint8))
    ]  # x, y, w, h of the non-zero pixels


def generate_vis(
    root: str,
    num_videos: int = 8,
    num_frames: int = 6,
    height: int = 96,
    width: int = 128,
    seed: int = 0,
) -> str:
    """Write a YouTube-VIS dataset (``JPEGImages/vid_XXXX/NNNNN.jpg``, ``annotations.json``) under
    ``root``; returns the JSON path. Video ids 1..N, track ids unique over the dataset, category ids
    1..5 (``SYNTHETIC_THING_CLASSES``), compressed RLE, bbox and area per frame (``None`` where the
    object is absent); never visible tracks are left out."""
    videos, anns = [], []
    for v in range(num_videos):
        scene = make_scene(seed, v, height, width, num_frames)
        tracks = [
            {k: [None] * num_frames for k in ("segmentations", "bboxes", "areas")}
            for _ in scene.tracks
        ]
        file_names = [f"vid_{v:04d}/{t:05d}.jpg" for t in range(num_frames)]
        for t, name in enumerate(file_names):
            r = scene.render(t)
            _write_image(os.path.join(root, "JPEGImages", name), r["image"])
            for k, tr in enumerate(tracks):
                m = r["inst"] == k + 1
                if m.any():
                    tr["segmentations"][t], tr["bboxes"][t], tr["areas"][t] = (
                        _rle(m),
                        _bbox(m),
                        int(m.sum()),
                    )
        videos.append(
            {
                "id": v + 1,
                "file_names": file_names,
                "height": height,
                "width": width,
                "length": num_frames,
            }
        )
        for shape, tr in zip(scene.tracks, tracks):
            if any(s is not None for s in tr["segmentations"]):
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "video_id": v + 1,
                        "category_id": shape.cls + 1,
                        "iscrowd": 0,
                        **tr,
                        "height": height,
                        "width": width,
                        "length": num_frames,
                    }
                )
    cats = [
        {"id": i + 1, "name": n, "supercategory": "shape"}
        for i, n in enumerate(SYNTHETIC_THING_CLASSES)
    ]
    path = os.path.join(root, "annotations.json")
    write_json(
        path,
        {
            "info": {"description": f"synthetic VIS seed {seed}"},
            "videos": videos,
            "annotations": anns,
            "categories": cats,
        },
        indent=None,
    )
    return path


def generate_vps(
    root: str,
    num_videos: int = 8,
    num_frames: int = 6,
    height: int = 96,
    width: int = 128,
    seed: int = 0,
) -> str:
    """Write a VIPSeg dataset (``images/vid_XXXX/NNNNN.jpg``, ``panomasksRGB/vid_XXXX/NNNNN.png``
    RGB ids with 0 = void on the 1-pixel borders between stuff bands, ``panoptic_gt.json``) under
    ``root``; returns the JSON path. Raw ids of ``SYNTHETIC_PANOPTIC_CATEGORIES``, segment ids fixed
    over a video, ``.png`` image names as in the real files."""
    videos, annotations = [], []
    stuff_ids = [int(rgb2id(np.array(c))) for c in STUFF_COLORS]
    for v in range(num_videos):
        scene, name = (
            make_scene(seed, v, height, width, num_frames, with_stuff=True),
            f"vid_{v:04d}",
        )
        rng, thing_ids = np.random.default_rng([seed, v, 7]), []
        for tr in scene.tracks:  # a unique colour near the class colour, as VIPSeg's id generator
            sid = 0
            while sid == 0 or sid in stuff_ids or sid in thing_ids:
                sid = int(
                    rgb2id(
                        np.clip(np.array(SHAPE_COLORS[tr.cls]) + rng.integers(-30, 31, 3), 0, 255)
                    )
                )
            thing_ids.append(sid)
        images, frames = [], []
        for t in range(num_frames):
            r, stem = scene.render(t), f"{t:05d}"
            _write_image(os.path.join(root, "images", name, stem + ".jpg"), r["image"])
            pan, segs = np.zeros((height, width), dtype=np.int64), []
            regions = [
                ((r["stuff"] == k) & (r["inst"] == 0), sid, _STUFF_RAW[k])
                for k, sid in enumerate(stuff_ids)
            ]
            regions += [
                (r["inst"] == k + 1, sid, _THING_RAW[tr.cls])
                for k, (tr, sid) in enumerate(zip(scene.tracks, thing_ids))
            ]
            for m, sid, raw in regions:
                if m.any():
                    pan[m] = sid
                    segs.append(
                        {
                            "id": sid,
                            "category_id": raw,
                            "iscrowd": 0,
                            "area": int(m.sum()),
                            "bbox": _bbox(m),
                        }
                    )
            _write_image(os.path.join(root, "panomasksRGB", name, stem + ".png"), id2rgb(pan))
            image_id = (
                f"{name}_{stem}"  # as VIPSeg: the mask's name (.png) although the frame is a .jpg
            )
            images.append(
                {"file_name": stem + ".png", "id": image_id, "height": height, "width": width}
            )
            frames.append({"file_name": stem + ".png", "image_id": image_id, "segments_info": segs})
        videos.append({"video_id": name, "images": images})
        annotations.append({"video_id": name, "annotations": frames})
    path = os.path.join(root, "panoptic_gt.json")
    write_json(
        path,
        {"videos": videos, "annotations": annotations, "categories": SYNTHETIC_PANOPTIC_CATEGORIES},
        indent=None,
    )
    return path


def generate_vss(
    root: str,
    num_videos: int = 8,
    num_frames: int = 6,
    height: int = 96,
    width: int = 128,
    seed: int = 0,
    split: str = "train",
) -> str:
    """Write a VSPW dataset (``data/vid_XXXX/origin/NNNNN.jpg``, ``data/vid_XXXX/mask/NNNNN.png``:
    uint8 raw id + 1 of ``SYNTHETIC_PANOPTIC_CATEGORIES``, 0 on the void borders) under ``root``;
    returns the ``<split>.txt`` path."""
    stuff_values = np.array([r + 1 for r in _STUFF_RAW], dtype=np.uint8)
    names = [f"vid_{v:04d}" for v in range(num_videos)]
    for v, name in enumerate(names):
        scene = make_scene(seed, v, height, width, num_frames, with_stuff=True)
        for t in range(num_frames):
            r = scene.render(t)
            _write_image(os.path.join(root, "data", name, "origin", f"{t:05d}.jpg"), r["image"])
            sem = np.where(r["stuff"] >= 0, stuff_values[np.maximum(r["stuff"], 0)], 0).astype(
                np.uint8
            )
            for k, tr in enumerate(scene.tracks):
                sem[r["inst"] == k + 1] = _THING_RAW[tr.cls] + 1
            _write_image(os.path.join(root, "data", name, "mask", f"{t:05d}.png"), sem)
    path = os.path.join(root, f"{split}.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(names) + "\n")
    return path


def generate_coco(
    root: str, num_images: int = 16, height: int = 96, width: int = 128, seed: int = 0
) -> str:
    """Write COCO instances of still images (``images/NNNNNN.jpg``, ``annotations.json``) under
    ``root``; returns the JSON path. Category ids 11..15 are the shapes
    (``SYNTHETIC_COCO_TO_TARGET`` maps them to 1..5), 20 a distractor outside the mapping.
    Unoccluded objects inside the image get polygons, others RLE; some distractors are
    ``iscrowd``."""
    images, anns = [], []
    for i in range(num_images):
        scene = make_scene(seed, i, height, width, 1, num_classes=len(SHAPE_CLASSES) + 1)
        r, fname = scene.render(0), f"{i:06d}.jpg"
        _write_image(os.path.join(root, "images", fname), r["image"])
        images.append({"id": i + 1, "file_name": fname, "height": height, "width": width})
        for k, tr in enumerate(scene.tracks):
            m = r["inst"] == k + 1
            if not m.any():
                continue
            poly = tr.polygon(0)
            inside = (
                (poly >= 0).all()
                and (poly[:, 0] <= width - 1).all()
                and (poly[:, 1] <= height - 1).all()
            )
            crowd = int(tr.cls == len(SHAPE_CLASSES) and k % 2 == 0)
            exact = inside and not crowd and (rasterize(poly, height, width) == m).all()
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": _COCO_IDS[tr.cls],
                    "iscrowd": crowd,
                    "segmentation": [[float(c) for c in poly.reshape(-1)]] if exact else _rle(m),
                    "bbox": _bbox(m),
                    "area": int(m.sum()),
                }
            )
    cats = [
        {"id": c, "name": n, "supercategory": "shape"}
        for c, n in zip(_COCO_IDS, list(SHAPE_CLASSES) + [DISTRACTOR_CLASS])
    ]
    path = os.path.join(root, "annotations.json")
    write_json(path, {"images": images, "annotations": anns, "categories": cats}, indent=None)
    return path


_LAYOUTS = {  # kind -> paths in a generated folder ({split}: the spec's split)
    "vis": {"json_file": "annotations.json", "image_root": "JPEGImages"},
    "vps": {
        "json_file": "panoptic_gt.json",
        "image_root": "images",
        "panoptic_root": "panomasksRGB",
    },
    "vss": {"split_file": "{split}.txt", "image_root": "data"},
    "coco": {"json_file": "annotations.json", "image_root": "images"},
}
_GENERATORS = {"vis": generate_vis, "vps": generate_vps, "vss": generate_vss, "coco": generate_coco}
_MARKER = "GENERATED.json"


def synthetic_layout(name: str, folder: str) -> dict[str, str]:
    """Paths of a generated ``synthetic_*`` dataset in ``folder`` (json / image root / ...)."""
    spec = SYNTHETIC_SPECS[name]
    return {
        k: os.path.join(folder, p.format(split=spec.get("split")))
        for k, p in _LAYOUTS[spec["kind"]].items()
    }


def ensure_synthetic(name: str, root: str | None = None) -> str:
    """Generate the registered dataset ``name`` into ``<root>/synthetic/<name>`` (``root``:
    ``$DETECTRON2_DATASETS`` by default) unless it is there; returns the folder. It is written to a
    temporary sibling renamed into place when complete: concurrent callers (loader workers, ranks)
    never see a half-written dataset."""
    if name not in SYNTHETIC_SPECS:
        raise KeyError(f"unknown synthetic dataset '{name}' (known: {sorted(SYNTHETIC_SPECS)})")
    spec = dict(SYNTHETIC_SPECS[name])
    kind = spec.pop("kind")
    parent = os.path.join(root if root is not None else dataset_root(), "synthetic")
    folder = os.path.join(parent, name)
    marker = os.path.join(folder, _MARKER)
    if os.path.isfile(marker):
        if read_json(marker, "synthetic dataset marker", DatasetError) != spec:
            logger.warning(
                "%s was generated with other settings than %s; delete it to regenerate",
                folder,
                spec,
            )
        return folder
    if os.path.exists(folder):
        raise DatasetError(
            f"{folder}: exists but is not a complete synthetic dataset (no {_MARKER}); delete it "
            "to "
            "regenerate"
        )
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise DatasetError(f"{parent}: cannot create the synthetic data folder ({e})") from None
    tmp = tempfile.mkdtemp(prefix=f".{name}.", dir=parent)
    try:
        logger.info("Generating synthetic dataset %s in %s", name, folder)
        _GENERATORS[kind](tmp, **spec)
        write_json(os.path.join(tmp, _MARKER), spec, indent=None)
        os.chmod(tmp, 0o755)  # mkdtemp creates it private
        try:
            os.rename(tmp, folder)
        except OSError:
            if not os.path.isfile(marker):  # not a concurrent winner: a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after a successful rename
    return folder
