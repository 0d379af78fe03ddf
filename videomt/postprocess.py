"""Per-task post-processing: raw outputs -> instance, panoptic or semantic results.

This is the one implementation, used by the dataset evaluation (whole videos in memory), the
offline predictor and live streams (one frame at a time). Every function takes the class logits
(Q, K+1) that decide the classes from its caller: the mean over the whole video (evaluation,
offline predictor) or the running mean up to the current frame (streams). Mask logits are one
frame's (Q, h, w) at stride 4 of the padded input; they are resized padded size -> crop ->
output size one frame at a time, so memory does not grow with the video.

Two instance rules exist on purpose:

* :func:`top_query_class_pairs` (dataset evaluation, as the published protocol): the top-N
  (query, class) pairs, so one query may appear twice with two classes; it scores higher AP;
* :func:`best_class_per_query` (predictor, streams, demo): one entry per query with its best
  class, so one object is one track in every frame.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

__all__ = [
    "FrameGeometry",
    "resize_mask_logits",
    "top_query_class_pairs",
    "best_class_per_query",
    "instance_masks",
    "semantic_map",
    "PanopticVideo",
    "postprocess_vis",
    "postprocess_vps",
    "postprocess_vss",
]


@dataclass(frozen=True)
class FrameGeometry:
    """Sizes a frame went through: ``padded_size`` (model input), ``image_size`` (resized frame,
    before padding) and ``output_size`` (the original frame: results are at this size)."""

    padded_size: tuple[int, int]
    image_size: tuple[int, int]
    output_size: tuple[int, int]


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


# ---------------------------------------------------------------------------------- instances
def top_query_class_pairs(
    class_logits: torch.Tensor, max_num: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``max_num`` most probable (query, class) pairs over the non-void classes, best first.

    class_logits: (Q, K+1). Returns scores (N,), labels (N,) and query indices (N,); a query can
    appear once per class.
    """
    num_classes = class_logits.shape[-1] - 1
    probs = class_logits.float().softmax(-1)[:, :num_classes]  # (Q, K)
    scores, flat = probs.flatten().topk(min(max_num, probs.numel()), sorted=True)
    return scores, flat % num_classes, flat // num_classes


def best_class_per_query(
    class_logits: torch.Tensor, max_num: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each query's most probable non-void class; the ``max_num`` queries whose best class is
    most probable, best first.

    class_logits: (Q, K+1). Returns scores (N,), labels (N,) and query indices (N,), each query
    at most once.
    """
    probs = class_logits.float().softmax(-1)[:, :-1]  # (Q, K)
    best_scores, best_labels = probs.max(-1)  # (Q,)
    scores, queries = best_scores.topk(min(max_num, best_scores.numel()), sorted=True)
    return scores, best_labels[queries], queries


def instance_masks(masks: torch.Tensor, queries: torch.Tensor, geo: FrameGeometry) -> torch.Tensor:
    """Binary masks bool (N, H0, W0) of the chosen ``queries`` from one frame's mask logits
    (Q, h, w): positive logit after resizing."""
    return resize_mask_logits(masks[queries], geo.padded_size, geo.image_size, geo.output_size) > 0


# ---------------------------------------------------------------------------------- semantic
def semantic_map(
    class_logits: torch.Tensor, masks: torch.Tensor, geo: FrameGeometry
) -> torch.Tensor:
    """Per-pixel class (H0, W0) int64 of one frame: argmax_k sum_q P[q, k] * sigmoid(mask_q),
    with P the non-void class probabilities of ``class_logits`` (Q, K+1)."""
    probs = class_logits.float().softmax(-1)[:, :-1]  # (Q, K)
    mask_probs = resize_mask_logits(
        masks, geo.padded_size, geo.image_size, geo.output_size, sigmoid=True
    )  # (Q, H0, W0)
    return torch.einsum("qk,qhw->khw", probs, mask_probs).argmax(0)


# ---------------------------------------------------------------------------------- panoptic
class PanopticVideo:
    """Video panoptic segmentation fed one frame at a time.

    Queries whose best non-void class probability exceeds ``object_mask_threshold`` are kept;
    a pixel belongs to the kept query with the highest ``score * sigmoid(mask)``. Over the whole
    video, a query becomes a segment when the pixels it owns inside its own ``sigmoid >= 0.5``
    mask are not zero and its owned area is at least ``overlap_threshold`` of that mask's area;
    stuff queries of one class share one segment. Pixels outside their owner's own mask are void.

    ``add(masks, geo)`` for every frame (in order), then ``segments()`` and ``panoptic_maps()``
    or ``frames()``. Between the two, only per-query area counts and one zlib-compressed owner
    map per frame are kept. Segment ids are 1, 2, ... in query order (as the evaluation numbers
    them) or, with ``stable_ids``, derived from the query (things: ``query + 1``) and the class
    (stuff: ``num_queries + 1 + class``), so that a stream that decides segments frame by frame
    keeps each object's id.
    """

    def __init__(
        self,
        class_logits: torch.Tensor,
        *,
        object_mask_threshold: float,
        overlap_threshold: float,
        num_things: int,
        stable_ids: bool = False,
    ):
        probs = class_logits.float().softmax(-1)  # (Q, K+1)
        self.scores, self.labels = probs.max(-1)  # (Q,)
        num_classes = class_logits.shape[-1] - 1
        self.kept = (
            ((self.labels != num_classes) & (self.scores > object_mask_threshold))
            .nonzero()
            .flatten()
        )  # (N,) query indices
        self.num_queries = class_logits.shape[0]
        self.overlap_threshold = overlap_threshold
        self.num_things = num_things
        self.stable_ids = stable_ids
        n = self.kept.numel()
        self.owned = torch.zeros(n, dtype=torch.int64)  # pixels whose owner is the query
        self.original = torch.zeros(n, dtype=torch.int64)  # pixels with sigmoid(mask) >= 0.5
        self.inside = torch.zeros(n, dtype=torch.int64)  # both
        self._maps: list[tuple[bytes, tuple[int, int]]] = []

    def add(self, masks: torch.Tensor, geo: FrameGeometry) -> None:
        """One frame's mask logits (Q, h, w) at stride 4 of the padded input."""
        n = self.kept.numel()
        h0, w0 = geo.output_size
        if n == 0:
            self._maps.append((b"", (h0, w0)))
            return
        probs = resize_mask_logits(
            masks[self.kept], geo.padded_size, geo.image_size, geo.output_size, sigmoid=True
        )  # (N, H0, W0)
        owner = (self.scores[self.kept, None, None] * probs).argmax(0)  # (H0, W0) index into kept
        binary = probs >= 0.5  # (N, H0, W0)
        owner_inside = binary.gather(0, owner[None])[0]  # (H0, W0): the owner's mask covers it
        self.owned += torch.bincount(owner.flatten(), minlength=n)
        self.original += binary.flatten(1).sum(1)
        self.inside += torch.bincount(owner[owner_inside], minlength=n)
        candidate = torch.where(owner_inside, owner, torch.full_like(owner, -1)).to(torch.int16)
        self._maps.append((zlib.compress(candidate.numpy().tobytes(), 1), (h0, w0)))

    def segments(self) -> tuple[torch.Tensor, list[dict]]:
        """(lookup (N + 1,) int32 from kept index + 1 to segment id (0 = void), segments
        [{id, isthing, category_id, score, track_id}]) over all added frames; ``track_id`` is
        the query that created the segment (a stuff query merged into an existing segment adds
        none)."""
        n = self.kept.numel()
        lookup = torch.zeros(n + 1, dtype=torch.int32)
        segments, stuff_ids = [], {}
        for i in range(n):
            owned, original, inside = int(self.owned[i]), int(self.original[i]), int(self.inside[i])
            if (
                owned == 0
                or original == 0
                or inside == 0
                or owned / original < self.overlap_threshold
            ):
                continue
            query, label = int(self.kept[i]), int(self.labels[self.kept[i]])
            isthing = label < self.num_things
            if not isthing and label in stuff_ids:
                lookup[i + 1] = stuff_ids[label]
                continue
            if self.stable_ids:
                seg_id = query + 1 if isthing else self.num_queries + 1 + label
            else:
                seg_id = len(segments) + 1
            lookup[i + 1] = seg_id
            if not isthing:
                stuff_ids[label] = seg_id
            segments.append(
                {
                    "id": seg_id,
                    "isthing": bool(isthing),
                    "category_id": label,
                    "score": float(self.scores[query]),
                    "track_id": query,
                }
            )
        return lookup, segments

    def panoptic_maps(self, lookup: torch.Tensor) -> Iterator[torch.Tensor]:
        """Each added frame's segment ids int32 (H0, W0) (0 = void), given ``segments()``'s
        lookup."""
        for blob, (h0, w0) in self._maps:
            if not blob:
                yield torch.zeros(h0, w0, dtype=torch.int32)
                continue
            candidate = np.frombuffer(zlib.decompress(blob), dtype=np.int16).reshape(h0, w0)
            yield lookup[torch.from_numpy(candidate.astype(np.int64) + 1)]

    def frames(self) -> Iterator[dict]:
        """Yield per frame ``{"panoptic_seg": int32 (H0, W0), "segments_info": [...]}``; a
        frame lists the segments present in it, each with its ``area`` in that frame."""
        lookup, segments = self.segments()
        for pan in self.panoptic_maps(lookup):
            areas = torch.bincount(pan.flatten().long())
            infos = [
                dict(s, area=int(areas[s["id"]]))
                for s in segments
                if s["id"] < areas.numel() and areas[s["id"]] > 0
            ]
            yield {"panoptic_seg": pan, "segments_info": infos}


# ---------------------------------------------------------------------------------- whole videos
# ``outputs`` below are ``VidEoMTOnline.run_video``'s: ``pred_logits`` (T, Q, K+1),
# ``pred_masks`` (T, Q, h, w), ``image_size`` and ``padded_size``. Classes come from the logits
# averaged over the whole video.
def _video_geometry(outputs: dict, output_size) -> FrameGeometry:
    return FrameGeometry(
        tuple(outputs["padded_size"]), tuple(outputs["image_size"]), tuple(output_size)
    )


def postprocess_vis(outputs: dict, output_size, max_num: int) -> dict:
    """The evaluation's instance rule (:func:`top_query_class_pairs`) on a whole video.

    Returns ``pred_scores`` (N,), ``pred_labels`` (N,) contiguous ids, ``pred_ids`` (N,) query
    indices and ``pred_masks`` bool (N, T, H0, W0).
    """
    masks = outputs["pred_masks"]  # (T, Q, h, w)
    scores, labels, queries = top_query_class_pairs(outputs["pred_logits"].float().mean(0), max_num)
    geo = _video_geometry(outputs, output_size)
    per_frame = [instance_masks(masks[t], queries, geo) for t in range(masks.shape[0])]
    return {
        "pred_scores": scores,
        "pred_labels": labels,
        "pred_ids": queries,
        "pred_masks": torch.stack(per_frame, dim=1),  # (N, T, H0, W0)
    }


def postprocess_vss(outputs: dict, output_size) -> torch.Tensor:
    """Per-pixel class (T, H0, W0) int64 of a whole video (:func:`semantic_map` per frame)."""
    masks = outputs["pred_masks"]  # (T, Q, h, w)
    class_logits = outputs["pred_logits"].float().mean(0)  # (Q, K+1)
    geo = _video_geometry(outputs, output_size)
    return torch.stack([semantic_map(class_logits, masks[t], geo) for t in range(masks.shape[0])])


def postprocess_vps(
    outputs: dict,
    output_size,
    *,
    object_mask_threshold: float,
    overlap_threshold: float,
    num_things: int,
) -> dict:
    """Video panoptic segmentation of a whole video (:class:`PanopticVideo`), segment ids
    1, 2, ... (0 = void).

    Returns ``pred_masks`` int32 (T, H0, W0), ``segments_infos`` [{id, isthing, category_id}]
    and ``pred_ids`` (the query that created each segment, one per ``segments_infos`` entry).
    """
    masks = outputs["pred_masks"]  # (T, Q, h, w)
    video = PanopticVideo(
        outputs["pred_logits"].float().mean(0),
        object_mask_threshold=object_mask_threshold,
        overlap_threshold=overlap_threshold,
        num_things=num_things,
    )
    geo = _video_geometry(outputs, output_size)
    for t in range(masks.shape[0]):
        video.add(masks[t], geo)
    lookup, segments = video.segments()
    return {
        "pred_masks": torch.stack(list(video.panoptic_maps(lookup))),  # (T, H0, W0)
        "segments_infos": [
            {"id": s["id"], "isthing": s["isthing"], "category_id": s["category_id"]}
            for s in segments
        ],
        "pred_ids": [s["track_id"] for s in segments],
    }
