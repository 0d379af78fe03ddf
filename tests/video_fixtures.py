"""Small videos for the predictor / demo / benchmark tests, written with PyAV (not our writers)."""

import av
import numpy as np

H, W, T = 40, 56, 5  # original frames; a test size of 32 resizes them to 32 x 45 (padded 32 x 48)


def moving_squares(num_frames=T, h=H, w=W, seed=0):
    """(T, H, W, 3) uint8: two coloured squares moving over a smooth noisy background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    frames = []
    for t in range(num_frames):
        img = np.stack([40 + 2 * xx, 60 + 3 * yy, 90 + 0 * xx], -1) + rng.integers(0, 20, (h, w, 3))
        img[8:20, 4 + 3 * t : 16 + 3 * t] = (230, 40, 40)
        img[22:34, 40 - 2 * t : 50 - 2 * t] = (40, 200, 60)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(frames)


def write_mp4(path, frames, fps=5):
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def decode(path):
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


# command-line overrides for small test frames and few outputs (fast CPU inference)
SMALL_TEST_FRAMES = [
    "INPUT.MIN_SIZE_TEST",
    "32",
    "INPUT.MAX_SIZE_TEST",
    "64",
    "MODEL.BACKBONE.TEST.MAX_NUM",
    "4",
]
# command-line overrides that turn the quickstart config into a tiny, fast CPU model
TINY_OPTS = [
    "MODEL.DEVICE",
    "cpu",
    "MODEL.BACKBONE.DEPTH",
    "3",
    "MODEL.BACKBONE.SEGMENTER_BLOCKS",
    "[1, 2]",
    *SMALL_TEST_FRAMES,
]


def write_png_folder(folder, frames):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for t, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"frame_{t:03d}.png")
    return folder
