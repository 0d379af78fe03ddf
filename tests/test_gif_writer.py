"""The GIF writer shares one palette and stores frame differences: a still scene costs a fraction
of coding every frame on its own, with every frame kept and its colours right."""

import numpy as np
from PIL import Image

from videomt.inference.writers import GifWriter

N, H, W = 12, 96, 128


def still_camera_clip() -> np.ndarray:
    """(N, H, W, 3) uint8: a smooth textured background with sensor noise and a moving square."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, (12, 16, 3)).astype(np.uint8)
    background = np.asarray(Image.fromarray(coarse).resize((W, H), Image.BICUBIC), np.float32)
    frames = []
    for t in range(N):
        frame = background + rng.normal(0, 2, background.shape)  # noise repaints every pixel
        frame[30:60, 5 + 8 * t : 35 + 8 * t] = (230, 40, 40)
        frames.append(np.clip(frame, 0, 255).round().astype(np.uint8))
    return np.stack(frames)


def write_gif(path, frames) -> int:
    with GifWriter(str(path), fps=10) as writer:
        for frame in frames:
            writer.write(frame)
    return path.stat().st_size


def read_gif(path) -> np.ndarray:
    with Image.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(np.asarray(im.convert("RGB")))
    return np.stack(out)


def test_gif_is_much_smaller_than_frames_coded_alone_and_keeps_every_frame(tmp_path):
    clip = still_camera_clip()
    size = write_gif(tmp_path / "clip.gif", clip)
    # the naive GIF: every frame coded on its own, with its own palette
    naive = sum(write_gif(tmp_path / f"frame_{t}.gif", clip[t : t + 1]) for t in range(N))
    assert size < naive / 4, (size, naive)
    decoded = read_gif(tmp_path / "clip.gif")
    assert decoded.shape == clip.shape
    error = np.abs(decoded.astype(int) - clip).mean(axis=(1, 2, 3))  # per frame
    naive_error = np.mean(
        [np.abs(read_gif(tmp_path / f"frame_{t}.gif")[0].astype(int) - clip[t]) for t in range(N)]
    )
    assert error.max() < naive_error + 3, (error, naive_error)  # shared palette + noise tolerance
    assert (decoded[-1, 30:60, 5 + 8 * (N - 1)] == (230, 40, 40)).all()  # the square moved on


def test_frame_step_and_max_width_keep_every_nth_frame_scaled_at_the_same_speed(tmp_path):
    """frame_step 3 keeps frames 0, 3, 6, 9, each shown 3x as long; max_width 64 halves the
    128-pixel-wide frames (aspect ratio kept), with the colours as good as at full size."""
    clip = still_camera_clip()
    path = tmp_path / "small.gif"
    with GifWriter(str(path), fps=10, frame_step=3, max_width=64) as writer:
        for frame in clip:
            writer.write(frame)
    assert writer.count == 4 and writer.received == N
    with Image.open(path) as im:
        duration = im.info.get("duration")
    decoded = read_gif(path)
    assert decoded.shape == (4, H // 2, W // 2, 3) and duration == 300
    full_size = tmp_path / "full.gif"
    write_gif(full_size, clip)
    full_error = np.abs(read_gif(full_size).astype(int) - clip).mean()  # about 10 on this clip
    for k, t in enumerate((0, 3, 6, 9)):  # another frame than t differs by far more (> 16)
        expected = np.asarray(Image.fromarray(clip[t]).resize((W // 2, H // 2), Image.BOX))
        assert np.abs(decoded[k].astype(int) - expected).mean() < full_error + 2, t
    assert path.stat().st_size < full_size.stat().st_size / 2  # a still camera: mostly frame 0


def test_max_width_leaves_narrower_frames_alone(tmp_path):
    path = tmp_path / "same.gif"
    with GifWriter(str(path), fps=10, max_width=W) as writer:
        writer.write(still_camera_clip()[0])
    assert read_gif(path).shape == (1, H, W, 3)
