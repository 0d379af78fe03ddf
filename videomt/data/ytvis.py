"""YouTube-VIS / OVIS JSON loading (also COCO pseudo-video sets) into the dicts of
:mod:`videomt.data.catalog`, and custom registration. YouTube-VIS JSON (also OVIS and our synthetic
sets)::

    {"videos": [{"id", "file_names": ["<video>/<frame>.jpg", ...], "height", "width", "length"?}],
     "annotations": [{"id", "video_id", "category_id", "iscrowd"?,
                      "segmentations": [RLE | polygons | None per frame],
                      "bboxes": [[x, y, w, h] | None per frame]?}] | null,
     "categories": [{"id", "name"}]}
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

from pycocotools import mask as mask_util

from ..utils.files import read_json
from .catalog import DatasetCatalog, DatasetError, MetadataCatalog
from .io import check_files_exist, gc_paused, require_dir
from .metadata import thing_metadata
from .rle import to_rle

logger = logging.getLogger(__name__)


def categories_metadata(json_file: str, data: Any) -> dict:
    """Instance metadata from a JSON's categories: ids sorted ascending -> contiguous 0..K-1."""
    cats = data.get("categories") or [] if isinstance(data, dict) else []
    if not isinstance(cats, list) or any(
        not isinstance(c, dict) or "id" not in c or "name" not in c for c in cats
    ):
        raise DatasetError(f"{json_file}: 'categories' must be a list of {{'id', 'name'}} dicts")
    cats = sorted(cats, key=lambda c: c["id"])
    return thing_metadata([c["name"] for c in cats], [c["id"] for c in cats])


def _object(
    oid: Any, category: int, iscrowd: Any, bbox: Any, segm: Any, h: int, w: int, where: str, of: str
) -> dict | None:
    """The object dict, ``segm`` as stored: an RLE of the ``of`` size or its 3+ point polygons
    (none: ``None``)."""
    if isinstance(iscrowd, str) or iscrowd not in (0, 1):  # also False / True; not "yes", None
        raise DatasetError(f"{where}: 'iscrowd' must be 0 or 1, got {iscrowd!r}")
    if bbox and not (
        isinstance(bbox, (list, tuple))
        and len(bbox) == 4
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)
    ):
        raise DatasetError(f"{where}: a bbox must be 4 numbers [x, y, w, h], got {bbox!r}")
    if isinstance(segm, dict):
        if "counts" not in segm or "size" not in segm:
            raise DatasetError(f"{where}: RLE without 'counts'/'size'")
        if not isinstance(segm["counts"], (str, list)):
            raise DatasetError(
                f"{where}: RLE 'counts' must be a string or a list of run lengths, got "
                f"{type(segm['counts']).__name__}"
            )
        if list(segm["size"]) != [h, w]:
            raise DatasetError(
                f"{where}: mask size {list(segm['size'])} disagrees with {of} size [{h}, {w}]"
            )
    elif isinstance(segm, list):
        segm = [p for p in segm if len(p) % 2 == 0 and len(p) >= 6]
        if not segm:
            return None
    else:
        raise DatasetError(
            f"{where}: segmentation must be an RLE dict or a polygon list, got "
            f"{type(segm).__name__}"
        )
    if not bbox:
        bbox = [float(v) for v in mask_util.toBbox(to_rle(segm, h, w, where, DatasetError))]
    return {
        "id": oid,
        "category_id": category,
        "iscrowd": int(iscrowd),
        "bbox": bbox,
        "bbox_mode": "XYWH_ABS",
        "segmentation": segm,
    }


def _video_record(json_file: str, image_root: str, v: Any, index: int) -> dict:
    if not isinstance(v, dict) or "id" not in v or "file_names" not in v:
        raise DatasetError(
            f"{json_file}: videos[{index}] must be a dict with 'id', 'file_names', 'height', "
            "'width'"
        )
    vid, names = v["id"], v["file_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DatasetError(
            f"{json_file}: video {vid}: 'file_names' must be a list of frame paths (strings)"
        )
    try:
        h, w = int(v["height"]), int(v["width"])
    except (KeyError, TypeError, ValueError):
        raise DatasetError(
            f"{json_file}: video {vid}: missing or invalid 'height'/'width'"
        ) from None
    if not names:
        raise DatasetError(f"{json_file}: video {vid} is empty (no frames in 'file_names')")
    if v.get("length", len(names)) != len(names):
        raise DatasetError(
            f"{json_file}: video {vid}: 'length' {v['length']} but {len(names)} 'file_names'"
        )
    return {
        "file_names": [os.path.join(image_root, n) for n in names],
        "height": h,
        "width": w,
        "length": len(names),
        "video_id": vid,
    }


def _id_map(json_file: str, data: dict, dataset_name: str | None) -> dict:
    """Dataset category id -> contiguous index: from the dataset's metadata, else from the JSON's
    categories (then stored in the metadata when it has no classes yet)."""
    meta = MetadataCatalog.get(dataset_name) if dataset_name else None
    from_json = categories_metadata(json_file, data)
    if meta is None or not meta.is_set("thing_dataset_id_to_contiguous_id"):
        id_map = from_json["thing_dataset_id_to_contiguous_id"]
        if meta is not None:  # classes given without a mapping keep them; else all from the JSON
            meta.set(
                **(
                    {"thing_dataset_id_to_contiguous_id": id_map}
                    if meta.is_set("thing_classes")
                    else from_json
                )
            )
        return id_map
    if (
        from_json["thing_classes"]
        and meta.is_set("thing_classes")
        and [n.lower() for n in from_json["thing_classes"]]
        != [n.lower() for n in meta.thing_classes]
    ):
        logger.warning(
            "%s: category names in the JSON differ from the metadata of '%s'",
            json_file,
            dataset_name,
        )
    return meta.thing_dataset_id_to_contiguous_id


@gc_paused()
def load_ytvis_json(
    json_file: str, image_root: str, dataset_name: str | None = None, skip_bad_videos: bool = False
) -> list[dict]:
    """The videos of a YouTube-VIS-format JSON (``annotations`` only when it has some);
    ``dataset_name``'s metadata gives the category mapping, or receives the JSON's. Every frame must
    exist; ``skip_bad_videos``: drop (and count in the log) videos with an error instead of raising.
    Polygons of < 3 points are removed (counted)."""
    require_dir(image_root, "image folder")
    data = read_json(json_file, "annotation file", DatasetError)
    if not isinstance(data, dict) or not isinstance(data.get("videos"), list):
        raise DatasetError(f"{json_file}: not a YouTube-VIS JSON (no 'videos' list)")
    id_map = _id_map(json_file, data, dataset_name)
    bad: dict[Any, str] = {}  # video id -> first error (skip_bad_videos)

    def fail(vid: Any, error: DatasetError) -> None:
        if not skip_bad_videos:
            raise error
        bad.setdefault(vid, str(error))

    videos: dict[Any, dict] = {}
    for i, v in enumerate(data["videos"]):
        try:
            rec = _video_record(json_file, image_root, v, i)
            check_files_exist(rec["file_names"], "frame", f"{json_file}: video {rec['video_id']}")
        except DatasetError as e:
            fail(v.get("id", f"#{i}") if isinstance(v, dict) else f"#{i}", e)
            continue
        if rec["video_id"] in videos:
            raise DatasetError(f"{json_file}: duplicate video id {rec['video_id']}")
        videos[rec["video_id"]] = rec
    anns = data.get("annotations")
    if anns is not None:
        if not isinstance(anns, list):
            raise DatasetError(f"{json_file}: 'annotations' must be a list")
        for rec in videos.values():
            rec["annotations"] = [[] for _ in range(rec["length"])]
    bad_polygons = 0
    for a in anns or []:
        try:
            vid, aid, cat, segms = a["video_id"], a["id"], a["category_id"], a["segmentations"]
        except (KeyError, TypeError):
            raise DatasetError(
                f"{json_file}: annotation {a.get('id') if isinstance(a, dict) else a!r} lacks one "
                "of "
                f"'id', 'video_id', 'category_id', 'segmentations'"
            ) from None
        if vid not in videos:
            if vid in bad:
                continue
            raise DatasetError(f"{json_file}: annotation {aid} points to unknown video {vid}")
        if cat not in id_map:
            raise DatasetError(
                f"{json_file}: annotation {aid} has category_id {cat} not in the dataset's "
                "categories "
                f"{sorted(id_map)}"
            )
        rec, bboxes = videos[vid], a.get("bboxes")
        length, h, w = rec["length"], rec["height"], rec["width"]
        try:
            if (
                not isinstance(segms, list)
                or len(segms) != length
                or (bboxes is not None and len(bboxes) != length)
            ):
                raise DatasetError(
                    f"{json_file}: annotation {aid} of video {vid}: "
                    f"{len(segms) if isinstance(segms, list) else 'no'} "
                    f"segmentations / {len(bboxes) if bboxes is not None else '-'} bboxes for "
                    f"{length} frames "
                    f"(annotation points to missing frames)"
                )
            for f, segm in enumerate(segms):
                if not segm:
                    continue
                obj = _object(
                    aid,
                    id_map[cat],
                    a.get("iscrowd", 0),
                    bboxes[f] if bboxes is not None else None,
                    segm,
                    h,
                    w,
                    f"{json_file}: annotation {aid} of video {vid} frame {f}",
                    "video",
                )
                if obj is None:
                    bad_polygons += 1
                else:
                    rec["annotations"][f].append(obj)
        except DatasetError as e:
            fail(vid, e)
    if bad_polygons:
        logger.warning(
            "%s: removed %d per-frame objects whose polygons have fewer than 3 points",
            json_file,
            bad_polygons,
        )
    if bad:
        logger.warning(
            "%s: skipped %d of %d videos with errors (first: %s)",
            json_file,
            len(bad),
            len(data["videos"]),
            next(iter(bad.values())),
        )
    out = [rec for vid, rec in videos.items() if vid not in bad]
    logger.info("Loaded %d videos from %s", len(out), json_file)
    return out


@gc_paused()
def load_coco_pseudo_json(
    json_file: str, image_root: str, coco_to_contiguous: dict[int, int]
) -> list[dict]:
    """The images of a COCO instances JSON for pseudo-video training, ``category_id`` mapped through
    ``coco_to_contiguous`` (COCO id -> TARGET contiguous index); annotations of other categories
    are dropped (counted in the log), so an image may keep none. Every image file must exist."""
    require_dir(image_root, "image folder")
    data = read_json(json_file, "annotation file", DatasetError)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("images"), list)
        or not isinstance(data.get("annotations", []), list)
    ):
        raise DatasetError(f"{json_file}: not a COCO instances JSON (no 'images' list)")
    images: dict[Any, dict] = {}
    for i, im in enumerate(data["images"]):
        try:
            iid, fname, h, w = im["id"], im["file_name"], int(im["height"]), int(im["width"])
        except (KeyError, TypeError, ValueError):
            raise DatasetError(
                f"{json_file}: images[{i}] must have 'id', 'file_name', 'height', 'width'"
            ) from None
        images[iid] = {
            "file_name": os.path.join(image_root, fname),
            "height": h,
            "width": w,
            "image_id": iid,
            "annotations": [],
        }
    check_files_exist([im["file_name"] for im in images.values()], "image", json_file)
    dropped = bad_polygons = 0
    for a in data.get("annotations", []):
        try:
            iid, cat, segm = a["image_id"], a["category_id"], a["segmentation"]
        except (KeyError, TypeError):
            raise DatasetError(
                f"{json_file}: annotation {a.get('id') if isinstance(a, dict) else a!r} lacks "
                f"'image_id', 'category_id' or 'segmentation'"
            ) from None
        if iid not in images:
            raise DatasetError(
                f"{json_file}: annotation {a.get('id')} points to unknown image {iid}"
            )
        if cat not in coco_to_contiguous:
            dropped += 1
            continue
        rec = images[iid]
        obj = _object(
            a.get("id"),
            coco_to_contiguous[cat],
            a.get("iscrowd", 0),
            a.get("bbox"),
            segm,
            rec["height"],
            rec["width"],
            f"{json_file}: annotation {a.get('id')} of image {iid}",
            "image",
        )
        if obj is None:
            bad_polygons += 1
        else:
            rec["annotations"].append(obj)
    if dropped:
        logger.info(
            "%s: dropped %d annotations of COCO categories outside the target mapping",
            json_file,
            dropped,
        )
    if bad_polygons:
        logger.warning(
            "%s: removed %d annotations whose polygons have fewer than 3 points",
            json_file,
            bad_polygons,
        )
    logger.info("Loaded %d images from %s", len(images), json_file)
    return list(images.values())


def register_ytvis_instances(
    name: str, metadata: dict, json_file: str, image_root: str, **load_kwargs: Any
) -> None:
    """Register a YouTube-VIS-format dataset; without ``thing_classes`` in ``metadata`` the JSON's
    categories give them when first read. ``load_kwargs`` go to :func:`load_ytvis_json`."""
    DatasetCatalog.register(
        name, lambda: load_ytvis_json(json_file, image_root, name, **load_kwargs)
    )
    meta = (
        MetadataCatalog.get(name)
        .set(
            json_file=json_file,
            image_root=image_root,
            evaluator_type="ytvis",
            dataset_root=os.path.dirname(json_file),
            ignore_label=255,
        )
        .set(**metadata)
    )
    if "thing_classes" not in metadata:
        categories = (
            functools.cache(  # the JSON is read once, when the first of these keys is asked for
                lambda: categories_metadata(
                    json_file, read_json(json_file, "annotation file", DatasetError)
                )
            )
        )
        for key in (
            "thing_classes",
            "thing_colors",
            "thing_dataset_id_to_contiguous_id",
            "categories",
        ):
            meta.set_lazy(key, lambda key=key: categories()[key], cache=True)


def register_coco_pseudo_instances(
    name: str, metadata: dict, json_file: str, image_root: str, coco_to_contiguous: dict[int, int]
) -> None:
    """Register a COCO instances JSON used as pseudo-videos; see :func:`load_coco_pseudo_json`."""
    DatasetCatalog.register(
        name, lambda: load_coco_pseudo_json(json_file, image_root, coco_to_contiguous)
    )
    MetadataCatalog.get(name).set(
        json_file=json_file, image_root=image_root, evaluator_type="ytvis", ignore_label=255
    ).set(**metadata)  # the caller's metadata wins
