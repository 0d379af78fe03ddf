"""COCO -> pseudo-video JSON filter and VIPSeg -> 720p resize (functions and CLIs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import data_fixtures as fx
import numpy as np
import pytest
from PIL import Image

from videomt.data import DatasetError, load_coco_pseudo_json, load_vipseg_json
from videomt.data.converters import (
    filter_coco_for_target,
    resize_vipseg_720p,
    vipseg_720p_size,
)
from videomt.data.metadata import COCO_TO_OVIS, COCO_TO_YTVIS_2019, COCO_TO_YTVIS_2021

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COCO_CLI = os.path.join(REPO, "datasets", "utils", "convert_coco2ytvis.py")
VIPSEG_CLI = os.path.join(REPO, "datasets", "utils", "vipseg_change2_720p.py")
SPLIT_CLI = os.path.join(REPO, "datasets", "utils", "split_vipseg_json.py")


def _run(cli: str, *args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    """A dataset script run in a fresh Python process, its output captured as text."""
    return subprocess.run([sys.executable, cli, *args], capture_output=True, text=True, cwd=cwd)


def _coco_all_categories() -> dict:
    """One image per COCO category id 1..90 (one annotation each) + an empty image."""
    images = [
        {"id": i, "file_name": f"{i:06d}.jpg", "height": fx.H, "width": fx.W} for i in range(1, 92)
    ]
    anns = [
        {
            "id": 1000 + c,
            "image_id": c,
            "category_id": c,
            "iscrowd": 0,
            "area": 16,
            "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]],
            "bbox": [1, 1, 4, 4],
        }
        for c in range(1, 91)
    ]
    cats = [{"id": c, "name": f"coco{c}"} for c in range(1, 91)]
    return {"info": {"year": 2017}, "images": images, "annotations": anns, "categories": cats}


@pytest.mark.parametrize(
    "target, mapping",
    [
        ("ytvis_2019", COCO_TO_YTVIS_2019),
        ("ytvis_2021", COCO_TO_YTVIS_2021),
        ("ovis", COCO_TO_OVIS),
    ],
)
def test_filter_keeps_exactly_the_mapped_categories(target, mapping):
    coco = _coco_all_categories()
    out = filter_coco_for_target(coco, target)
    assert {a["category_id"] for a in out["annotations"]} == set(mapping)
    assert {c["id"] for c in out["categories"]} == set(mapping)
    assert len(out["images"]) == 91 and out["info"] == {"year": 2017}
    dropped = filter_coco_for_target(coco, target, drop_empty_images=True)
    assert {im["id"] for im in dropped["images"]} == set(mapping)


def test_filter_rejects_unknown_target_and_bad_json():
    with pytest.raises(ValueError, match="unknown target"):
        filter_coco_for_target(_coco_all_categories(), "ytvis_2020")
    with pytest.raises(DatasetError, match="no 'images' list"):
        filter_coco_for_target({"annotations": [], "categories": []}, "ovis")


def test_coco_cli_then_loader(tmp_path):
    src = fx.write_json(
        str(tmp_path / "annotations" / "instances_train2017.json"), _coco_all_categories()
    )
    for im in _coco_all_categories()["images"]:
        fx.write_jpg(str(tmp_path / "train2017" / im["file_name"]))
    dst = str(tmp_path / "annotations" / "coco2ovis_train.json")
    res = _run(COCO_CLI, "--src", src, "--target", "ovis", "--dst", dst, cwd=str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "17 annotations kept, 73 dropped" in res.stdout
    contig = {c: t - 1 for c, t in COCO_TO_OVIS.items()}
    dicts = load_coco_pseudo_json(dst, str(tmp_path / "train2017"), contig)
    by_img = {d["image_id"]: d["annotations"] for d in dicts}
    assert by_img[8][0]["category_id"] == 24  # COCO truck 8 -> OVIS Vehical 25
    assert by_img[1][0]["category_id"] == 0 and by_img[10] == []


def test_coco_cli_all_files_and_errors(tmp_path):
    ann = tmp_path / "coco" / "annotations"
    for split in ("train", "val"):
        fx.write_json(str(ann / f"instances_{split}2017.json"), _coco_all_categories())
    res = _run(COCO_CLI, "--coco-root", str(tmp_path / "coco"))
    assert res.returncode == 0, res.stderr
    for tag, mapping in (
        ("ytvis2019", COCO_TO_YTVIS_2019),
        ("ytvis2021", COCO_TO_YTVIS_2021),
        ("ovis", COCO_TO_OVIS),
    ):
        for split in ("train", "val"):
            data = json.load(open(ann / f"coco2{tag}_{split}.json"))
            assert len(data["annotations"]) == len(mapping)
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [')
    res = _run(COCO_CLI, "--src", str(bad), "--target", "ovis", "--dst", str(tmp_path / "o.json"))
    assert res.returncode == 2 and "bad.json: invalid JSON" in res.stderr


def _write_vipseg_src(root: str, videos=("v1", "v2"), h=36, w=48, frames=2) -> dict:
    """Original-resolution VIPSeg: imgs/<v>/<t>.jpg, 16-bit panomasks/<v>/<t>.png."""
    masks = {}
    for v in videos:
        os.makedirs(os.path.join(root, "imgs", v), exist_ok=True)
        os.makedirs(os.path.join(root, "panomasks", v), exist_ok=True)
        for t in range(frames):
            fx.write_jpg(os.path.join(root, "imgs", v, f"{t:05d}.jpg"), h, w, value=40 * t)
            m = np.full((h, w), 29, dtype=np.uint16)  # sky-like stuff value
            m[5:20, 7:30] = 6101  # a thing id > 255 (needs 16 bits)
            m[25:, :10] = 0
            m[0, 0] = 6102
            Image.fromarray(m).save(os.path.join(root, "panomasks", v, f"{t:05d}.png"))
            masks[(v, t)] = m
    with open(os.path.join(root, "val.txt"), "w") as f:
        f.write("\n".join(videos) + "\n")
    return masks


def test_vipseg_720p_size():
    assert vipseg_720p_size(36, 48) == (720, 960)
    assert vipseg_720p_size(33, 50) == (720, 1090)  # int(), not round()
    assert vipseg_720p_size(1080, 1920) == (720, 1280)


def test_vipseg_resize_in_process(tmp_path):
    masks = _write_vipseg_src(str(tmp_path / "src"))
    n = resize_vipseg_720p(str(tmp_path / "src"), str(tmp_path / "dst"), workers=1, progress=False)
    assert n == 4
    img = Image.open(tmp_path / "dst" / "images" / "v2" / "00001.jpg")
    assert img.size == (960, 720) and img.mode == "RGB"
    out = np.asarray(Image.open(tmp_path / "dst" / "panomasks" / "v2" / "00001.png"))
    assert out.shape == (720, 960)
    # nearest: ids are never blended; exact 20x block upsampling for this integer factor
    assert set(np.unique(out)) == {0, 29, 6101, 6102}
    assert np.array_equal(out, np.repeat(np.repeat(masks[("v2", 1)], 20, 0), 20, 1))
    assert (tmp_path / "dst" / "val.txt").read_text().split() == ["v1", "v2"]


def test_vipseg_cli_parallel_and_errors(tmp_path):
    _write_vipseg_src(str(tmp_path / "src"), videos=("a", "b", "c"), h=30, w=50, frames=1)
    res = _run(
        VIPSEG_CLI, "--src", str(tmp_path / "src"), "--dst", str(tmp_path / "dst"), "--workers", "2"
    )
    assert res.returncode == 0, res.stderr
    assert "wrote 3 frames" in res.stdout
    assert Image.open(tmp_path / "dst" / "panomasks" / "c" / "00000.png").size == (1200, 720)
    os.remove(tmp_path / "src" / "panomasks" / "b" / "00000.png")
    with pytest.raises(DatasetError, match=r"b/00000.png: mask of frame .* not found"):
        resize_vipseg_720p(str(tmp_path / "src"), str(tmp_path / "dst2"), workers=1, progress=False)
    with pytest.raises(DatasetError, match="VIPSeg frame folder not found"):
        resize_vipseg_720p(str(tmp_path / "nothing"), str(tmp_path / "dst3"), workers=1)
    Image.fromarray(np.zeros((10, 10), np.uint16)).save(
        tmp_path / "src" / "panomasks" / "b" / "00000.png"
    )
    with pytest.raises(DatasetError, match=r"mask size \[10, 10\] disagrees"):
        resize_vipseg_720p(str(tmp_path / "src"), str(tmp_path / "dst4"), workers=1, progress=False)


def test_split_vipseg_json_per_split_list(tmp_path):
    """One JSON with every video -> one loadable JSON per split list (test: no annotations)."""
    js, img, pan = fx.write_vipseg(str(tmp_path))
    data = json.load(open(js))
    test_video = {
        "video_id": "t1",
        "images": [{"file_name": "000.png", "id": "t1_0", "height": fx.H, "width": fx.W}],
    }
    data["videos"].append(test_video)
    fx.write_json(js, data)
    fx.write_jpg(os.path.join(img, "t1", "000.jpg"))
    (tmp_path / "train.txt").write_text("v1\n")
    (tmp_path / "test.txt").write_text("t1\n")
    split_args = ("--json", js, "--split-dir", str(tmp_path), "--dst", str(tmp_path / "out"))
    res = _run(SPLIT_CLI, *split_args, "--splits", "train", "test")
    assert res.returncode == 0, res.stderr
    train = load_vipseg_json(str(tmp_path / "out" / "panoptic_gt_VIPSeg_train.json"), img, pan)
    assert [v["video_id"] for v in train] == ["v1"] and len(train[0]["segments_infos"]) == 2
    test = json.load(open(tmp_path / "out" / "panoptic_gt_VIPSeg_test.json"))
    assert "annotations" not in test and [v["video_id"] for v in test["videos"]] == ["t1"]
    assert test["categories"] == fx.PAN_CATEGORIES
    (tmp_path / "val.txt").write_text("v1\nv9\n")
    res = _run(SPLIT_CLI, *split_args, "--splits", "val")
    assert (
        res.returncode == 2 and "1 videos of val.txt are not in the JSON (first: v9)" in res.stderr
    )
