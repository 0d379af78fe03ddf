"""Catalog, metadata, loaders of each real format, and bad-input errors."""

from __future__ import annotations

import json
import os
import time

import data_fixtures as fx
import numpy as np
import pytest
from PIL import Image
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
    register_ytvis_instances,
)
from videomt.data.catalog import UnknownDatasetError
from videomt.data.metadata import (
    COCO_TO_OVIS,
    COCO_TO_YTVIS_2019,
    COCO_TO_YTVIS_2021,
    OVIS_CLASSES,
    VIPSEG_THING_IDS,
    YTVIS_2019_CLASSES,
    YTVIS_2021_CLASSES,
)
from videomt.errors import ConfigError

# pycocotools + numpy 2 emit a DeprecationWarning on every decode; not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REFERENCE_NAMES = (
    [f"ytvis_2019_{s}" for s in ("train", "val", "test")]
    + [f"ytvis_2021_{s}" for s in ("train", "val", "test")]
    + ["ytvis_2022_val"]
    + [f"ovis_{s}" for s in ("train", "val", "test")]
    + [f"coco2{t}_{s}" for t in ("ytvis2019", "ytvis2021", "ovis") for s in ("train", "val")]
    + [f"panoVSPW_vps_video_{s}" for s in ("train", "val", "test")]
    + [f"VSPW_vss_video_{s}" for s in ("train", "val", "test")]
    + [f"synthetic_{k}_{s}" for k in ("vis", "vps", "vss") for s in ("train", "val")]
)


# ----------------------------------------------------------------------------- catalog / metadata


def test_every_reference_name_is_registered_with_metadata():
    names = set(DatasetCatalog.list())
    missing = [n for n in REFERENCE_NAMES if n not in names]
    assert not missing
    for n in REFERENCE_NAMES:
        meta = MetadataCatalog.get(n)
        assert meta.evaluator_type in ("ytvis", "vps", "vss"), n


def test_unknown_name_lists_close_names():
    with pytest.raises(UnknownDatasetError) as e:
        DatasetCatalog.get("ytvis_2019_trian")
    msg = str(e.value)
    assert "ytvis_2019_trian" in msg and "ytvis_2019_train" in msg
    assert isinstance(e.value, KeyError)


def test_register_twice_is_an_error():
    DatasetCatalog.register("_tmp_twice", lambda: [])
    try:
        with pytest.raises(DatasetError, match="already registered"):
            DatasetCatalog.register("_tmp_twice", lambda: [])
    finally:
        DatasetCatalog.remove("_tmp_twice")


def test_metadata_missing_attribute_names_dataset():
    with pytest.raises(AttributeError, match="ytvis_2019_val.*no_such_key"):
        _ = MetadataCatalog.get("ytvis_2019_val").no_such_key


def test_metadata_pickles_with_lazy_paths_resolved(tmp_path, monkeypatch):
    import pickle

    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    meta = pickle.loads(pickle.dumps(MetadataCatalog.get("panoVSPW_vps_video_val")))
    assert meta.panoptic_root == str(tmp_path / "VIPSeg" / "VIPSeg_720P" / "panomasksRGB")
    assert meta.num_things == 58 and meta.name == "panoVSPW_vps_video_val"


def test_class_lists_and_coco_mappings():
    m19, m21 = MetadataCatalog.get("ytvis_2019_train"), MetadataCatalog.get("ytvis_2021_val")
    assert m19.thing_classes == list(YTVIS_2019_CLASSES) and len(m19.thing_classes) == 40
    assert m19.thing_classes[10] == "hand" and m19.thing_classes[39] == "tennis_racket"
    assert m21.thing_classes[0] == "airplane" and m21.thing_classes[25] == "person"
    assert MetadataCatalog.get("ytvis_2022_val").thing_classes == list(YTVIS_2021_CLASSES)
    ov = MetadataCatalog.get("ovis_train")
    assert ov.thing_classes == list(OVIS_CLASSES) and ov.thing_classes[-1] == "Vehical"
    assert m19.thing_dataset_id_to_contiguous_id[1] == 0
    assert m19.thing_dataset_id_to_contiguous_id[40] == 39
    c19 = MetadataCatalog.get("coco2ytvis2019_train")
    assert c19.coco_to_target == COCO_TO_YTVIS_2019 and len(COCO_TO_YTVIS_2019) == 21
    assert c19.thing_classes == list(YTVIS_2019_CLASSES)
    # spot checks of the COCO -> target class mapping: COCO person/car/giraffe/tennis racket
    assert COCO_TO_YTVIS_2019[1] == 1 and COCO_TO_YTVIS_2019[3] == 6
    assert COCO_TO_YTVIS_2021[25] == 18 and COCO_TO_YTVIS_2021[43] == 34
    assert MetadataCatalog.get("coco2ovis_val").coco_to_target == COCO_TO_OVIS
    assert COCO_TO_OVIS[8] == 25 and len(COCO_TO_OVIS) == 17
    assert len(COCO_TO_YTVIS_2021) == 23


def test_vipseg_vspw_things_first_order():
    for name in ("panoVSPW_vps_video_val", "VSPW_vss_video_train"):
        m = MetadataCatalog.get(name)
        assert m.num_things == 58 and len(m.stuff_classes) == 124 and m.ignore_label == 255
        assert m.stuff_classes[0] == "door" and m.stuff_classes[1] == "ladder"
        assert m.stuff_classes[57] == "train" and m.stuff_classes[58] == "wall"
        assert m.stuff_classes[59] == "ceiling" and m.stuff_classes[60] == "stair"
        assert m.stuff_classes[123] == "food"
        assert m.contiguous_id_to_dataset_id[:58] == list(VIPSEG_THING_IDS)
        assert m.thing_classes == m.stuff_classes[:58]
        assert sorted(m.contiguous_id_to_dataset_id) == list(range(124))
        lut = m.raw_value_to_contiguous
        assert lut[0] == 255 and lut[255] == 255 and lut[1] == 58 and lut[3] == 0
        cats = m.categories
        assert [c["id"] for c in cats] == list(range(124))
        assert {c["id"] for c in cats if c["isthing"]} == set(VIPSEG_THING_IDS)


def test_dataset_root_read_at_load_time(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "first"))
    assert MetadataCatalog.get("ytvis_2019_val").json_file == str(
        tmp_path / "first" / "ytvis_2019" / "valid.json"
    )
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "second"))
    meta = MetadataCatalog.get("ytvis_2022_val")
    assert meta.gt_long_json == str(tmp_path / "second" / "ytvis_2022" / "gt_long.json")
    assert meta.gt_short_json.endswith("gt_short.json")
    with pytest.raises(DatasetError) as e:
        DatasetCatalog.get("ovis_val")
    assert str(tmp_path / "second" / "ovis" / "valid") in str(e.value)
    assert "ovis_val" in str(e.value) and "not found" in str(e.value)


def test_builtin_ytvis_layout_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    data = fx.ytvis_dict()
    data["categories"] = [{"id": i + 1, "name": n} for i, n in enumerate(YTVIS_2019_CLASSES)]
    js, root = fx.write_ytvis(str(tmp_path / "ytvis_2019" / "train"), data)
    os.replace(js, tmp_path / "ytvis_2019" / "train.json")
    dicts = DatasetCatalog.get("ytvis_2019_train")
    assert len(dicts) == 2
    # builtin mapping: dataset id 3 -> contiguous 2 (not the JSON-derived 1)
    assert dicts[0]["annotations"][0][0]["category_id"] == 2
    assert dicts[0]["file_names"][0] == os.path.join(root, "a/0.jpg")


# ----------------------------------------------------------------------------- format loaders


def test_ytvis_loader_output(tmp_path):
    js, root = fx.write_ytvis(str(tmp_path))
    dicts = load_ytvis_json(js, root)
    assert [d["video_id"] for d in dicts] == [7, 9]
    v = dicts[0]
    assert v["length"] == 3 and v["height"] == fx.H and v["width"] == fx.W
    assert v["file_names"] == [os.path.join(root, f"a/{i}.jpg") for i in range(3)]
    ann = v["annotations"]
    assert len(ann) == 3
    # track 100 present in frames 0 and 2, absent in 1; track 101 only in frame 1
    assert [o["id"] for o in ann[0]] == [100]
    assert [o["id"] for o in ann[1]] == [101]
    assert [o["id"] for o in ann[2]] == [100]
    # sparse category ids 1, 3 -> contiguous 0, 1
    assert ann[0][0]["category_id"] == 1 and ann[1][0]["category_id"] == 0
    o = ann[2][0]
    assert o["bbox"] == [6, 5, 14, 10] and o["bbox_mode"] == "XYWH_ABS" and o["iscrowd"] == 0
    rle = mask_util.frPyObjects(o["segmentation"], fx.H, fx.W)
    assert np.array_equal(mask_util.decode(rle).astype(bool), fx.box_mask(5, 6, 15, 20))
    assert isinstance(ann[1][0]["segmentation"], list)  # polygon kept as polygon
    crowd = dicts[1]["annotations"][1][0]
    assert crowd["iscrowd"] == 1 and isinstance(crowd["segmentation"]["counts"], str)
    assert crowd["bbox"] == [6.0, 5.0, 14.0, 10.0]  # computed from the RLE (no 'bboxes')


def test_ytvis_loader_without_annotations(tmp_path):
    data = fx.ytvis_dict()
    data["annotations"] = None
    js, root = fx.write_ytvis(str(tmp_path), data)
    dicts = load_ytvis_json(js, root)
    assert len(dicts) == 2 and all("annotations" not in d for d in dicts)


def test_register_ytvis_instances_metadata_from_json(tmp_path, monkeypatch):
    import videomt.data.ytvis as ytvis_module

    js, root = fx.write_ytvis(str(tmp_path))
    reads = []
    real_read = ytvis_module.read_json
    monkeypatch.setattr(
        ytvis_module, "read_json", lambda *a, **k: reads.append(a[0]) or real_read(*a, **k)
    )
    register_ytvis_instances("_tmp_custom", {}, js, root)
    try:
        meta = MetadataCatalog.get("_tmp_custom")
        assert reads == []
        assert meta.thing_classes == ["cat", "dog"]  # lazily read from the JSON
        assert meta.thing_dataset_id_to_contiguous_id == {1: 0, 3: 1}
        assert len(meta.thing_colors) == 2 and len(meta.categories) == 2
        assert reads == [js]  # one read for all four class keys
        assert meta.evaluator_type == "ytvis" and meta.json_file == js
        dicts = DatasetCatalog.get("_tmp_custom")
        assert dicts[0]["annotations"][0][0]["category_id"] == 1
    finally:
        DatasetCatalog.remove("_tmp_custom")
        MetadataCatalog.remove("_tmp_custom")


def test_register_ytvis_instances_with_given_classes(tmp_path):
    js, root = fx.write_ytvis(str(tmp_path))
    register_ytvis_instances(
        "_tmp_custom2",
        {"thing_classes": ["a", "b"], "thing_dataset_id_to_contiguous_id": {3: 0, 1: 1}},
        js,
        root,
    )
    try:
        d = DatasetCatalog.get("_tmp_custom2")
        assert d[0]["annotations"][0][0]["category_id"] == 0
        assert MetadataCatalog.get("_tmp_custom2").thing_classes == ["a", "b"]
    finally:
        DatasetCatalog.remove("_tmp_custom2")
        MetadataCatalog.remove("_tmp_custom2")


def test_config_only_ytvis_json_name(tmp_path):
    js, root = fx.write_ytvis(str(tmp_path))
    name = f"ytvis_json:{js}:{root}"
    assert name not in DatasetCatalog
    dicts = DatasetCatalog.get(name)
    assert len(dicts) == 2
    assert MetadataCatalog.get(name).thing_classes == ["cat", "dog"]
    with pytest.raises(DatasetError, match="ytvis_json:<path/to/file.json>:<image_root>"):
        DatasetCatalog.get("ytvis_json:no_json_here")
    # the same name written in a YAML config
    from videomt.config import load_config

    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(f'DATASETS:\n  TRAIN: ("{name}",)\n')
    cfg = load_config(str(cfg_file))
    assert cfg.DATASETS.TRAIN == (name,)
    assert len(DatasetCatalog.get(cfg.DATASETS.TRAIN[0])) == 2


def test_coco_pseudo_loader_maps_and_counts(tmp_path, caplog):
    js, root = fx.write_coco(str(tmp_path))
    contig = {c: t - 1 for c, t in COCO_TO_YTVIS_2019.items()}
    with caplog.at_level("INFO"):
        dicts = load_coco_pseudo_json(js, root, contig)
    assert "dropped 1 annotations" in caplog.text
    assert [d["image_id"] for d in dicts] == [1, 2]
    a0 = dicts[0]["annotations"]
    assert len(a0) == 1 and a0[0]["category_id"] == 0 and a0[0]["bbox_mode"] == "XYWH_ABS"
    a1 = dicts[1]["annotations"][0]
    assert a1["category_id"] == 5 and a1["iscrowd"] == 1  # COCO car 3 -> YTVIS-19 sedan 6 -> 5
    assert dicts[0]["file_name"] == os.path.join(root, "000001.jpg")


def test_builtin_coco_pseudo_uses_target_mapping(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    js, root = fx.write_coco(str(tmp_path / "coco"))
    os.replace(js, tmp_path / "coco" / "annotations" / "coco2ytvis2021_train.json")
    d = DatasetCatalog.get("coco2ytvis2021_train")
    assert d[0]["annotations"][0]["category_id"] == 25  # person -> YTVIS-21 id 26
    assert d[1]["annotations"][0]["category_id"] == 4  # car -> YTVIS-21 car id 5


def test_vipseg_loader_output(tmp_path):
    js, img, pan = fx.write_vipseg(str(tmp_path))
    dicts = load_vipseg_json(js, img, pan)
    assert len(dicts) == 1
    v = dicts[0]
    assert v["video_id"] == "v1" and v["length"] == 2
    assert v["file_names"] == [os.path.join(img, "v1", f"{t:03d}.jpg") for t in range(2)]
    assert v["pan_seg_file_names"][1] == os.path.join(pan, "v1", "001.png")
    s0 = {s["id"]: s for s in v["segments_infos"][0]}
    # things first: door 0, car 1, wall 2, sky 3
    assert s0[300]["category_id"] == 0 and s0[300]["isthing"] is True
    assert s0[70000]["category_id"] == 1 and s0[5000]["category_id"] == 2
    assert s0[7000]["category_id"] == 3 and s0[7000]["isthing"] is False
    assert 300 not in {s["id"] for s in v["segments_infos"][1]}
    assert {s["id"]: s["iscrowd"] for s in v["segments_infos"][1]}[70000] == 1
    ids = read_panoptic_ids(v["pan_seg_file_names"][0])
    assert set(np.unique(ids)) == set(s0)


def test_vipseg_real_layout_pairs_frames_by_image_id(tmp_path):
    """The fixture writes the real layout: '.png' image names for '.jpg' frames and the images
    listed in the opposite order to the annotations; pairing is by image_id, else by name."""
    js, img, pan = fx.write_vipseg(str(tmp_path))
    data = json.load(open(js))
    assert data["videos"][0]["images"][0]["file_name"] == "001.png"  # reversed, '.png'
    data["videos"][0]["images"][0]["height"] = 99  # frame 1's size: not used (frame 0 is first)
    fx.write_json(js, data)
    v = load_vipseg_json(js, img, pan)[0]
    assert v["file_names"] == [os.path.join(img, "v1", f"{t:03d}.jpg") for t in range(2)]
    assert (v["height"], v["width"]) == (fx.H, fx.W)
    for fa in data["annotations"][0]["annotations"]:
        del fa["image_id"]  # no image_id: by file name
    fx.write_json(js, data)
    assert load_vipseg_json(js, img, pan)[0]["file_names"] == v["file_names"]
    data["annotations"][0]["annotations"][1]["image_id"] = "v1_9"
    fx.write_json(js, data)
    with pytest.raises(DatasetError, match=r"video v1 frame 1: no entry with image_id 'v1_9'"):
        load_vipseg_json(js, img, pan)


def test_vipseg_loader_test_split_and_header_sizes(tmp_path):
    js, img, pan = fx.write_vipseg(str(tmp_path), with_annotations=False)
    v = load_vipseg_json(js, img, pan)[0]
    assert "pan_seg_file_names" not in v and "segments_infos" not in v and v["length"] == 2
    js, img, pan = fx.write_vipseg(str(tmp_path / "b"), with_videos=False)
    v = load_vipseg_json(js, img, pan)[0]  # height/width from the first frame's header
    assert (v["height"], v["width"]) == (fx.H, fx.W)


def test_vspw_loader_output(tmp_path):
    data, split = fx.write_vspw(str(tmp_path))
    dicts = load_vspw(data, split)
    assert [d["video_id"] for d in dicts] == ["s1", "s2"]
    v = dicts[1]
    assert v["length"] == 3 and (v["height"], v["width"]) == (fx.H, fx.W)
    assert v["file_names"][2] == os.path.join(data, "s2", "origin", "00002.jpg")
    assert v["sem_seg_file_names"][2] == os.path.join(data, "s2", "mask", "00002.png")
    sem = read_semantic_png(v["sem_seg_file_names"][0])
    assert set(np.unique(sem)) == {0, 1, 4, 255}
    data, split = fx.write_vspw(str(tmp_path / "t"), split="test", masks=False)
    assert "sem_seg_file_names" not in load_vspw(data, split, with_masks=False)[0]


def test_large_ytvis_json_loads_fast(tmp_path):
    """3000 videos x 36 frames x 2 tracks (216k per-frame RLEs); the measured time is printed.

    The 3000 videos share 30 frame folders so that the test does not create 108k files (slow on
    busy disks); the per-folder listdir check still runs for every video."""
    js, root = fx.write_large_ytvis(
        str(tmp_path), num_videos=3000, num_frames=36, tracks=2, h=72, w=128, frame_folders=30
    )
    t0 = time.perf_counter()
    dicts = load_ytvis_json(js, root)
    dt = time.perf_counter() - t0
    print(f"\nloaded 3000-video YTVIS JSON ({os.path.getsize(js) / 1e6:.0f} MB) in {dt:.2f} s")
    assert len(dicts) == 3000
    n_objs = sum(len(f) for d in dicts for f in d["annotations"])
    assert n_objs == sum(1 for v in range(3000) for t in range(2) for f in range(36) if (f + t) % 7)
    assert dicts[-1]["annotations"][1][0]["segmentation"]["size"] == [72, 128]


# ----------------------------------------------------------------------------- bad input


def test_missing_root_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "datasets"))
    with pytest.raises(DatasetError, match="image folder not found") as e:
        load_ytvis_json(str(tmp_path / "x.json"), str(tmp_path / "nope"))
    assert "DETECTRON2_DATASETS" not in str(e.value)  # a path outside the datasets root: no hint
    with pytest.raises(
        DatasetError,
        match=r"not found \(datasets are looked up under "
        r"\$DETECTRON2_DATASETS, now .*datasets\)$",
    ):
        DatasetCatalog.get("ovis_train")
    with pytest.raises(DatasetError, match="VSPW data folder not found"):
        load_vspw(str(tmp_path / "nope"), str(tmp_path / "val.txt"))


def test_missing_json(tmp_path):
    (tmp_path / "JPEGImages").mkdir()
    with pytest.raises(DatasetError, match=r"missing\.json: annotation file not found"):
        load_ytvis_json(str(tmp_path / "missing.json"), str(tmp_path / "JPEGImages"))


@pytest.mark.parametrize(
    "content, says",
    [
        (b"", "annotation file is empty (0 bytes), not JSON"),
        (
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(200)),
            "annotation file is a zip archive, not JSON",
        ),
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "annotation file is an HTML page"),
    ],
)
def test_wrong_kind_of_json_file_is_named(tmp_path, content, says):
    (tmp_path / "JPEGImages").mkdir()
    js = tmp_path / "train.json"
    js.write_bytes(content)
    with pytest.raises(DatasetError) as e:
        load_ytvis_json(str(js), str(tmp_path / "JPEGImages"))
    assert str(e.value).startswith(f"{js}: {says}") and "\n" not in str(e.value)


def test_truncated_json(tmp_path):
    js, root = fx.write_ytvis(str(tmp_path))
    text = open(js).read()
    with open(js, "w") as f:
        f.write(text[: len(text) // 2])
    with pytest.raises(DatasetError) as e:
        load_ytvis_json(js, root)
    assert js in str(e.value) and "invalid JSON" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "mutate, pattern",
    [
        (lambda d: d.pop("videos"), "not a YouTube-VIS JSON"),
        (lambda d: d["videos"][0].pop("height"), "video 7: missing or invalid 'height'"),
        (lambda d: d["annotations"][0].pop("segmentations"), "annotation 100 lacks"),
        (lambda d: d["annotations"][0].update(category_id=99), "category_id 99"),
        (
            lambda d: d["annotations"][0].update(video_id=12),
            "annotation 100 points to unknown video",
        ),
        (lambda d: d.update(categories=[{"id": 1}]), "'categories' must be a list"),
    ],
)
def test_wrong_schema(tmp_path, mutate, pattern):
    data = fx.ytvis_dict()
    mutate(data)
    js, root = fx.write_ytvis(str(tmp_path), data)
    with pytest.raises(DatasetError, match=pattern) as e:
        load_ytvis_json(js, root)
    assert js in str(e.value)


def test_missing_frame_file(tmp_path):
    js, root = fx.write_ytvis(str(tmp_path))
    os.remove(os.path.join(root, "a", "1.jpg"))
    with pytest.raises(DatasetError) as e:
        load_ytvis_json(js, root)
    assert os.path.join(root, "a", "1.jpg") in str(e.value) and "video 7" in str(e.value)


def test_annotation_pointing_past_the_last_frame(tmp_path):
    data = fx.ytvis_dict()
    data["annotations"][0]["segmentations"].append(None)
    data["annotations"][0]["bboxes"].append(None)
    js, root = fx.write_ytvis(str(tmp_path), data)
    with pytest.raises(DatasetError, match="annotation 100 of video 7: 4 segmentations"):
        load_ytvis_json(js, root)


def test_mask_size_disagrees_with_video(tmp_path):
    data = fx.ytvis_dict()
    data["annotations"][2]["segmentations"][1] = fx.rle_str(fx.box_mask(0, 0, 4, 4, 20, 30))
    js, root = fx.write_ytvis(str(tmp_path), data)
    with pytest.raises(DatasetError, match=r"annotation 200 of video 9 frame 1: mask size"):
        load_ytvis_json(js, root)


def test_empty_video(tmp_path):
    data = fx.ytvis_dict()
    data["videos"].append({"id": 11, "file_names": [], "height": fx.H, "width": fx.W})
    js, root = fx.write_ytvis(str(tmp_path), data)
    with pytest.raises(DatasetError, match="video 11 is empty"):
        load_ytvis_json(js, root)


def test_skip_bad_videos_logs_count(tmp_path, caplog):
    data = fx.ytvis_dict()
    data["videos"].append({"id": 11, "file_names": [], "height": fx.H, "width": fx.W})
    js, root = fx.write_ytvis(str(tmp_path), data)
    os.remove(os.path.join(root, "b", "0.jpg"))
    with caplog.at_level("WARNING"):
        dicts = load_ytvis_json(js, root, skip_bad_videos=True)
    assert [d["video_id"] for d in dicts] == [7]
    assert "skipped 2 of 3 videos" in caplog.text


def test_coco_bad_inputs(tmp_path):
    data = fx.coco_dict()
    data["annotations"][2]["segmentation"] = fx.rle_str(fx.box_mask(0, 0, 2, 2, 10, 10))
    js, root = fx.write_coco(str(tmp_path), data)
    with pytest.raises(DatasetError, match="annotation 3 of image 2: mask size"):
        load_coco_pseudo_json(js, root, {1: 0, 3: 1})
    os.remove(os.path.join(root, "000002.jpg"))
    with pytest.raises(
        DatasetError, match=r"instances.json: image \S*train2017/000002.jpg not found"
    ):
        load_coco_pseudo_json(js, root, {1: 0, 3: 1})


def test_coco_image_in_a_subfolder(tmp_path):
    data = fx.coco_dict()
    data["images"][1]["file_name"] = "part2/000002.jpg"
    js, root = fx.write_coco(str(tmp_path), data)
    dicts = load_coco_pseudo_json(js, root, {1: 0, 3: 1})
    assert [d["file_name"] for d in dicts] == [
        os.path.join(root, n) for n in ("000001.jpg", "part2/000002.jpg")
    ]


def test_vipseg_bad_inputs(tmp_path):
    js, img, pan = fx.write_vipseg(str(tmp_path / "a"), mask_hw=(12, 16))
    with pytest.raises(DatasetError, match=r"mask size \[12, 16\] disagrees"):
        load_vipseg_json(js, img, pan)
    js, img, pan = fx.write_vipseg(str(tmp_path / "b"))
    os.remove(os.path.join(pan, "v1", "001.png"))
    with pytest.raises(DatasetError, match="panoptic mask .*001.png not found"):
        load_vipseg_json(js, img, pan)
    data = json.load(open(js))
    data["annotations"][0]["annotations"] = []
    fx.write_json(js, data)
    with pytest.raises(DatasetError, match="video v1 is empty"):
        load_vipseg_json(js, img, pan)
    data["annotations"] = [{"video_id": "v1"}]
    fx.write_json(js, data)
    with pytest.raises(DatasetError, match=r"annotations\[0\] must be a dict"):
        load_vipseg_json(js, img, pan)


def test_vspw_bad_inputs(tmp_path):
    data, split = fx.write_vspw(str(tmp_path))
    os.remove(os.path.join(data, "s2", "mask", "00001.png"))
    with pytest.raises(
        DatasetError, match=r"video s2: semantic mask \S*s2/mask/00001.png not found"
    ):
        load_vspw(data, split)
    for n in os.listdir(os.path.join(data, "s1", "origin")):
        os.remove(os.path.join(data, "s1", "origin", n))
    with pytest.raises(DatasetError, match="video s1 is empty"):
        load_vspw(data, split)
    with open(split, "w") as f:
        f.write("s1\nunknown_video\n")
    os.rmdir(os.path.join(data, "s1", "origin"))
    with pytest.raises(DatasetError, match="frame folder of video s1 .*not found"):
        load_vspw(data, split)


def test_read_image_rgb_converts_and_errors(tmp_path):
    for mode in ("L", "RGBA", "RGB"):
        p = str(tmp_path / f"{mode}.png")
        fx.write_jpg(p, 5, 7, value=100, mode=mode)
        img = read_image_rgb(p)
        assert img.shape == (5, 7, 3) and img.dtype == np.uint8
    assert (read_image_rgb(str(tmp_path / "L.png")) == 100).all()
    assert (read_image_rgb(str(tmp_path / "RGBA.png"))[..., 0] == 100).all()
    p16 = str(tmp_path / "g16.png")
    Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16)).save(p16)
    assert (read_image_rgb(p16) == 255).all()
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="bad.jpg: unreadable image"):
        read_image_rgb(str(bad))
    with pytest.raises(DatasetError, match="none.jpg: image file not found"):
        read_image_rgb(str(tmp_path / "none.jpg"))
    with pytest.raises(DatasetError, match="must be an RGB PNG"):
        read_panoptic_ids(str(tmp_path / "L.png"))


@pytest.mark.parametrize("register", ["coco", "vipseg", "vspw", "ytvis"])
def test_register_functions_let_the_callers_metadata_win(register):
    """Metadata that repeats a key the register function sets itself overrides it (no TypeError)."""
    from videomt.data.vipseg import register_vipseg_panoptic
    from videomt.data.vspw import register_vspw_semantic
    from videomt.data.ytvis import register_coco_pseudo_instances, register_ytvis_instances

    name = f"metadata_wins_{register}"
    meta = {"ignore_label": 0, "image_root": "/elsewhere", "thing_classes": ["a"]}
    calls = {
        "coco": lambda: register_coco_pseudo_instances(name, meta, "c.json", "/imgs", {1: 0}),
        "vipseg": lambda: register_vipseg_panoptic(name, meta, "v.json", "/imgs", "/pan"),
        "vspw": lambda: register_vspw_semantic(name, meta, "/data", "/data/val.txt"),
        "ytvis": lambda: register_ytvis_instances(name, meta, "y.json", "/imgs"),
    }
    try:
        calls[register]()
        got = MetadataCatalog.get(name)
        assert (got.ignore_label, got.image_root, got.thing_classes) == (0, "/elsewhere", ["a"])
        assert name in DatasetCatalog.list()
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def test_a_newly_registered_dataset_format_loads_without_editing_a_table(tmp_path, monkeypatch):
    """A new on-disk format is one decorated loader; datasets registered in it load through it."""
    from videomt.data import DATASET_FORMATS, register_dataset

    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "list.txt").write_text("a/0.jpg a/1.jpg\nb/0.jpg\n")

    @DATASET_FORMATS.register_as("_test_frame_lists")
    def load_frame_lists(paths, name, load_arg):
        with open(paths["list_file"]) as f:
            videos = [line.split() for line in f if line.strip()]
        return [
            {"video_id": i, "file_names": frames, "length": len(frames), "tag": load_arg}
            for i, frames in enumerate(videos)
        ]

    name = "_test_frame_list_videos"
    try:
        register_dataset(
            name, "_test_frame_lists", {"list_file": "clips/list.txt"}, "x", evaluator_type="vss"
        )
        dicts = DatasetCatalog.get(name)
        assert [d["length"] for d in dicts] == [2, 1] and dicts[0]["tag"] == "x"
        assert MetadataCatalog.get(name).list_file == str(tmp_path / "clips" / "list.txt")
        with pytest.raises(ConfigError, match="unknown dataset format '_test_nope'") as e:
            register_dataset("_test_other", "_test_nope", {})
        assert "_test_other" in str(e.value) and "_test_frame_lists" in str(e.value)
    finally:
        DATASET_FORMATS._obj_map.pop("_test_frame_lists")
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
