"""VSPW-format video semantic loading (``VSPW_vss_video_*``, ``synthetic_vss_*``) into the dicts
of :mod:`videomt.data.catalog`. Layout::

    <root>/data/<video>/origin/<frame>.jpg
    <root>/data/<video>/mask/<frame>.png      # class PNG: 0, 255 ignore; v -> raw class v-1
    <root>/{train,val,test}.txt               # one video name per line
"""

from __future__ import annotations

import logging
import os

from .catalog import DatasetCatalog, DatasetError, MetadataCatalog
from .io import check_files_exist, image_size, list_dir, require_dir

logger = logging.getLogger(__name__)


def read_split_file(split_file: str, error: type[Exception] = DatasetError) -> list[str]:
    """Video names listed in a split txt file (blank lines ignored)."""
    if not os.path.isfile(split_file):
        raise error(f"{split_file}: split file not found")
    with open(split_file, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise error(f"{split_file}: split file lists no videos")
    return names


def load_vspw(data_root: str, split_file: str, with_masks: bool = True) -> list[dict]:
    """The videos of ``split_file`` under ``data_root`` (``<root>/data``): frames are the sorted
    images of ``origin/`` (size from the first one's header); with ``with_masks`` (not for the test
    split) every frame needs its mask, and the first mask has the frame size."""
    require_dir(data_root, "VSPW data folder")
    out = []
    for vid in read_split_file(split_file):
        origin = os.path.join(data_root, vid, "origin")
        frames = sorted(
            n
            for n in list_dir(origin, f"frame folder of video {vid} ({split_file})")
            if n.lower().endswith((".jpg", ".jpeg", ".png"))
        )
        if not frames:
            raise DatasetError(f"{origin}: video {vid} is empty (no frames)")
        file_names = [os.path.join(origin, n) for n in frames]
        h, w = image_size(file_names[0])
        rec = {
            "file_names": file_names,
            "height": h,
            "width": w,
            "length": len(frames),
            "video_id": vid,
        }
        if with_masks:
            mask_dir = os.path.join(data_root, vid, "mask")
            rec["sem_seg_file_names"] = [
                os.path.join(mask_dir, os.path.splitext(n)[0] + ".png") for n in frames
            ]
            check_files_exist(
                rec["sem_seg_file_names"], "semantic mask", f"{split_file}: video {vid}"
            )
            mask_hw = image_size(rec["sem_seg_file_names"][0])
            if mask_hw != (h, w):
                raise DatasetError(
                    f"{rec['sem_seg_file_names'][0]}: mask size {list(mask_hw)} disagrees with "
                    "frame "
                    f"size [{h}, {w}] of video {vid}"
                )
        out.append(rec)
    logger.info("Loaded %d videos from %s", len(out), split_file)
    return out


def register_vspw_semantic(
    name: str, metadata: dict, data_root: str, split_file: str, with_masks: bool = True
) -> None:
    """Register a VSPW-layout semantic video dataset."""
    DatasetCatalog.register(name, lambda: load_vspw(data_root, split_file, with_masks))
    MetadataCatalog.get(name).set(
        image_root=data_root, split_file=split_file, evaluator_type="vss", ignore_label=255
    ).set(**metadata)  # the caller's metadata wins
