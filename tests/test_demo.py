"""tools/video_demo.py writes GIF / MP4 / PNG outputs with the right frames and overlays."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from tests.video_fixtures import (
    TINY_OPTS,
    H,
    T,
    W,
    decode,
    moving_squares,
    write_mp4,
    write_png_folder,
)
from videomt.config import load_config
from videomt.inference import VideoPredictor
from videomt.inference.visualize import draw_result

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "tools", "video_demo.py")
QUICKSTART = os.path.join(ROOT, "configs", "quickstart", "synthetic_vis.yaml")
_spec = importlib.util.spec_from_file_location("video_demo", DEMO)
video_demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(video_demo)


def demo(inp, out, *flags):
    torch.manual_seed(0)  # same random weights in every run
    return video_demo.main(
        ["--config-file", QUICKSTART, "--input", str(inp), "--output", str(out), *flags, *TINY_OPTS]
    )


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory):
    return write_png_folder(tmp_path_factory.mktemp("input") / "frames", moving_squares())


def read_gif(path):
    with Image.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(np.asarray(im.convert("RGB")))
        return np.stack(out), im.info.get("duration")


def test_png_folder_output_and_confidence_threshold(frames_dir, tmp_path):
    """PNG output is lossless: at 1 nothing is drawn (every score is below it: frames unchanged);
    at 0 every track is; a threshold between the two best scores draws only the best track."""
    torch.manual_seed(0)
    predictor = VideoPredictor(load_config(QUICKSTART, TINY_OPTS))
    scores = next(iter(predictor(str(frames_dir))))[
        "scores"
    ]  # video-level: the same in every frame
    middle = float(scores[0] + scores[1]) / 2
    inputs = moving_squares()
    outputs = {}
    for thr in ("0", str(middle), "1"):
        demo(frames_dir, tmp_path / f"out_{thr}", "--confidence-threshold", thr)
        files = sorted(os.listdir(tmp_path / f"out_{thr}"))
        assert files == [f"frame_{t:03d}.png" for t in range(T)]  # named after the input frames
        outputs[thr] = np.stack(
            [np.asarray(Image.open(tmp_path / f"out_{thr}" / f)) for f in files]
        )
    assert np.array_equal(outputs["1"], inputs)
    assert (outputs["0"] != inputs).any(-1).mean() > 0.5  # masks, outlines, labels and the legend
    assert (outputs[str(middle)] != inputs).any() and (outputs[str(middle)] != outputs["0"]).any()
    one_track = draw_result(
        inputs[0], next(iter(predictor(str(frames_dir)))), predictor.class_names, middle
    )
    assert np.array_equal(outputs[str(middle)][0], one_track)


def test_gif_and_mp4_outputs(frames_dir, tmp_path):
    video = tmp_path / "in.mp4"
    write_mp4(video, moving_squares(), fps=5)
    demo(video, tmp_path / "out.gif", "--confidence-threshold", "0", "--fps", "4")
    gif, duration = read_gif(tmp_path / "out.gif")
    assert gif.shape == (T, H, W, 3) and duration == 250
    assert (gif != decode(video)).any(-1).mean() > 0.5  # overlays visible
    demo(video, tmp_path / "plain.gif", "--confidence-threshold", "1")  # nothing drawn
    assert (
        np.abs(read_gif(tmp_path / "plain.gif")[0].astype(int) - decode(video)).mean() < 4
    )  # right colours
    demo(
        frames_dir,
        tmp_path / "out.mp4",
        "--max-frames",
        "3",
        "--stream",
        "--confidence-threshold",
        "0",
    )
    mp4 = decode(tmp_path / "out.mp4")
    assert mp4.shape == (3, H, W, 3)
    assert np.abs(mp4.astype(int) - moving_squares()[:3]).mean() > 10  # overlays survive the codec


def test_gif_frame_step_and_max_width(frames_dir, tmp_path, monkeypatch, capsys):
    """--gif-frame-step 2 keeps frames 0, 2, 4 of 5, each shown twice as long; --gif-max-width 28
    halves the 56-pixel-wide frames. A large GIF written without them gets a hint."""
    monkeypatch.setattr(video_demo, "LARGE_GIF_MB", 0.0)  # every GIF counts as large here
    demo(frames_dir, tmp_path / "full.gif")
    assert "--gif-max-width 320 --gif-frame-step 2" in capsys.readouterr().out
    demo(
        frames_dir,
        tmp_path / "small.gif",
        "--fps",
        "4",
        "--gif-frame-step",
        "2",
        "--gif-max-width",
        "28",
    )
    assert capsys.readouterr().out.endswith(" MB)\n")  # the size, no hint
    gif, duration = read_gif(tmp_path / "small.gif")
    assert gif.shape == (3, H // 2, W // 2, 3) and duration == 500


def test_stream_and_offline_agree_on_the_last_frame(frames_dir, tmp_path):
    """Causal class scores equal the video-level ones once the whole video is seen."""
    demo(frames_dir, tmp_path / "off", "--confidence-threshold", "0")
    demo(frames_dir, tmp_path / "on", "--confidence-threshold", "0", "--stream")
    last = f"frame_{T - 1:03d}.png"
    off, on = (np.asarray(Image.open(tmp_path / run / last)) for run in ("off", "on"))
    assert np.array_equal(off, on)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--input", "missing.mp4", "--output", "o.gif"],
            "missing.mp4: video file or frame folder not found",
        ),
        (["--input", "{frames}", "--output", "o.avi"], "the output must end in .gif or .mp4"),
        (["--input", "{text}", "--output", "o.gif"], "not a readable video"),
        (
            ["--input", "{frames}", "--output", "o.gif", "--max-frames", "0"],
            "--max-frames must be positive",
        ),
        (
            ["--input", "{frames}", "--output", "o.gif", "MODEL.BACKBONE.NUM_CLASES", "3"],
            "unknown config key",
        ),
        (
            ["--input", "{frames}", "--output", "o.gif", "--confidence-threshold", "1.5"],
            "--confidence-threshold must be in [0, 1], got 1.5",
        ),
        (
            ["--input", "{frames}", "--output", "o.gif", "--device", "cuda:99"],
            "--device is 'cuda:99' but",
        ),
        (["--input", "{frames}", "--output", "{text}/o.gif"], "notes.mp4 is a file, not a folder"),
        (
            ["--input", "{frames}", "--output", "o.gif", "--gif-frame-step", "0"],
            "--gif-frame-step must be >= 1, got 0",
        ),
        (
            ["--input", "{frames}", "--output", "o.gif", "--gif-max-width", "-5"],
            "--gif-max-width must be >= 1, got -5",
        ),
        (
            ["--input", "{frames}", "--output", "o.mp4", "--gif-max-width", "320"],
            "--gif-frame-step / --gif-max-width apply to a .gif --output, not o.mp4",
        ),
    ],
)
def test_user_errors_are_one_line_exit_2(frames_dir, tmp_path, args, message):
    (tmp_path / "notes.mp4").write_text("not a video")
    args = [a.format(frames=frames_dir, text=tmp_path / "notes.mp4") for a in args]
    proc = subprocess.run(
        [sys.executable, DEMO, "--config-file", QUICKSTART, *args, *TINY_OPTS],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0


def test_panoptic_and_semantic_drawing():
    frame = np.full((40, 60, 3), 100, np.uint8)
    pan = torch.zeros(40, 60, dtype=torch.int32)
    pan[:, :20], pan[:, 40:] = 3, 7
    segments = [
        {"id": 3, "isthing": True, "category_id": 1, "score": 0.9, "track_id": 2},
        {"id": 7, "isthing": False, "category_id": 4, "score": 0.4, "track_id": 5},
    ]
    drawn = draw_result(
        frame,
        {"panoptic_seg": pan, "segments_info": segments},
        ["a", "b", "c", "d", "e"],
        0.5,
        legend=False,
    )
    assert (drawn[30:, 25:35] == frame[30:, 25:35]).all()  # void stays as it is
    assert (
        drawn[30:, 45:55] == frame[30:, 45:55]
    ).all()  # the stuff segment scores below the threshold
    assert (drawn[30:, 5:15] != frame[30:, 5:15]).any(-1).all()  # the thing segment is drawn
    sem = torch.zeros(40, 60, dtype=torch.int64)
    sem[:, 30:] = 2
    drawn = draw_result(frame, {"sem_seg": sem}, ["a", "b", "c"], 0.99, legend=False)
    left, right = drawn[30, 10], drawn[30, 50]
    assert (left != frame[0, 0]).any() and (right != frame[0, 0]).any() and (left != right).any()
