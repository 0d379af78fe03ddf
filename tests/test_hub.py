"""Publishing a trained model (folder + model card), pushing it to a mocked Hugging Face hub and
loading it back with VideoPredictor.from_pretrained and MODEL.WEIGHTS hf://... (no network)."""

import importlib.util
import json
import os
import shutil

import numpy as np
import pytest
import torch

import videomt
from tests.model_fixtures import small_cfg
from tests.video_fixtures import moving_squares
from videomt.checkpoint import CheckpointError, read_state_dict
from videomt.data import MetadataCatalog

huggingface_hub = pytest.importorskip("huggingface_hub")
from huggingface_hub import errors as hub_errors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("publish", os.path.join(ROOT, "tools", "publish.py"))
publish = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(publish)


def tiny_cfg():
    return small_cfg(
        **{
            "MODEL.BACKBONE.DEPTH": 3,
            "MODEL.BACKBONE.SEGMENTER_BLOCKS": [1, 2],
            "MODEL.BACKBONE.TEST.MAX_NUM": 4,
            "INPUT.MIN_SIZE_TEST": 32,
            "INPUT.MAX_SIZE_TEST": 64,
            "DATASETS.TRAIN": ("synthetic_vis_train",),
            "DATASETS.TEST": ("synthetic_vis_val",),
        }
    )


@pytest.fixture
def run_dir(tmp_path):
    """A training output folder as train_net_video.py leaves it (random weights)."""
    cfg = tiny_cfg()
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(cfg.dump())
    torch.manual_seed(0)
    model = videomt.build_model(cfg)
    torch.save({"model": model.state_dict(), "iteration": 9}, run / "model_final.pth")
    lines = [
        {"iteration": 4, "total_loss": 3.0, "synthetic_vis_val/segm/AP": 10.0},
        {"iteration": 9, "total_loss": 2.0, "synthetic_vis_val/segm/AP": 12.5},
    ]
    (run / "metrics.json").write_text("\n".join(json.dumps(d) for d in lines) + "\n")
    (run / "log.txt").write_text(
        "[12/07 01:00:00 videomt]: command line: train_net_video.py --config-file my.yaml\n"
    )
    return run


class FakeHub:
    """create_repo / upload_folder / snapshot_download over a local folder per repository."""

    def __init__(self, root):
        self.root, self.downloads = root, []

    def create_repo(self, repo_id, private=False, exist_ok=False, token=None):
        (self.root / repo_id).mkdir(parents=True, exist_ok=exist_ok)
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, repo_id, folder_path, commit_message=None, token=None):
        shutil.copytree(folder_path, self.root / repo_id, dirs_exist_ok=True)

    def snapshot_download(self, repo_id, revision=None, allow_patterns=None, **kwargs):
        self.downloads.append((repo_id, list(allow_patterns or [])))
        if not (self.root / repo_id).is_dir():
            error = hub_errors.RepositoryNotFoundError.__new__(hub_errors.RepositoryNotFoundError)
            Exception.__init__(error, f"404 Client Error. Repository Not Found for url: {repo_id}")
            raise error
        return str(self.root / repo_id)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    fake = FakeHub(tmp_path / "hub")
    for name in ("create_repo", "upload_folder", "snapshot_download"):
        monkeypatch.setattr(huggingface_hub, name, getattr(fake, name))
    return fake


def test_publish_writes_folder_and_model_card(run_dir, tmp_path):
    from videomt.hub import publish_run

    out = tmp_path / "published"
    publish_run(str(run_dir), str(out), repo_id="my-org/tiny")
    assert sorted(os.listdir(out)) == [
        "README.md",
        "classes.json",
        "config.yaml",
        "model.safetensors",
    ]
    classes = json.loads((out / "classes.json").read_text())
    assert classes == list(MetadataCatalog.get("synthetic_vis_val").thing_classes)
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: videomt")
    assert "- Task: video instance segmentation (`vis`)" in card
    assert "- Classes (5): " + ", ".join(classes) in card
    assert "| synthetic_vis_val | segm/AP | 12.50 |" in card  # the last value of the run
    assert "train_net_video.py --config-file my.yaml" in card
    assert 'VideoPredictor.from_pretrained("my-org/tiny")' in card
    assert "WEIGHTS: ''" in (out / "config.yaml").read_text()


def test_publish_on_a_full_disk_keeps_the_published_weights(run_dir, tmp_path, monkeypatch):
    """Each published file is written whole or not at all: a full disk raises one error and the
    weights published before stay readable, with no temporary file left behind."""
    from videomt.checkpoint import files
    from videomt.hub import publish_run

    out = tmp_path / "published"
    publish_run(str(run_dir), str(out))
    before = (out / "model.safetensors").read_bytes()
    monkeypatch.setattr(files.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(1, 1, 0))
    with pytest.raises(CheckpointError, match="model.safetensors"):
        publish_run(str(run_dir), str(out))
    assert (out / "model.safetensors").read_bytes() == before
    assert sorted(os.listdir(out)) == [
        "README.md",
        "classes.json",
        "config.yaml",
        "model.safetensors",
    ]


def test_push_and_load_back_from_the_hub(run_dir, tmp_path, hub):
    out = tmp_path / "published"
    assert (
        publish.main(["--run-dir", str(run_dir), "--output", str(out), "--push", "org/tiny"]) == 0
    )
    assert (tmp_path / "hub" / "org" / "tiny" / "model.safetensors").is_file()
    frames = moving_squares(num_frames=4)
    reference = videomt.VideoPredictor(tiny_cfg(), str(run_dir / "model_final.pth"), device="cpu")
    expected = list(reference(frames))
    for name in ("org/tiny", "hf://org/tiny", str(out)):
        predictor = videomt.VideoPredictor.from_pretrained(name, device="cpu")
        assert predictor.class_names == reference.class_names
        for got, want in zip(predictor(frames), expected):
            assert np.array_equal(got["masks"], want["masks"])
            assert torch.equal(torch.as_tensor(got["scores"]), torch.as_tensor(want["scores"]))
    # MODEL.WEIGHTS hf://org/tiny goes through the checkpoint reader
    model = videomt.build_model(tiny_cfg())
    info = videomt.load_checkpoint(model, "hf://org/tiny")
    assert info["missing"] == []
    published = torch.load(run_dir / "model_final.pth", weights_only=True)["model"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, published[k]), k


def test_unknown_hub_id_and_bad_folders_are_one_line(tmp_path, hub):
    with pytest.raises(CheckpointError, match="org/missing: no model 'org/missing' on the Hug"):
        videomt.VideoPredictor.from_pretrained("org/missing")
    with pytest.raises(CheckpointError, match="hf://org/missing: no model 'org/missing' on the"):
        read_state_dict("hf://org/missing")  # MODEL.WEIGHTS hf://org/missing
    with pytest.raises(CheckpointError, match="no such folder, and not a Hugging Face hub id"):
        videomt.VideoPredictor.from_pretrained(str(tmp_path / "not_here"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a published VidEoMT model .no config.yaml"):
        videomt.VideoPredictor.from_pretrained(str(tmp_path / "empty"))
    with pytest.raises(CheckpointError, match="nothing to push"):
        from videomt.hub import push_to_hub

        push_to_hub(str(tmp_path / "empty"), "org/x")
