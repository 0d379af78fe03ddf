"""Clip sampling rules, training sampler determinism / resume, inference shards."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from videomt.data.clip_sampling import sample_clip_indices
from videomt.data.samplers import InferenceSampler, MixedTrainingBatchSampler, ShuffledStream

# ----------------------------------------------------------------------------- clip sampling


def test_contiguous_clip_start_is_randrange_len_minus_num():
    rng = np.random.default_rng(0)
    starts = Counter()
    for _ in range(3000):
        idx = sample_clip_indices(10, 5, 2, rng)
        assert idx == list(range(idx[0], idx[0] + 5))
        starts[idx[0]] += 1
    assert set(starts) == {0, 1, 2, 3, 4}  # start 5 (= len - 5) is never drawn
    assert min(starts.values()) > 450  # uniform: ~600 each


def test_clip_of_exact_length_and_short_video_padding():
    rng = np.random.default_rng(1)
    assert sample_clip_indices(5, 5, 2, rng) == [0, 1, 2, 3, 4]
    tails = set()
    for _ in range(200):
        idx = sample_clip_indices(3, 5, 2, rng)
        assert idx[:3] == [0, 1, 2] and len(idx) == 5
        assert all(0 <= i < 3 for i in idx[3:])
        tails.add(tuple(idx[3:]))
    assert any(a > b for a, b in tails)  # appended unsorted
    assert sample_clip_indices(1, 5, 2, rng) == [0] * 5


def test_reference_frame_sampling_when_range_does_not_match():
    rng = np.random.default_rng(2)
    for _ in range(300):
        idx = sample_clip_indices(30, 3, 4, rng)
        assert idx == sorted(idx) and len(idx) == 3
        assert max(idx) - min(idx) <= 8  # within [ref - 4, ref + 4]
    assert sample_clip_indices(1, 3, 4, rng) == [0, 0, 0]


def test_shuffle_and_reverse_flags():
    rng = np.random.default_rng(3)
    clips = [sample_clip_indices(20, 5, 2, rng, reverse=True) for _ in range(400)]
    rev = sum(c == sorted(c, reverse=True) for c in clips)
    assert all(c in (sorted(c), sorted(c, reverse=True)) for c in clips)
    assert 140 < rev < 260
    assert all(c == sorted(c) for c in (sample_clip_indices(20, 5, 2, rng) for _ in range(100)))
    shuffled = [sample_clip_indices(20, 5, 2, rng, shuffle=True) for _ in range(100)]
    assert any(c != sorted(c) for c in shuffled)
    assert all(sorted(c) == list(range(min(c), min(c) + 5)) for c in shuffled)


def test_empty_video_is_an_error():
    with pytest.raises(ValueError, match="0 frames"):
        sample_clip_indices(0, 5, 2, np.random.default_rng(0))


# ----------------------------------------------------------------------------- training sampler


def test_shuffled_stream_epochs_are_permutations():
    s = ShuffledStream(7, seed=3)
    for epoch in range(3):
        assert sorted(s.at(epoch * 7 + i) for i in range(7)) == list(range(7))
    assert [s.at(i) for i in range(7)] != [s.at(7 + i) for i in range(7)]
    assert [ShuffledStream(7, 3, shuffle=False).at(i) for i in range(9)] == [
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        0,
        1,
    ]


def test_one_dataset_is_its_shuffled_stream_resumable_and_sharded():
    """One training set (no mixing): the clips are its ShuffledStream in order, epoch after epoch,
    whatever the resume point, and ranks take consecutive slices of each global batch (Detectron2's
    TrainingSampler order)."""

    def indices(seed=5, **kw):
        s = MixedTrainingBatchSampler([11], batch_size=2, seed=seed, **kw)
        return [k.index for b in itertools.islice(iter(s), 20) for k in b]

    a = indices(rank=0, world_size=1)
    assert a == [ShuffledStream(11, 5, tag=0).at(k) for k in range(40)]
    assert sorted(a[:11]) == list(range(11)) and sorted(a[11:22]) == list(range(11))
    assert a != indices(seed=6, rank=0, world_size=1)
    assert indices(rank=0, world_size=1, start_iter=7)[:26] == a[14:]
    r0, r1 = indices(rank=0, world_size=2), indices(rank=1, world_size=2)
    assert r0 == a[0::2] and r1 == a[1::2]


def _sampler(**kw):
    args = dict(sizes=[13, 29], ratios=[1.0, 1.0], batch_size=4, seed=42, rank=0, world_size=1)
    args.update(kw)
    return MixedTrainingBatchSampler(**args)


def test_mixed_sampler_depends_only_on_seed_and_iteration():
    ref = _sampler()
    run = list(itertools.islice(iter(ref), 60))
    assert all(len(b) == 4 for b in run)
    # a fresh sampler asked for iteration 37 first gives the same batch
    assert _sampler().batch(37) == run[37]
    # resuming at iteration 25 replays the uninterrupted run
    resumed = list(itertools.islice(iter(_sampler(start_iter=25)), 35))
    assert resumed == run[25:]
    other = list(itertools.islice(iter(_sampler(seed=43)), 60))
    assert [k[:2] for b in other for k in b] != [k[:2] for b in run for k in b]


def test_mixed_sampler_ranks_split_the_global_batch():
    full = _sampler(batch_size=6)
    for it in (0, 3, 1000):
        parts = [_sampler(batch_size=6, rank=r, world_size=3).batch(it) for r in range(3)]
        assert all(len(p) == 2 for p in parts)
        assert [k for p in parts for k in p] == full.batch(it)
    with pytest.raises(ValueError, match="not divisible"):
        _sampler(batch_size=5, rank=0, world_size=2)


def test_mixed_sampler_ratio_and_coverage():
    s = _sampler(sizes=[50, 70], ratios=[1.0, 3.0], batch_size=8, seed=7)
    keys = [k for it in range(2500) for k in s.batch(it)]  # 20000 samples
    frac = np.mean([k.source == 1 for k in keys])
    assert abs(frac - 0.75) < 0.015
    for source, size in ((0, 50), (1, 70)):
        picks = [k.index for k in keys if k.source == source]
        for e in range(3):  # each epoch of a source visits every item once
            assert sorted(picks[e * size : (e + 1) * size]) == list(range(size))
    assert len({k.position for k in keys}) == len(keys)
    zero = _sampler(sizes=[5, 5], ratios=[0.0, 1.0])
    assert {k.source for it in range(50) for k in zero.batch(it)} == {1}


def test_mixed_sampler_resume_far_into_training_is_fast_and_exact():
    s = _sampler(batch_size=16)
    far = s.batch(40_000)  # crosses ~78 choice chunks
    assert far == _sampler(batch_size=16, start_iter=40_000).batch(40_000)
    assert far == next(iter(_sampler(batch_size=16, start_iter=40_000)))


# ----------------------------------------------------------------------------- inference sampler


@pytest.mark.parametrize("size", [0, 1, 5, 10, 17])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_inference_sampler_disjoint_complete_contiguous(size, world):
    shards = [list(InferenceSampler(size, rank=r, world_size=world)) for r in range(world)]
    assert [i for s in shards for i in s] == list(range(size))  # complete, disjoint, in order
    lengths = [len(s) for s in shards]
    assert max(lengths) - min(lengths) <= 1
    assert lengths == [len(InferenceSampler(size, rank=r, world_size=world)) for r in range(world)]


def test_invalid_rank():
    with pytest.raises(ValueError):
        InferenceSampler(4, rank=2, world_size=2)
