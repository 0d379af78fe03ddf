"""VIPSeg-format video panoptic loading (``panoVSPW_vps_video_*``, ``synthetic_vps_*``).

VIPSeg panoptic JSON (``panoptic_gt_VIPSeg_<split>.json``, written by VIPSeg's
``create_panoptic_video_labels`` step)::

    {"videos": [{"video_id": str, "images": [{"file_name": "<frame>.png", "id", "height",
                                              "width"}, ...]}, ...],
     "annotations": [{"video_id": str,
                      "annotations": [{"file_name": "<frame>.png", "image_id",
                                       "segments_info": [{"id", "category_id" (raw 0..123),
                                                          "iscrowd", "area"?, "bbox"?}]}, ...]}],
     "categories": [{"id", "name", "isthing", "color"?}]}

The image names come from the mask folder, so they end in ``.png`` although the frames on disk
are ``<image_root>/<video_id>/<frame>.jpg``; masks (RGB-encoded ids) are
``<panoptic_root>/<video_id>/<frame>.png``. An annotated frame finds its image by ``image_id``
(the two lists need not be in the same order); the annotation list gives the temporal order,
as in the official evaluation. The output follows :mod:`videomt.data.catalog`.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from .catalog import DatasetCatalog, DatasetError, MetadataCatalog
from .io import check_files_exist, gc_paused, image_size, load_json, require_dir, root_hint
from .metadata import things_first_metadata

__all__ = ["load_vipseg_json", "register_vipseg_panoptic"]

logger = logging.getLogger(__name__)


def _frame_file(name: str) -> str:
    """The frame listed as ``name``: VIPSeg lists ``<frame>.png`` for ``<frame>.jpg`` frames."""
    stem, ext = os.path.splitext(name)
    return stem + ".jpg" if ext.lower() == ".png" else name


def _images_by_video(json_file: str, videos: Any) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for i, v in enumerate(videos or []):
        images = v.get("images") if isinstance(v, dict) else None
        if "video_id" not in (v if isinstance(v, dict) else {}) or not isinstance(images, list) or any(
                not isinstance(im, dict) or "file_name" not in im for im in images):
            raise DatasetError(f"{json_file}: videos[{i}] must be a dict with 'video_id' and a list "
                               f"of 'images' with 'file_name'")
        out[str(v["video_id"])] = images
    return out


def _image_lookup(images: list[dict] | None) -> dict[Any, dict] | None:
    """``images`` of one video by ``("id", image id)`` and by ``("stem", file stem)``."""
    if images is None:
        return None
    out: dict[Any, dict] = {}
    for im in reversed(images):  # the first entry wins
        out[("id", im.get("id"))] = out[("stem", os.path.splitext(im["file_name"])[0])] = im
    return out


def _image_of_frame(json_file: str, vid: str, f: int, fa: dict, lookup: dict | None) -> dict:
    """The ``images`` entry of annotated frame ``fa``: by ``image_id``, else by file stem."""
    if lookup is None:
        return {"file_name": fa["file_name"]}
    if "image_id" in fa:
        key, what = ("id", fa["image_id"]), f"image_id {fa['image_id']!r}"
    else:
        key = ("stem", os.path.splitext(fa["file_name"])[0])
        what = f"an image named {key[1]}"
    if key not in lookup:
        raise DatasetError(f"{json_file}: video {vid} frame {f}: no entry with {what} in the "
                           f"video's 'images'")
    return lookup[key]


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
    require_dir(image_root, "image folder", root_hint(image_root))
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
    videos = _images_by_video(json_file, data.get("videos"))

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
            lookup = _image_lookup(videos.get(vid))
            images, pan_files, infos = [], [], []
            for f, fa in enumerate(frames):
                if not isinstance(fa, dict) or "file_name" not in fa or not isinstance(
                    fa.get("segments_info"), list
                ):
                    raise DatasetError(f"{json_file}: video {vid} frame {f}: needs 'file_name' "
                                       f"and a 'segments_info' list")
                images.append(_image_of_frame(json_file, vid, f, fa, lookup))
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
            rec = _base_record(json_file, image_root, vid, images)
            rec["pan_seg_file_names"] = pan_files
            rec["segments_infos"] = infos
            out.append(rec)
    else:
        for vid, images in videos.items():
            if not images:
                raise DatasetError(f"{json_file}: video {vid} is empty (no images)")
            out.append(_base_record(json_file, image_root, vid, images))

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


def _base_record(json_file: str, image_root: str, vid: str, images: list[dict]) -> dict:
    file_names = [os.path.join(image_root, vid, _frame_file(im["file_name"])) for im in images]
    first = images[0]
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
