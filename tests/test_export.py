"""tools/export.py: the per-frame step to ONNX (checked with onnxruntime) and torch.export."""

import importlib.util
import json
import os

import numpy as np
import onnxruntime
import pytest
import torch

from tests.video_fixtures import TINY_OPTS
from videomt.config import load_config
from videomt.data.augmentation import shortest_edge_size
from videomt.inference import VideoPredictor
from videomt.inference.export import STEP_INPUTS, STEP_OUTPUTS, onnx_step_parity
from videomt.inference.runtime import FrameStep
from videomt.modeling.backbone import is_dinov3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART = os.path.join(ROOT, "configs", "quickstart", "synthetic_vis.yaml")
_spec = importlib.util.spec_from_file_location(
    "export_tool", os.path.join(ROOT, "tools", "export.py")
)
export_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_tool)


def export_quickstart(output, height: str, width: str, *args: str) -> int:
    """``tools/export.py`` of the quickstart config at ``height`` x ``width`` into ``output``."""
    argv = ["--config-file", QUICKSTART, "--output", str(output), "--input-size", height, width]
    return export_tool.main([*argv, *args])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The CLI's export of a tiny random model at 64x64 (dynamic batch / height / width)."""
    out = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    assert export_quickstart(out, "64", "64", "--check-frames", "0", *TINY_OPTS) == 0
    torch.manual_seed(0)  # the same random weights for the PyTorch side
    predictor = VideoPredictor(load_config(QUICKSTART, TINY_OPTS))
    return out, predictor.model


def test_export_writes_the_files_and_metadata(exported):
    out, model = exported
    assert {"step.onnx", "step.pt2", "metadata.json", "initial_state.npy"} <= set(os.listdir(out))
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["num_queries"] == model.core.num_queries and meta["size_divisibility"] == 32
    assert meta["class_names"][0] == "circle" and len(meta["pixel_mean"]) == 3
    assert np.array_equal(
        np.load(out / "initial_state.npy"), model.core.q.weight.detach()[None].numpy()
    )


@pytest.mark.parametrize(
    "size", [(64, 64), (32, 96)]
)  # the export size and another one (dynamic H, W)
def test_onnxruntime_matches_pytorch_over_frames_with_state_fed_back(exported, size):
    out, model = exported
    assert onnx_step_parity(model.core, str(out / "step.onnx"), size, num_frames=3) < 1e-4


def test_onnx_batch_of_streams(exported):
    out, model = exported
    session = onnxruntime.InferenceSession(
        str(out / "step.onnx"), providers=["CPUExecutionProvider"]
    )
    assert [i.name for i in session.get_inputs()] == STEP_INPUTS
    frames = torch.randn(3, 3, 32, 64)
    state = model.core.initial_state(3).detach().contiguous() + 0.1 * torch.randn(
        3, model.core.num_queries, 384
    )
    with torch.no_grad():
        ours = FrameStep(model.core)(frames, state)
    theirs = session.run(STEP_OUTPUTS, {"frames": frames.numpy(), "state": state.numpy()})
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.numpy(), b, atol=1e-4, rtol=0)


def test_torch_export_program_round_trip(exported):
    out, model = exported
    program = torch.export.load(str(out / "step.pt2"))
    frames, state = torch.randn(2, 3, 48, 64), model.core.initial_state(2).detach().contiguous()
    with torch.no_grad():
        ours, theirs = FrameStep(model.core)(frames, state), program.module()(frames, state)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_bad_export_size_is_one_clear_error(exported, tmp_path):
    patch = exported[1].core.patch_size  # 60 is not a multiple of the quickstart's 8 (nor of 16)
    with pytest.raises(
        ValueError, match=f"60x64 must be positive multiples of the patch size {patch}$"
    ):
        export_quickstart(tmp_path, "60", "64", "--format", "onnx", *TINY_OPTS)


def test_dinov3_step_exports_and_matches_onnxruntime(tmp_path):
    """A DINOv3 encoder (RoPE positions computed from the frame size) exports with dynamic H, W
    too."""
    opts = TINY_OPTS + [
        "MODEL.BACKBONE.MODEL_NAME",
        "facebook/dinov3-vits16-pretrain-lvd1689m",
        "MODEL.BACKBONE.PRETRAINED",
        "",
    ]
    torch.manual_seed(0)
    assert (
        export_quickstart(tmp_path, "64", "64", "--format", "onnx", "--check-frames", "0", *opts)
        == 0
    )
    torch.manual_seed(0)  # the same random weights for the PyTorch side
    model = VideoPredictor(load_config(QUICKSTART, opts)).model
    assert is_dinov3(model.core.encoder)  # really the RoPE path
    for size in ((64, 64), (32, 96)):
        assert onnx_step_parity(model.core, str(tmp_path / "step.onnx"), size, num_frames=2) < 1e-4


def readme_onnx_snippet() -> str:
    """The README's onnxruntime snippet (the python block that opens ``step.onnx``)."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        blocks = f.read().split("```python\n")[1:]
    [code] = [b.split("```")[0] for b in blocks if 'InferenceSession(f"{folder}/step.onnx"' in b]
    return code


def test_readme_onnxruntime_snippet_runs_and_matches_pytorch(exported):
    out, model = exported
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["test_resize"]["min_size"] == 32 and meta["test_resize"]["max_size"] == 64
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (45, 70, 3), dtype=np.uint8) for _ in range(3)]
    code = readme_onnx_snippet().replace('folder = "export/yt19_S"', f"folder = {str(out)!r}")
    scope = {"frames": frames}
    exec(code, scope)
    prepared = [scope["prepare"](rgb) for rgb in frames]
    h, w = shortest_edge_size(45, 70, 32, 64)
    assert prepared[0].shape == (1, 3, -(-h // 32) * 32, -(-w // 32) * 32)
    step = FrameStep(model.core).eval()
    state = model.core.initial_state(1)
    with torch.no_grad():
        for x in prepared:  # PyTorch on the same inputs, state fed back
            logits, masks, state = step(torch.from_numpy(x), state)
    assert np.abs(scope["class_logits"] - logits.numpy()).max() < 1e-4
    assert np.abs(scope["mask_logits"] - masks.numpy()).max() < 1e-4
    assert np.abs(scope["state"] - state.numpy()).max() < 1e-4
