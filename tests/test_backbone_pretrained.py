"""Pretrained backbone paths, exercised with local files instead of downloads."""

import os
import subprocess
import sys

import pytest
import timm
import torch

from tests.model_fixtures import small_cfg
from videomt import build_model
from videomt.checkpoint import CheckpointError, load_backbone_weights, timm_dinov3_to_hf
from videomt.modeling.backbone import BackboneError, create_encoder, resolve_timm_name


def test_local_dinov2_file_is_resampled_to_patch16(tmp_path):
    torch.manual_seed(0)
    src = timm.create_model(
        "vit_small_patch14_reg4_dinov2", pretrained=False, depth=2, img_size=126
    )
    path = tmp_path / "dinov2_s.pth"
    torch.save(src.state_dict(), path)  # the native 14x14 kernel / 9x9 position layout
    enc = create_encoder("vit_small_patch14_reg4_dinov2", img_size=64, depth=2)
    load_backbone_weights(enc, str(path))
    assert enc.patch_embed.proj.weight.shape == (384, 3, 16, 16)
    assert enc.pos_embed.shape == (1, 16, 384)  # (64/16)^2 positions
    assert torch.equal(enc.blocks[1].mlp.fc1.weight, src.blocks[1].mlp.fc1.weight)
    assert torch.equal(enc.reg_token, src.reg_token)
    assert not torch.equal(enc.patch_embed.proj.weight[:, :, :14, :14], torch.zeros(384, 3, 14, 14))


def test_pretrained_file_from_the_config_loads_into_the_encoder(tmp_path):
    torch.manual_seed(0)
    src = timm.create_model("vit_small_patch14_reg4_dinov2", pretrained=False, depth=3)
    path = tmp_path / "dinov2_s.pth"
    torch.save(src.state_dict(), path)
    cfg = small_cfg(
        **{
            "MODEL.BACKBONE.DEPTH": 3,
            "MODEL.BACKBONE.SEGMENTER_BLOCKS": [1, 2],
            "MODEL.BACKBONE.PRETRAINED": str(path),
        }
    )
    encoder = build_model(cfg).core.encoder
    assert torch.equal(encoder.blocks[2].attn.qkv.weight, src.blocks[2].attn.qkv.weight)
    cfg.MODEL.BACKBONE.PRETRAINED = str(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match=r"missing\.pth: checkpoint not found"):
        build_model(cfg)


def test_local_hf_dinov3_file(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    src = create_encoder("vit_small_patch16_dinov3_qkvb", img_size=64, depth=2)
    path = tmp_path / "model.safetensors"
    save_file(
        {k: v.contiguous() for k, v in timm_dinov3_to_hf(src.state_dict()).items()}, str(path)
    )
    enc = create_encoder("facebook/dinov3-vits16-pretrain-lvd1689m", img_size=64, depth=2)
    load_backbone_weights(enc, str(path))
    for k, v in src.state_dict().items():
        assert torch.equal(enc.state_dict()[k], v), k


def test_timm_pretrained_goes_through_timm(monkeypatch):
    calls = {}

    def fake_create(name, pretrained=False, **kwargs):
        calls["args"] = (name, pretrained, kwargs["patch_size"], kwargs["img_size"])
        raise RuntimeError("network disabled in tests")

    monkeypatch.setattr(timm, "create_model", fake_create)
    with pytest.raises(RuntimeError, match="network disabled"):
        create_encoder("vit_base_patch14_reg4_dinov2", img_size=640, pretrained="timm")
    assert calls["args"] == ("vit_base_patch14_reg4_dinov2", True, 16, 640)


def test_timm_download_that_fails_is_one_line_naming_the_offline_way(tmp_path):
    """timm's real download path with the hub offline and an empty cache (no network is used):
    a one-line BackboneError that says how to give the weights as a file, not huggingface_hub's
    traceback."""
    code = (
        "from videomt.modeling.backbone import BackboneError, create_encoder\n"
        "try:\n"
        "    create_encoder('vit_small_patch14_reg4_dinov2', depth=1, pretrained='timm')\n"
        "except BackboneError as e:\n"
        "    print('BackboneError:', e)\n"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "TORCH_HOME": str(tmp_path / "torch"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.strip()
    assert out.startswith("BackboneError: pretrained 'timm': the weights of "), out
    assert "could not be downloaded" in out and "MODEL.BACKBONE.PRETRAINED <path>" in out, out
    assert "\n" not in out


def test_names_and_errors(tmp_path):
    assert (
        resolve_timm_name("facebook/dinov3-vitl16-pretrain-lvd1689m")
        == "vit_large_patch16_dinov3_qkvb"
    )
    with pytest.raises(BackboneError, match="unknown timm model 'vit_smol"):
        resolve_timm_name("vit_smol_patch14_reg4_dinov2")
    encoder = create_encoder("vit_small_patch14_reg4_dinov2", depth=1)
    with pytest.raises(CheckpointError, match=r"none\.pth: checkpoint not found"):
        load_backbone_weights(encoder, str(tmp_path / "none.pth"))
    with pytest.raises(BackboneError, match="none.pth"):  # a file is not create_encoder's
        create_encoder("vit_small_patch14_reg4_dinov2", pretrained=str(tmp_path / "none.pth"))
