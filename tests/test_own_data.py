"""Own data with no code: a YouTube-VIS JSON named by path trains in one command; the class count
comes from its categories and a checkpoint's class head of another size is re-initialised."""

import importlib.util
import json
import os

import pytest
import torch
from train_fixtures import QUICKSTART, ROOT, overrides, run_cli, tiny_cfg


def load_tool(name: str):
    """A script of tools/ as a module."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_own_dataset(tmp_path, num_classes=3, drop_categories=False):
    """``own/train.json`` + ``own/train/JPEGImages`` (YouTube-VIS layout) from the synthetic
    validation videos, their 5 classes folded into ``num_classes`` new ones."""
    from videomt.data.synthetic import ensure_synthetic

    folder = ensure_synthetic("synthetic_vis_val", str(tmp_path / "datasets"))
    gt = json.loads(open(os.path.join(folder, "annotations.json")).read())
    for a in gt["annotations"]:
        a["category_id"] = (a["category_id"] - 1) % num_classes + 1
    gt["categories"] = [{"id": i + 1, "name": f"thing{i}"} for i in range(num_classes)]
    if drop_categories:
        gt.pop("categories")
    own = tmp_path / "own"
    (own / "train").mkdir(parents=True)
    os.symlink(os.path.join(folder, "JPEGImages"), own / "train" / "JPEGImages")
    (own / "train.json").write_text(json.dumps(gt))
    return str(own / "train.json")


def test_config_follows_the_training_json(tmp_path):
    from videomt.engine.own_data import fit_config_to_training_data

    js = write_own_dataset(tmp_path)
    two_sets = {"DATASETS.DATASET_RATIO": "[1.0, 1.0]", "DATASETS.DATASET_TYPE": "['a', 'b']"}
    cfg = tiny_cfg(tmp_path / "o", **{"DATASETS.TRAIN": f"('{js}',)"}, **two_sets)
    fitted = fit_config_to_training_data(cfg)
    assert fitted.MODEL.BACKBONE.NUM_CLASSES == 3 and cfg.MODEL.BACKBONE.NUM_CLASSES == 5
    assert fitted.DATASETS.DATASET_RATIO == [1.0]
    assert fitted.DATASETS.DATASET_TYPE == ["video_instance"]
    # a built-in set keeps its class count and lists
    same = fit_config_to_training_data(tiny_cfg(tmp_path / "o"))
    assert same.MODEL.BACKBONE.NUM_CLASSES == 5


def test_json_without_categories_and_missing_frames_are_one_line(tmp_path):
    from videomt.data.catalog import DatasetError
    from videomt.engine.own_data import fit_config_to_training_data

    js = write_own_dataset(tmp_path, drop_categories=True)
    cfg = tiny_cfg(tmp_path / "o", **{"DATASETS.TRAIN": f"('{js}',)"})
    with pytest.raises(DatasetError, match=r"train\.json: no categories"):
        fit_config_to_training_data(cfg)
    lonely = tmp_path / "elsewhere" / "val.json"
    lonely.parent.mkdir()
    lonely.write_text("{}")
    cfg = tiny_cfg(tmp_path / "o", **{"DATASETS.TRAIN": f"('{lonely}',)"})
    with pytest.raises(DatasetError, match="no frame folder at .*val/JPEGImages or"):
        fit_config_to_training_data(cfg)


def test_own_dataset_trains_in_one_command(tmp_path):
    from videomt.engine.trainer import Trainer

    published = tmp_path / "published.pth"  # a model of the synthetic set's 5 classes
    torch.save({"model": Trainer(tiny_cfg(tmp_path / "src")).module.state_dict()}, published)
    js = write_own_dataset(tmp_path)
    args = overrides(
        tmp_path / "o",
        **{
            "DATASETS.TRAIN": f"('{js}',)",
            "MODEL.WEIGHTS": str(published),
            "SOLVER.MAX_ITER": 3,
            "SOLVER.WARMUP_STEPS": "[1, 1]",
        },
    )
    proc = run_cli(["--config-file", QUICKSTART, *args], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "NUM_CLASSES: 5 -> 3, the classes of the training data (thing0, thing1, thing2)" in (
        proc.stdout
    )
    assert "Class head re-initialised: " in proc.stdout and "for 5 classes, the model 3" in (
        proc.stdout
    )
    assert "NUM_CLASSES: 3" in (tmp_path / "o" / "config.yaml").read_text()
    state = torch.load(tmp_path / "o" / "model_final.pth", weights_only=True)["model"]
    assert state["core.class_head.weight"].shape[0] == 4


def test_dataset_browser_draws_augmented_ground_truth(tmp_path, monkeypatch):
    """tools/visualize_data.py: one PNG folder per training clip; inside each object's mask the
    frame is blended half-way with the object's colour, on the mapper's augmented frames."""
    import numpy as np
    from PIL import Image

    from videomt.config import load_config
    from videomt.data.build import build_train_loader
    from videomt.inference.visualize import track_colour

    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "datasets"))
    opts = overrides(tmp_path / "o", **{"INPUT.MIN_SIZE_TRAIN": "(96,)"})
    out = tmp_path / "browse"
    tool = load_tool("visualize_data")
    assert tool.main(["--config-file", QUICKSTART, "--output", str(out), "--num-clips", "3",
                      "--format", "png", *opts]) == 0  # fmt: skip
    folders = sorted(os.listdir(out))
    assert len(folders) == 3 and all(f.startswith("clip_00") for f in folders)
    clip = next(iter(build_train_loader(load_config(QUICKSTART, opts))))[0]
    frames = sorted(os.listdir(out / folders[0]))
    assert frames == ["00000.png", "00001.png"]  # INPUT.SAMPLING_FRAME_NUM frames
    drawn = np.asarray(Image.open(out / folders[0] / frames[0]), dtype=np.float32)
    image = clip["image"][0].permute(1, 2, 0).numpy().astype(np.float32)
    assert drawn.shape == image.shape  # the augmented size, not the dataset's
    masks = clip["instances"]["masks"][:, 0].numpy()
    n = int(masks.sum(axis=(1, 2)).argmax())
    expected = (image + np.asarray(track_colour(n), np.float32)) / 2
    error = np.abs(drawn - expected).max(axis=-1)[masks[n]]
    assert np.median(error) <= 1.0
