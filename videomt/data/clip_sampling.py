"""Which frames of a video make a training clip."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def sample_clip_indices(
    length: int,
    num_frames: int,
    frame_range: int,
    rng: np.random.Generator,
    shuffle: bool = False,
    reverse: bool = False,
) -> list[int]:
    """Frame indices of one training clip of a ``length``-frame video.

    * ``2 * frame_range + 1 == num_frames`` (all released configs): a contiguous window whose start
      is uniform in ``[0, length - num_frames - 1]`` (the reference's ``randrange(length -
      num_frames)``; 0 when ``length == num_frames``). A shorter video gives all its frames, then
      ``num_frames - length`` frames drawn with replacement (unsorted).
    * otherwise: a uniformly drawn reference frame plus ``num_frames - 1`` frames drawn with
      replacement from ``[ref - frame_range, ref + frame_range]`` minus ``ref`` (clipped to the
      video), sorted. A one-frame video repeats its only frame.
    * ``shuffle`` (``SAMPLING_FRAME_SHUFFLE``): shuffle the chosen indices.
    * ``reverse`` (``REVERSE_AGU``): reverse the clip with probability 0.5.
    """
    if length < 1:
        raise ValueError(f"cannot sample a clip from a video with {length} frames")
    if num_frames < 1:
        raise ConfigError(f"INPUT.SAMPLING_FRAME_NUM must be >= 1, got {num_frames}")
    if 2 * frame_range + 1 == num_frames:
        if length < num_frames:
            idx = list(range(length)) + rng.integers(0, length, size=num_frames - length).tolist()
        else:
            start = int(rng.integers(length - num_frames)) if length > num_frames else 0
            idx = list(range(start, start + num_frames))
    else:
        ref = int(rng.integers(length))
        lo, hi = max(0, ref - frame_range), min(length, ref + frame_range + 1)
        pool = [i for i in range(lo, hi) if i != ref]
        others = rng.choice(pool, size=num_frames - 1) if pool else [ref] * (num_frames - 1)
        idx = sorted([int(i) for i in others] + [ref])
    if shuffle:
        idx = [idx[i] for i in rng.permutation(len(idx))]
    if reverse and rng.random() < 0.5:
        idx = idx[::-1]
    return idx
