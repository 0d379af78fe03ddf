"""The VidEoMT core: HF transformers parity, streaming equivalences, DINOv3 backbone."""

import re

import pytest
import torch
from model_fixtures import IMG, NUM_CLASSES, NUM_QUERIES, hf_videomt, perturb_

from videomt.checkpoint import hf_dinov3_to_timm, hf_to_videomt
from videomt.modeling import VidEoMT
from videomt.modeling.backbone import create_encoder, embed_frames, rope_for_sequence, run_block


def small_core(**kw) -> VidEoMT:
    torch.manual_seed(1)
    args = dict(img_size=IMG, num_queries=NUM_QUERIES, num_classes=NUM_CLASSES, first_query_block=9)
    args.update(kw)
    return perturb_(VidEoMT("vit_small_patch14_reg4_dinov2", **args).eval())


def core_like_hf_videomt() -> VidEoMT:
    """A freshly initialised core of :func:`hf_videomt`'s architecture (its weights to be
    loaded)."""
    return VidEoMT(
        "vit_small_patch14_reg4_dinov2",
        img_size=IMG,
        num_queries=NUM_QUERIES,
        num_classes=NUM_CLASSES,
        first_query_block=9,
    ).eval()


@pytest.fixture(scope="module")
def hf_and_core():
    hf = hf_videomt()
    core = core_like_hf_videomt()
    core.load_state_dict(hf_to_videomt(hf.state_dict()), strict=True)
    return hf, core


def test_parity_with_hf_transformers(hf_and_core):
    hf, core = hf_and_core
    b, t = 2, 4  # >= 3 frames so propagation + fusion are exercised
    video = torch.randn(b, t, 3, IMG, IMG)
    with torch.no_grad():
        ref = hf(pixel_values_videos=video)
        ours = core(video)
    # HF concatenates frame-major (index t*B + b); ours is (B, T, ...)
    ref_logits = ref.class_queries_logits.view(t, b, NUM_QUERIES, NUM_CLASSES + 1).transpose(0, 1)
    ref_masks = ref.masks_queries_logits.view(t, b, NUM_QUERIES, IMG // 4, IMG // 4).transpose(0, 1)
    assert ours["pred_logits"].shape == (b, t, NUM_QUERIES, NUM_CLASSES + 1)
    assert ours["pred_masks"].shape == (b, t, NUM_QUERIES, IMG // 4, IMG // 4)
    torch.testing.assert_close(ours["pred_logits"], ref_logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(ours["pred_masks"], ref_masks, atol=1e-4, rtol=0)
    # propagation matters: later frames differ from running each frame as a fresh stream
    fresh = core(video[:, 2:3])["pred_logits"][:, 0]
    assert (fresh - ours["pred_logits"][:, 2]).abs().max() > 1e-3


def test_parity_detects_a_wrong_mapping(hf_and_core):
    hf, _ = hf_and_core
    state = hf_to_videomt(hf.state_dict())
    state["query_updater.weight"] = (
        state["query_updater.weight"].t().contiguous()
    )  # plausible mistake
    core = core_like_hf_videomt()
    core.load_state_dict(state)
    video = torch.randn(1, 3, 3, IMG, IMG)
    with torch.no_grad():
        ref = hf(pixel_values_videos=video).class_queries_logits[-1]
        ours = core(video)["pred_logits"][0, -1]
    assert (ref - ours).abs().max() > 1e-3


@torch.no_grad()
def test_streaming_equals_clip_forward():
    core = small_core()
    video = torch.randn(2, 4, 3, 48, 80)  # non-square, not the stored grid: positions interpolated
    full = core(video)
    tokens, grid = core.encode(video.flatten(0, 1))
    tokens = tokens.unflatten(0, (2, 4))
    state = None
    for t in range(4):
        out, state = core.step(tokens[:, t], state, grid)
        torch.testing.assert_close(out["pred_logits"], full["pred_logits"][:, t], atol=1e-5, rtol=0)
        torch.testing.assert_close(out["pred_masks"], full["pred_masks"][:, t], atol=1e-5, rtol=0)
    torch.testing.assert_close(state, full["state"])


@torch.no_grad()
def test_batched_streams_equal_separate_runs():
    core = small_core()
    a, b = torch.randn(1, 3, 3, IMG, IMG), torch.randn(1, 3, 3, IMG, IMG)
    both = core(torch.cat([a, b]))
    for i, single in enumerate((core(a), core(b))):
        torch.testing.assert_close(
            both["pred_logits"][i], single["pred_logits"][0], atol=1e-5, rtol=0
        )
        torch.testing.assert_close(
            both["pred_masks"][i], single["pred_masks"][0], atol=1e-5, rtol=0
        )


@torch.no_grad()
def test_window_by_window_equals_one_pass():
    core = small_core()
    video = torch.randn(1, 5, 3, IMG, IMG)
    full = core(video)
    state, logits, masks = None, [], []
    for start in (0, 2, 4):  # windows of 2, 2, 1 frames
        out = core(video[:, start : start + 2], state)
        state = out["state"]
        logits.append(out["pred_logits"])
        masks.append(out["pred_masks"])
    torch.testing.assert_close(torch.cat(logits, 1), full["pred_logits"], atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.cat(masks, 1), full["pred_masks"], atol=1e-5, rtol=0)


def test_training_mode_returns_deep_supervision():
    core = small_core()
    core.train()
    out = core(torch.randn(1, 2, 3, IMG, IMG))
    assert len(out["aux_outputs"]) == core.num_query_blocks == 3
    for aux in out["aux_outputs"]:
        assert aux["pred_logits"].shape == out["pred_logits"].shape
        assert aux["pred_masks"].shape == out["pred_masks"].shape
    # the first aux prediction is made from the queries as inserted (learned E at t=0, no LayerNorm)
    with torch.no_grad():
        tokens, grid = core.encode(torch.zeros(1, 3, IMG, IMG))
        first_logits = core.class_head(core.q.weight)
    assert out["aux_outputs"][0]["pred_logits"][0, 0].shape == first_logits.shape
    torch.testing.assert_close(out["aux_outputs"][0]["pred_logits"][0, 0], first_logits)
    core.eval()
    assert "aux_outputs" not in core(torch.randn(1, 2, 3, IMG, IMG))


def test_norm_queries_changes_propagation():
    torch.manual_seed(0)
    plain = small_core()
    normed = small_core(norm_queries=True)
    normed.load_state_dict(plain.state_dict())
    video = torch.randn(1, 3, 3, IMG, IMG)
    with torch.no_grad():
        a, b = plain(video), normed(video)
    torch.testing.assert_close(
        a["pred_logits"][:, 0], b["pred_logits"][:, 0]
    )  # first frame: same input
    assert (a["pred_logits"][:, 1] - b["pred_logits"][:, 1]).abs().max() > 1e-4


def test_bad_input_shapes():
    core = small_core()
    with pytest.raises(ValueError, match="multiple of the patch size"):
        core(torch.randn(1, 1, 3, 50, 64))
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"):
        core(torch.randn(1, 1, 4, 64, 64))


# --------------------------------------------------------------------------- DINOv3 through timm
def _hf_dinov3(num_layers=3):
    from transformers import DINOv3ViTConfig, DINOv3ViTModel

    torch.manual_seed(0)
    config = DINOv3ViTConfig(
        hidden_size=384,
        num_hidden_layers=num_layers,
        num_attention_heads=6,
        intermediate_size=1536,
        image_size=IMG,
        num_register_tokens=4,
    )
    return perturb_(DINOv3ViTModel(config).eval())


def _official_dinov3_keys(hf_state: dict) -> dict:
    """HF DINOv3 keys renamed the way the official VidEoMT DINOv3 checkpoints store them."""
    out = {}
    for k, v in hf_state.items():
        k = re.sub(r"^embeddings\.", "patch_embed.", re.sub(r"^model\.layer\.", "blocks.", k))
        out["backbone.encoder.backbone." + k] = v
    return out


@torch.no_grad()
def test_dinov3_backbone_matches_hf():
    hf = _hf_dinov3()
    enc = create_encoder("facebook/dinov3-vits16-pretrain-lvd1689m", img_size=IMG, depth=3).eval()
    from videomt.checkpoint import to_videomt_layout

    mapped = to_videomt_layout(_official_dinov3_keys(hf.state_dict()))
    enc.load_state_dict({k[len("core.encoder.") :]: v for k, v in mapped.items()}, strict=True)
    x = torch.randn(2, 3, 64, 96)
    ref = hf(pixel_values=x).last_hidden_state
    tokens, grid = embed_frames(enc, x)
    rope = rope_for_sequence(enc, grid, 0)
    for block in enc.blocks:
        tokens = run_block(block, tokens, rope)
    torch.testing.assert_close(enc.norm(tokens), ref, atol=1e-4, rtol=0)


@torch.no_grad()
def test_dinov3_query_blocks_leave_queries_unrotated():
    """Queries in front of the sequence get no rotation, as in the HF layer API."""
    hf = _hf_dinov3()
    core = VidEoMT(
        "facebook/dinov3-vits16-pretrain-lvd1689m",
        img_size=IMG,
        depth=3,
        num_queries=NUM_QUERIES,
        num_classes=NUM_CLASSES,
        first_query_block=1,
    ).eval()
    core.encoder.load_state_dict(hf_dinov3_to_timm(hf.state_dict()), strict=True)
    perturb_(core.q)
    x = torch.randn(1, 3, 48, 64)
    ours = core(x.unsqueeze(1))["pred_logits"][:, 0]
    hidden = hf.embeddings(x)
    cos_sin = hf.rope_embeddings(x)
    layers = hf.model.layer
    hidden = layers[0](hidden, position_embeddings=cos_sin)
    hidden = torch.cat([core.q.weight[None], hidden], dim=1)
    for layer in layers[1:]:
        hidden = layer(hidden, position_embeddings=cos_sin)
    ref, _ = core.predict(hf.norm(hidden), (3, 4))
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=0)


def test_meta_arch_window_size_does_not_change_outputs():
    from model_fixtures import small_cfg

    from videomt import build_model

    torch.manual_seed(0)
    model = perturb_(build_model(small_cfg()).eval())
    frames = torch.randint(0, 256, (5, 3, 50, 70), dtype=torch.uint8)  # padded to 64x96 inside
    whole = model.run_video(frames, window_size=-1)
    assert whole["image_size"] == (50, 70) and whole["padded_size"] == (64, 96)
    assert whole["pred_masks"].shape == (5, 10, 16, 24)
    for window in (1, 2):
        part = model.run_video(frames, window_size=window)
        torch.testing.assert_close(part["pred_logits"], whole["pred_logits"], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(part["pred_masks"], whole["pred_masks"], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="3 channels"):
        model.run_video(torch.zeros(2, 4, 64, 64))
