"""The PMT-video core: parameter counts of the published sizes, the decoder against HF
transformers' DINOv3 layers (blocks and RoPE), a frozen encoder, window == one pass, the shared
encoder pass, BatchNorm statistics, and the meta-architecture registry."""

import pytest
import torch
from model_fixtures import IMG, NUM_CLASSES, NUM_QUERIES, perturb_

from videomt.modeling.core import ModelCore
from videomt.modeling.pmt import PMT, default_taps
from videomt.modeling.token_norm import TokenBatchNorm

DINOV2_S = "vit_small_patch14_reg4_dinov2"
DINOV3_S = "facebook/dinov3-vits16-pretrain-lvd1689m"


def small_pmt(name=DINOV2_S, **kw) -> PMT:
    torch.manual_seed(0)
    kw = {"img_size": IMG, "depth": 4, "num_queries": NUM_QUERIES, "num_classes": NUM_CLASSES, **kw}
    core = PMT(name, **kw)
    perturb_(core)  # LayerScale ones / BN identity cannot hide a wrong path
    return core


def trainable(module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    "name, mlp_dim, trainable_count, frozen_count",
    [
        ("vit_large_patch14_reg4_dinov2", 1024, 54_889_513, 304_791_552),
        ("facebook/dinov3-vitl16-pretrain-lvd1689m", 1024, 54_889_513, 303_128_576),
        # the ViT-S encoder's count is checked by hand in test_benchmark (VIT_S_YTVIS19_PARAMS)
        ("vit_small_patch14_reg4_dinov2", 0, 7_804_073, 22_215_168),
    ],
)
def test_parameter_counts_of_the_published_architecture(
    name, mlp_dim, trainable_count, frozen_count
):
    """Counts derived from the reference module tree (Q=200, K=40, IMG 640); built on the meta
    device, so nothing is allocated or run."""
    with torch.device("meta"):
        core = PMT(name, num_queries=200, num_classes=40, mlp_dim=mlp_dim)
    assert trainable(core) == trainable_count
    assert sum(p.numel() for p in core.encoder.parameters()) == frozen_count
    assert trainable(core.encoder) == 0
    assert core.taps == default_taps(len(core.encoder.blocks))


def test_default_taps():
    assert default_taps(24) == [5, 11, 17, 23]
    assert default_taps(12) == [2, 5, 8, 11]
    assert default_taps(40) == [9, 19, 29, 39]


def test_core_contract():
    core = small_pmt()
    assert isinstance(core, ModelCore)
    assert core.num_query_blocks == 6 and core.uses_rope and core.num_prefix_tokens == 5


# --------------------------------------------------------------------------- decoder vs HF DINOv3
def _hf_decoder(num_layers: int, mlp_dim: int):
    from transformers import DINOv3ViTConfig, DINOv3ViTModel

    torch.manual_seed(1)
    config = DINOv3ViTConfig(
        hidden_size=384,
        num_hidden_layers=num_layers,
        num_attention_heads=6,
        intermediate_size=mlp_dim,
        image_size=IMG,
        num_register_tokens=4,
        rope_theta=100.0,
    )
    return perturb_(DINOv3ViTModel(config).eval())


@torch.no_grad()
def test_decoder_blocks_and_dinov2_rope_match_hf_dinov3_layers():
    """Our decoder (timm EvaBlocks + our parameter-free theta-100 RoPE for DINOv2) against HF's
    DINOv3 layers, whose RoPE rotates only the trailing patch tokens: queries and prefix
    tokens unrotated, same tables, same q/k/v/o and LayerScale mapping."""
    from videomt.checkpoint import hf_dinov3_to_timm

    core = small_pmt(num_blocks=3, mlp_dim=256).eval()
    hf = _hf_decoder(3, 256)
    layers = {k: v for k, v in hf.state_dict().items() if k.startswith("model.layer.")}
    mapped = hf_dinov3_to_timm(layers)
    core.blocks.load_state_dict({k[len("blocks.") :]: v for k, v in mapped.items()}, strict=True)

    frames = torch.randn(2, 3, 48, 80)
    tokens, grid = core.encode(frames)  # (2, 5 + 3*5, C)
    out, state = core.step(tokens, None, grid)

    x = torch.cat([core.q.weight.expand(2, -1, -1), tokens], dim=1)
    cos_sin = hf.rope_embeddings(frames)
    for layer in hf.model.layer:
        x = layer(x, position_embeddings=cos_sin)
    ref_logits, ref_masks = core.predict(core.decoder_norm(x), grid)
    torch.testing.assert_close(out["pred_logits"], ref_logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(out["pred_masks"], ref_masks, atol=1e-4, rtol=0)
    # propagation from the pre-norm queries of the last block
    ref_state = core.query_updater(x[:, :NUM_QUERIES]) + core.q.weight
    torch.testing.assert_close(state, ref_state, atol=1e-4, rtol=0)


@torch.no_grad()
def test_dinov3_decoder_uses_the_encoders_rope_tables():
    core = small_pmt(DINOV3_S).eval()
    assert core.rope is None
    table = core.decoder_rope((3, 4))
    patch_rows = core.encoder.rope.get_embed(shape=[3, 4])
    torch.testing.assert_close(table[NUM_QUERIES:], patch_rows)
    half = table.shape[-1] // 2
    assert torch.equal(table[:NUM_QUERIES, :half], torch.zeros(NUM_QUERIES, half))  # sin 0
    assert torch.equal(table[:NUM_QUERIES, half:], torch.ones(NUM_QUERIES, half))  # cos 1


# --------------------------------------------------------------------------- frozen encoder
@pytest.mark.parametrize("name", [DINOV2_S, DINOV3_S])
def test_encoder_is_frozen_and_left_out_of_the_optimizer(name):
    from videomt.engine.optimizer import llrd_param_groups

    core = small_pmt(name).train()
    assert core.encoder.training  # follows the model's mode (reference behaviour)
    video = torch.randn(2, 2, 3, 32, 48)
    out = core(video, rope_scale=torch.tensor([0.7, 1.6]))
    loss = out["pred_masks"].square().mean() + sum(
        a["pred_logits"].square().mean() for a in out["aux_outputs"]
    )
    loss.backward()
    assert all(p.grad is None for p in core.encoder.parameters())
    assert all(p.grad is not None for p in core.parameters() if p.requires_grad)
    taps, _ = core.encoder_features(video.flatten(0, 1))
    assert all(not t.requires_grad for t in taps)

    class Meta(torch.nn.Module):
        def __init__(self, core):
            super().__init__()
            self.core = core

    groups = llrd_param_groups(Meta(core), base_lr=1e-4, llrd=0.6, weight_decay=0.05)
    names = [n for g in groups for n in g["names"]]
    assert not any(n.startswith("core.encoder.") for n in names)
    assert len(names) == sum(1 for p in core.parameters() if p.requires_grad)
    assert {(g["lr"], g["weight_decay"]) for g in groups} == {(1e-4, 0.05)}  # one lr, no LLRD


# --------------------------------------------------------------------------- streaming
@pytest.mark.parametrize("name", [DINOV2_S, DINOV3_S])
@torch.no_grad()
def test_window_by_window_equals_one_pass(name):
    core = small_pmt(name).eval()
    video = torch.randn(1, 5, 3, 32, 48)
    full = core(video)
    first = core(video[:, :2])
    second = core(video[:, 2:], first["state"])
    torch.testing.assert_close(
        torch.cat([first["pred_logits"], second["pred_logits"]], 1), full["pred_logits"]
    )
    torch.testing.assert_close(
        torch.cat([first["pred_masks"], second["pred_masks"]], 1),
        full["pred_masks"],
        atol=1e-5,
        rtol=0,
    )
    # the stream API (one frame at a time) gives the same outputs
    state = None
    for t in range(5):
        tokens, grid = core.encode(video[:, t])
        out, state = core.step(tokens, state, grid)
        torch.testing.assert_close(out["pred_logits"], full["pred_logits"][:, t])


@torch.no_grad()
def test_eval_outputs_do_not_depend_on_the_rng():
    core = small_pmt(DINOV3_S).eval()
    video = torch.randn(1, 3, 3, 32, 48)
    torch.manual_seed(1)
    a = core(video)
    torch.manual_seed(2)
    b = core(video)
    assert torch.equal(a["pred_logits"], b["pred_logits"])
    assert torch.equal(a["pred_masks"], b["pred_masks"])


def test_deep_supervision_predicts_from_each_block_input():
    core = small_pmt().train()
    out = core(torch.randn(1, 2, 3, 32, 48), num_aux=5)
    assert len(out["aux_outputs"]) == 5  # the 6th block input carries no loss: not computed
    assert out["aux_outputs"][0]["pred_masks"].shape == out["pred_masks"].shape


# --------------------------------------------------------------------------- shared encoder pass
@torch.no_grad()
def test_shared_encoder_pass_and_fingerprint():
    a = small_pmt().eval()
    b = small_pmt(num_classes=3).eval()
    b.encoder.load_state_dict(a.encoder.state_dict())
    perturb_(b.bn, seed=5)  # another task's fusion and decoder
    frames = torch.randn(2, 3, 32, 48)
    taps, grid = a.encoder_features(frames)
    for core in (a, b):  # one encoder pass, each its own fuse + step
        tokens, grid_alone = core.encode(frames)
        torch.testing.assert_close(core.fuse(taps), tokens)
        assert grid == grid_alone
    assert a.shares_encoder_with(b)
    fingerprint = a.encoder_fingerprint()
    with torch.no_grad():
        b.encoder.blocks[0].norm1.weight[0] += 1e-3
    assert not a.shares_encoder_with(b)
    b.encoder.load_state_dict(a.encoder.state_dict())  # in-place copy: the cache notices
    assert b.encoder_fingerprint() == fingerprint


def test_batchnorm_statistics_span_token_sets_like_torch_batchnorm():
    """TokenBatchNorm over two token sets == torch BatchNorm1d over their concatenation (per
    channel over every token), outputs, gradients and running statistics."""
    torch.manual_seed(0)
    ours, ref = TokenBatchNorm(8), torch.nn.BatchNorm1d(8)
    perturb_(ours, scale=0.5)
    ref.load_state_dict(ours.state_dict())
    a = (torch.randn(3, 5, 8) * 2 + 1).requires_grad_()
    b = (torch.randn(2, 7, 8) * 2 + 1).requires_grad_()
    out_a, out_b = ours.forward_sets([a.flatten(0, 1), b.flatten(0, 1)])
    both = torch.cat([a.flatten(0, 1), b.flatten(0, 1)])  # (29, 8)
    a2, b2 = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    expected = ref(torch.cat([a2.flatten(0, 1), b2.flatten(0, 1)]))
    torch.testing.assert_close(torch.cat([out_a, out_b]), expected, atol=1e-5, rtol=0)
    weights = torch.randn_like(both)
    (torch.cat([out_a, out_b]) * weights).sum().backward()
    (expected * weights).sum().backward()
    torch.testing.assert_close(a.grad, a2.grad, atol=1e-5, rtol=0)
    torch.testing.assert_close(b.grad, b2.grad, atol=1e-5, rtol=0)
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(ours.state_dict()[key], ref.state_dict()[key])
    ours.eval(), ref.eval()
    x = torch.randn(4, 8)
    torch.testing.assert_close(ours(x), ref(x))


def test_forward_clips_shares_statistics_across_groups():
    """Clips of two sizes in one call normalise with the statistics of all their tokens, so
    the result does not depend on how the clips are grouped."""
    core = small_pmt().train()
    v1, v2 = torch.randn(1, 2, 3, 32, 48), torch.randn(1, 2, 3, 48, 32)
    joint = core.forward_clips([v1, v2], with_aux=False)
    reversed_order = core.forward_clips([v2, v1], with_aux=False)
    torch.testing.assert_close(joint[0]["pred_masks"], reversed_order[1]["pred_masks"])
    alone = core(v1, with_aux=False)
    assert not torch.allclose(joint[0]["pred_masks"], alone["pred_masks"], atol=1e-4)


# --------------------------------------------------------------------------- registry
def test_registry_selects_cores_by_config_name():
    from model_fixtures import small_cfg

    from videomt.model import META_ARCH_REGISTRY, PMTOnline, VidEoMTOnline, build_model

    for name, cls in [
        ("videomt_online", VidEoMTOnline),
        ("videomt", VidEoMTOnline),
        ("VidEoMTOnline", VidEoMTOnline),
        ("pmt_online", PMTOnline),
    ]:
        assert META_ARCH_REGISTRY.get(name) is cls
    cfg = small_cfg(
        **{
            "MODEL.META_ARCHITECTURE": "pmt_online",
            "MODEL.BACKBONE.DEPTH": 4,
            "MODEL.BACKBONE.HIDDEN_DIM": 0,
        }
    )
    model = build_model(cfg)
    assert isinstance(model, PMTOnline) and isinstance(model.core, PMT)
    assert model.core.taps == [0, 1, 2, 3] and model.criterion.num_aux == 5

    @META_ARCH_REGISTRY.register_as("test_only_arch")
    class TestOnlyArch(VidEoMTOnline):  # a new class: selectable without editing any table
        pass

    try:
        model = build_model(small_cfg(**{"MODEL.META_ARCHITECTURE": "test_only_arch"}))
        assert type(model) is TestOnlyArch
    finally:
        for key in ("test_only_arch", "TestOnlyArch"):
            META_ARCH_REGISTRY._obj_map.pop(key)
    with pytest.raises(ValueError, match="unknown MODEL.META_ARCHITECTURE 'nope'.*pmt_online"):
        build_model(small_cfg(**{"MODEL.META_ARCHITECTURE": "nope"}))


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"MODEL.BACKBONE.INTERACTION_INDICES": [0, 1, 9, 3]}, "INTERACTION_INDICES"),
        ({"MODEL.BACKBONE.FROZEN_ENCODER": False}, "FROZEN_ENCODER False"),
        ({"MODEL.BACKBONE.NUM_BLOCKS": 0}, "NUM_BLOCKS"),
    ],
)
def test_pmt_config_errors_name_the_key(overrides, message):
    from model_fixtures import small_cfg

    from videomt.model import build_model

    cfg = small_cfg(
        **{"MODEL.META_ARCHITECTURE": "pmt_online", "MODEL.BACKBONE.DEPTH": 4, **overrides}
    )
    with pytest.raises(ValueError, match=message):
        build_model(cfg)
