"""Per-task post-processing of one whole video's raw outputs.

Inputs are the outputs of ``VidEoMTOnline.run_video``: ``pred_logits`` (T, Q, K+1) and
``pred_masks`` (T, Q, h, w) at stride 4 of the padded frames. Class decisions use the logits
averaged over the whole video (the published evaluation protocol); masks are resized
padded-size -> crop -> original size, one frame at a time to bound memory.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["resize_mask_logits", "postprocess_vis", "postprocess_vps", "postprocess_vss"]


def resize_mask_logits(
    masks: torch.Tensor, padded_size, image_size, output_size, sigmoid: bool = False
) -> torch.Tensor:
    """(N, h, w) logits -> (N, H0, W0): bilinear to the padded input size, crop the padding,
    (optionally sigmoid), bilinear to the original video size."""
    x = F.interpolate(
        masks[None].float(), size=tuple(padded_size), mode="bilinear", align_corners=False
    )
    x = x[:, :, : image_size[0], : image_size[1]]
    if sigmoid:
        x = x.sigmoid()
    return F.interpolate(x, size=tuple(output_size), mode="bilinear", align_corners=False)[0]


def postprocess_vis(outputs: dict, output_size, max_num: int) -> dict:
    """Top-``max_num`` (query, class) pairs by the class probability of the video-averaged logits.

    Returns ``pred_scores`` (N,), ``pred_labels`` (N,) contiguous ids, ``pred_ids`` (N,) query
    indices and ``pred_masks`` bool (N, T, H0, W0).
    """
    logits, masks = outputs["pred_logits"], outputs["pred_masks"]  # (T, Q, K+1), (T, Q, h, w)
    num_classes = logits.shape[-1] - 1
    probs = logits.float().mean(0).softmax(-1)[:, :num_classes]  # (Q, K)
    scores, flat = probs.flatten().topk(min(max_num, probs.numel()), sorted=True)
    queries, labels = flat // num_classes, flat % num_classes
    per_frame = [
        resize_mask_logits(
            masks[t, queries], outputs["padded_size"], outputs["image_size"], output_size
        )
        > 0
        for t in range(masks.shape[0])
    ]  # T x (N, H0, W0)
    return {
        "pred_scores": scores,
        "pred_labels": labels,
        "pred_ids": queries,
        "pred_masks": torch.stack(per_frame, dim=1),
    }


def postprocess_vss(outputs: dict, output_size) -> torch.Tensor:
    """Per-pixel class (T, H0, W0) int64: argmax_k sum_q P[q, k] * sigmoid(mask_q)."""
    logits, masks = outputs["pred_logits"], outputs["pred_masks"]
    probs = logits.float().mean(0).softmax(-1)[:, :-1]  # (Q, K)
    frames = []
    for t in range(masks.shape[0]):
        m = resize_mask_logits(
            masks[t], outputs["padded_size"], outputs["image_size"], output_size, sigmoid=True
        )
        frames.append(torch.einsum("qk,qhw->khw", probs, m).argmax(0))
    return torch.stack(frames)


def postprocess_vps(
    outputs: dict,
    output_size,
    *,
    object_mask_threshold: float,
    overlap_threshold: float,
    num_things: int,
) -> dict:
    """Video panoptic segmentation with video-level segment ids (0 = void).

    Keeps queries whose best non-void class probability exceeds ``object_mask_threshold``;
    pixel owner = argmax over kept queries of ``score * sigmoid(mask)`` over the whole video; a
    query becomes a segment when its owned area is at least ``overlap_threshold`` of its own
    ``sigmoid >= 0.5`` area. Stuff segments of one class share an id. Returns ``pred_masks``
    int32 (T, H0, W0), ``segments_infos`` [{id, isthing, category_id}] and ``pred_ids`` (the
    query that created each segment, one entry per ``segments_infos`` entry, as the reference:
    a stuff query merged into an existing segment adds none).
    """
    logits, masks = outputs["pred_logits"], outputs["pred_masks"]
    num_classes = logits.shape[-1] - 1
    scores, labels = logits.float().mean(0).softmax(-1).max(-1)  # (Q,)
    keep = (labels != num_classes) & (scores > object_mask_threshold)
    kept = keep.nonzero().flatten()
    t_len = masks.shape[0]
    h0, w0 = output_size
    if kept.numel() == 0:
        return {
            "pred_masks": torch.zeros(t_len, h0, w0, dtype=torch.int32),
            "segments_infos": [],
            "pred_ids": [],
        }

    def frame_maps(t):
        m = resize_mask_logits(
            masks[t, kept], outputs["padded_size"], outputs["image_size"], output_size, sigmoid=True
        )  # (N, H0, W0)
        owner = (scores[kept, None, None] * m).argmax(0)  # (H0, W0) index into kept
        return m >= 0.5, owner

    n = kept.numel()
    owned, original, inside = (
        torch.zeros(n, dtype=torch.int64) for _ in range(3)
    )  # exact pixel counts
    for t in range(t_len):  # pass 1: areas over the whole video
        binary, owner = frame_maps(t)
        own = F.one_hot(owner.flatten(), n).T.reshape(n, h0, w0).bool()  # (N, H0, W0)
        owned += own.flatten(1).sum(1)
        original += binary.flatten(1).sum(1)
        inside += (own & binary).flatten(1).sum(1)
    segment_of = {}  # kept index -> segment id
    segments, stuff_ids, pred_ids = [], {}, []
    for i in range(n):
        if (
            owned[i] == 0
            or original[i] == 0
            or inside[i] == 0
            or owned[i] / original[i] < overlap_threshold
        ):
            continue
        label = int(labels[kept[i]])
        isthing = label < num_things
        if not isthing and label in stuff_ids:
            segment_of[i] = stuff_ids[label]
            continue
        seg_id = len(segments) + 1
        segment_of[i] = seg_id
        if not isthing:
            stuff_ids[label] = seg_id
        segments.append({"id": seg_id, "isthing": bool(isthing), "category_id": label})
        pred_ids.append(int(kept[i]))
    lookup = torch.zeros(n, dtype=torch.int32)
    for i, seg_id in segment_of.items():
        lookup[i] = seg_id
    pan = torch.zeros(t_len, h0, w0, dtype=torch.int32)
    for t in range(t_len):  # pass 2: paint
        binary, owner = frame_maps(t)
        seg = lookup[owner]
        pan[t] = torch.where(binary.gather(0, owner[None])[0], seg, torch.zeros_like(seg))
    return {"pred_masks": pan, "segments_infos": segments, "pred_ids": pred_ids}
