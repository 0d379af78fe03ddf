"""Official PMT-video checkpoints: a state dict laid out key by key as the reference writes it
(DINOv2 and DINOv3 encoders) is recognised, loads strictly into our model with each tensor in
its place, and converts back to exactly the same keys, shapes and values."""

import re

import pytest
import torch
from model_fixtures import IMG, NUM_CLASSES, NUM_QUERIES, small_cfg

from videomt.checkpoint import (
    detect_layout,
    load_checkpoint,
    to_videomt_layout,
    videomt_to_official_pmt,
)
from videomt.model import build_model

C, M, DEPTH, BLOCKS = 384, 256, 4, 6


def official_decoder_keys() -> dict[str, tuple]:
    """The reference's non-encoder keys and shapes, written out from its module tree."""
    keys = {
        "backbone.encoder.pixel_mean": (1, 3, 1, 1),
        "backbone.encoder.pixel_std": (1, 3, 1, 1),
        "backbone.decoder.attn_mask_probs": (BLOCKS,),
        "backbone.decoder.q.weight": (NUM_QUERIES, C),
        "backbone.decoder.decoder_norm.weight": (C,),
        "backbone.decoder.decoder_norm.bias": (C,),
        "backbone.decoder.query_updater.weight": (C, C),
        "backbone.decoder.query_updater.bias": (C,),
        "backbone.decoder.class_head.weight": (NUM_CLASSES + 1, C),
        "backbone.decoder.class_head.bias": (NUM_CLASSES + 1,),
        "criterion.empty_weight": (NUM_CLASSES + 1,),
    }
    for level in range(4):
        for p in ("weight", "bias", "running_mean", "running_var"):
            keys[f"backbone.bn.{level}.{p}"] = (C,)
        keys[f"backbone.bn.{level}.num_batches_tracked"] = ()
        lateral = f"backbone.decoder.lateral_projections.{level}"
        keys[f"{lateral}.0.weight"], keys[f"{lateral}.0.bias"] = (C // 2, C), (C // 2,)
        keys[f"{lateral}.2.weight"], keys[f"{lateral}.2.bias"] = (C, C // 2), (C,)
        keys[f"backbone.decoder.scalers.{level}"] = (C,)
    for j in range(BLOCKS):
        block = f"backbone.decoder.blocks.{j}"
        for norm in ("norm1", "norm2"):
            keys[f"{block}.{norm}.weight"] = keys[f"{block}.{norm}.bias"] = (C,)
        for proj in ("q_proj", "v_proj", "o_proj"):
            keys[f"{block}.attention.{proj}.weight"] = (C, C)
            keys[f"{block}.attention.{proj}.bias"] = (C,)
        keys[f"{block}.attention.k_proj.weight"] = (C, C)  # no k bias
        keys[f"{block}.layer_scale1.lambda1"] = keys[f"{block}.layer_scale2.lambda1"] = (C,)
        keys[f"{block}.mlp.up_proj.weight"], keys[f"{block}.mlp.up_proj.bias"] = (M, C), (M,)
        keys[f"{block}.mlp.down_proj.weight"], keys[f"{block}.mlp.down_proj.bias"] = (C, M), (C,)
    for i in range(2):
        up = f"backbone.decoder.upscale.{i}"
        keys[f"{up}.conv1.weight"], keys[f"{up}.conv1.bias"] = (C, C, 2, 2), (C,)
        keys[f"{up}.conv2.weight"] = (C, 1, 3, 3)
        keys[f"{up}.norm.weight"] = keys[f"{up}.norm.bias"] = (C,)
    for i in (0, 2, 4):
        keys[f"backbone.decoder.mask_head.{i}.weight"] = (C, C)
        keys[f"backbone.decoder.mask_head.{i}.bias"] = (C,)
    return keys


def official_encoder(dinov3: bool) -> dict[str, torch.Tensor]:
    """The encoder part: timm DINOv2 keys, or HF DINOv3 keys with the official prefixes."""
    torch.manual_seed(3)
    if dinov3:
        from transformers import DINOv3ViTConfig, DINOv3ViTModel

        config = DINOv3ViTConfig(
            hidden_size=C,
            num_hidden_layers=DEPTH,
            num_attention_heads=6,
            intermediate_size=4 * C,
            image_size=IMG,
            num_register_tokens=4,
        )
        hf = DINOv3ViTModel(config).state_dict()
        state = {}
        for k, v in hf.items():
            if k.endswith("mask_token") or "inv_freq" in k:
                continue  # not in the official files
            k = re.sub(r"^embeddings\.", "patch_embed.", re.sub(r"^model\.layer\.", "blocks.", k))
            state[k] = v
    else:
        import timm

        vit = timm.create_model(
            "vit_small_patch14_reg4_dinov2",
            img_size=IMG,
            patch_size=16,
            depth=DEPTH,
            num_classes=0,
            dynamic_img_size=True,
        )
        state = vit.state_dict()
    return {
        "backbone.encoder.backbone." + k: v + 0.01 * torch.randn_like(v) for k, v in state.items()
    }


def official_state(dinov3: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    state = official_encoder(dinov3)
    for key, shape in official_decoder_keys().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key == "criterion.empty_weight":
            state[key] = torch.tensor([1.0] * NUM_CLASSES + [0.1])
        else:
            state[key] = torch.randn(shape, generator=g).abs() + 0.1  # positive running_var
    return state


def pmt_model(dinov3: bool):
    name = "facebook/dinov3-vits16-pretrain-lvd1689m" if dinov3 else "vit_small_patch14_reg4_dinov2"
    cfg = small_cfg(
        **{
            "MODEL.META_ARCHITECTURE": "pmt_online",
            "MODEL.BACKBONE.MODEL_NAME": name,
            "MODEL.BACKBONE.DEPTH": DEPTH,
            "MODEL.BACKBONE.HIDDEN_DIM": M,
        }
    )
    return build_model(cfg)


@pytest.mark.parametrize("dinov3", [False, True], ids=["dinov2", "dinov3"])
def test_official_pmt_checkpoint_loads_and_round_trips(tmp_path, dinov3):
    official = official_state(dinov3)
    assert detect_layout(official) == ("official_pmt_dinov3" if dinov3 else "official_pmt")
    path = tmp_path / "pmt.pth"
    torch.save({"model": official}, path)
    model = pmt_model(dinov3)
    info = load_checkpoint(model, str(path))  # strict: every model key comes from the file
    assert info["missing"] == []
    ours = model.state_dict()

    # tensors in their places (spot checks of every renamed kind)
    blk = "backbone.decoder.blocks.2"
    qkv = torch.cat([official[f"{blk}.attention.{n}_proj.weight"] for n in "qkv"])
    assert torch.equal(ours["core.blocks.2.attn.qkv.weight"], qkv)
    assert torch.equal(ours["core.blocks.2.attn.q_bias"], official[f"{blk}.attention.q_proj.bias"])
    assert torch.equal(ours["core.blocks.2.attn.v_bias"], official[f"{blk}.attention.v_proj.bias"])
    assert torch.equal(
        ours["core.blocks.2.attn.proj.bias"], official[f"{blk}.attention.o_proj.bias"]
    )
    assert torch.equal(ours["core.blocks.2.gamma_2"], official[f"{blk}.layer_scale2.lambda1"])
    assert torch.equal(ours["core.blocks.2.mlp.fc1.weight"], official[f"{blk}.mlp.up_proj.weight"])
    assert torch.equal(ours["core.bn.3.running_var"], official["backbone.bn.3.running_var"])
    assert torch.equal(ours["core.scalers.1"], official["backbone.decoder.scalers.1"])
    assert ours["core.bn.0.num_batches_tracked"] == 7

    back = videomt_to_official_pmt(ours, dinov3=dinov3)
    assert set(back) == set(official)
    for key, value in official.items():
        if key in ("backbone.encoder.pixel_mean", "backbone.encoder.pixel_std"):
            assert back[key].shape == value.shape  # unused buffers: written with their defaults
        elif key == "backbone.decoder.attn_mask_probs":
            assert torch.equal(back[key], torch.ones(BLOCKS))
        else:
            assert torch.equal(back[key], value), key
    again = to_videomt_layout(back)
    assert again.keys() - {"criterion.empty_weight"} == ours.keys()
    assert all(torch.equal(again[k], v) for k, v in ours.items())


def test_videomt_official_files_are_not_taken_for_pmt():
    official = official_encoder(dinov3=False)
    official["backbone.q.weight"] = torch.zeros(NUM_QUERIES, C)
    assert detect_layout(official) == "official"


def test_pmt_checkpoint_into_a_videomt_model_names_the_problem(tmp_path):
    from videomt.checkpoint import CheckpointError

    path = tmp_path / "pmt.pth"
    torch.save({"model": official_state(False)}, path)
    videomt = build_model(
        small_cfg(**{"MODEL.BACKBONE.DEPTH": DEPTH, "MODEL.BACKBONE.SEGMENTER_BLOCKS": [3]})
    )
    with pytest.raises(CheckpointError, match="official_pmt layout.*keys not in the model"):
        load_checkpoint(videomt, str(path))
