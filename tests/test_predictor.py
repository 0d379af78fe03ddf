"""VideoPredictor and live streams against the dataset-evaluation path (CPU, tiny model)."""

import numpy as np
import pytest
import torch
from PIL import Image

import videomt
from tests.model_fixtures import small_cfg
from tests.video_fixtures import H, T, W, decode, moving_squares, write_mp4
from videomt.data.mappers.inference import VideoTestMapper
from videomt.inference import VideoInputError, open_video

TASK_CFG = {
    "vis": {"DATASETS.TEST": ("synthetic_vis_val",), "MODEL.BACKBONE.NUM_CLASSES": 5},
    "vps": {
        "DATASETS.TEST": ("synthetic_vps_val",),
        "MODEL.BACKBONE.NUM_CLASSES": 8,
        "MODEL.BACKBONE.TEST.OBJECT_MASK_THRESHOLD": 0.2,
        "MODEL.BACKBONE.TEST.OVERLAP_THRESHOLD": 0.3,
    },
    "vss": {"DATASETS.TEST": ("synthetic_vss_val",), "MODEL.BACKBONE.NUM_CLASSES": 8},
}


def tiny_cfg(task="vis", window=3, **extra):
    return small_cfg(
        **{
            "MODEL.BACKBONE.DEPTH": 3,
            "MODEL.BACKBONE.SEGMENTER_BLOCKS": [1, 2],
            "MODEL.BACKBONE.TEST.TASK": task,
            "MODEL.BACKBONE.TEST.WINDOW_SIZE": window,
            "MODEL.BACKBONE.TEST.MAX_NUM": 6,
            "INPUT.MIN_SIZE_TEST": 32,
            "INPUT.MAX_SIZE_TEST": 64,
            **TASK_CFG[task],
            **extra,
        }
    )


def evaluation_path(model, frames, tmp_path):
    """The dataset-evaluation path on these exact frames: PNG files -> test mapper -> model."""
    folder = tmp_path / "png_frames"
    folder.mkdir(exist_ok=True)
    files = []
    for t, f in enumerate(frames):
        files.append(str(folder / f"{t:05d}.png"))
        Image.fromarray(f).save(files[-1])
    cfg = tiny_cfg()
    mapped = VideoTestMapper(**VideoTestMapper.from_config(cfg))(
        {"file_names": files, "height": frames.shape[1], "width": frames.shape[2], "video_id": 1}
    )
    with torch.no_grad():
        return model([mapped])[0], model.run_video(mapped["image"])


@pytest.fixture(scope="module")
def predictors():
    torch.manual_seed(0)
    return {
        task: videomt.VideoPredictor(tiny_cfg(task), device="cpu") for task in ("vis", "vps", "vss")
    }


def test_predictor_input_path_equals_the_evaluation_mapper(predictors, tmp_path):
    """An mp4 decoded and resized by the predictor gives the raw outputs that the dataset
    evaluation computes from the same frames stored as PNGs and read by the test mapper."""
    predictor = predictors["vss"]
    path = tmp_path / "video.mp4"
    write_mp4(path, moving_squares())
    frames = decode(path)  # the frames the predictor sees (lossy codec)
    raw = list(predictor.raw_frames(str(path)))
    _, expected = evaluation_path(predictor.model, frames, tmp_path)
    assert len(raw) == T
    for t, (logits, masks, geo) in enumerate(raw):
        assert geo.output_size == (H, W) and geo.padded_size == expected["padded_size"]
        torch.testing.assert_close(logits, expected["pred_logits"][t], rtol=0, atol=1e-5)
        torch.testing.assert_close(masks, expected["pred_masks"][t], rtol=0, atol=1e-5)


def test_vis_results_are_one_entry_per_query(predictors, tmp_path):
    """Each frame lists a query at most once, with its best class of the video-mean logits,
    most probable first; the evaluation's (query, class) pairs repeat queries on this video."""
    predictor = predictors["vis"]
    frames = moving_squares()
    raw = list(predictor.raw_frames(frames))
    mean = torch.stack([logits for logits, _, _ in raw]).mean(0)  # (Q, K+1)
    probs = mean.softmax(-1)[:, :-1]  # (Q, K)
    evaluation, _ = evaluation_path(predictor.model, frames, tmp_path)
    pairs = evaluation["pred_ids"].tolist()
    assert len(set(pairs)) < len(pairs)  # the evaluation rule repeats a query here
    for r in predictor(frames):
        ids = r["track_ids"].tolist()
        assert len(ids) == predictor.model.max_num == len(set(ids))
        assert torch.equal(r["labels"], probs[r["track_ids"]].argmax(-1))
        torch.testing.assert_close(r["scores"], probs[r["track_ids"]].max(-1).values)
        assert r["scores"].tolist() == sorted(r["scores"].tolist(), reverse=True)
        others = [q for q in range(probs.shape[0]) if q not in ids]
        assert probs[others].max() <= r["scores"].min() + 1e-6  # no better query left out
        assert r["masks"].shape == (len(ids), H, W) and r["masks"].dtype == torch.bool


def test_long_video_second_pass_reruns_the_model(predictors, tmp_path):
    """With no room for cached mask logits the predictor decodes and runs the video again; the
    results are those of the cached run (same frames, same windows)."""
    predictor = predictors["vis"]
    frames = moving_squares()
    cached = list(predictor(frames))
    budget, predictor.cache_bytes = predictor.cache_bytes, 0
    try:
        calls = []
        original = predictor.runner.window
        predictor.runner.window = lambda *a: calls.append(1) or original(*a)
        rerun = list(predictor(frames))
    finally:
        predictor.cache_bytes = budget
        del predictor.runner.window
    assert len(calls) == 2 * 2  # two passes of ceil(5 / 3) windows
    for a, b in zip(cached, rerun):
        assert all(torch.equal(a[k], b[k]) for k in ("scores", "labels", "track_ids", "masks"))


def test_gif_folder_and_arrays_give_the_same_results(predictors, tmp_path):
    predictor = predictors["vss"]
    frames = moving_squares()
    Image.fromarray(frames[0]).save(
        tmp_path / "v.gif",
        save_all=True,
        duration=200,
        append_images=[Image.fromarray(f) for f in frames[1:]],
    )
    gif_frames = np.stack([np.asarray(f.convert("RGB")) for f in _gif_frames(tmp_path / "v.gif")])
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, f in enumerate(gif_frames):
        Image.fromarray(f).save(folder / f"{t:03d}.png")
    from_gif = [r["sem_seg"] for r in predictor(str(tmp_path / "v.gif"))]
    from_folder = [r["sem_seg"] for r in predictor(str(folder))]
    from_list = [r["sem_seg"] for r in predictor(list(gif_frames))]
    from_paths = [r["sem_seg"] for r in predictor(sorted(str(p) for p in folder.iterdir()))]
    from_tensor = [
        r["sem_seg"] for r in predictor(torch.from_numpy(gif_frames).permute(0, 3, 1, 2))
    ]
    assert len(from_gif) == T
    for a, b, c, d, e in zip(from_gif, from_folder, from_list, from_tensor, from_paths):
        assert torch.equal(a, b) and torch.equal(a, c) and torch.equal(a, d) and torch.equal(a, e)
    assert len(list(predictor(str(folder), max_frames=2))) == 2


def _gif_frames(path):
    with Image.open(path) as im:
        for i in range(im.n_frames):
            im.seek(i)
            yield im.copy()


def test_stream_equals_offline_on_raw_outputs_and_final_classes():
    """Window size 1: the stream runs exactly the evaluation's computation. Per frame the causal
    class logits are the running mean of the offline per-frame logits; masks and track ids of
    the tracks both select are identical; the last frame's classes are the video-level ones."""
    torch.manual_seed(0)
    predictor = videomt.VideoPredictor(tiny_cfg("vis", window=1), device="cpu")
    frames = moving_squares()
    raw = list(predictor.raw_frames(frames))
    offline = list(predictor(frames))
    stream = predictor.stream()
    running = torch.zeros_like(raw[0][0], dtype=torch.float64)
    for t, frame in enumerate(frames):
        result = stream.step(frame)
        running += raw[t][0].double()
        assert result["frame_index"] == t
        torch.testing.assert_close(
            stream.mean_logits, (running / (t + 1)).float(), rtol=0, atol=1e-6
        )
        for i, track in enumerate(result["track_ids"].tolist()):
            j = (
                offline[t]["track_ids"].tolist().index(track)
                if track in offline[t]["track_ids"]
                else None
            )
            if j is not None:
                assert torch.equal(result["masks"][i], offline[t]["masks"][j])
    last = offline[-1]
    assert torch.equal(result["track_ids"], last["track_ids"]) and torch.equal(
        result["labels"], last["labels"]
    )
    torch.testing.assert_close(result["scores"], last["scores"], rtol=0, atol=1e-6)
    # the offline windows of 3 frames give the same raw outputs up to float rounding
    windowed = list(
        videomt.VideoPredictor(tiny_cfg("vis", window=3), model=predictor.model).raw_frames(frames)
    )
    for (a, ma, _), (b, mb, _) in zip(raw, windowed):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(ma, mb, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("task", ["vis", "vps"])
def test_streams_batched_equal_streams_alone(predictors, task):
    predictor = predictors[task]
    a, b = moving_squares(seed=1), moving_squares(seed=2)[:, ::-1].copy()
    c = moving_squares(h=48, w=48, seed=3)  # another size: runs as its own batch
    sa, sb, sc = predictor.stream(), predictor.stream(), predictor.stream()
    alone_a = [sa.step(f) for f in a]
    alone_b = [sb.step(f) for f in b]
    alone_c = [sc.step(f) for f in c]
    batch = [predictor.stream() for _ in range(3)]
    sizes = []
    original = predictor.runner.step
    predictor.runner.step = lambda x, s: sizes.append(x.shape[0]) or original(x, s)
    try:
        together = [predictor.step_streams(batch, [fa, fb, fc]) for fa, fb, fc in zip(a, b, c)]
    finally:
        del predictor.runner.step
    assert sizes == [2, 1] * T  # a and b batched along B, c alone
    for t in range(T):
        for got, want in zip(together[t], (alone_a[t], alone_b[t], alone_c[t])):
            _assert_same_result(got, want, task)


def _assert_same_result(got, want, task):
    if task == "vis":
        assert torch.equal(got["track_ids"], want["track_ids"])
        torch.testing.assert_close(got["scores"], want["scores"], rtol=0, atol=1e-5)
        mismatch = (got["masks"] != want["masks"]).float().mean()
        assert mismatch < 1e-3  # batching may flip a pixel at a logit of exactly ~0
    else:
        assert (got["panoptic_seg"] != want["panoptic_seg"]).float().mean() < 1e-3
        assert [s["id"] for s in got["segments_info"]] == [s["id"] for s in want["segments_info"]]


def test_stream_panoptic_ids_are_stable_query_ids(predictors):
    predictor = predictors["vps"]
    stream = predictor.stream()
    q = predictor.model.core.num_queries
    for frame in moving_squares():
        result = stream.step(frame)
        for s in result["segments_info"]:
            assert s["id"] == (s["track_id"] + 1 if s["isthing"] else q + 1 + s["category_id"])
            assert (result["panoptic_seg"] == s["id"]).sum() == s["area"] > 0


def test_grayscale_and_rgba_frames_are_converted(predictors):
    predictor = predictors["vss"]
    rgb = moving_squares(num_frames=2)
    gray = rgb.mean(-1).astype(np.uint8)
    gray_results = list(predictor(list(gray)))
    as_rgb = list(predictor(list(np.repeat(gray[..., None], 3, -1))))
    assert all(torch.equal(a["sem_seg"], b["sem_seg"]) for a, b in zip(gray_results, as_rgb))
    rgba = np.concatenate([rgb, np.full(rgb.shape[:3] + (1,), 7, np.uint8)], -1)
    assert all(
        torch.equal(a["sem_seg"], b["sem_seg"]) for a, b in zip(predictor(rgba), predictor(rgb))
    )


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: [], "no frames"),
        (lambda p: np.zeros((3, 8, 8, 3), np.float32), "uint8"),
        (
            lambda p: [np.zeros((8, 8, 3), np.uint8), np.zeros((9, 8, 3), np.uint8)],
            "frame 1 is 9x8 but frame 0 is 8x8",
        ),
        (lambda p: str(p / "missing.mp4"), "not found"),
        (
            lambda p: (p / "notes.mp4").write_text("hello") and str(p / "notes.mp4"),
            "not a readable video",
        ),
        (lambda p: (p / "empty").mkdir() or str(p / "empty"), "no image files"),
        (lambda p: np.zeros((8, 8, 3), np.uint8), "must be 4-D"),
        (lambda p: 3.5, "unsupported video input"),
    ],
)
def test_bad_inputs_are_one_clear_error(predictors, tmp_path, make, message):
    with pytest.raises(VideoInputError, match=message) as info:
        list(predictors["vis"](make(tmp_path)))
    assert "\n" not in str(info.value)


def test_stream_errors(predictors):
    predictor = predictors["vis"]
    stream = predictor.stream()
    stream.step(moving_squares(num_frames=1)[0])
    with pytest.raises(
        VideoInputError, match="stream frame 1 is 30x30 but the stream started at 40x56"
    ):
        stream.step(np.zeros((30, 30, 3), np.uint8))
    with pytest.raises(
        ValueError, match=r"stream state must be a float tensor of shape \(1, 10, 384\)"
    ):
        stream.state = torch.zeros(1, 10, 5)
    with pytest.raises(VideoInputError, match="uint8"):
        stream.step(np.zeros((40, 56, 3), np.float32))
    with pytest.raises(VideoInputError, match="webcam 99: cannot be opened"):
        open_video(99)
    stream.reset()
    assert stream.step(np.zeros((30, 30, 3), np.uint8))["frame_index"] == 0


def test_predictor_loads_weights_and_reports_class_names(tmp_path):
    torch.manual_seed(1)
    cfg = tiny_cfg("vis")
    model = videomt.build_model(cfg)
    torch.save({"model": model.state_dict()}, tmp_path / "w.pth")
    predictor = videomt.VideoPredictor(cfg, weights=str(tmp_path / "w.pth"))
    for k, v in model.state_dict().items():
        assert torch.equal(predictor.model.state_dict()[k], v), k
    assert predictor.class_names == ["circle", "square", "triangle", "star", "cross"]
