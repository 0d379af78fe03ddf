"""Matching costs against a direct computation, and the temporally consistent matcher on
hand-built clips (appearing late, disappearing, competing for one query)."""

import math

import torch

from videomt.modeling.matcher import ConsistentMatcher, frame_cost

K = 4  # classes
LOW, HIGH = 4, 16  # prediction side, ground-truth side (stride 4)


def pixel_centres(side: int) -> torch.Tensor:
    """(side*side, 2) normalised (x, y) of the pixel centres of a side x side map."""
    c = (torch.arange(side, dtype=torch.float32) + 0.5) / side
    ys, xs = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=-1)


def direct_cost(logits, masks, labels, gt_low, wc, wm, wd):
    """Cost from the definitions with plain Python maths at the low-res pixels."""
    q_n, n_n = logits.shape[0], labels.shape[0]
    out = torch.zeros(q_n, n_n, dtype=torch.float64)
    for q in range(q_n):
        exps = [math.exp(v) for v in logits[q].tolist()]
        xs = masks[q].flatten().tolist()
        for n in range(n_n):
            ys = gt_low[n].flatten().tolist()
            bce = sum(
                -(
                    y * math.log(1 / (1 + math.exp(-x)))
                    + (1 - y) * math.log(1 - 1 / (1 + math.exp(-x)))
                )
                for x, y in zip(xs, ys)
            ) / len(xs)
            s = [1 / (1 + math.exp(-x)) for x in xs]
            dice = 1 - (2 * sum(a * b for a, b in zip(s, ys)) + 1) / (sum(s) + sum(ys) + 1)
            cls = -exps[int(labels[n])] / sum(exps)
            out[q, n] = wm * bce + wc * cls + wd * dice
    return out


def test_frame_cost_matches_direct_computation():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, K + 1, generator=g)
    masks = torch.randn(3, LOW, LOW, generator=g) * 3
    gt_low = (torch.rand(2, LOW, LOW, generator=g) > 0.5).float()
    gt = gt_low.repeat_interleave(HIGH // LOW, 1).repeat_interleave(
        HIGH // LOW, 2
    )  # blocky: exact sampling
    labels = torch.tensor([1, 3])
    cost = frame_cost(logits, masks, labels, gt.bool(), pixel_centres(LOW), 2.0, 5.0, 3.0)
    torch.testing.assert_close(
        cost.double(),
        direct_cost(logits, masks, labels, gt_low, 2.0, 5.0, 3.0),
        atol=1e-5,
        rtol=1e-5,
    )


# ----------------------------------------------------------------------------- consistent matcher
PATTERNS = torch.zeros(
    5, HIGH, HIGH, dtype=torch.bool
)  # distinct object shapes (quadrants, centre)
PATTERNS[0, :8, :8] = PATTERNS[1, :8, 8:] = PATTERNS[2, 8:, :8] = PATTERNS[3, 8:, 8:] = True
PATTERNS[4, 4:12, 4:12] = True


def predictions(num_frames: int, num_queries: int, plan: dict):
    """plan: {(frame, query): (pattern, label or {label: probability})} -> logits (T, Q, K+1),
    mask logits (T, Q, 4, 4). Planned queries predict that mask confidently and that class
    distribution (rest of the mass on no-object); the others predict nothing."""
    probs = torch.zeros(num_frames, num_queries, K + 1)
    probs[..., K] = 1.0
    masks = torch.full((num_frames, num_queries, LOW, LOW), -8.0)
    for (t, q), (pattern, label) in plan.items():
        low = PATTERNS[pattern].reshape(LOW, HIGH // LOW, LOW, HIGH // LOW).any(3).any(1)
        masks[t, q] = torch.where(low, 8.0, -8.0)
        dist = label if isinstance(label, dict) else {label: 0.99}
        probs[t, q] = 0.0
        for c, p in dist.items():
            probs[t, q, c] = p
        probs[t, q, K] = 1.0 - sum(dist.values())
    return probs.clamp_min(1e-6).log(), masks


def targets(tracks: list[tuple[int, int, list[bool]]]):
    """tracks: (pattern, label, visible per frame) -> labels (N,), ids (N, T), masks (N, T, H,
    W)."""
    labels = torch.tensor([label for _, label, _ in tracks])
    ids = torch.tensor([[n if v else -1 for v in vis] for n, (_, _, vis) in enumerate(tracks)])
    masks = torch.stack([torch.stack([PATTERNS[p] & v for v in vis]) for p, _, vis in tracks])
    return labels, ids, masks


def match(plan, tracks, num_frames=4, num_queries=6):
    logits, masks = predictions(num_frames, num_queries, plan)
    labels, ids, gt = targets(tracks)
    q, n = ConsistentMatcher(num_points=256)(
        logits, masks, labels, ids, gt, torch.Generator().manual_seed(0)
    )
    return list(zip(q.tolist(), n.tolist()))


def test_objects_matched_at_their_first_visible_frame():
    on, late = [True] * 4, [False, False, True, True]
    # track 0 present from frame 0 (query 3 predicts it there); track 1 appears at frame 2, where
    # query 1 predicts it; at frame 3 query 5 would be the better fit, but frame 3 is never used.
    plan = {(0, 3): (0, 1), (2, 1): (1, 2), (3, 5): (1, 2), (0, 5): (1, 2)}
    pairs = match(plan, [(0, 1, on), (1, 2, late)])
    assert pairs == [(3, 0), (1, 1)]  # frame-0 tracks first, then frame 2


def test_disappearing_object_is_matched_where_it_is_visible():
    gone = [True, True, False, False]
    plan = {
        (0, 2): (4, 0),
        (2, 4): (4, 0),
        (3, 4): (4, 0),
    }  # after it left, another query "predicts" it
    assert match(plan, [(4, 0, gone)]) == [(2, 0)]


def test_query_taken_earlier_is_not_reused():
    on, late = [True] * 4, [False, True, True, True]
    # query 0 is the best fit of both tracks at their first frames; track 0 takes it at frame 0,
    # so track 1 (first seen at frame 1) gets its second-best query 4.
    plan = {(0, 0): (0, 1), (1, 0): (2, 3), (1, 4): (2, 0)}
    assert match(plan, [(0, 1, on), (2, 3, late)]) == [(0, 0), (4, 1)]
    # without the earlier track, query 0 would have been chosen for track 1
    assert match(plan, [(2, 3, late)]) == [(0, 0)]


def test_two_objects_competing_at_the_same_frame_resolved_jointly():
    on = [True] * 4
    # same mask, classes 1 and 2. Query 1 suits both (p1 .6, p2 .4); query 2 suits only track 1
    # (p2 .35). Alone, track 1 would take query 1; together the optimum is 1 -> 0 and 2 -> 1.
    plan = {(0, 1): (0, {1: 0.6, 2: 0.4}), (0, 2): (0, {2: 0.35})}
    assert match(plan, [(0, 2, on)]) == [(1, 0)]
    assert sorted(match(plan, [(0, 1, on), (0, 2, on)])) == [(1, 0), (2, 1)]


def test_no_visible_tracks_gives_no_pairs():
    plan = {(0, 1): (0, 1)}
    assert match(plan, [(0, 1, [False] * 4)]) == []
    logits, masks = predictions(4, 6, plan)
    empty = ConsistentMatcher(num_points=16)(
        logits,
        masks,
        torch.zeros(0, dtype=torch.int64),
        torch.zeros(0, 4, dtype=torch.int64),
        torch.zeros(0, 4, HIGH, HIGH),
        torch.Generator(),
    )
    assert empty[0].numel() == 0 and empty[1].numel() == 0
