"""VIPSeg-format video panoptic loading (``panoVSPW_vps_video_*``, ``synthetic_vps_*``).

VIPSeg panoptic JSON (``panoptic_gt_VIPSeg_<split>.json``, written by VIPSeg's
``create_panoptic_video_labels`` step)::

    {"videos": [{"video_id": str, "images": [{"file_name": "<frame>.jpg", "id", "height"?,
                                              "width"?}, ...]}, ...],
     "annotations": [{"video_id": str,
                      "annotations": [{"file_name": "<frame>.png", "image_id"?,
                                       "segments_info": [{"id", "category_id" (raw 0..123),
                                                          "iscrowd", "area"?, "bbox"?}]}, ...]}],
     "categories": [{"id", "name", "isthing", "color"?}]}

Frames live in ``<image_root>/<video_id>/<frame>.jpg`` and masks (RGB-encoded ids) in
``<panoptic_root>/<video_id>/<frame>.png``. The output follows :mod:`videomt.data.catalog`.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from .catalog import DatasetCatalog, DatasetError, MetadataCatalog
from .io import check_files_exist, gc_paused, image_size, load_json, require_dir
from .metadata import things_first_metadata

__all__ = ["load_vipseg_json", "register_vipseg_panoptic"]

logger = logging.getLogger(__name__)


def _frames_of_video(json_file: str, v: Any, i: int) -> tuple[str, list[dict]]:
    if not isinstance(v, dict) or "video_id" not in v:
        raise DatasetError(f"{json_file}: videos[{i}] must be a dict with 'video_id' and 'images'")
    images = v.get("images")
    if not isinstance(images, list) or any(
        not isinstance(im, dict) or "file_name" not in im for im in images
    ):
        raise DatasetError(f"{json_file}: video {v['video_id']}: 'images' must be a list of "
                           f"dicts with 'file_name'")
    return str(v["video_id"]), images


@gc_paused()
def load_vipseg_json(
    json_file: str,
    image_root: str,
    panoptic_root: str,
    categories: list[dict] | None = None,
    check_files: bool = True,
) -> list[dict]:
    """Load a VIPSeg panoptic JSON into video dicts (contract in :mod:`videomt.data.catalog`).

    Args:
        categories: raw categories ``[{"id", "name", "isthing"}]`` defining the things-first
            contiguous order; default: the JSON's ``categories``.
        check_files: check that every frame and mask exists (one ``os.listdir`` per folder) and
            that the first mask of each video has the frame size (header read only).
    """
    require_dir(image_root, "image folder", " (datasets are looked up under $DETECTRON2_DATASETS)")
    data = load_json(json_file)
    if not isinstance(data, dict) or not (
        isinstance(data.get("annotations"), list) or isinstance(data.get("videos"), list)
    ):
        raise DatasetError(f"{json_file}: not a VIPSeg panoptic JSON (no 'annotations' or "
                           f"'videos' list)")
    if categories is None:
        categories = data.get("categories")
        if not isinstance(categories, list) or not categories:
            raise DatasetError(f"{json_file}: no 'categories' list and none given")
    meta = things_first_metadata(categories)
    raw_to_contig: dict[int, int] = meta["stuff_dataset_id_to_contiguous_id"]
    thing_ids = set(meta["thing_dataset_id_to_contiguous_id"])

    videos: dict[str, list[dict]] = {}
    for i, v in enumerate(data.get("videos") or []):
        vid, images = _frames_of_video(json_file, v, i)
        videos[vid] = images

    out: list[dict] = []
    anns = data.get("annotations")
    if anns:
        require_dir(panoptic_root, "panoptic mask folder")
        for i, va in enumerate(anns):
            if not isinstance(va, dict) or "video_id" not in va or not isinstance(
                va.get("annotations"), list
            ):
                raise DatasetError(f"{json_file}: annotations[{i}] must be a dict with "
                                   f"'video_id' and an 'annotations' list")
            vid = str(va["video_id"])
            frames = va["annotations"]
            if not frames:
                raise DatasetError(f"{json_file}: video {vid} is empty (no annotated frames)")
            images = videos.get(vid)
            if images is not None and len(images) != len(frames):
                raise DatasetError(f"{json_file}: video {vid}: {len(images)} images but "
                                   f"{len(frames)} annotated frames")
            rec = _base_record(json_file, image_root, vid, frames, images)
            pan_files, infos = [], []
            for f, fa in enumerate(frames):
                if not isinstance(fa, dict) or "file_name" not in fa or not isinstance(
                    fa.get("segments_info"), list
                ):
                    raise DatasetError(f"{json_file}: video {vid} frame {f}: needs 'file_name' "
                                       f"and a 'segments_info' list")
                pan_files.append(os.path.join(panoptic_root, vid, fa["file_name"]))
                segs = []
                for s in fa["segments_info"]:
                    cat = s.get("category_id")
                    if cat not in raw_to_contig:
                        raise DatasetError(f"{json_file}: video {vid} frame {f}: segment "
                                           f"{s.get('id')} has unknown category_id {cat}")
                    segs.append({"id": int(s["id"]), "category_id": raw_to_contig[cat],
                                 "iscrowd": int(s.get("iscrowd", 0)), "isthing": cat in thing_ids})
                infos.append(segs)
            rec["pan_seg_file_names"] = pan_files
            rec["segments_infos"] = infos
            out.append(rec)
    else:
        for vid, images in videos.items():
            if not images:
                raise DatasetError(f"{json_file}: video {vid} is empty (no images)")
            out.append(_base_record(json_file, image_root, vid, images, images))

    if check_files:
        for rec in out:
            ctx = f"{json_file}: video {rec['video_id']}"
            check_files_exist(rec["file_names"], "frame", ctx)
            if "pan_seg_file_names" in rec:
                check_files_exist(rec["pan_seg_file_names"], "panoptic mask", ctx)
                mh, mw = image_size(rec["pan_seg_file_names"][0])
                if (mh, mw) != (rec["height"], rec["width"]):
                    raise DatasetError(
                        f"{rec['pan_seg_file_names'][0]}: mask size [{mh}, {mw}] disagrees with "
                        f"video {rec['video_id']} size [{rec['height']}, {rec['width']}]"
                    )
    logger.info("Loaded %d videos from %s", len(out), json_file)
    return out


def _base_record(
    json_file: str, image_root: str, vid: str, frames: list[dict], images: list[dict] | None
) -> dict:
    if images is not None:
        names = [im["file_name"] for im in images]
    else:
        names = [os.path.splitext(fa.get("file_name", ""))[0] + ".jpg" for fa in frames]
    file_names = [os.path.join(image_root, vid, n) for n in names]
    first = images[0] if images else {}
    if "height" in first and "width" in first:
        h, w = int(first["height"]), int(first["width"])
    else:  # header read of the first frame only
        if not os.path.isfile(file_names[0]):
            raise DatasetError(f"{json_file}: video {vid}: frame {file_names[0]} not found")
        h, w = image_size(file_names[0])
    return {"file_names": file_names, "height": h, "width": w, "length": len(file_names),
            "video_id": vid}


def register_vipseg_panoptic(
    name: str, metadata: dict, json_file: str, image_root: str, panoptic_root: str,
    categories: list[dict] | None = None,
) -> None:
    """Register a VIPSeg-format panoptic video dataset (categories default to the JSON's)."""
    DatasetCatalog.register(
        name, lambda: load_vipseg_json(json_file, image_root, panoptic_root, categories)
    )
    meta = MetadataCatalog.get(name)
    if categories is not None:
        meta.set(**things_first_metadata(categories))
    meta.set(json_file=json_file, image_root=image_root, panoptic_root=panoptic_root,
             evaluator_type="vps", ignore_label=255, **metadata)
