"""Synthetic generator: round trip through the loaders, exact labels, scene properties,
determinism, and on-first-use generation through the catalog."""

from __future__ import annotations

import filecmp
import json
import os

import numpy as np
import pytest
from pycocotools import mask as mask_util

from videomt.data import (
    DatasetCatalog,
    DatasetError,
    MetadataCatalog,
    load_coco_pseudo_json,
    load_vipseg_json,
    load_vspw,
    load_ytvis_json,
    read_image_rgb,
    read_panoptic_ids,
    read_semantic_png,
)
from videomt.data.metadata import things_first_metadata
from videomt.data.synthetic import (
    SYNTHETIC_COCO_TO_TARGET,
    SYNTHETIC_PANOPTIC_CATEGORIES,
    SYNTHETIC_THING_CLASSES,
    ensure_synthetic,
    generate_coco,
    generate_vis,
    generate_vps,
    generate_vss,
)
from videomt.data.synthetic_scene import make_scene, rasterize

N, T, H, W = 6, 6, 64, 80

# pycocotools + numpy 2 emit a DeprecationWarning on every decode; not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _decode(segm, h, w):
    if isinstance(segm, list):
        return mask_util.decode(mask_util.merge(mask_util.frPyObjects(segm, h, w))).astype(bool)
    rle = mask_util.frPyObjects(segm, h, w) if isinstance(segm["counts"], list) else segm
    return mask_util.decode(rle).astype(bool)


def _all_files(root):
    return sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
    )


def test_vis_round_trip_exact_masks(tmp_path):
    js = generate_vis(str(tmp_path), N, T, H, W, seed=3)
    dicts = load_ytvis_json(js, str(tmp_path / "JPEGImages"))
    assert len(dicts) == N
    for v, d in enumerate(dicts):
        assert d["length"] == T and (d["height"], d["width"]) == (H, W)
        scene = make_scene(3, v, H, W, T)
        for t in range(T):
            r = scene.render(t)
            got = {o["id"]: o for o in d["annotations"][t]}
            visible = [k for k in range(len(scene.tracks)) if (r["inst"] == k + 1).any()]
            assert len(got) == len(visible)  # absent objects are not listed
            # masks of the frame, as a set of (class, mask bytes), equal the geometry's
            want = sorted((scene.tracks[k].cls, (r["inst"] == k + 1).tobytes()) for k in visible)
            have = sorted(
                (o["category_id"], _decode(o["segmentation"], H, W).tobytes()) for o in got.values()
            )
            assert want == have
            x, y, bw, bh = next(iter(got.values()))["bbox"] if got else (0, 0, 1, 1)
            assert bw > 0 and bh > 0
        # the JPEG frame is the rendered image (lossy)
        img = read_image_rgb(d["file_names"][0])
        assert np.abs(img.astype(int) - scene.render(0)["image"].astype(int)).mean() < 8


def test_vis_track_ids_consistent_and_classes_exposed(tmp_path):
    js = generate_vis(str(tmp_path), N, T, H, W, seed=1)
    data = json.load(open(js))
    assert [c["name"] for c in data["categories"]] == list(SYNTHETIC_THING_CLASSES)
    assert MetadataCatalog.get("synthetic_vis_train").thing_classes == list(SYNTHETIC_THING_CLASSES)
    d = load_ytvis_json(js, str(tmp_path / "JPEGImages"))
    for vid in d:
        cls_of = {}
        for frame in vid["annotations"]:
            for o in frame:
                assert cls_of.setdefault(o["id"], o["category_id"]) == o["category_id"]


def test_scene_properties_enter_leave_occlude_scale(tmp_path):
    absent_inside = occluded = scaled = entered_late = 0
    classes = set()
    for v in range(24):
        scene = make_scene(0, v, 96, 128, 10)
        for k, tr in enumerate(scene.tracks):
            classes.add(tr.cls)
            vis = [(scene.render(t)["inst"] == k + 1).sum() for t in range(10)]
            if any(a == 0 for a in vis) and any(a > 0 for a in vis):
                absent_inside += 1
            if tr.start > 0:
                entered_late += 1
            if abs(tr.scale_rate) > 0.03:
                scaled += 1
        for t in range(10):
            r = scene.render(t)
            for k, tr in enumerate(scene.tracks):
                poly = tr.polygon(t)
                if (
                    poly is None
                    or poly.min() < 0
                    or poly[:, 0].max() >= 128
                    or (poly[:, 1].max() >= 96)
                ):
                    continue
                full = rasterize(poly, 96, 128)
                if 0 < (r["inst"] == k + 1).sum() < full.sum():
                    occluded += 1
    assert absent_inside > 0 and entered_late > 0 and occluded > 0 and scaled > 0
    assert classes == set(range(len(SYNTHETIC_THING_CLASSES)))


def test_vps_round_trip(tmp_path):
    js = generate_vps(str(tmp_path), N, T, H, W, seed=5)
    dicts = load_vipseg_json(js, str(tmp_path / "images"), str(tmp_path / "panomasksRGB"))
    meta = things_first_metadata(SYNTHETIC_PANOPTIC_CATEGORIES)
    nt = meta["num_things"]
    assert nt == len(SYNTHETIC_THING_CLASSES)
    assert meta["stuff_classes"][nt:] == ["sky", "ground", "wall"]
    void_seen = False
    for v, d in enumerate(dicts):
        scene = make_scene(5, v, H, W, T, with_stuff=True)
        track_sid: dict[int, int] = {}
        for t in range(T):
            ids = read_panoptic_ids(d["pan_seg_file_names"][t])
            segs = {s["id"]: s for s in d["segments_infos"][t]}
            assert set(np.unique(ids)) - {0} == set(segs)
            void_seen |= bool((ids == 0).any())
            r = scene.render(t)
            for k, tr in enumerate(scene.tracks):
                m = r["inst"] == k + 1
                if m.any():
                    sid = int(np.unique(ids[m])[0])
                    assert (ids[m] == sid).all() and ((ids == sid) == m).all()
                    assert segs[sid]["isthing"] and segs[sid]["category_id"] == tr.cls
                    assert track_sid.setdefault(k, sid) == sid  # same id in every frame
            for s in segs.values():
                assert s["isthing"] == (s["category_id"] < nt)
        assert d["video_id"] == f"vid_{v:04d}"
    assert void_seen


def test_vss_round_trip(tmp_path):
    split = generate_vss(str(tmp_path), N, T, H, W, seed=2, split="val")
    dicts = load_vspw(str(tmp_path / "data"), split)
    meta = things_first_metadata(SYNTHETIC_PANOPTIC_CATEGORIES)
    lut = meta["raw_value_to_contiguous"]
    raw_of = {c["name"]: c["id"] for c in SYNTHETIC_PANOPTIC_CATEGORIES}
    for v, d in enumerate(dicts):
        scene = make_scene(2, v, H, W, T, with_stuff=True)
        for t in range(T):
            sem = read_semantic_png(d["sem_seg_file_names"][t])
            r = scene.render(t)
            assert ((sem == 0) == ((r["stuff"] < 0) & (r["inst"] == 0))).all()
            for k, tr in enumerate(scene.tracks):
                m = r["inst"] == k + 1
                assert (sem[m] == raw_of[SYNTHETIC_THING_CLASSES[tr.cls]] + 1).all()
                assert (lut[sem[m]] == tr.cls).all()  # raw -> things-first contiguous
            sky = (r["stuff"] == 0) & (r["inst"] == 0)
            assert (lut[sem[sky]] == meta["stuff_classes"].index("sky")).all()


def test_coco_round_trip_and_unmapped_category(tmp_path, caplog):
    js = generate_coco(str(tmp_path), 20, H, W, seed=0)
    raw = json.load(open(js))
    n_unmapped = sum(a["category_id"] not in SYNTHETIC_COCO_TO_TARGET for a in raw["annotations"])
    assert n_unmapped > 0 and any(isinstance(a["segmentation"], list) for a in raw["annotations"])
    contig = {c: t - 1 for c, t in SYNTHETIC_COCO_TO_TARGET.items()}
    with caplog.at_level("INFO"):
        dicts = load_coco_pseudo_json(js, str(tmp_path / "images"), contig)
    assert f"dropped {n_unmapped} annotations" in caplog.text
    for i, d in enumerate(dicts):
        scene = make_scene(0, i, H, W, 1, num_classes=len(SYNTHETIC_THING_CLASSES) + 1)
        r = scene.render(0)
        for a in d["annotations"]:
            m = _decode(a["segmentation"], H, W)
            k = int(np.bincount(r["inst"][m]).argmax()) - 1
            assert scene.tracks[k].cls == a["category_id"]
            assert (m == (r["inst"] == k + 1)).all()  # polygons and RLEs are exact


@pytest.mark.parametrize(
    "gen, args",
    [
        (generate_vis, {}),
        (generate_vps, {}),
        (generate_vss, {"split": "train"}),
        (generate_coco, {}),
    ],
)
def test_deterministic_by_seed(tmp_path, gen, args):
    sizes = dict(height=H, width=W, seed=7, **args)
    if gen is generate_coco:
        sizes["num_images"] = 4
    else:
        sizes.update(num_videos=3, num_frames=4)
    gen(str(tmp_path / "a"), **sizes)
    gen(str(tmp_path / "b"), **sizes)
    files = _all_files(tmp_path / "a")
    assert files == _all_files(tmp_path / "b") and len(files) > 4
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", files, shallow=False)
    assert not mismatch and not errors
    sizes["seed"] = 8
    gen(str(tmp_path / "c"), **sizes)
    _, mismatch, _ = filecmp.cmpfiles(tmp_path / "a", tmp_path / "c", files, shallow=False)
    assert mismatch


def test_generated_on_first_use_through_catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    folder = tmp_path / "synthetic" / "synthetic_vss_val"
    assert not folder.exists()
    dicts = DatasetCatalog.get("synthetic_vss_val")
    assert folder.is_dir() and len(dicts) == 6 and "sem_seg_file_names" in dicts[0]
    marker = folder / "GENERATED.json"
    mtime = marker.stat().st_mtime_ns
    assert len(DatasetCatalog.get("synthetic_vss_val")) == 6
    assert marker.stat().st_mtime_ns == mtime  # not regenerated
    meta = MetadataCatalog.get("synthetic_vss_val")
    assert meta.split_file == str(folder / "val.txt") and meta.evaluator_type == "vss"
    assert not [p for p in os.listdir(tmp_path / "synthetic") if p.startswith(".")]
    # registered COCO pseudo set with its unmapped category
    coco = DatasetCatalog.get("synthetic_coco_train")
    assert len(coco) == 64 and MetadataCatalog.get("synthetic_coco_train").coco_to_target


def test_incomplete_synthetic_folder_is_an_error(tmp_path):
    (tmp_path / "synthetic" / "synthetic_vis_val").mkdir(parents=True)
    with pytest.raises(DatasetError, match="not a complete synthetic dataset"):
        ensure_synthetic("synthetic_vis_val", root=str(tmp_path))
