"""Config system: defaults, _BASE_ inheritance, ignored reference keys, unknown keys, published
configs."""

import glob
import os
import re

import pytest
import torch

from videomt import get_cfg, load_config
from videomt.config import IGNORED_KEYS, ConfigError
from videomt.model import build_core

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PUBLISHED = sorted(p for p in glob.glob(os.path.join(ROOT, "configs", "*", "videomt_*.yaml")))

# Parameter counts of the official module (Q=200), derived from its layer shapes.
EXPECTED_PARAMS = {
    ("small", 40, 640): 24_087_977,
    ("base", 40, 640): 94_182_185,
    ("large", 40, 640): 317_649_961,
    ("large", 25, 640): 317_634_586,
    ("large", 124, 1280): 322_651_261,
}


def test_defaults():
    cfg = get_cfg()
    assert cfg.MODEL.DEVICE == ("cuda" if torch.cuda.is_available() else "cpu")
    assert cfg.MODEL.BACKBONE.PATCH_SIZE == 16
    assert cfg.SOLVER.LLRD == 0.8 and cfg.MODEL.BACKBONE.TEST.WINDOW_SIZE == 3


def test_device_default_is_chosen_after_the_file_and_overrides(tmp_path):
    """load_config picks cuda/cpu only where neither the file nor an override named a device
    (so a config typo is reported before torch is imported); a named device is kept as given."""
    usable = "cuda" if torch.cuda.is_available() else "cpu"
    assert load_config().MODEL.DEVICE == usable
    assert load_config(None, ["MODEL.DEVICE", "cuda:3"]).MODEL.DEVICE == "cuda:3"
    (tmp_path / "on_mps.yaml").write_text("MODEL:\n  DEVICE: mps\n")
    assert load_config(str(tmp_path / "on_mps.yaml")).MODEL.DEVICE == "mps"
    assert load_config(str(tmp_path / "on_mps.yaml"), ["MODEL.DEVICE", ""]).MODEL.DEVICE == usable


def test_schedule_default_follows_the_meta_architecture_unless_set(tmp_path):
    """VidEoMT's two-stage warmup unless the model is PMT (whose reference YAMLs rely on their
    code's default: linear warmup over 6000 steps, then poly); a value set is kept as given, and a
    schedule set without its warmup gets that schedule's reference warmup."""

    def schedule(*opts):
        s = load_config(None, list(opts)).SOLVER
        return s.LR_SCHEDULE, list(s.WARMUP_STEPS)

    videomt_schedule = ("two_stage_warmup_poly", [500, 1000])
    assert (get_cfg().SOLVER.LR_SCHEDULE, list(get_cfg().SOLVER.WARMUP_STEPS)) == videomt_schedule
    assert schedule() == videomt_schedule
    assert schedule("MODEL.META_ARCHITECTURE", "videomt") == videomt_schedule
    assert schedule("MODEL.META_ARCHITECTURE", "pmt_online") == ("warmup_poly", [6000])
    assert schedule("SOLVER.LR_SCHEDULE", "warmup_poly") == ("warmup_poly", [6000])
    pmt_as_videomt = ["MODEL.META_ARCHITECTURE", "pmt_online"]
    pmt_as_videomt += ["SOLVER.LR_SCHEDULE", "two_stage_warmup_poly"]
    assert schedule(*pmt_as_videomt) == videomt_schedule
    assert schedule("SOLVER.WARMUP_STEPS", "[5, 10]") == ("two_stage_warmup_poly", [5, 10])
    (tmp_path / "pmt.yaml").write_text("MODEL:\n  META_ARCHITECTURE: pmt_online\n")
    cfg = load_config(str(tmp_path / "pmt.yaml"), ["SOLVER.WARMUP_STEPS", "[40]"])
    assert (cfg.SOLVER.LR_SCHEDULE, list(cfg.SOLVER.WARMUP_STEPS)) == ("warmup_poly", [40])


def test_base_inheritance_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "MODEL:\n  BACKBONE:\n    NUM_CLASSES: 7\nSOLVER:\n  MAX_ITER: 10\n"
    )
    (tmp_path / "child.yaml").write_text('_BASE_: "base.yaml"\nSOLVER:\n  MAX_ITER: 20\n')
    cfg = load_config(str(tmp_path / "child.yaml"), ["SOLVER.BASE_LR", "0.5"])
    assert (cfg.MODEL.BACKBONE.NUM_CLASSES, cfg.SOLVER.MAX_ITER, cfg.SOLVER.BASE_LR) == (7, 20, 0.5)


def test_reference_yaml_with_dead_keys_loads(tmp_path):
    (tmp_path / "ref.yaml").write_text("""
MODEL:
  MASK_ON: True
  RESNETS: {DEPTH: 50, STEM_TYPE: basic}
  SEM_SEG_HEAD: {NUM_CLASSES: 54}
  BACKBONE:
    FREEZE_AT: 0
    ATTN_MASK_ANNEALING_ENABLED: True
    START_STEPS: [1, 2]
    HIDDEN_DIM: 1024
    NUM_CLASSES: 40
SOLVER: {STEPS: [4000], WARMUP_ITERS: 10, OPTIMIZER: ADAMW, BACKBONE_MULTIPLIER: 0.1}
VERSION: 2
""")
    cfg = load_config(str(tmp_path / "ref.yaml"), ["MODEL.BACKBONE.MASKED", "True"])
    assert cfg.MODEL.BACKBONE.NUM_CLASSES == 40
    assert "RESNETS" not in cfg.MODEL and "MASKED" not in cfg.MODEL.BACKBONE


def test_ignored_keys_set_to_other_values_get_one_warning_naming_them(tmp_path, caplog):
    (tmp_path / "ref.yaml").write_text(
        "MODEL:\n  BACKBONE:\n    NHEADS: 8\n    TEST: {WINDOW_INFERENCE: False}\n"
        "DATASETS: {DATASET_TYPE_TEST: [video_panoptic]}\n"
        "INPUT: {LSJ_AUG: {ENABLED: False, IMAGE_SIZE: 512}}\n"
    )
    with caplog.at_level("WARNING", logger="videomt.config"):
        cfg = load_config(
            str(tmp_path / "ref.yaml"),
            ["MODEL.BACKBONE.FUSED_QKV", "True", "SOLVER.OPTIMIZER", "ADAMW"],
        )
    file_warnings = [r.getMessage() for r in caplog.records if "ref.yaml" in r.getMessage()]
    assert len(file_warnings) == 1
    for key in ("WINDOW_INFERENCE", "DATASET_TYPE_TEST", "LSJ_AUG.IMAGE_SIZE"):
        assert key in file_warnings[0]
    # set to the reference default: ignoring it changes nothing, so no word about it
    assert "NHEADS" not in file_warnings[0] and "LSJ_AUG.ENABLED" not in file_warnings[0]
    override_warnings = [r.getMessage() for r in caplog.records if "command-line" in r.getMessage()]
    assert len(override_warnings) == 1 and "MODEL.BACKBONE.FUSED_QKV" in override_warnings[0]
    assert "SOLVER.OPTIMIZER" not in override_warnings[0]
    assert "LSJ_AUG" not in cfg.INPUT and "FUSED_QKV" not in cfg.MODEL.BACKBONE
    caplog.clear()
    with caplog.at_level("WARNING", logger="videomt.config"):
        for path in glob.glob(os.path.join(ROOT, "configs", "**", "*.yaml"), recursive=True):
            load_config(path)
    assert not caplog.records, "our own configs set keys that nothing reads"


def test_every_config_key_is_read_or_listed_as_ignored():
    """Each key of get_cfg() is read by name somewhere outside config.py (``.KEY`` or
    ``"KEY"``), and no key is both declared and in IGNORED_KEYS."""
    sources = glob.glob(os.path.join(ROOT, "videomt", "**", "*.py"), recursive=True)
    sources += glob.glob(os.path.join(ROOT, "tools", "*.py")) + glob.glob(
        os.path.join(ROOT, "*.py")
    )
    code = "".join(
        open(f, encoding="utf-8").read() for f in sources if not f.endswith(os.sep + "config.py")
    )

    def leaves(node, prefix=""):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield prefix + key

    declared = list(leaves(get_cfg()))
    unread = [
        k
        for k in declared
        if not re.search(rf"\.{k.split('.')[-1]}\b|[\"']{k.split('.')[-1]}[\"']", code)
    ]
    assert not unread, (
        f"config keys nothing reads (read them or move them to IGNORED_KEYS): {unread}"
    )
    both = [k for k in declared if any(k == i or k.startswith(i + ".") for i in IGNORED_KEYS)]
    assert not both, f"keys both declared and ignored: {both}"


def test_unknown_key_names_key_and_file(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("MODEL:\n  BACKBONE:\n    NUM_CLASES: 40\n")
    with pytest.raises(
        ConfigError, match=r"typo\.yaml: unknown config key 'MODEL\.BACKBONE\.NUM_CLASES'"
    ):
        load_config(str(path))
    with pytest.raises(ConfigError, match="unknown config key 'SOLVER.LR'"):
        load_config(None, ["SOLVER.LR", "1"])


def test_bad_yaml_and_missing_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("MODEL: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: invalid YAML"):
        load_config(str(path))
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.yaml"))
    (tmp_path / "type.yaml").write_text("SOLVER:\n  MAX_ITER: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"type\.yaml"):
        load_config(str(tmp_path / "type.yaml"))


def test_every_published_model_has_a_config():
    names = {os.path.relpath(p, os.path.join(ROOT, "configs")) for p in PUBLISHED}
    for ds in ("ytvis19", "ytvis21", "ytvis22", "vipseg", "vspw"):
        assert (
            f"{ds}/videomt_dinov2_large.yaml" in names
            and f"{ds}/videomt_dinov3_large.yaml" in names
        )
    assert {
        "ytvis19/videomt_dinov2_small.yaml",
        "ytvis19/videomt_dinov2_base.yaml",
        "ovis/videomt_dinov2_large.yaml",
    } <= names


@pytest.mark.parametrize(
    "path", PUBLISHED, ids=lambda p: os.path.relpath(p, os.path.join(ROOT, "configs"))
)
def test_published_config_builds(path):
    cfg = load_config(path, ["MODEL.BACKBONE.PRETRAINED", "", "MODEL.DEVICE", "cpu"])
    with torch.device("meta"):  # full-size models without allocating memory
        core = build_core(cfg)
    b = cfg.MODEL.BACKBONE
    assert core.num_queries == 200 and core.num_classes == b.NUM_CLASSES
    assert core.num_query_blocks == len(b.SEGMENTER_BLOCKS)
    size = b.MODEL_NAME.split("_")[1] if "dinov2" in b.MODEL_NAME else "dinov3"
    key = (size, b.NUM_CLASSES, b.IMG_SIZE)
    if key in EXPECTED_PARAMS:
        assert sum(p.numel() for p in core.parameters()) == EXPECTED_PARAMS[key]
    assert b.TEST.MAX_NUM == (20 if "ovis" in path else 10) or b.TEST.TASK != "vis"
