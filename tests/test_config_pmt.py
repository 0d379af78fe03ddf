"""The PMT-video reference config keys: a YAML written like the reference's PMT configs loads and
builds a PMT model without a word; its dead keys warn only when set to a value that would matter,
and architecture knobs set to a variant we do not implement are refused in one line."""

import pytest

from videomt import load_config
from videomt.config import ConfigError
from videomt.model import build_core
from videomt.modeling.pmt import PMT

# the PMT-specific keys at the values of the published PMT configs, ViT-L DINOv2 (YTVIS-19)
REFERENCE_PMT_YAML = """
MODEL:
  META_ARCHITECTURE: "pmt_online"
  BACKBONE:
    NAME: "PMT"
    MODEL_NAME: "vit_large_patch14_reg4_dinov2"
    IMG_SIZE: 640
    NUM_BLOCKS: 6
    HIDDEN_DIM: 1024
    NUM_OBJECT_QUERIES: 200
    NUM_CLASSES: 40
    MASKED_ATTN_ENABLED: False
    FROZEN_ENCODER: True
    INTERACTION_INDICES: [5, 11, 17, 23]
    EXTRA_BN: True
    LATERAL_PROJECTION: "mlp"
    RESIDUAL_PROJECTION: True
    LEVEL_SCALERS: True
    DECODER_PE: "rope"
    DECODER_TYPE: "online"
    SIZE_DIVISIBILITY: 32
    TEST:
      WINDOW_SIZE: 1
INPUT:
  FORMAT: "RGB"
  MAX_SIZE_TEST: 1333
"""
# a small encoder of the same kind, so the test builds in seconds
SMALL = [
    "MODEL.DEVICE",
    "cpu",
    "MODEL.BACKBONE.MODEL_NAME",
    "vit_small_patch14_reg4_dinov2",
    "MODEL.BACKBONE.DEPTH",
    "4",
    "MODEL.BACKBONE.INTERACTION_INDICES",
    "[0, 1, 2, 3]",
    "MODEL.BACKBONE.HIDDEN_DIM",
    "0",
    "MODEL.BACKBONE.NUM_BLOCKS",
    "2",
]


def test_reference_pmt_yaml_loads_and_builds_without_warnings(tmp_path, caplog):
    (tmp_path / "pmt_ref.yaml").write_text(REFERENCE_PMT_YAML)
    with caplog.at_level("WARNING", logger="videomt.config"):
        cfg = load_config(str(tmp_path / "pmt_ref.yaml"), SMALL)
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    for key in ("NAME", "EXTRA_BN", "LATERAL_PROJECTION", "DECODER_PE", "MASKED_ATTN_ENABLED"):
        assert key not in cfg.MODEL.BACKBONE
    # the reference YAMLs set no schedule: their code's default is PMT's, not VidEoMT's
    assert (cfg.SOLVER.LR_SCHEDULE, list(cfg.SOLVER.WARMUP_STEPS)) == ("warmup_poly", [6000])
    core = build_core(cfg)
    assert isinstance(core, PMT) and len(core.blocks) == 2 and core.num_queries == 200


def test_dead_pmt_keys_warn_once_when_set_to_a_value_that_would_matter(tmp_path, caplog):
    (tmp_path / "pmt_dead.yaml").write_text(
        REFERENCE_PMT_YAML.replace(
            "MASKED_ATTN_ENABLED: False", "MASKED_ATTN_ENABLED: True\n    RESIDUAL_PATH: True"
        )
    )
    with caplog.at_level("WARNING", logger="videomt.config"):
        load_config(str(tmp_path / "pmt_dead.yaml"), SMALL + ["MODEL.BACKBONE.NAME", "VidEoMT"])
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "pmt_dead.yaml" in messages[0]
    assert "MODEL.BACKBONE.MASKED_ATTN_ENABLED=True" in messages[0]
    assert "MODEL.BACKBONE.RESIDUAL_PATH=True" in messages[0]
    assert "NAME" not in messages[0]  # VidEoMT and PMT both name what MODEL.META_ARCHITECTURE does


@pytest.mark.parametrize(
    "key, value, shown",
    [
        ("EXTRA_BN", "False", "False"),
        ("LATERAL_PROJECTION", '"linear"', "'linear'"),
        ("RESIDUAL_PROJECTION", "False", "False"),
        ("LEVEL_SCALERS", "False", "False"),
        ("DECODER_PE", '"sin"', "'sin'"),
        ("DECODER_TYPE", '"offline"', "'offline'"),
    ],
)
def test_unimplemented_pmt_variants_are_refused_in_one_line(tmp_path, key, value, shown):
    default = {
        "EXTRA_BN": "True",
        "LATERAL_PROJECTION": '"mlp"',
        "RESIDUAL_PROJECTION": "True",
        "LEVEL_SCALERS": "True",
        "DECODER_PE": '"rope"',
        "DECODER_TYPE": '"online"',
    }[key]
    path = tmp_path / "variant.yaml"
    path.write_text(REFERENCE_PMT_YAML.replace(f"{key}: {default}", f"{key}: {value}"))
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert str(err.value).startswith(f"{path}: MODEL.BACKBONE.{key} {shown} is not implemented")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=f"command-line overrides: MODEL.BACKBONE.{key}"):
        load_config(None, [f"MODEL.BACKBONE.{key}", value.strip('"')])
