"""Dataset faults reach the user as one line naming the file: wrong-schema JSON values, and
errors raised inside data-loader worker processes."""

import copy
import json
import os

import pytest

from videomt.data.build import build_train_loader
from videomt.data.catalog import DatasetError
from videomt.data.ytvis import load_ytvis_json


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from videomt.data.synthetic import ensure_synthetic

    folder = ensure_synthetic("synthetic_vis_val", str(tmp_path_factory.mktemp("datasets")))
    with open(os.path.join(folder, "annotations.json")) as f:
        return folder, json.load(f)


def _first_video(g):
    return g["videos"][0]


def _first_annotation(g):
    return g["annotations"][0]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda g: _first_video(g).update(file_names=[1, 2]), "'file_names' must be a list of"),
        (
            lambda g: _first_video(g).update(
                file_names=[[n] for n in _first_video(g)["file_names"]]
            ),
            "'file_names' must be a list of",
        ),
        (
            lambda g: _first_annotation(g).update(iscrowd="yes"),
            "'iscrowd' must be 0 or 1, got 'yes'",
        ),
        (lambda g: _first_annotation(g).update(iscrowd=None), "'iscrowd' must be 0 or 1, got None"),
        (
            lambda g: _first_annotation(g).update(
                bboxes=["x"] * len(_first_annotation(g)["segmentations"])
            ),
            "a bbox must be 4 numbers",
        ),
    ],
)
def test_wrong_schema_values_are_one_line_naming_the_file(synthetic, tmp_path, change, message):
    folder, gt = synthetic
    bad = copy.deepcopy(gt)
    change(bad)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(DatasetError) as e:
        load_ytvis_json(str(path), os.path.join(folder, "JPEGImages"))
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value), str(e.value)
    assert "\n" not in str(e.value)


def unreadable_frame(video: dict, rng=None) -> dict:
    """A mapper that fails as reading a damaged frame does (module level: workers import it)."""
    raise DatasetError(f"{video['file_names'][0]}: cannot decode the image (truncated file?)")


@pytest.mark.parametrize("workers", [0, 1])
def test_loader_worker_errors_keep_the_file_name(tmp_path, workers):
    from train_fixtures import tiny_cfg

    cfg = tiny_cfg(tmp_path, **{"DATALOADER.NUM_WORKERS": workers})
    video = {"file_names": ["/data/v1/00000.jpg"], "annotations": [[{"iscrowd": 0}]]}
    loader = build_train_loader(cfg, datasets=[[video]], mappers=[unreadable_frame])
    with pytest.raises(DatasetError) as e:
        next(iter(loader))
    assert str(e.value) == "/data/v1/00000.jpg: cannot decode the image (truncated file?)"
