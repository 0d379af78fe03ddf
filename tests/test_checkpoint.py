"""Checkpoint layouts, conversion round trips, refusal of code-carrying pickles, mismatch errors."""

import os
import pickle
import subprocess
import sys

import pytest
import torch
from model_fixtures import IMG, NUM_CLASSES, NUM_QUERIES, hf_videomt, perturb_, small_cfg

from videomt import build_model, load_checkpoint, load_config
from videomt.checkpoint import (
    CheckpointError,
    convert_to_hf,
    convert_to_videomt,
    detect_layout,
    hf_to_videomt,
    read_state_dict,
    resolve_weights,
    to_videomt_layout,
    videomt_to_hf,
    videomt_to_official,
)
from videomt.config import default_device

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return perturb_(build_model(small_cfg()).eval())


def assert_same_tensors(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_round_trip_ours_hf_ours(model):
    core = model.core.state_dict()
    back = hf_to_videomt(videomt_to_hf(dict(core)))
    assert_same_tensors(back, core)


def test_round_trip_official_to_ours(model, tmp_path):
    ours = {k: v for k, v in model.state_dict().items()}
    official = videomt_to_official(ours, num_query_blocks=3)
    assert "backbone.encoder.backbone.blocks.0.attn.qkv.weight" in official
    assert official["backbone.attn_mask_probs"].tolist() == [1.0, 1.0, 1.0]
    path = tmp_path / "official.pth"
    torch.save({"model": official, "iteration": 10}, path)
    state = read_state_dict(str(path))
    assert detect_layout(state) == "official"
    assert_same_tensors(to_videomt_layout(state), ours)


def test_official_checkpoint_loads_through_load_checkpoint(model, tmp_path):
    path = tmp_path / "yt_2019_vit_small.pth"
    official = videomt_to_official(model.state_dict(), num_query_blocks=3)
    official["criterion.empty_weight"] = torch.ones(NUM_CLASSES + 1)
    torch.save({"model": official}, path)
    fresh = build_model(small_cfg())
    info = load_checkpoint(fresh, str(path))
    assert info["layout"] == "official"
    assert_same_tensors(fresh.state_dict(), model.state_dict())


def test_hf_directory_matches_hf_model(tmp_path):
    hf = hf_videomt()
    hf.save_pretrained(tmp_path / "hf")
    ours = build_model(small_cfg()).eval()
    assert load_checkpoint(ours, str(tmp_path / "hf"))["layout"] == "hf"
    video = torch.randn(1, 3, 3, IMG, IMG)
    with torch.no_grad():
        ref = hf(pixel_values_videos=video).class_queries_logits
        got = ours.core(video)["pred_logits"][0]
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=0)


def test_convert_to_videomt_writes_complete_config(tmp_path):
    hf = hf_videomt()
    hf.save_pretrained(tmp_path / "hf")
    weights, config = convert_to_videomt(str(tmp_path / "hf"), str(tmp_path / "ours"))
    assert "DEVICE" not in open(config).read()  # left to the machine that runs it
    cfg = load_config(config)
    assert cfg.MODEL.DEVICE == default_device()
    assert cfg.MODEL.BACKBONE.NUM_CLASSES == NUM_CLASSES
    assert cfg.MODEL.BACKBONE.NUM_OBJECT_QUERIES == NUM_QUERIES
    assert list(cfg.MODEL.BACKBONE.SEGMENTER_BLOCKS) == [9, 10, 11]
    assert cfg.MODEL.BACKBONE.IMG_SIZE == IMG
    model = build_model(cfg).eval()
    load_checkpoint(model, weights)
    video = torch.randn(1, 3, 3, IMG, IMG)
    with torch.no_grad():
        torch.testing.assert_close(
            model.core(video)["pred_masks"][0],
            hf(pixel_values_videos=video).masks_queries_logits,
            atol=1e-4,
            rtol=0,
        )


def test_convert_to_hf_loads_in_transformers(model, tmp_path):
    from transformers import VideomtForUniversalSegmentation

    path = tmp_path / "model.pth"
    torch.save({"model": model.state_dict()}, path)
    # our layout carries no block count: go through the official layout, which does
    official = tmp_path / "official.pth"
    torch.save({"model": videomt_to_official(model.state_dict(), 3)}, official)
    convert_to_hf(
        str(official), str(tmp_path / "hf"), class_names=[f"c{i}" for i in range(NUM_CLASSES)]
    )
    hf = VideomtForUniversalSegmentation.from_pretrained(tmp_path / "hf").eval()
    assert hf.config.id2label[2] == "c2"
    video = torch.randn(1, 3, 3, IMG, IMG)
    with torch.no_grad():
        torch.testing.assert_close(
            hf(pixel_values_videos=video).class_queries_logits,
            model.core(video)["pred_logits"][0],
            atol=1e-4,
            rtol=0,
        )


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_malicious_pickle_is_refused_and_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"model": {"w": _RunsCode()}}, f)
    with pytest.raises(CheckpointError, match="refused to load"):
        read_state_dict(str(path))
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_shape_mismatch_lists_keys_and_shapes(model, tmp_path):
    path = tmp_path / "m.pth"
    torch.save({"model": model.state_dict()}, path)
    other = build_model(small_cfg(**{"MODEL.BACKBONE.NUM_CLASSES": 7}))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(other, str(path))
    msg = str(e.value)
    assert "core.class_head.weight: checkpoint (6, 384) vs model (8, 384)" in msg
    assert "core.class_head.bias: checkpoint (6,) vs model (8,)" in msg
    assert "\n" not in msg
    info = load_checkpoint(
        other, str(path), skip_class_head=True
    )  # fine-tuning on another label set
    assert "core.class_head.weight" in info["ignored"]
    assert torch.equal(other.core.q.weight, model.core.q.weight)


def test_missing_and_unexpected_keys_are_listed(model, tmp_path):
    state = dict(model.state_dict())
    state.pop("core.query_updater.bias")
    state["core.extra.weight"] = torch.zeros(2)
    path = tmp_path / "m.pth"
    torch.save(state, path)  # a bare state dict is accepted too
    with pytest.raises(CheckpointError, match=r"core\.extra\.weight.*core\.query_updater\.bias"):
        load_checkpoint(build_model(small_cfg()), str(path))


def test_unreadable_and_foreign_files(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pth"):
        read_state_dict(str(bad))
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(str(tmp_path / "missing.pth"))
    foreign = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, foreign)
    with pytest.raises(CheckpointError, match="unrecognised checkpoint layout"):
        load_checkpoint(build_model(small_cfg()), str(foreign))


def _write_zip(path):
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("weights/readme.txt", "not tensors")


def _truncated_checkpoint(path):
    torch.save({"model": {"w": torch.zeros(100)}}, path)
    path.write_bytes(path.read_bytes()[:300])


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda p: p.write_bytes(b""), "is empty (0 bytes), not a checkpoint"),
        (
            lambda p: p.write_text("<!DOCTYPE html>\n<html><body>403 Forbidden</body></html>"),
            "is an HTML page",
        ),
        (lambda p: p.write_text("model: weights\n"), "is a text file, not a checkpoint"),
        (_write_zip, "is a zip archive but not a PyTorch checkpoint"),
        (_truncated_checkpoint, "not a readable PyTorch checkpoint (truncated or corrupted?)"),
        (
            lambda p: pickle.dump({"model": {"w": object}}, open(p, "wb"), protocol=2),
            "refused to load: it holds pickled Python objects (object) besides tensors",
        ),
        (
            lambda p: pickle.dump({"model": {"w": 1}}, open(p, "wb"), protocol=4),
            "or was written by plain pickle",
        ),
    ],
)
def test_wrong_files_named_in_one_line(tmp_path, make, says):
    path = tmp_path / "model.pth"
    make(path)
    with pytest.raises(CheckpointError) as e:
        read_state_dict(str(path))
    assert (
        str(e.value).startswith(f"{path}: ") and says in str(e.value) and "\n" not in str(e.value)
    )


def test_weights_from_a_url_are_downloaded_to_the_cache(model, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEOMT_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "published.pth"
    torch.save({"model": model.state_dict()}, src)
    url = src.as_uri()  # file://...: the download path without a network
    local = resolve_weights(url)
    assert local == str(tmp_path / "cache" / "checkpoints" / "published.pth")
    fresh = build_model(small_cfg())
    load_checkpoint(fresh, url)
    assert torch.equal(fresh.core.q.weight, model.core.q.weight)
    with pytest.raises(CheckpointError, match=r"missing\.pth: download failed"):
        resolve_weights((tmp_path / "missing.pth").as_uri())


def test_weights_from_an_hf_hub_id(tmp_path, monkeypatch):
    import huggingface_hub

    hf_videomt().save_pretrained(tmp_path / "snapshot")
    calls = []

    def fake_download(repo_id, revision=None, **kw):
        calls.append((repo_id, revision))
        return str(tmp_path / "snapshot")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    monkeypatch.chdir(tmp_path)
    assert detect_layout(read_state_dict("tue-mps/videomt-test")) == "hf"
    assert resolve_weights("hf://tue-mps/videomt-test@v1") == str(tmp_path / "snapshot")
    assert calls == [("tue-mps/videomt-test", None), ("tue-mps/videomt-test", "v1")]
    assert resolve_weights("local/model.pth") == "local/model.pth"  # a file name: local (not found)
    os.makedirs(tmp_path / "org" / "name")
    assert resolve_weights("org/name") == "org/name"  # an existing folder is local
    assert len(calls) == 2


def convert_cli(src, dst, *options):
    """tools/convert_checkpoint.py run as a user runs it."""
    script = os.path.join(ROOT, "tools", "convert_checkpoint.py")
    return subprocess.run(
        [sys.executable, script, "--src", str(src), "--dst", str(dst), *options],
        capture_output=True,
        text=True,
    )


def test_convert_cli_errors_are_one_line(tmp_path):
    config = ("--config", os.path.join(ROOT, "configs", "ytvis19", "videomt_dinov2_small.yaml"))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    proc = convert_cli(bad, tmp_path / "out", *config)
    assert proc.returncode != 0
    assert proc.stderr.startswith("error: ") and "bad.pth" in proc.stderr
    assert "Traceback" not in proc.stderr
    bad.write_bytes(b"")
    proc = convert_cli(bad, tmp_path / "out", *config)
    assert proc.returncode == 2
    assert proc.stderr == f"error: {bad}: is empty (0 bytes), not a checkpoint\n"
    # without --config the written config.yaml would carry default test sizes: refused
    proc = convert_cli(bad, tmp_path / "out")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --config is required with --to videomt")
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "out").exists()


def test_round_trip_dinov3_official_layout():
    cfg = small_cfg(
        **{
            "MODEL.BACKBONE.MODEL_NAME": "facebook/dinov3-vits16-pretrain-lvd1689m",
            "MODEL.BACKBONE.DEPTH": 3,
            "MODEL.BACKBONE.SEGMENTER_BLOCKS": [1, 2],
        }
    )
    model = perturb_(build_model(cfg))
    ours = dict(model.state_dict())
    official = videomt_to_official(ours, num_query_blocks=2, dinov3=True)
    assert "backbone.encoder.backbone.blocks.0.attention.k_proj.weight" in official
    assert (
        "backbone.encoder.backbone.blocks.0.attention.k_proj.bias" not in official
    )  # DINOv3: no k bias
    assert "backbone.encoder.backbone.patch_embed.patch_embeddings.weight" in official
    assert detect_layout(official) == "official_dinov3"
    assert_same_tensors(to_videomt_layout(official), ours)
