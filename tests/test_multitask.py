"""MultiTaskPredictor: three PMT models (VIS, VPS, VSS decoders) over one frozen encoder give, with
one encoder pass per frame, exactly the results of each model's own VideoPredictor, offline and
streamed; models that cannot share the pass are refused with one line."""

import os

import pytest
import torch

from tests.pmt_fixtures import (
    PMT_QUICKSTART,
    PMT_TINY,
    ROOT,
    TASK_OPTS,
    pmt_cfg,
    write_task_checkpoints,
)
from tests.video_fixtures import moving_squares
from videomt.checkpoint import load_checkpoint
from videomt.config import load_config
from videomt.errors import ConfigError
from videomt.inference import VideoPredictor
from videomt.inference.multitask import MultiTaskPredictor
from videomt.model import build_model

VIDEOMT_QUICKSTART = os.path.join(ROOT, "configs", "quickstart", "synthetic_vis.yaml")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """One checkpoint per task: decoders from different seeds, the same (perturbed) encoder."""
    return write_task_checkpoints(tmp_path_factory.mktemp("multitask"), perturb_encoder=True)


def assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize("cache_mb", [1024.0, 0.0])  # mask logits cached / recomputed
def test_offline_results_equal_each_model_alone(checkpoints, cache_mb):
    video = moving_squares()
    tasks = list(TASK_OPTS)
    multi = MultiTaskPredictor(
        [pmt_cfg(t) for t in tasks], [checkpoints[t] for t in tasks], cache_mb=cache_mb
    )
    assert multi.tasks == tasks
    cores = [p.model.core for p in multi.predictors]
    assert all(c.encoder is cores[0].encoder for c in cores)  # one copy of the encoder
    calls = []
    cores[0].encoder_features = _counting(cores[0].encoder_features, calls)
    together = list(multi(video))
    window = multi.window_size
    passes = 3 if cache_mb == 0 else 1  # the panoptic task reads the recomputed masks once more
    assert len(calls) == passes * -(-len(video) // window)  # one encoder pass per window
    assert multi.last_offline_run["second_pass"] == ("cached" if cache_mb else "re-ran the model")
    assert len(together) == len(video)
    for i, task in enumerate(tasks):
        alone = list(VideoPredictor(pmt_cfg(task), checkpoints[task])(video))
        for frame_together, frame_alone in zip(together, alone):
            assert_same(frame_together[i], frame_alone)
    assert together[0][1]["segments_info"]  # the panoptic check compares segments, not nothing


def test_stream_results_equal_each_model_alone(checkpoints):
    video = moving_squares()
    tasks = list(TASK_OPTS)
    multi = MultiTaskPredictor([pmt_cfg(t) for t in tasks], [checkpoints[t] for t in tasks])
    alone = [VideoPredictor(pmt_cfg(t), checkpoints[t]).stream() for t in tasks]
    stream = multi.stream()
    for frame in video:
        together = stream.step(frame)
        for i, single in enumerate(alone):
            assert_same(together[i], single.step(frame))
    assert torch.equal(stream.streams[0].state, alone[0].state)
    stream.reset()
    assert all(s.state is None for s in stream.streams)


def test_bf16_stream_runs_every_task(checkpoints):
    multi = MultiTaskPredictor(
        [pmt_cfg("vis"), pmt_cfg("vss")], [checkpoints["vis"], checkpoints["vss"]], dtype="bf16"
    )
    vis, vss = multi.stream().step(moving_squares()[0])
    assert vis["masks"].dtype == torch.bool and vss["sem_seg"].shape == moving_squares().shape[1:3]


def test_different_encoders_are_refused_in_one_line(checkpoints, tmp_path):
    state = torch.load(checkpoints["vss"], weights_only=True)
    key = next(k for k in state["model"] if k.startswith("core.encoder.blocks.0."))
    state["model"][key] = state["model"][key] + 1e-3
    torch.save(state, tmp_path / "other.pth")
    with pytest.raises(ConfigError) as err:
        MultiTaskPredictor(
            [pmt_cfg("vis"), pmt_cfg("vss")], [checkpoints["vis"], str(tmp_path / "other.pth")]
        )
    assert str(err.value) == (
        "config 2: its frozen encoder weights differ from config 1's; only models trained over "
        "the same frozen encoder can share one encoder pass"
    )


def test_one_encoder_is_built_for_tasks_with_checkpoints(checkpoints, monkeypatch):
    import videomt.modeling.pmt as pmt_module

    built = []
    create = pmt_module.create_encoder
    monkeypatch.setattr(
        pmt_module, "create_encoder", lambda *a, **k: built.append(1) or create(*a, **k)
    )
    tasks = list(TASK_OPTS)
    multi = MultiTaskPredictor([pmt_cfg(t) for t in tasks], [checkpoints[t] for t in tasks])
    assert len(built) == 1  # the first model's; the others are built around it
    assert all(
        p.model.core.encoder is multi.predictors[0].model.core.encoder for p in multi.predictors
    )


def test_a_checkpoint_with_another_encoder_is_refused_before_loading(checkpoints, tmp_path):
    lead = build_model(pmt_cfg("vis"))
    load_checkpoint(lead, checkpoints["vis"])
    before = lead.core.encoder_fingerprint()
    state = torch.load(checkpoints["vss"], weights_only=True)
    key = next(k for k in state["model"] if k.startswith("core.encoder.blocks.1."))
    state["model"][key] = state["model"][key] * 1.5
    torch.save(state, tmp_path / "other.pth")
    with pytest.raises(ConfigError, match="config 2: its frozen encoder weights differ"):
        MultiTaskPredictor(
            [pmt_cfg("vis"), pmt_cfg("vss")],
            [None, str(tmp_path / "other.pth")],
            models=[lead, None],
        )
    assert lead.core.encoder_fingerprint() == before  # the shared encoder was not written


@pytest.mark.parametrize(
    "second, message",
    [
        (
            lambda: load_config(VIDEOMT_QUICKSTART, ["MODEL.DEVICE", "cpu"]),
            "config 2: MODEL.META_ARCHITECTURE videomt_online has no frozen encoder to share",
        ),
        (
            lambda: load_config(PMT_QUICKSTART, PMT_TINY + ["INPUT.MIN_SIZE_TEST", "48"]),
            "config 2: INPUT.MIN_SIZE_TEST 48 differs from config 1's 32",
        ),
        (
            lambda: load_config(
                PMT_QUICKSTART, PMT_TINY + ["MODEL.BACKBONE.INTERACTION_INDICES", "[0, 1, 2, 2]"]
            ),
            "config 2: MODEL.BACKBONE.INTERACTION_INDICES [0, 1, 2, 2] differ from config 1's",
        ),
    ],
)
def test_models_that_cannot_share_the_pass_are_refused(checkpoints, second, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        MultiTaskPredictor([pmt_cfg("vis"), second()], [checkpoints["vis"], None])


def test_bad_arguments():
    with pytest.raises(ConfigError, match="got 1 configs but 2 weights"):
        MultiTaskPredictor([pmt_cfg("vis")], ["a.pth", "b.pth"])
    with pytest.raises(ConfigError, match="a list of one config per task"):
        MultiTaskPredictor(PMT_QUICKSTART)


def _counting(fn, calls):
    def wrapped(*args, **kwargs):
        calls.append(args[0].shape[0])
        return fn(*args, **kwargs)

    return wrapped
