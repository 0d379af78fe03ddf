"""Video input is never silently shortened, and the demo leaves no unfinished output behind."""

import importlib.util
import os

import av
import numpy as np
import pytest
import torch

from tests.video_fixtures import TINY_OPTS, moving_squares
from videomt.inference import open_video
from videomt.inference.video_io import VideoInputError
from videomt.inference.writers import open_writer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART = os.path.join(ROOT, "configs", "quickstart", "synthetic_vis.yaml")


def _truncated_mp4(folder, frames=40):
    """An MP4 with its index at the start ("faststart"), cut to 45% of its bytes: the index still
    declares every frame, the data of the later ones is gone."""
    video = np.random.default_rng(0).integers(0, 255, (frames, 64, 80, 3), dtype=np.uint8)
    path = folder / "full.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 80, 64, "yuv420p"
        for f in video:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = path.read_bytes()
    cut = folder / "cut.mp4"
    cut.write_bytes(data[: len(data) * 45 // 100])
    return path, cut


def test_truncated_video_is_an_error_with_both_counts(tmp_path):
    full, cut = _truncated_mp4(tmp_path)
    assert len(list(open_video(full))) == 40
    source = open_video(cut)
    assert len(source) == 40  # what the container declares
    with pytest.raises(VideoInputError) as e:
        list(source)
    msg = str(e.value)
    assert msg.startswith(f"{cut}: only ") and "of the 40 frames" in msg and "\n" not in msg, msg
    assert len(list(open_video(cut, max_frames=5))) == 5  # a prefix that decodes is fine


def _demo():
    spec = importlib.util.spec_from_file_location(
        "video_demo", os.path.join(ROOT, "tools", "video_demo.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("output", ["out.mp4", "out_frames"])
def test_demo_removes_the_output_it_could_not_finish(tmp_path, output):
    _, cut = _truncated_mp4(tmp_path, frames=12)
    out = tmp_path / output
    (tmp_path / "out_frames").mkdir()
    (tmp_path / "out_frames" / "keep.txt").write_text("not the demo's")
    torch.manual_seed(0)
    with pytest.raises(VideoInputError, match="of the 12 frames the file declares"):
        _demo().main(
            ["--config-file", QUICKSTART, "--input", str(cut), "--output", str(out), "--stream"]
            + TINY_OPTS
        )
    if output.endswith(".mp4"):
        assert not out.exists()
    else:
        assert os.listdir(out) == ["keep.txt"]  # the PNGs written before the error are gone


def test_writer_left_by_an_exception_deletes_its_file(tmp_path):
    path = tmp_path / "o.gif"
    with pytest.raises(KeyboardInterrupt):
        with open_writer(str(path), 5) as writer:
            for frame in moving_squares(3):
                writer.write(frame)
            assert path.exists()
            raise KeyboardInterrupt
    assert not path.exists()
