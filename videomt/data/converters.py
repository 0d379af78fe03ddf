"""Offline dataset converters used by the scripts in ``datasets/utils/``.

* :func:`filter_coco_for_target` / :func:`convert_coco2ytvis`: COCO instances JSON -> the
  ``coco2ytvis2019_*`` / ``coco2ytvis2021_*`` / ``coco2ovis_*`` files: only the annotations and
  categories of COCO classes in the SPEC 5.2 mapping are kept. Category ids stay COCO ids; the
  mapping to target classes happens when loading (``ytvis.load_coco_pseudo_json``).
* :func:`resize_vipseg_720p`: VIPSeg frames and panoptic masks -> height 720, width
  ``int(720 * w / h)`` (frames bilinear, masks nearest so ids are never blended).
* :func:`split_vipseg_json`: one VIPSeg panoptic JSON covering every video -> one
  ``panoptic_gt_VIPSeg_<split>.json`` per split list (``train.txt``, ``val.txt``, ``test.txt``).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Iterable

from PIL import Image

from .catalog import DatasetError
from ..utils.files import write_json
from .io import load_json
from .metadata import COCO_TO_TARGET
from .vspw import read_split_file

__all__ = ["filter_coco_for_target", "convert_coco2ytvis", "resize_vipseg_720p",
           "resize_vipseg_video", "vipseg_720p_size", "split_vipseg_json"]

logger = logging.getLogger(__name__)


def filter_coco_for_target(coco: dict, target: str, drop_empty_images: bool = False) -> dict:
    """Keep only annotations/categories of COCO classes mapped to ``target`` (SPEC 5.2).

    Args:
        coco: a COCO instances dict (``images``, ``annotations``, ``categories``).
        target: ``"ytvis_2019"``, ``"ytvis_2021"`` or ``"ovis"``.
        drop_empty_images: also drop images left without annotations (default keeps all
            images; training removes empty ones with ``FILTER_EMPTY_ANNOTATIONS``).
    """
    if target not in COCO_TO_TARGET:
        raise ValueError(f"unknown target '{target}' (choose from {sorted(COCO_TO_TARGET)})")
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise DatasetError(f"COCO JSON has no '{key}' list")
    mapping = COCO_TO_TARGET[target]
    anns = [a for a in coco["annotations"] if a.get("category_id") in mapping]
    images = coco["images"]
    if drop_empty_images:
        keep = {a["image_id"] for a in anns}
        images = [im for im in images if im["id"] in keep]
    out = {k: v for k, v in coco.items() if k not in ("images", "annotations", "categories")}
    out.update(images=images, annotations=anns,
               categories=[c for c in coco["categories"] if c["id"] in mapping])
    return out


def convert_coco2ytvis(src: str, target: str, dst: str, drop_empty_images: bool = False) -> dict:
    """Read ``src`` (COCO instances JSON), write the filtered JSON to ``dst``; returns counts."""
    coco = load_json(src, "COCO annotation file")
    if not isinstance(coco, dict):
        raise DatasetError(f"{src}: not a COCO instances JSON")
    try:
        out = filter_coco_for_target(coco, target, drop_empty_images)
    except DatasetError as e:
        raise DatasetError(f"{src}: {e}") from None
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(out, f)
    stats = {"images": len(out["images"]), "annotations": len(out["annotations"]),
             "dropped_annotations": len(coco["annotations"]) - len(out["annotations"]),
             "categories": len(out["categories"])}
    logger.info("%s -> %s (%s): %s", src, dst, target, stats)
    return stats


def vipseg_720p_size(height: int, width: int, target_height: int = 720) -> tuple[int, int]:
    """``(new_height, new_width)`` = ``(720, int(720 * w / h))``."""
    return target_height, int(target_height * width / height)


def resize_vipseg_video(args: tuple[str, str, str, str, str, int, int]) -> int:
    """Resize one video's frames and masks; ``args`` = (video, img_src, mask_src, img_dst,
    mask_dst, target_height, jpeg_quality). Returns the number of frames written."""
    video, img_src, mask_src, img_dst, mask_dst, th, quality = args
    frames = sorted(os.listdir(os.path.join(img_src, video)))
    os.makedirs(os.path.join(img_dst, video), exist_ok=True)
    has_masks = mask_src and os.path.isdir(os.path.join(mask_src, video))
    if has_masks:
        os.makedirs(os.path.join(mask_dst, video), exist_ok=True)
    for name in frames:
        path = os.path.join(img_src, video, name)
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
                h, w = img.height, img.width
                nh, nw = vipseg_720p_size(h, w, th)
                img.resize((nw, nh), Image.BILINEAR).save(
                    os.path.join(img_dst, video, name), quality=quality)
        except OSError as e:
            raise DatasetError(f"{path}: unreadable frame ({e})") from None
        if has_masks:
            mpath = os.path.join(mask_src, video, os.path.splitext(name)[0] + ".png")
            try:
                with Image.open(mpath) as m:
                    if (m.height, m.width) != (h, w):
                        raise DatasetError(f"{mpath}: mask size [{m.height}, {m.width}] disagrees "
                                           f"with frame size [{h}, {w}]")
                    m.resize((nw, nh), Image.NEAREST).save(
                        os.path.join(mask_dst, video, os.path.basename(mpath)))
            except FileNotFoundError:
                raise DatasetError(f"{mpath}: mask of frame {path} not found") from None
    return len(frames)


def resize_vipseg_720p(
    src_root: str,
    dst_root: str,
    target_height: int = 720,
    image_dir: str = "imgs",
    mask_dir: str = "panomasks",
    workers: int = 4,
    jpeg_quality: int = 75,
    videos: Iterable[str] | None = None,
    progress: bool = True,
) -> int:
    """Resize VIPSeg ``<src_root>/{imgs,panomasks}/<video>/`` to ``<dst_root>/{images,panomasks}``.

    Frames: bilinear; masks: nearest (any PNG mode is preserved, e.g. 16-bit id masks). Returns
    the number of frames written. Mask folders are optional (test split). The split files
    ``{train,val,test}.txt`` are copied along.
    """
    img_src = os.path.join(src_root, image_dir)
    if not os.path.isdir(img_src):
        raise DatasetError(f"{img_src}: VIPSeg frame folder not found")
    mask_src = os.path.join(src_root, mask_dir)
    if not os.path.isdir(mask_src):
        logger.warning("%s not found: resizing frames only", mask_src)
        mask_src = ""
    img_dst, mask_dst = os.path.join(dst_root, "images"), os.path.join(dst_root, "panomasks")
    vids = sorted(videos) if videos is not None else sorted(os.listdir(img_src))
    jobs = [(v, img_src, mask_src, img_dst, mask_dst, target_height, jpeg_quality) for v in vids]
    from tqdm import tqdm

    total = 0
    bar: Any = tqdm(total=len(jobs), desc="VIPSeg -> 720p", unit="video", disable=not progress)
    if workers <= 1:
        for job in jobs:
            total += resize_vipseg_video(job)
            bar.update(1)
    else:
        with ProcessPoolExecutor(workers) as pool:
            for n in pool.map(resize_vipseg_video, jobs, chunksize=4):
                total += n
                bar.update(1)
    bar.close()
    for split in ("train.txt", "val.txt", "test.txt"):  # split lists travel with the data
        if os.path.isfile(os.path.join(src_root, split)):
            shutil.copyfile(os.path.join(src_root, split), os.path.join(dst_root, split))
    return total



def split_vipseg_json(src: str, split_dir: str, dst_dir: str,
                      splits: Iterable[str] = ("train", "val", "test")) -> dict[str, int]:
    """Write ``<dst_dir>/panoptic_gt_VIPSeg_<split>.json`` for each ``<split_dir>/<split>.txt``.

    ``src`` is a VIPSeg panoptic JSON holding the videos of several splits; each output keeps the
    ``videos`` and ``annotations`` entries of its split's videos (no ``annotations`` key when
    none of them is annotated, as a test split) and all ``categories``. Returns videos per split.
    """
    data = load_json(src, "VIPSeg panoptic JSON")
    if not isinstance(data, dict) or not isinstance(data.get("videos"), list):
        raise DatasetError(f"{src}: not a VIPSeg panoptic JSON (no 'videos' list)")
    videos = {str(v.get("video_id")): v for v in data["videos"] if isinstance(v, dict)}
    anns = {str(a.get("video_id")): a for a in data.get("annotations") or [] if isinstance(a, dict)}
    counts = {}
    for split in splits:
        names = read_split_file(os.path.join(split_dir, f"{split}.txt"))
        missing = [n for n in names if n not in videos]
        if missing:
            raise DatasetError(f"{src}: {len(missing)} videos of {split}.txt are not in the JSON "
                               f"(first: {missing[0]})")
        out = {"videos": [videos[n] for n in names], "categories": data.get("categories", [])}
        if any(n in anns for n in names):
            out["annotations"] = [anns[n] for n in names if n in anns]
        write_json(os.path.join(dst_dir, f"panoptic_gt_VIPSeg_{split}.json"), out, indent=None)
        counts[split] = len(names)
    return counts
