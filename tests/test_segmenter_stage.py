"""The segmenter stage: every segmenter config (VidEoMT and PMT) is its online config on one-frame
clips, its training clips map for every task, and the online stage starts from its checkpoint
with every weight found."""

import glob
import os

import pytest
import torch
from train_fixtures import ROOT, overrides

from videomt.config import load_config

SEGMENTERS = sorted(glob.glob(os.path.join(ROOT, "configs", "*", "segmenter_*.yaml")))


def online_config(path: str) -> str:
    """The online-stage config a segmenter config belongs to."""
    folder, name = os.path.split(path)
    if os.path.basename(folder) == "quickstart":
        return os.path.join(folder, name.replace("segmenter_", ""))
    if name.startswith("segmenter_pmt_"):
        return os.path.join(folder, name.replace("segmenter_", ""))
    return os.path.join(folder, name.replace("segmenter_", "videomt_"))


def test_every_online_config_has_a_segmenter_config():
    configs = os.path.join(ROOT, "configs")
    online = glob.glob(os.path.join(configs, "*", "videomt_*.yaml"))
    online += glob.glob(os.path.join(configs, "*", "pmt_*.yaml"))
    online += glob.glob(os.path.join(configs, "quickstart", "synthetic_v?s.yaml"))
    online += [os.path.join(configs, "quickstart", "synthetic_vis_pmt.yaml")]
    assert sorted(online) == sorted(online_config(p) for p in SEGMENTERS)


@pytest.mark.parametrize("path", SEGMENTERS, ids=lambda p: os.path.relpath(p, ROOT))
def test_segmenter_is_the_online_model_on_single_frames(path):
    seg, online = load_config(path), load_config(online_config(path))
    assert seg.MODEL.META_ARCHITECTURE == online.MODEL.META_ARCHITECTURE
    assert seg.INPUT.SAMPLING_FRAME_NUM == 1 and online.INPUT.SAMPLING_FRAME_NUM > 1
    assert seg.MODEL.BACKBONE == online.MODEL.BACKBONE  # the same architecture and losses
    assert seg.MODEL.WEIGHTS == "" and seg.OUTPUT_DIR != online.OUTPUT_DIR
    frames = seg.SOLVER.IMS_PER_BATCH * seg.INPUT.SAMPLING_FRAME_NUM
    assert frames == online.SOLVER.IMS_PER_BATCH * online.INPUT.SAMPLING_FRAME_NUM
    assert set(online.DATASETS.TRAIN) <= set(seg.DATASETS.TRAIN)


@pytest.mark.parametrize("task", ["vps", "vss"])
def test_dense_segmenter_clips_have_one_frame(task, tmp_path, datasets):
    from videomt.data.build import build_train_loader

    path = os.path.join(ROOT, "configs", "quickstart", f"segmenter_synthetic_{task}.yaml")
    opts = overrides(tmp_path / "o", **{"INPUT.SAMPLING_FRAME_NUM": 1, "SOLVER.IMS_PER_BATCH": 4})
    clips = next(iter(build_train_loader(load_config(path, opts))))
    assert len(clips) == 4
    for clip in clips:
        assert clip["image"].shape[0] == 1 and clip["instances"]["masks"].shape[1] == 1


# (segmenter config, online config started from it, overrides for the tiny model of both stages)
TWO_STAGE = {
    "videomt": (
        "segmenter_synthetic_vis.yaml",
        "synthetic_vis_from_segmenter.yaml",
        {"SOLVER.WARMUP_STEPS": "[1, 1]"},
    ),
    "pmt": (
        "segmenter_synthetic_vis_pmt.yaml",
        "synthetic_vis_from_segmenter_pmt.yaml",
        {"MODEL.BACKBONE.INTERACTION_INDICES": "[]", "SOLVER.WARMUP_STEPS": "[1]"},
    ),
}


@pytest.mark.parametrize("arch", sorted(TWO_STAGE))
def test_online_stage_starts_from_the_segmenter(arch, tmp_path, datasets):
    from videomt.engine.trainer import Trainer

    quick = os.path.join(ROOT, "configs", "quickstart")
    seg_name, online_name, tiny = TWO_STAGE[arch]
    stage1 = tmp_path / "stage1"
    one_frame = {"INPUT.SAMPLING_FRAME_NUM": 1, "SOLVER.IMS_PER_BATCH": 4}
    cfg = load_config(
        os.path.join(quick, seg_name),
        overrides(stage1, **one_frame, **{"SOLVER.MAX_ITER": 4, **tiny}),
    )
    assert cfg.DATASETS.TRAIN == ("synthetic_coco_train", "synthetic_vis_train")
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    weights = str(stage1 / "model_final.pth")
    cfg2 = load_config(
        os.path.join(quick, online_name),
        overrides(tmp_path / "stage2", **{"MODEL.WEIGHTS": weights, **tiny}),
    )
    assert cfg2.MODEL.META_ARCHITECTURE == cfg.MODEL.META_ARCHITECTURE
    online = Trainer(cfg2)
    online.resume_or_load(resume=False)
    stage1_state = torch.load(weights, weights_only=True)["model"]
    state = online.module.state_dict()
    assert state.keys() == stage1_state.keys()
    for k, v in stage1_state.items():
        assert torch.equal(state[k], v), k
    # stage 1 trained the model: it differs from a fresh one (same seed); PMT's frozen encoder not
    fresh = Trainer(
        load_config(os.path.join(quick, online_name), overrides(tmp_path / "s3", **tiny))
    )
    changed = {k for k, v in fresh.module.state_dict().items() if not torch.equal(v, state[k])}
    assert any(k.startswith("core.q") for k in changed), sorted(changed)
    if arch == "pmt":
        assert not any(k.startswith("core.encoder.") for k in changed), sorted(changed)
