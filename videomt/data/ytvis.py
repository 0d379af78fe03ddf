"""YouTube-VIS / OVIS JSON loading (also COCO pseudo-video sets) and custom registration.

YouTube-VIS JSON (also OVIS and our synthetic sets)::

    {"videos": [{"id": int, "file_names": ["<video>/<frame>.jpg", ...], "height", "width",
                 "length"?}],
     "annotations": [{"id", "video_id", "category_id", "iscrowd"?,
                      "segmentations": [RLE | polygons | None per frame],
                      "bboxes": [[x, y, w, h] | None per frame]?}] | null,
     "categories": [{"id", "name"}]}

The output dicts follow the contract in :mod:`videomt.data.catalog`. Masks stay encoded.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from .catalog import DatasetCatalog, DatasetError, MetadataCatalog
from .io import check_files_exist, gc_paused, list_dir, load_json, require_dir, root_hint
from .metadata import thing_metadata

__all__ = [
    "load_ytvis_json",
    "load_coco_pseudo_json",
    "register_ytvis_instances",
    "register_coco_pseudo_instances",
    "categories_metadata",
]

logger = logging.getLogger(__name__)


def categories_metadata(categories: list[dict]) -> dict:
    """Instance metadata from a JSON's categories: ids sorted ascending -> contiguous 0..K-1."""
    cats = sorted(categories, key=lambda c: c["id"])
    return thing_metadata([c["name"] for c in cats], [c["id"] for c in cats])


def _check_categories(json_file: str, data: dict) -> list[dict]:
    cats = data.get("categories") or []
    if not isinstance(cats, list) or any(
        not isinstance(c, dict) or "id" not in c or "name" not in c for c in cats
    ):
        raise DatasetError(f"{json_file}: 'categories' must be a list of {{'id', 'name'}} dicts")
    return cats


def _bbox_from_segm(segm: Any, h: int, w: int) -> list[float]:
    from pycocotools import mask as mask_util

    if isinstance(segm, dict):
        rle = mask_util.frPyObjects(segm, h, w) if isinstance(segm["counts"], list) else segm
    else:
        rle = mask_util.merge(mask_util.frPyObjects(segm, h, w))
    return [float(v) for v in mask_util.toBbox(rle)]


def _video_record(
    json_file: str, image_root: str, v: Any, index: int
) -> tuple[Any, dict[str, Any]]:
    if not isinstance(v, dict) or "id" not in v or "file_names" not in v:
        raise DatasetError(
            f"{json_file}: videos[{index}] must be a dict with 'id', 'file_names', 'height', "
            f"'width'"
        )
    vid = v["id"]
    names = v["file_names"]
    if not isinstance(names, list):
        raise DatasetError(f"{json_file}: video {vid}: 'file_names' must be a list")
    try:
        h, w = int(v["height"]), int(v["width"])
    except (KeyError, TypeError, ValueError):
        raise DatasetError(
            f"{json_file}: video {vid}: missing or invalid 'height'/'width'"
        ) from None
    if not names:
        raise DatasetError(f"{json_file}: video {vid} is empty (no frames in 'file_names')")
    length = v.get("length", len(names))
    if length != len(names):
        raise DatasetError(
            f"{json_file}: video {vid}: 'length' {length} but {len(names)} 'file_names'"
        )
    return vid, {
        "file_names": [os.path.join(image_root, n) for n in names],
        "height": h,
        "width": w,
        "length": len(names),
        "video_id": vid,
    }


@gc_paused()
def load_ytvis_json(
    json_file: str,
    image_root: str,
    dataset_name: str | None = None,
    id_map: dict[int, int] | None = None,
    check_files: bool = True,
    skip_bad_videos: bool = False,
) -> list[dict]:
    """Load a YouTube-VIS-format JSON into video dicts (see :mod:`videomt.data.catalog`).

    Args:
        json_file: the annotation JSON.
        image_root: folder that the videos' ``file_names`` are relative to.
        dataset_name: if given and its metadata has no ``thing_classes`` yet, the classes and id
            mapping read from the JSON's categories are stored in its metadata.
        id_map: dataset category id -> contiguous index; default: from the metadata of
            ``dataset_name``, else from the JSON's categories (ids sorted ascending).
        check_files: check that every frame file exists (one ``os.listdir`` per video folder).
        skip_bad_videos: drop videos with an error (missing frame, bad mask size, empty video,
            annotation of the wrong length) instead of raising; the number dropped is logged.

    Returns:
        One dict per video; ``annotations`` (per frame lists of objects) only when the JSON has
        annotations. Polygons with fewer than 3 points are removed (counted in the log).
    """
    require_dir(image_root, "image folder", root_hint(image_root))
    data = load_json(json_file)
    if not isinstance(data, dict) or not isinstance(data.get("videos"), list):
        raise DatasetError(f"{json_file}: not a YouTube-VIS JSON (no 'videos' list)")
    cats = _check_categories(json_file, data)
    meta = MetadataCatalog.get(dataset_name) if dataset_name else None
    if id_map is None and meta is not None and meta.is_set("thing_dataset_id_to_contiguous_id"):
        id_map = meta.thing_dataset_id_to_contiguous_id
    if id_map is None:
        derived = categories_metadata(cats)
        id_map = derived["thing_dataset_id_to_contiguous_id"]
        if meta is not None and not meta.is_set("thing_classes"):
            meta.set(**derived)
        elif meta is not None:  # classes given without a mapping: keep the one used here
            meta.set(thing_dataset_id_to_contiguous_id=id_map)
    elif meta is not None and cats and meta.is_set("thing_classes"):
        names = [c["name"].lower() for c in sorted(cats, key=lambda c: c["id"])]
        if names != [n.lower() for n in meta.thing_classes]:
            logger.warning(
                "%s: category names in the JSON differ from the metadata of '%s'",
                json_file, dataset_name,
            )

    bad: dict[Any, str] = {}

    def fail(vid: Any, msg: str) -> None:
        if not skip_bad_videos:
            raise DatasetError(msg)
        bad.setdefault(vid, msg)

    videos: dict[Any, dict] = {}
    for i, v in enumerate(data["videos"]):
        try:
            vid, rec = _video_record(json_file, image_root, v, i)
        except DatasetError as e:
            fail(v.get("id", f"#{i}") if isinstance(v, dict) else f"#{i}", str(e))
            continue
        if vid in videos:
            raise DatasetError(f"{json_file}: duplicate video id {vid}")
        videos[vid] = rec

    if check_files:
        for vid, rec in videos.items():
            try:
                check_files_exist(rec["file_names"], "frame", f"{json_file}: video {vid}")
            except DatasetError as e:
                fail(vid, str(e))

    anns = data.get("annotations")
    if anns is not None and not isinstance(anns, list):
        raise DatasetError(f"{json_file}: 'annotations' must be a list")
    n_bad_poly = 0
    if anns is not None:
        for rec in videos.values():
            rec["annotations"] = [[] for _ in range(rec["length"])]
        for a in anns:
            try:
                vid, aid, cat = a["video_id"], a["id"], a["category_id"]
                segms = a["segmentations"]
            except (KeyError, TypeError):
                raise DatasetError(
                    f"{json_file}: annotation {a.get('id') if isinstance(a, dict) else a!r} "
                    f"lacks one of 'id', 'video_id', 'category_id', 'segmentations'"
                ) from None
            rec = videos.get(vid)
            if rec is None:
                if vid in bad:
                    continue
                raise DatasetError(f"{json_file}: annotation {aid} points to unknown video {vid}")
            if cat not in id_map:
                raise DatasetError(
                    f"{json_file}: annotation {aid} has category_id {cat} not in the dataset's "
                    f"categories {sorted(id_map)}"
                )
            length, h, w = rec["length"], rec["height"], rec["width"]
            bboxes = a.get("bboxes")
            if not isinstance(segms, list) or len(segms) != length or (
                bboxes is not None and len(bboxes) != length
            ):
                fail(vid, f"{json_file}: annotation {aid} of video {vid}: "
                          f"{len(segms) if isinstance(segms, list) else 'no'} segmentations / "
                          f"{len(bboxes) if bboxes is not None else '-'} bboxes for {length} "
                          f"frames (annotation points to missing frames)")
                continue
            contig = id_map[cat]
            crowd = int(a.get("iscrowd", 0))
            frames = rec["annotations"]
            for f, segm in enumerate(segms):
                if not segm:
                    continue
                if isinstance(segm, dict):
                    size = segm.get("size")
                    if "counts" not in segm or size is None:
                        raise DatasetError(
                            f"{json_file}: annotation {aid} frame {f}: RLE without "
                            f"'counts'/'size'"
                        )
                    if size[0] != h or size[1] != w:
                        fail(vid, f"{json_file}: annotation {aid} of video {vid} frame {f}: mask "
                                  f"size {list(size)} disagrees with video size [{h}, {w}]")
                        break
                elif isinstance(segm, list):
                    kept = [p for p in segm if len(p) % 2 == 0 and len(p) >= 6]
                    if not kept:
                        n_bad_poly += 1
                        continue
                    segm = kept
                else:
                    raise DatasetError(
                        f"{json_file}: annotation {aid} frame {f}: segmentation must be an RLE "
                        f"dict or a polygon list, got {type(segm).__name__}"
                    )
                bbox = bboxes[f] if bboxes is not None else None
                if not bbox:
                    bbox = _bbox_from_segm(segm, h, w)
                frames[f].append({
                    "id": aid,
                    "category_id": contig,
                    "iscrowd": crowd,
                    "bbox": bbox,
                    "bbox_mode": "XYWH_ABS",
                    "segmentation": segm,
                })
    if n_bad_poly:
        logger.warning("%s: removed %d per-frame objects whose polygons have fewer than 3 points",
                       json_file, n_bad_poly)
    if bad:
        first = next(iter(bad.values()))
        logger.warning("%s: skipped %d of %d videos with errors (first: %s)",
                       json_file, len(bad), len(data["videos"]), first)
    out = [rec for vid, rec in videos.items() if vid not in bad]
    logger.info("Loaded %d videos from %s", len(out), json_file)
    return out


@gc_paused()
def load_coco_pseudo_json(
    json_file: str,
    image_root: str,
    coco_to_contiguous: dict[int, int],
    check_files: bool = True,
) -> list[dict]:
    """Load a COCO instances JSON as image dicts for pseudo-video training.

    Each COCO ``category_id`` is mapped HERE through ``coco_to_contiguous`` (COCO id -> TARGET
    dataset contiguous index, built from the SPEC 5.2 table by the registration); annotations
    whose category is not in the mapping are dropped and their number logged. Images keep an
    empty list if none of their annotations survive (``FILTER_EMPTY_ANNOTATIONS`` removes them).
    """
    require_dir(image_root, "image folder", root_hint(image_root))
    data = load_json(json_file)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(
        data.get("annotations", []), list
    ):
        raise DatasetError(f"{json_file}: not a COCO instances JSON (no 'images' list)")
    names = list_dir(image_root, "image folder") if check_files else None
    images: dict[Any, dict] = {}
    for i, im in enumerate(data["images"]):
        try:
            iid, fname, h, w = im["id"], im["file_name"], int(im["height"]), int(im["width"])
        except (KeyError, TypeError, ValueError):
            raise DatasetError(
                f"{json_file}: images[{i}] must have 'id', 'file_name', 'height', 'width'"
            ) from None
        if names is not None and fname not in names:
            raise DatasetError(f"{json_file}: image {iid}: file {os.path.join(image_root, fname)} "
                               f"not found")
        images[iid] = {"file_name": os.path.join(image_root, fname), "height": h, "width": w,
                       "image_id": iid, "annotations": []}
    dropped = bad_poly = 0
    for a in data.get("annotations", []):
        try:
            iid, cat, segm = a["image_id"], a["category_id"], a["segmentation"]
        except (KeyError, TypeError):
            aid = a.get("id") if isinstance(a, dict) else repr(a)
            raise DatasetError(f"{json_file}: annotation {aid} lacks 'image_id', 'category_id' "
                               f"or 'segmentation'") from None
        rec = images.get(iid)
        if rec is None:
            raise DatasetError(
                f"{json_file}: annotation {a.get('id')} points to unknown image {iid}"
            )
        if cat not in coco_to_contiguous:
            dropped += 1
            continue
        if isinstance(segm, dict):
            size = segm.get("size")
            if size is None or "counts" not in segm:
                raise DatasetError(f"{json_file}: annotation {a.get('id')}: RLE without "
                                   f"'counts'/'size'")
            if size[0] != rec["height"] or size[1] != rec["width"]:
                raise DatasetError(
                    f"{json_file}: annotation {a.get('id')} of image {iid}: mask size {list(size)}"
                    f" disagrees with image size [{rec['height']}, {rec['width']}]"
                )
        else:
            segm = [p for p in segm if len(p) % 2 == 0 and len(p) >= 6]
            if not segm:
                bad_poly += 1
                continue
        rec["annotations"].append({
            "id": a.get("id"),
            "category_id": coco_to_contiguous[cat],
            "iscrowd": int(a.get("iscrowd", 0)),
            "bbox": a.get("bbox") or _bbox_from_segm(segm, rec["height"], rec["width"]),
            "bbox_mode": "XYWH_ABS",
            "segmentation": segm,
        })
    if dropped:
        logger.info("%s: dropped %d annotations of COCO categories outside the target mapping",
                    json_file, dropped)
    if bad_poly:
        logger.warning("%s: removed %d annotations whose polygons have fewer than 3 points",
                       json_file, bad_poly)
    out = list(images.values())
    logger.info("Loaded %d images from %s", len(out), json_file)
    return out


def register_ytvis_instances(
    name: str, metadata: dict, json_file: str, image_root: str, **load_kwargs: Any
) -> None:
    """Register a YouTube-VIS-format dataset under ``name``.

    Args:
        name: dataset name for ``DATASETS.TRAIN/TEST``.
        metadata: extra metadata (e.g. ``thing_classes``); may be empty: the classes then come
            from the JSON's categories (ids ascending -> contiguous 0..K-1).
        json_file, image_root: the annotation JSON and the folder its ``file_names`` are
            relative to (``JPEGImages`` for YouTube-VIS).
        load_kwargs: passed to :func:`load_ytvis_json` (``check_files``, ``skip_bad_videos``).
    """
    DatasetCatalog.register(
        name, lambda: load_ytvis_json(json_file, image_root, name, **load_kwargs)
    )
    meta = MetadataCatalog.get(name)
    meta.set(json_file=json_file, image_root=image_root, evaluator_type="ytvis",
             dataset_root=os.path.dirname(json_file), ignore_label=255)
    meta.set(**metadata)
    if "thing_classes" not in metadata:
        def from_json(key: str):
            def get() -> Any:
                data = load_json(json_file)
                cats = _check_categories(json_file, data if isinstance(data, dict) else {})
                return categories_metadata(cats)[key]
            return get

        for key in ("thing_classes", "thing_colors", "thing_dataset_id_to_contiguous_id",
                    "categories"):
            meta.set_lazy(key, from_json(key), cache=True)


def register_coco_pseudo_instances(
    name: str, metadata: dict, json_file: str, image_root: str, coco_to_contiguous: dict[int, int]
) -> None:
    """Register a COCO instances JSON used as pseudo-videos; see :func:`load_coco_pseudo_json`."""
    DatasetCatalog.register(
        name, lambda: load_coco_pseudo_json(json_file, image_root, coco_to_contiguous)
    )
    MetadataCatalog.get(name).set(json_file=json_file, image_root=image_root,
                                  evaluator_type="ytvis", ignore_label=255, **metadata)
