"""Point sampling and the video set criterion against direct computations on tiny tensors."""

import math

import numpy as np
import torch

import videomt.modeling.criterion as criterion_mod
from videomt.modeling.criterion import VideoSetCriterion, loss_weight_dict
from videomt.modeling.matcher import ConsistentMatcher
from videomt.modeling.point_sampling import point_sample, uncertain_point_coords

K = 3
LOW, HIGH = 4, 8


def bilinear(img: np.ndarray, x: float, y: float) -> float:
    """Independent bilinear lookup, pixel centres at (i + 0.5) / size, zeros outside the image."""
    h, w = img.shape
    px, py = x * w - 0.5, y * h - 0.5
    x0, y0 = math.floor(px), math.floor(py)
    total = 0.0
    for yy, wy in ((y0, 1 - (py - y0)), (y0 + 1, py - y0)):
        for xx, wx in ((x0, 1 - (px - x0)), (x0 + 1, px - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                total += wy * wx * img[yy, xx]
    return total


def test_point_sample_is_bilinear_with_zero_padding():
    g = torch.Generator().manual_seed(0)
    img = torch.randn(2, 1, 5, 7, generator=g)
    coords = torch.rand(2, 30, 2, generator=g)
    coords[0, 0] = torch.tensor([0.0, 0.0])  # corner: blends with the zero padding
    out = point_sample(img, coords)
    ref = [
        [bilinear(img[n, 0].numpy(), *coords[n, p].tolist()) for p in range(30)] for n in range(2)
    ]
    torch.testing.assert_close(
        out[:, 0].double(), torch.tensor(ref, dtype=torch.float64), atol=1e-5, rtol=0
    )


def test_uncertain_points_keep_the_most_uncertain_candidates():
    logits = torch.randn(3, 1, 6, 6, generator=torch.Generator().manual_seed(1)) * 4
    num_points, ratio = 20, 0.75
    coords = uncertain_point_coords(
        logits, num_points, 3.0, ratio, torch.Generator().manual_seed(7)
    )
    assert coords.shape == (3, num_points, 2)
    replay = torch.Generator().manual_seed(7)
    candidates = torch.rand(3, 60, 2, generator=replay)
    fresh = torch.rand(3, num_points - 15, 2, generator=replay)
    for n in range(3):
        certainty = [abs(bilinear(logits[n, 0].numpy(), *c.tolist())) for c in candidates[n]]
        expected = candidates[n][np.argsort(certainty, kind="stable")[:15]]
        assert {tuple(c) for c in coords[n, :15].tolist()} == {tuple(c) for c in expected.tolist()}
        torch.testing.assert_close(coords[n, 15:], fresh[n])


# ----------------------------------------------------------------------------- criterion
def pixel_centres(n: int, side: int = LOW) -> torch.Tensor:
    c = (torch.arange(side, dtype=torch.float32) + 0.5) / side
    ys, xs = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], -1)[None].expand(n, -1, -1)


class FixedMatcher:
    """Returns preset pairs per clip, and records every call (layer order, clip order)."""

    def __init__(self, pairs_per_clip):
        self.pairs, self.calls = pairs_per_clip, []

    def __call__(self, logits, masks, labels, ids, gt, generator):
        clip = len(self.calls) % len(self.pairs)
        self.calls.append(clip)
        q, n = zip(*self.pairs[clip]) if self.pairs[clip] else ((), ())
        return torch.tensor(q, dtype=torch.int64), torch.tensor(n, dtype=torch.int64)


def clip_targets(g, num_tracks, num_frames):
    low = torch.rand(num_tracks, num_frames, LOW, LOW, generator=g) > 0.5
    ids = torch.arange(num_tracks)[:, None].repeat(1, num_frames)
    if num_tracks > 1:  # track 1 absent (empty mask) in frame 0
        ids[1, 0] = -1
        low[1, 0] = False
    masks = low.repeat_interleave(HIGH // LOW, 2).repeat_interleave(
        HIGH // LOW, 3
    )  # blocky: exact at centres
    return {
        "labels": torch.randint(0, K, (num_tracks,), generator=g),
        "ids": ids,
        "masks": masks,
    }, low


def direct_losses(outputs, targets_low, pairs, num_masks, num_clips, no_object_weight):
    """The losses with Python loops: weighted-mean CE per clip, BCE/Dice per matched (track,
    frame)."""
    ce_total = bce_total = dice_total = 0.0
    for b, (labels, low) in enumerate(targets_low):
        logits, masks = outputs["pred_logits"][b].double(), outputs["pred_masks"][b].double()
        t_n, q_n = logits.shape[:2]
        cls = {q: int(labels[n]) for q, n in pairs[b]}
        num = den = 0.0
        for t in range(t_n):
            for q in range(q_n):
                c = cls.get(q, K)
                w = no_object_weight if c == K else 1.0
                num += -w * torch.log_softmax(logits[t, q], -1)[c].item()
                den += w
        ce_total += num / den
        for q, n in pairs[b]:
            for t in range(t_n):
                xs, ys = masks[t, q].flatten().tolist(), low[n, t].double().flatten().tolist()
                s = [1 / (1 + math.exp(-x)) for x in xs]
                bce_total += sum(
                    -(y * math.log(p) + (1 - y) * math.log(1 - p)) for p, y in zip(s, ys)
                ) / len(xs)
                dice_total += 1 - (2 * sum(p * y for p, y in zip(s, ys)) + 1) / (
                    sum(s) + sum(ys) + 1
                )
    return {
        "loss_ce": ce_total / num_clips,
        "loss_mask": bce_total / num_masks,
        "loss_dice": dice_total / num_masks,
    }


def make_outputs(g, b, t, q):
    return {
        "pred_logits": torch.randn(b, t, q, K + 1, generator=g),
        "pred_masks": torch.randn(b, t, q, LOW, LOW, generator=g) * 3,
    }


def test_criterion_matches_direct_computation(monkeypatch):
    monkeypatch.setattr(
        criterion_mod, "uncertain_point_coords", lambda logits, *a: pixel_centres(logits.shape[0])
    )
    g = torch.Generator().manual_seed(3)
    outputs = make_outputs(g, 2, 2, 5)
    (t0, low0), (t1, low1) = clip_targets(g, 2, 2), clip_targets(g, 1, 2)
    pairs = [[(3, 0), (1, 1)], [(4, 0)]]
    crit = VideoSetCriterion(
        K,
        FixedMatcher(pairs),
        loss_weight_dict(2.0, 5.0, 5.0),
        no_object_weight=0.1,
        num_points=LOW * LOW,
    )
    num_masks, num_clips = 7.0, 3.0  # arbitrary normalisers: the criterion must just divide by them
    got = crit(outputs, [t0, t1], [torch.Generator(), torch.Generator()], num_masks, num_clips)
    ref = direct_losses(
        outputs, [(t0["labels"], low0), (t1["labels"], low1)], pairs, num_masks, num_clips, 0.1
    )
    assert set(got) == set(ref)
    for k in ref:
        assert got[k].dtype == torch.float32
        assert abs(got[k].item() - ref[k]) < 1e-5, (k, got[k].item(), ref[k])


def test_each_aux_output_matched_on_its_own_and_last_one_dropped():
    g = torch.Generator().manual_seed(4)
    final = make_outputs(g, 1, 3, 6)
    target, low = clip_targets(g, 2, 3)
    for query, track in (
        (2, 0),
        (5, 1),
    ):  # decisive predictions: query 2 is track 0, query 5 track 1
        final["pred_masks"][0, :, query] = torch.where(low[track], 8.0, -8.0)
        final["pred_logits"][0, :, query, int(target["labels"][track])] = 8.0
    perm = torch.randperm(6, generator=g)
    aux = {
        k: v[:, :, perm] for k, v in final.items()
    }  # the same predictions under other query indices
    outputs = dict(final, aux_outputs=[aux, make_outputs(g, 1, 3, 6)])
    matcher = ConsistentMatcher(num_points=64)
    calls = []

    def spy(*args):
        pairs = matcher(*args)
        calls.append(pairs)
        return pairs

    crit = VideoSetCriterion(K, spy, loss_weight_dict(1.0, 1.0, 1.0, num_aux=1), num_points=32)
    losses = crit(outputs, [target], [torch.Generator().manual_seed(0)], 6.0, 1.0)
    assert sorted(losses) == sorted(
        ["loss_ce", "loss_mask", "loss_dice", "loss_ce_0", "loss_mask_0", "loss_dice_0"]
    )
    assert len(calls) == 2  # final + aux 0; the unweighted last aux output is not matched at all
    (q_final, n_final), (q_aux, n_aux) = calls
    assert sorted(zip(q_final.tolist(), n_final.tolist())) == [(2, 0), (5, 1)]
    assert sorted(zip(perm[q_aux].tolist(), n_aux.tolist())) == [
        (2, 0),
        (5, 1),
    ]  # aux found its own queries
    torch.testing.assert_close(losses["loss_ce_0"], losses["loss_ce"])  # CE has no random points


def test_losses_are_fp32_under_autocast():
    g = torch.Generator().manual_seed(5)
    outputs = {k: v.bfloat16() for k, v in make_outputs(g, 1, 2, 4).items()}
    target, _ = clip_targets(g, 2, 2)
    crit = VideoSetCriterion(
        K, ConsistentMatcher(num_points=32), loss_weight_dict(1.0, 1.0, 1.0), num_points=32
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = crit(outputs, [target], [torch.Generator().manual_seed(0)], 4.0, 1.0)
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())


def test_clip_without_tracks_has_only_no_object_ce():
    g = torch.Generator().manual_seed(6)
    outputs = make_outputs(g, 1, 2, 4)
    empty = {
        "labels": torch.zeros(0, dtype=torch.int64),
        "ids": torch.zeros(0, 2, dtype=torch.int64),
        "masks": torch.zeros(0, 2, HIGH, HIGH, dtype=torch.bool),
    }
    crit = VideoSetCriterion(
        K, ConsistentMatcher(num_points=16), loss_weight_dict(1.0, 1.0, 1.0), num_points=16
    )
    losses = crit(outputs, [empty], [torch.Generator()], 1.0, 1.0)
    expected = torch.nn.functional.cross_entropy(
        outputs["pred_logits"][0].flatten(0, 1), torch.full((8,), K)
    )  # uniform weights cancel in the mean
    torch.testing.assert_close(losses["loss_ce"], expected)
    assert losses["loss_mask"].item() == 0 and losses["loss_dice"].item() == 0
