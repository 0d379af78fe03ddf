"""Per-task post-processing on hand-built outputs."""

import torch

from videomt.postprocess import (
    postprocess_vis,
    postprocess_vps,
    postprocess_vss,
    resize_mask_logits,
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


def test_vis_topk_uses_video_averaged_logits():
    logits = torch.zeros(2, 3, 3)  # T=2, Q=3, K=2 (+ no-object)
    logits[0, 0] = torch.tensor([4.0, 0.0, 0.0])
    logits[1, 0] = torch.tensor([0.0, 0.0, 0.0])  # mean [2, 0, 0]
    logits[:, 1] = torch.tensor([0.0, 3.0, 0.0])
    logits[:, 2] = torch.tensor([0.0, 0.0, 5.0])  # mostly no-object
    out = postprocess_vis(_outputs(logits, _half_masks(2, 3)), (8, 8), max_num=2)
    expected = logits.mean(0).softmax(-1)[:, :2]
    best = expected.flatten().topk(2)
    assert out["pred_scores"].tolist() == best.values.tolist()
    assert out["pred_ids"].tolist() == (best.indices // 2).tolist()
    assert out["pred_labels"].tolist() == (best.indices % 2).tolist()
    assert out["pred_masks"].shape == (2, 2, 8, 8) and out["pred_masks"].dtype == torch.bool
    q0 = out["pred_ids"].tolist().index(0)
    assert out["pred_masks"][q0, :, :, :4].all() and not out["pred_masks"][q0, :, :, 4:].any()


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
