"""Layer-wise LR decay and the two-stage warmup + poly schedule against the reference's formulas."""

import math

import pytest
import torch
from model_fixtures import small_cfg

from videomt.engine.lr_schedule import build_lr_scheduler
from videomt.engine.optimizer import build_optimizer, llrd_param_groups
from videomt.model import build_core

BASE, LLRD, DEPTH = 1e-4, 0.6, 4


class _Meta(torch.nn.Module):
    """Parameter names as in the meta-architecture: ``core.encoder.*``, ``core.q``, ..."""

    def __init__(self, core):
        super().__init__()
        self.core = core


@pytest.fixture(scope="module")
def model():
    cfg = small_cfg(**{"MODEL.BACKBONE.DEPTH": DEPTH, "MODEL.BACKBONE.SEGMENTER_BLOCKS": [2, 3]})
    return _Meta(build_core(cfg))


def expected_lr(name: str) -> float:
    """The reference's layer-wise decay written out per parameter name (L = DEPTH)."""
    if not name.startswith("core.encoder."):
        return BASE
    rest = name[len("core.encoder.") :]
    if rest.startswith("blocks."):
        i = int(rest.split(".")[1])
        return BASE * LLRD ** (DEPTH - 1 - i)
    if rest.startswith(("norm.", "fc_norm.")):
        return BASE  # after the blocks: no decay
    return BASE * LLRD ** (DEPTH - 1)  # cls/reg tokens, pos_embed, patch_embed


def test_llrd_per_parameter(model):
    groups = llrd_param_groups(model, BASE, LLRD, 0.05)
    names = [n for n, p in model.named_parameters()]
    assert sorted(n for g in groups for n in g["names"]) == sorted(
        names
    )  # every tensor exactly once
    params = dict(model.named_parameters())
    for g in groups:
        assert all(params[n] is p for n, p in zip(g["names"], g["params"]))
        for name in g["names"]:
            assert g["lr"] == pytest.approx(expected_lr(name), rel=1e-12), name
            assert g["kind"] == ("encoder" if name.startswith("core.encoder.") else "head")
        assert g["weight_decay"] == 0.05  # decay on every parameter, norms and embeddings included
    assert len({(g["kind"], g["lr"]) for g in groups}) == len(groups)
    by_name = {n: g["lr"] for g in groups for n in g["names"]}
    assert by_name["core.encoder.norm.weight"] == BASE
    assert by_name["core.encoder.cls_token"] == pytest.approx(BASE * LLRD**3)
    assert by_name["core.encoder.pos_embed"] == pytest.approx(BASE * LLRD**3)
    assert by_name["core.encoder.blocks.3.attn.qkv.weight"] == BASE
    assert by_name["core.encoder.blocks.0.mlp.fc1.weight"] == pytest.approx(BASE * LLRD**3)
    assert by_name["core.q.weight"] == BASE


def schedule_multiplier(kind: str, s: int, n: int, w1: int, w2: int, power: float) -> float:
    if kind == "head":
        return s / w1 if s < w1 else (1 - (s - w1) / (n - w1)) ** power
    if s < w1:
        return 0.0
    if s < w1 + w2:
        return (s - w1) / w2
    return (1 - (s - w1 - w2) / (n - w1 - w2)) ** power


def test_schedule_per_group_and_iteration(model):
    n, (w1, w2), power = 60, (10, 15), 0.9
    cfg = small_cfg(
        **{
            "SOLVER.BASE_LR": BASE,
            "SOLVER.LLRD": LLRD,
            "SOLVER.MAX_ITER": n,
            "SOLVER.WARMUP_STEPS": [w1, w2],
            "SOLVER.POLY_POWER": power,
        }
    )
    opt = build_optimizer(cfg, model)
    sched = build_lr_scheduler(cfg, opt)
    for s in range(n):
        for g in opt.param_groups:
            for name in g["names"]:
                want = expected_lr(name) * schedule_multiplier(g["kind"], s, n, w1, w2, power)
                assert math.isclose(g["lr"], want, rel_tol=1e-9, abs_tol=1e-18), (
                    s,
                    name,
                    g["lr"],
                    want,
                )
        opt.step()
        sched.step()


def test_schedule_state_round_trip(model):
    cfg = small_cfg(**{"SOLVER.MAX_ITER": 40, "SOLVER.WARMUP_STEPS": [5, 5]})
    opt = build_optimizer(cfg, model)
    sched = build_lr_scheduler(cfg, opt)
    for _ in range(17):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = build_optimizer(cfg, model)
    sched2 = build_lr_scheduler(cfg, opt2)
    sched2.load_state_dict(state)
    for o, sc in ((opt, sched), (opt2, sched2)):
        o.step()
        sc.step()
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in opt2.param_groups]


def test_warmup_longer_than_training_is_an_error(model):
    cfg = small_cfg(**{"SOLVER.MAX_ITER": 10, "SOLVER.WARMUP_STEPS": [5, 5]})
    with pytest.raises(ValueError, match="WARMUP_STEPS"):
        build_lr_scheduler(cfg, build_optimizer(cfg, model))
