"""The meta-architecture's training branch: weighted losses, padding/targets, per-clip random
draws (batched == alone), loss normalisers, DINOv3 RoPE augmentation, activation checkpointing,
gradient flow through the query propagation, and a few optimisation steps."""

import math

import pytest
import torch
from model_fixtures import small_cfg

import videomt
from videomt.model import clip_generator, count_loss_targets

DINOV3 = "vit_small_patch16_dinov3_qkvb"


def train_model(seed=0, **overrides):
    """A tiny training-mode model; LayerScale set to 0.5 so every block matters (timm's random
    DINOv3 init has 1e-5 LayerScale, which would hide position effects)."""
    opts = {
        "MODEL.BACKBONE.DEPTH": 3,
        "MODEL.BACKBONE.SEGMENTER_BLOCKS": [1, 2],
        "MODEL.BACKBONE.TRAIN_NUM_POINTS": 48,
        "MODEL.BACKBONE.CLASS_WEIGHT": 2.0,
        "MODEL.BACKBONE.MASK_WEIGHT": 5.0,
        "MODEL.BACKBONE.DICE_WEIGHT": 5.0,
    }
    opts.update(overrides)
    torch.manual_seed(seed)
    model = videomt.build_model(small_cfg(**opts)).train()
    with torch.no_grad():
        for name, p in model.core.encoder.named_parameters():
            if name.split(".")[-1] in ("gamma", "gamma_1", "gamma_2"):
                p.fill_(0.5)
    return model


def make_clip(position, h=32, w=48, t=3, seed=None):
    """A clip with two moving rectangles; track 1 enters at frame 1."""
    g = torch.Generator().manual_seed(position if seed is None else seed)
    image = torch.randint(0, 256, (t, 3, h, w), generator=g, dtype=torch.uint8)
    masks = torch.zeros(2, t, h, w, dtype=torch.bool)
    ids = torch.tensor([[0] * t, [-1] + [1] * (t - 1)])
    for f in range(t):
        y, x = (
            int(torch.randint(0, h // 2, (1,), generator=g)),
            int(torch.randint(0, w // 2, (1,), generator=g)),
        )
        masks[0, f, y : y + h // 3, x : x + w // 3] = True
        if f:
            masks[1, f, h // 2 :, w // 2 + f :] = True
    for f in range(t):
        image[f][:, masks[0, f]] = 220
        image[f][:, masks[1, f]] = 30
    return {
        "image": image,
        "instances": {"ids": ids, "labels": torch.tensor([1, 3]), "masks": masks},
        "sample_position": position,
    }


def grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def loss_and_grads(model, batch, normalizer):
    model.zero_grad()
    losses = model(batch, loss_normalizer=normalizer)
    total = sum(losses.values())
    total.backward()
    return losses, total.item(), grads(model)


# ----------------------------------------------------------------------------- loss dict
def test_weighted_loss_keys_and_weights():
    batch = [make_clip(0)]
    model = train_model(**{"MODEL.BACKBONE.SEGMENTER_BLOCKS": [0, 1, 2]})
    weighted = model(batch)
    # 3 query blocks -> aux outputs 0, 1, 2; the last one's loss is dropped
    assert sorted(weighted) == sorted(
        f"loss_{k}{s}" for k in ("ce", "mask", "dice") for s in ("", "_0", "_1")
    )
    model.criterion.weight_dict = dict.fromkeys(
        model.criterion.weight_dict, 1.0
    )  # same matching, unit weights
    unit = model(batch)
    for key, value in weighted.items():
        w = {"ce": 2.0, "mask": 5.0, "dice": 5.0}[key.split("_")[1]]
        torch.testing.assert_close(value, w * unit[key])
    plain = train_model(**{"MODEL.BACKBONE.DEEP_SUPERVISION": False})(batch)
    assert sorted(plain) == ["loss_ce", "loss_dice", "loss_mask"]


def test_eval_mode_still_runs_inference():
    model = train_model().eval()
    out = model([{"image": make_clip(0)["image"]}])
    assert isinstance(out, list) and out[0]["task"] == "vis"


# ----------------------------------------------------------------------------- batching
def test_padding_puts_clips_and_masks_top_left():
    model = train_model()
    a, b = make_clip(0, h=40, w=56), make_clip(1, h=64, w=32)
    video, targets = model.prepare_training_batch([a, b])
    assert video.shape == (2, 3, 3, 64, 64)
    for clip, v, tgt in ((a, video[0], targets[0]), (b, video[1], targets[1])):
        h, w = clip["image"].shape[-2:]
        expected = (clip["image"].float() - model.pixel_mean) / model.pixel_std
        torch.testing.assert_close(v[:, :, :h, :w], expected)
        assert not v[:, :, h:].any() and not v[:, :, :, w:].any()
        assert tgt["masks"].shape == (2, 3, 64, 64)
        assert torch.equal(tgt["masks"][..., :h, :w], clip["instances"]["masks"])
        assert not tgt["masks"][..., h:, :].any() and not tgt["masks"][..., w:].any()


@pytest.mark.parametrize("backbone", ["vit_small_patch14_reg4_dinov2", DINOV3])
def test_clip_gives_the_same_loss_and_gradient_alone_or_batched(backbone):
    """Per-clip random draws (points, RoPE factor) and correct (video, frame) ordering: the batch's
    loss and gradient are the sums of the clips' own, whatever the order in the batch."""
    model = train_model(**{"MODEL.BACKBONE.MODEL_NAME": backbone})
    clips = [make_clip(5), make_clip(9)]
    norm = (12.0, 2.0)
    _, total_ab, grads_ab = loss_and_grads(model, clips, norm)
    _, total_ba, _ = loss_and_grads(model, clips[::-1], norm)
    alone = [loss_and_grads(model, [c], norm) for c in clips]
    assert abs(total_ab - (alone[0][1] + alone[1][1])) < 1e-5 * abs(total_ab)
    assert abs(total_ab - total_ba) < 1e-5 * abs(total_ab)
    for name, g in grads_ab.items():
        torch.testing.assert_close(g, alone[0][2][name] + alone[1][2][name], atol=1e-5, rtol=1e-4)


def test_random_draws_keyed_by_seed_and_position():
    model = train_model()
    clip = make_clip(3)
    first = sum(model([clip]).values())
    assert torch.equal(first, sum(model([clip]).values()))  # same clip, same position: same draws
    moved = dict(clip, sample_position=4)
    assert not torch.equal(first, sum(model([moved]).values()))
    model.seed += 1
    assert not torch.equal(first, sum(model([clip]).values()))
    a, b = clip_generator(42, 7, torch.device("cpu")), clip_generator(42, 7, torch.device("cpu"))
    assert torch.equal(torch.rand(5, generator=a), torch.rand(5, generator=b))


def test_loss_normalizer_semantics():
    model = train_model()
    batch = [make_clip(1), make_clip(2)]
    assert count_loss_targets(batch) == (
        12.0,
        2.0,
    )  # 2 tracks x 3 frames per clip (absent frames count)
    default = model(batch)
    explicit = model(batch, loss_normalizer=(12.0, 2.0))  # single process: the batch's own counts
    more_masks = model(batch, loss_normalizer=(24.0, 2.0))
    more_clips = model(batch, loss_normalizer=(12.0, 4.0))
    for key, value in default.items():
        torch.testing.assert_close(value, explicit[key])
        if key.startswith("loss_ce"):
            torch.testing.assert_close(more_masks[key], value)
            torch.testing.assert_close(more_clips[key], value / 2)
        else:
            torch.testing.assert_close(more_masks[key], value / 2)
            torch.testing.assert_close(more_clips[key], value)


def test_bad_training_inputs_are_named():
    model = train_model()
    clip = make_clip(0)
    bad = dict(clip, instances=dict(clip["instances"], labels=torch.tensor([1, 5])))
    with pytest.raises(ValueError, match="NUM_CLASSES=5"):
        model([bad])
    with pytest.raises(ValueError, match="same number of frames"):
        model([clip, make_clip(1, t=2)])
    with pytest.raises(ValueError, match="no 'instances'"):
        model([{"image": clip["image"]}])


# ----------------------------------------------------------------------------- gradients
def test_gradient_flows_through_query_propagation():
    core = train_model().core
    video = torch.randn(1, 3, 3, 32, 32, requires_grad=True)
    out = core(video)
    (out["pred_logits"][:, 2].square().sum() + out["pred_masks"][:, 2].square().mean()).backward()
    assert core.query_updater.weight.grad.abs().sum() > 0
    assert (
        video.grad[:, 0].abs().sum() > 0
    )  # frame 0's pixels reach frame 2 only through the queries
    assert video.grad[:, 1].abs().sum() > 0


def test_activation_checkpointing_gives_identical_gradients():
    model = train_model()
    batch = [make_clip(0)]
    _, total, reference = loss_and_grads(model, batch, None)
    calls = []
    hook = model.core.encoder.blocks[0].register_forward_pre_hook(lambda *a: calls.append(1))
    model.core.grad_checkpointing = True
    _, total_ckpt, checkpointed = loss_and_grads(model, batch, None)
    hook.remove()
    assert len(calls) == 2  # block 0 ran again in the backward pass
    assert total_ckpt == total
    for name, g in reference.items():
        torch.testing.assert_close(checkpointed[name], g, atol=0, rtol=0)
    assert videomt.get_cfg().MODEL.BACKBONE.GRAD_CHECKPOINTING is False
    assert train_model(**{"MODEL.BACKBONE.GRAD_CHECKPOINTING": True}).core.grad_checkpointing


def test_adamw_steps_decrease_the_loss():
    model = train_model(**{"MODEL.BACKBONE.DEEP_SUPERVISION": False})
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4)
    clip = make_clip(0)
    history = []
    for _ in range(12):
        total = sum(model([clip]).values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(total.item())
    assert max(history[-3:]) < 0.8 * history[0], history


# ----------------------------------------------------------------------------- DINOv3 RoPE
def test_dinov3_rope_rescale_per_clip_and_only_in_training():
    model = train_model(**{"MODEL.BACKBONE.MODEL_NAME": DINOV3})
    gens = [clip_generator(0, p, torch.device("cpu")) for p in (1, 2)]
    scale = model.draw_rope_scale(gens)
    assert scale.shape == (2,) and scale[0] != scale[1]
    assert ((scale >= 0.5) & (scale <= 2.0)).all()
    # the drawn factor changes the training forward: compare with the unaugmented core
    clip = make_clip(1)
    video, _ = model.prepare_training_batch([clip])
    with torch.no_grad():
        plain = model.core(video, with_aux=False)["pred_logits"]
        augmented = model.core(video, rope_scale=scale[:1], with_aux=False)["pred_logits"]
        unit = model.core(video, rope_scale=torch.ones(1), with_aux=False)["pred_logits"]
    torch.testing.assert_close(unit, plain, atol=1e-6, rtol=0)
    assert (augmented - plain).abs().max() > 1e-4  # random weights: attention is nearly uniform
    off = train_model(**{"MODEL.BACKBONE.MODEL_NAME": DINOV3, "MODEL.BACKBONE.ROPE_RESCALE": 1.0})
    assert off.draw_rope_scale(gens) is None
    assert train_model().draw_rope_scale(gens) is None  # DINOv2: absolute positions, nothing drawn
    model.eval()
    with torch.no_grad():
        raw = model.run_video(clip["image"], window_size=3)
        torch.testing.assert_close(
            raw["pred_logits"], plain[0], atol=1e-5, rtol=0
        )  # inference unaugmented


def test_rope_rescale_matches_hf_dinov3_training_rope():
    """HF's DINOv3 RoPE in training mode (pos_embed_rescale 2) against ours with the same factor."""
    from transformers import DINOv3ViTConfig
    from transformers.models.dinov3_vit.modeling_dinov3_vit import DINOv3ViTRopePositionEmbedding

    from videomt.modeling.backbone import scaled_rope_table

    encoder = train_model(**{"MODEL.BACKBONE.MODEL_NAME": DINOV3}).core.encoder
    config = DINOv3ViTConfig(
        hidden_size=384, num_attention_heads=6, patch_size=16, rope_theta=100.0
    )
    hf = DINOv3ViTRopePositionEmbedding(config).train()
    torch.manual_seed(11)
    cos, sin = hf(torch.zeros(1, 3, 48, 80))
    torch.manual_seed(11)  # replay HF's draw: one log-uniform factor in [1/2, 2]
    factor = torch.empty(1).uniform_(-math.log(2.0), math.log(2.0)).exp()
    assert abs(factor.item() - 1) > 0.05
    ours = scaled_rope_table(encoder.rope, (3, 5), factor)[0]  # (15, 2 * head_dim) = [sin | cos]
    torch.testing.assert_close(ours[:, :64], sin, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours[:, 64:], cos, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        scaled_rope_table(encoder.rope, (3, 5), torch.ones(1))[0],
        encoder.rope.get_embed(shape=[3, 5]),
    )


# ----------------------------------------------------------------------------- 2 processes
def _two_process_worker(rank, init_file, out_dir):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        model = train_model()
        clip = [make_clip(5), make_clip(9, t=3, h=32, w=48)][rank]
        if rank == 1:  # a different number of tracks per process: the normaliser must be global
            clip["instances"] = {k: v[:1] for k, v in clip["instances"].items()}
        sum(model([clip]).values()).backward()  # loss_normalizer=None: all-reduced counts
        for p in model.parameters():  # what DDP does: average the gradients
            dist.all_reduce(p.grad)
            p.grad /= 2
        torch.save(grads(model), f"{out_dir}/grads{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_processes_average_to_the_single_process_gradient(tmp_path):
    torch.multiprocessing.spawn(
        _two_process_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2
    )
    model = train_model()
    second = make_clip(9)
    second["instances"] = {k: v[:1] for k, v in second["instances"].items()}
    _, _, single = loss_and_grads(model, [make_clip(5), second], None)
    distributed = torch.load(tmp_path / "grads0.pt", weights_only=True)
    for name, g in single.items():
        torch.testing.assert_close(distributed[name], g, atol=1e-5, rtol=1e-4)


def test_only_supervised_aux_outputs_are_computed():
    """The input of the last query block carries no loss: the core skips it, and
    the aux outputs it does compute equal those of a full deep-supervision pass."""
    core = train_model().core
    video = torch.randn(1, 2, 3, 32, 32)
    full = core(video, with_aux=True)
    part = core(video, with_aux=True, num_aux=core.num_query_blocks - 1)
    assert (
        len(full["aux_outputs"]) == core.num_query_blocks
        and len(part["aux_outputs"]) == core.num_query_blocks - 1
    )
    for a, b in zip(part["aux_outputs"], full["aux_outputs"]):
        torch.testing.assert_close(a["pred_masks"], b["pred_masks"])
    torch.testing.assert_close(part["pred_logits"], full["pred_logits"])
    calls = []
    model = train_model()
    hook = model.core.class_head.register_forward_hook(lambda *a: calls.append(1))
    model([make_clip(0)])
    hook.remove()
    t = make_clip(0)["image"].shape[0]
    assert (
        len(calls) == t * model.core.num_query_blocks
    )  # final + (L2 - 1) aux predictions per frame
