"""VIPSeg-format video panoptic loading (``panoVSPW_vps_video_*``, ``synthetic_vps_*``) into the
dicts of :mod:`videomt.data.catalog`. The JSON (``panoptic_gt_VIPSeg_<split>.json``, from VIPSeg's
``create_panoptic_video_labels`` step)::

    {"videos": [{"video_id": str,
                 "images": [{"file_name": "<frame>.png", "id", "height", "width"}, ...]}, ...],
     "annotations": [{"video_id": str,
                      "annotations": [{"file_name": "<frame>.png", "image_id",
                                       "segments_info": [{"id", "category_id" (raw 0..123),
                                                          "iscrowd", "area"?, "bbox"?}]}, ...]}],
     "categories": [{"id", "name", "isthing", "color"?}]}

Image names come from the mask folder, so they end in ``.png`` although the frames on disk are
``<image_root>/<video_id>/<frame>.jpg``; masks (RGB-encoded ids) are
``<panoptic_root>/<video_id>/<frame>.png``. An annotated frame finds its image by ``image_id`` (the
lists need not be in the same order); the annotation list gives the temporal order, as in the
official evaluation.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from ..utils.files import read_json
from .catalog import DatasetCatalog, DatasetError, MetadataCatalog
from .io import check_files_exist, gc_paused, image_size, require_dir
from .metadata import things_first_metadata

logger = logging.getLogger(__name__)


def _images_by_video(json_file: str, videos: Any) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for i, v in enumerate(videos or []):
        images = v.get("images") if isinstance(v, dict) else None
        if (
            not isinstance(images, list)
            or "video_id" not in v
            or any(not isinstance(im, dict) or "file_name" not in im for im in images)
        ):
            raise DatasetError(
                f"{json_file}: videos[{i}] must be a dict with 'video_id' and a list of 'images' "
                "with 'file_name'"
            )
        out[str(v["video_id"])] = images
    return out


def vipseg_video_annotations(
    annotations: list, where: str, error: type[Exception]
) -> list[tuple[str, list[dict]]]:
    """``(video_id, per-frame annotations)`` of the ``annotations`` list of a VIPSeg-format JSON
    (ground truth or predictions), in file order. An entry without ``video_id`` or a per-frame
    ``annotations`` list, or a frame without ``file_name`` or a ``segments_info`` list, raises
    ``error`` with one line naming ``where`` (the file) and the entry."""
    out = []
    for i, video in enumerate(annotations):
        if (
            not isinstance(video, Mapping)
            or "video_id" not in video
            or not isinstance(video.get("annotations"), list)
        ):
            raise error(
                f"{where}: annotations[{i}] must be a dict with 'video_id' and an "
                "'annotations' list"
            )
        vid = str(video["video_id"])
        for t, frame in enumerate(video["annotations"]):
            if (
                not isinstance(frame, Mapping)
                or "file_name" not in frame
                or not isinstance(frame.get("segments_info"), list)
            ):
                raise error(
                    f"{where}: video {vid} frame {t}: needs 'file_name' and a 'segments_info' list"
                )
        out.append((vid, list(video["annotations"])))
    return out


def _frame_images(
    json_file: str, vid: str, frames: list[dict], images: list[dict] | None
) -> list[dict]:
    """The ``images`` entry of each annotated frame: by ``image_id``, else by file stem (the first
    entry wins); the annotated frame itself when the JSON lists no images."""
    if images is None:
        return [{"file_name": fa["file_name"]} for fa in frames]
    lookup: dict[tuple, dict] = {}
    for im in reversed(images):
        lookup[("id", im.get("id"))] = lookup[("stem", os.path.splitext(im["file_name"])[0])] = im
    out = []
    for f, fa in enumerate(frames):
        key = (
            ("id", fa["image_id"])
            if "image_id" in fa
            else ("stem", os.path.splitext(fa["file_name"])[0])
        )
        if key not in lookup:
            what = f"image_id {key[1]!r}" if key[0] == "id" else f"an image named {key[1]}"
            raise DatasetError(
                f"{json_file}: video {vid} frame {f}: no entry with {what} in the video's 'images'"
            )
        out.append(lookup[key])
    return out


def _record(image_root: str, vid: str, images: list[dict]) -> dict:
    """The video dict of ``images``: VIPSeg lists ``<frame>.png`` names for ``<frame>.jpg`` frames;
    the size is the first image's, else read from the first frame's header."""
    names = [
        os.path.splitext(im["file_name"])[0] + ".jpg"
        if im["file_name"].lower().endswith(".png")
        else im["file_name"]
        for im in images
    ]
    file_names = [os.path.join(image_root, vid, n) for n in names]
    if "height" in images[0] and "width" in images[0]:
        h, w = int(images[0]["height"]), int(images[0]["width"])
    else:
        h, w = image_size(file_names[0])
    return {
        "file_names": file_names,
        "height": h,
        "width": w,
        "length": len(file_names),
        "video_id": vid,
    }


@gc_paused()
def load_vipseg_json(
    json_file: str, image_root: str, panoptic_root: str, categories: list[dict] | None = None
) -> list[dict]:
    """The videos of a VIPSeg panoptic JSON; ``categories`` (raw ``[{"id", "name", "isthing"}]``,
    default the JSON's) define the things-first contiguous order. Every frame and mask must exist
    and the first mask of each video have the frame size (header read only)."""
    require_dir(image_root, "image folder")
    data = read_json(json_file, "annotation file", DatasetError)
    if not isinstance(data, dict) or not (
        isinstance(data.get("annotations"), list) or isinstance(data.get("videos"), list)
    ):
        raise DatasetError(
            f"{json_file}: not a VIPSeg panoptic JSON (no 'annotations' or 'videos' list)"
        )
    categories = data.get("categories") if categories is None else categories
    if not isinstance(categories, list) or not categories:
        raise DatasetError(f"{json_file}: no 'categories' list and none given")
    meta = things_first_metadata(categories)
    raw_to_contiguous = meta["stuff_dataset_id_to_contiguous_id"]
    things = set(meta["thing_dataset_id_to_contiguous_id"])
    videos = _images_by_video(json_file, data.get("videos"))
    annotations = data.get("annotations") or []
    if annotations:
        require_dir(panoptic_root, "panoptic mask folder")
    out: list[dict] = []
    for vid, frames in vipseg_video_annotations(annotations, json_file, DatasetError):
        if not frames:
            raise DatasetError(f"{json_file}: video {vid} is empty (no annotated frames)")
        infos = []
        for f, fa in enumerate(frames):
            for s in fa["segments_info"]:
                if s.get("category_id") not in raw_to_contiguous:
                    raise DatasetError(
                        f"{json_file}: video {vid} frame {f}: segment {s.get('id')} has unknown "
                        f"category_id {s.get('category_id')}"
                    )
            infos.append(
                [
                    {
                        "id": int(s["id"]),
                        "category_id": raw_to_contiguous[s["category_id"]],
                        "iscrowd": int(s.get("iscrowd", 0)),
                        "isthing": s["category_id"] in things,
                    }
                    for s in fa["segments_info"]
                ]
            )
        rec = _record(image_root, vid, _frame_images(json_file, vid, frames, videos.get(vid)))
        rec["pan_seg_file_names"] = [
            os.path.join(panoptic_root, vid, fa["file_name"]) for fa in frames
        ]
        rec["segments_infos"] = infos
        out.append(rec)
    if not annotations:  # a test split: the videos' images
        for vid, images in videos.items():
            if not images:
                raise DatasetError(f"{json_file}: video {vid} is empty (no images)")
            out.append(_record(image_root, vid, images))
    for rec in out:
        where = f"{json_file}: video {rec['video_id']}"
        check_files_exist(rec["file_names"], "frame", where)
        if "pan_seg_file_names" in rec:
            check_files_exist(rec["pan_seg_file_names"], "panoptic mask", where)
            mask_hw = image_size(rec["pan_seg_file_names"][0])
            if mask_hw != (rec["height"], rec["width"]):
                raise DatasetError(
                    f"{rec['pan_seg_file_names'][0]}: mask size {list(mask_hw)} disagrees with "
                    f"video {rec['video_id']} size [{rec['height']}, {rec['width']}]"
                )
    logger.info("Loaded %d videos from %s", len(out), json_file)
    return out


def register_vipseg_panoptic(
    name: str,
    metadata: dict,
    json_file: str,
    image_root: str,
    panoptic_root: str,
    categories: list[dict] | None = None,
) -> None:
    """Register a VIPSeg-format panoptic video dataset (categories default to the JSON's)."""
    DatasetCatalog.register(
        name, lambda: load_vipseg_json(json_file, image_root, panoptic_root, categories)
    )
    meta = MetadataCatalog.get(name)
    if categories is not None:
        meta.set(**things_first_metadata(categories))
    meta.set(
        json_file=json_file,
        image_root=image_root,
        panoptic_root=panoptic_root,
        evaluator_type="vps",
        ignore_label=255,
    ).set(**metadata)  # the caller's metadata wins
