"""Offline dataset converters used by the scripts in ``datasets/utils/``: COCO -> the
``coco2ytvis2019_*`` / ``coco2ytvis2021_*`` / ``coco2ovis_*`` JSONs, VIPSeg -> 720p, and one
VIPSeg panoptic JSON -> one ``panoptic_gt_VIPSeg_<split>.json`` per split."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable

from PIL import Image

from ..errors import UserError
from ..utils.dist import process_map
from ..utils.files import read_json, write_json
from .catalog import DatasetError
from .metadata import COCO_TO_TARGET
from .vspw import read_split_file

logger = logging.getLogger(__name__)


def filter_coco_for_target(coco: dict, target: str, drop_empty_images: bool = False) -> dict:
    """Keep only the annotations and categories of COCO classes mapped to ``target`` (a key of
    ``COCO_TO_TARGET``); ids stay COCO ids (the loader maps them). Images left without annotations
    stay unless ``drop_empty_images`` (training drops them with ``FILTER_EMPTY_ANNOTATIONS``)."""
    if target not in COCO_TO_TARGET:
        raise UserError(f"unknown target '{target}' (choose from {sorted(COCO_TO_TARGET)})")
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise DatasetError(f"COCO JSON has no '{key}' list")
    mapping = COCO_TO_TARGET[target]
    anns = [a for a in coco["annotations"] if a.get("category_id") in mapping]
    kept_images = {a["image_id"] for a in anns}
    return dict(
        coco,
        images=[im for im in coco["images"] if not drop_empty_images or im["id"] in kept_images],
        annotations=anns,
        categories=[c for c in coco["categories"] if c["id"] in mapping],
    )


def convert_coco2ytvis(src: str, target: str, dst: str, drop_empty_images: bool = False) -> dict:
    """Read ``src`` (COCO instances JSON), write the filtered JSON to ``dst``; returns counts."""
    coco = read_json(src, "COCO annotation file", DatasetError)
    if not isinstance(coco, dict):
        raise DatasetError(f"{src}: not a COCO instances JSON")
    try:
        out = filter_coco_for_target(coco, target, drop_empty_images)
    except DatasetError as e:
        raise DatasetError(f"{src}: {e}") from None
    write_json(dst, out, indent=None)
    stats = {
        "images": len(out["images"]),
        "annotations": len(out["annotations"]),
        "dropped_annotations": len(coco["annotations"]) - len(out["annotations"]),
        "categories": len(out["categories"]),
    }
    logger.info("%s -> %s (%s): %s", src, dst, target, stats)
    return stats


def vipseg_720p_size(height: int, width: int, target_height: int = 720) -> tuple[int, int]:
    """``(new_height, new_width)`` = ``(720, int(720 * w / h))``."""
    return target_height, int(target_height * width / height)


def resize_vipseg_video(args: tuple[str, str, str, str, str, int, int]) -> int:
    """Resize one video's frames and masks (``args``: one job of :func:`resize_vipseg_720p`);
    returns frames written."""
    video, img_src, mask_src, img_dst, mask_dst, target_height, quality = args
    has_masks = bool(mask_src) and os.path.isdir(os.path.join(mask_src, video))
    frames = sorted(os.listdir(os.path.join(img_src, video)))
    for folder in [img_dst] + ([mask_dst] if has_masks else []):
        os.makedirs(os.path.join(folder, video), exist_ok=True)
    for name in frames:
        path = os.path.join(img_src, video, name)
        try:
            with Image.open(path) as img:
                h, w = img.height, img.width
                new_h, new_w = vipseg_720p_size(h, w, target_height)
                img.convert("RGB").resize((new_w, new_h), Image.BILINEAR).save(
                    os.path.join(img_dst, video, name), quality=quality
                )
        except OSError as e:
            raise DatasetError(f"{path}: unreadable frame ({e})") from None
        if has_masks:
            mask_path = os.path.join(mask_src, video, os.path.splitext(name)[0] + ".png")
            if not os.path.isfile(mask_path):
                raise DatasetError(f"{mask_path}: mask of frame {path} not found")
            with Image.open(mask_path) as m:  # nearest: ids are never blended; any PNG mode is kept
                if (m.height, m.width) != (h, w):
                    raise DatasetError(
                        f"{mask_path}: mask size [{m.height}, {m.width}] disagrees with frame size "
                        f"[{h}, {w}]"
                    )
                m.resize((new_w, new_h), Image.NEAREST).save(
                    os.path.join(mask_dst, video, os.path.basename(mask_path))
                )
    return len(frames)


def resize_vipseg_720p(
    src_root: str,
    dst_root: str,
    target_height: int = 720,
    image_dir: str = "imgs",
    mask_dir: str = "panomasks",
    workers: int = 4,
    jpeg_quality: int = 75,
    progress: bool = True,
) -> int:
    """Resize VIPSeg ``<src_root>/{imgs,panomasks}/<video>/`` to ``<dst_root>/{images,panomasks}``
    (frames bilinear, masks nearest; masks are optional, as for the test split), copy the split
    files ``{train,val,test}.txt`` along, and return the number of frames written."""
    img_src, mask_src = os.path.join(src_root, image_dir), os.path.join(src_root, mask_dir)
    if not os.path.isdir(img_src):
        raise DatasetError(f"{img_src}: VIPSeg frame folder not found")
    if not os.path.isdir(mask_src):
        logger.warning("%s not found: resizing frames only", mask_src)
        mask_src = ""
    jobs = [
        (
            v,
            img_src,
            mask_src,
            os.path.join(dst_root, "images"),
            os.path.join(dst_root, "panomasks"),
            target_height,
            jpeg_quality,
        )
        for v in sorted(os.listdir(img_src))
    ]
    total = sum(
        process_map(
            resize_vipseg_video, jobs, workers, desc="VIPSeg -> 720p (videos)" if progress else None
        )
    )
    for split in ("train.txt", "val.txt", "test.txt"):
        if os.path.isfile(os.path.join(src_root, split)):
            shutil.copyfile(os.path.join(src_root, split), os.path.join(dst_root, split))
    return total


def split_vipseg_json(
    src: str, split_dir: str, dst_dir: str, splits: Iterable[str] = ("train", "val", "test")
) -> dict[str, int]:
    """Write ``<dst_dir>/panoptic_gt_VIPSeg_<split>.json`` for each ``<split_dir>/<split>.txt`` from
    one VIPSeg panoptic JSON of several splits: the split's ``videos`` and ``annotations`` (none
    when no video is annotated, as a test split) and all ``categories``; returns videos per
    split."""
    data = read_json(src, "VIPSeg panoptic JSON", DatasetError)
    if not isinstance(data, dict) or not isinstance(data.get("videos"), list):
        raise DatasetError(f"{src}: not a VIPSeg panoptic JSON (no 'videos' list)")
    videos = {str(v.get("video_id")): v for v in data["videos"] if isinstance(v, dict)}
    anns = {str(a.get("video_id")): a for a in data.get("annotations") or [] if isinstance(a, dict)}
    counts = {}
    for split in splits:
        names = read_split_file(os.path.join(split_dir, f"{split}.txt"))
        missing = [n for n in names if n not in videos]
        if missing:
            raise DatasetError(
                f"{src}: {len(missing)} videos of {split}.txt are not in the JSON (first: "
                f"{missing[0]})"
            )
        out = {"videos": [videos[n] for n in names], "categories": data.get("categories", [])}
        if any(n in anns for n in names):
            out["annotations"] = [anns[n] for n in names if n in anns]
        write_json(os.path.join(dst_dir, f"panoptic_gt_VIPSeg_{split}.json"), out, indent=None)
        counts[split] = len(names)
    return counts
