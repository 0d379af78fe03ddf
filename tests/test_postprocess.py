"""Per-task post-processing on hand-built outputs."""

import torch

from videomt.postprocess import (
    best_class_per_query,
    postprocess_vis,
    postprocess_vps,
    postprocess_vss,
    resize_mask_logits,
    top_query_class_pairs,
)


def _outputs(logits, masks, image_size=(16, 16), padded_size=(16, 16)):
    return {
        "pred_logits": torch.as_tensor(logits, dtype=torch.float32),
        "pred_masks": torch.as_tensor(masks, dtype=torch.float32),
        "image_size": image_size,
        "padded_size": padded_size,
    }


def _half_masks(t, q, h=4, w=4):
    """mask logits (T, Q, h, w): query 0 left half, query 1 right half, others everywhere
    negative."""
    m = torch.full((t, q, h, w), -10.0)
    m[:, 0, :, : w // 2] = 10.0
    m[:, 1, :, w // 2 :] = 10.0
    return m


def test_resize_crops_padding_before_resizing_to_original():
    logits = torch.full((1, 4, 4), -10.0)  # padded 16x16 at stride 4; real image 8 rows x 16 cols
    logits[0, :2, :] = 10.0  # positive exactly on the real (unpadded) rows
    out = resize_mask_logits(logits, (16, 16), (8, 16), (20, 40))
    assert out.shape == (1, 20, 40)
    assert (out > 0).float().mean() > 0.95  # the padding was cropped: the mask fills the video


def _video_logits(probs, swing):
    """Class logits (T=2, Q, K+1) whose video mean is log(probs) (so the mean's softmax is
    ``probs``) while each frame alone is pushed by +swing / -swing."""
    mean = torch.tensor(probs).log()
    return torch.stack([mean + torch.tensor(swing), mean - torch.tensor(swing)])


# Video-level class probabilities (Q=3, K=2 + no-object), by hand:
#   query 0: [0.6, 0.3 | 0.1], query 1: [0.5, 0.45 | 0.05], query 2: [0.1, 0.2 | 0.7].
# Per frame the swing makes query 0 prefer class 1 in frame 0 and query 1 class 0 strongly,
# so a rule that does not average over the video picks other pairs.
PROBS = [[0.6, 0.3, 0.1], [0.5, 0.45, 0.05], [0.1, 0.2, 0.7]]
SWING = [[-3.0, 3.0, 0.0], [4.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_vis_top_pairs_of_video_averaged_probabilities():
    """Pairs by probability: (q0, c0) 0.6 > (q1, c0) 0.5 > (q1, c1) 0.45 > (q0, c1) 0.3 > ...
    The evaluation rule keeps the top 3 pairs, query 1 twice (the published protocol)."""
    logits = _video_logits(PROBS, SWING)
    out = postprocess_vis(_outputs(logits, _half_masks(2, 3)), (8, 8), max_num=3)
    torch.testing.assert_close(out["pred_scores"], torch.tensor([0.6, 0.5, 0.45]))
    assert out["pred_ids"].tolist() == [0, 1, 1]
    assert out["pred_labels"].tolist() == [0, 0, 1]
    masks = out["pred_masks"]
    assert masks.shape == (3, 2, 8, 8) and masks.dtype == torch.bool
    assert masks[0, :, :, :4].all() and not masks[0, :, :, 4:].any()  # query 0: left half
    assert masks[1, :, :, 4:].all() and not masks[1, :, :, :4].any()  # query 1: right half
    assert torch.equal(masks[1], masks[2])


def test_best_class_per_query_gives_each_query_once():
    """Query 0: class 0 (0.6); query 1: class 0 (0.5); query 2: best non-void class 1 (0.2)."""
    class_logits = torch.tensor(PROBS).log()
    scores, labels, queries = best_class_per_query(class_logits, max_num=3)
    torch.testing.assert_close(scores, torch.tensor([0.6, 0.5, 0.2]))
    assert queries.tolist() == [0, 1, 2] and labels.tolist() == [0, 0, 1]
    scores, labels, queries = best_class_per_query(class_logits, max_num=2)
    assert queries.tolist() == [0, 1] and labels.tolist() == [0, 0]
    scores, labels, queries = top_query_class_pairs(class_logits, max_num=2)
    assert queries.tolist() == [0, 1] and labels.tolist() == [0, 0]


def test_vss_argmax_of_probability_weighted_masks():
    logits = torch.full((1, 3, 4), -5.0)  # Q=3, K=3
    logits[0, 0, 2] = 5.0  # query 0 -> class 2
    logits[0, 1, 0] = 5.0  # query 1 -> class 0
    seg = postprocess_vss(_outputs(logits, _half_masks(1, 3)), (4, 8))
    assert seg.shape == (1, 4, 8)
    assert (seg[0, :, :4] == 2).all() and (seg[0, :, 4:] == 0).all()


def test_vps_segments_thresholds_and_stuff_merging():
    k = 4  # classes 0, 1 things (num_things=2), 2, 3 stuff
    q = 5
    logits = torch.full((2, q, k + 1), -5.0)
    logits[:, 0, 0] = 5.0  # thing class 0, left half
    logits[:, 1, 2] = 5.0  # stuff class 2, top-right quarter
    logits[:, 2, 2] = 5.0  # stuff class 2 again, bottom-right quarter: merged into one segment id
    logits[:, 3] = 0.0  # uniform class probabilities (0.2): dropped by the object threshold
    logits[:, 4, 3] = 5.0  # stuff class 3, weak where query 0 is strong: owns nothing -> no segment
    masks = torch.full((2, q, 4, 4), -10.0)
    masks[:, 0, :, :2] = 10.0
    masks[:, 1, :2, 2:] = 10.0
    masks[:, 2, 2:, 2:] = 10.0
    masks[:, 3] = 10.0
    masks[:, 4, :1, :1] = 0.5
    out = postprocess_vps(
        _outputs(logits, masks),
        (4, 4),
        object_mask_threshold=0.8,
        overlap_threshold=0.8,
        num_things=2,
    )
    infos = out["segments_infos"]
    assert [(s["id"], s["isthing"], s["category_id"]) for s in infos] == [
        (1, True, 0),
        (2, False, 2),
    ]
    assert out["pred_ids"] == [0, 1]  # one per segment: the merged stuff query 2 adds none
    pan = out["pred_masks"]
    assert pan.shape == (2, 4, 4) and pan.dtype == torch.int32
    assert (pan[:, :, :2] == 1).all() and (pan[:, :, 2:] == 2).all()


def test_vps_nothing_kept_gives_void():
    logits = torch.zeros(1, 2, 3)
    logits[..., -1] = 10.0  # everything is no-object
    out = postprocess_vps(
        _outputs(logits, _half_masks(1, 2)),
        (4, 4),
        object_mask_threshold=0.8,
        overlap_threshold=0.8,
        num_things=1,
    )
    assert out["segments_infos"] == [] and (out["pred_masks"] == 0).all()
