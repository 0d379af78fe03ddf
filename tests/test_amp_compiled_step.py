"""The compiled per-frame step, as the GPU benchmark and the device check run it (batch 1, the
state fed back), is traced once per frame size: not again for the second frame of a stream, not
again for a new stream. Traced with torch.compile's "eager" backend, which guards and recompiles
exactly as inductor does but generates no code, so the test takes a second."""

import torch
import torch._dynamo
from torch._dynamo.utils import counters

import videomt
from tests.model_fixtures import small_cfg
from videomt.inference.runtime import CoreRunner


def traced_graphs() -> int:
    return counters["stats"]["unique_graphs"]


def test_compiled_step_traces_once_per_frame_size_at_batch_1():
    torch.manual_seed(0)
    core = videomt.build_model(
        small_cfg(**{"MODEL.BACKBONE.DEPTH": 2, "MODEL.BACKBONE.SEGMENTER_BLOCKS": [1]})
    ).core
    runner = CoreRunner(core)
    runner._step_fn = torch.compile(runner.frame_step, backend="eager", dynamic=False)
    torch._dynamo.reset()
    counters.clear()

    def stream(hw: tuple[int, int], frames: int) -> None:
        state = None
        for _ in range(frames):
            _, _, state = runner.step(torch.randn(1, 3, *hw), state)

    stream((32, 48), 3)
    assert traced_graphs() == 1  # the first frame's state (the learned queries) is no special case
    stream((32, 48), 2)
    assert traced_graphs() == 1  # a new stream reuses the graph
    stream((48, 32), 2)
    assert traced_graphs() == 2  # a new frame size is a new graph (static shapes: CUDA graphs)
    stream((32, 48), 1)
    assert traced_graphs() == 2
    # the state never shares memory with the weight it starts from
    start = runner.initial_state(1)
    assert start.untyped_storage().data_ptr() != core.q.weight.untyped_storage().data_ptr()
