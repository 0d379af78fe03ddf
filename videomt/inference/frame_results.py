"""Per-frame results from one frame's mask logits and the class logits that decide classes.

The class logits are either the whole-video mean (offline predictor, the evaluation protocol) or the
causal running mean up to the current frame (streams). Instance and semantic results call
:mod:`videomt.postprocess` on a one-frame "video" whose logits are those means, so they are exactly
the evaluation path's frame. Panoptic segments are decided from areas over the whole video, so
:class:`PanopticVideo` accumulates them frame by frame and keeps only a compressed owner map per
frame.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch

from ..postprocess import postprocess_vis, postprocess_vss, resize_mask_logits

__all__ = ["FrameGeometry", "instance_result", "semantic_result", "PanopticVideo"]


@dataclass(frozen=True)
class FrameGeometry:
    """Sizes a frame went through: ``padded_size`` (model input), ``image_size`` (resized frame,
    before padding) and ``output_size`` (the original frame: results are at this size)."""

    padded_size: tuple[int, int]
    image_size: tuple[int, int]
    output_size: tuple[int, int]


def _one_frame(class_logits: torch.Tensor, masks: torch.Tensor, geo: FrameGeometry) -> dict:
    """A one-frame raw output (T = 1) whose video-mean logits are ``class_logits`` (Q, K+1)."""
    return {
        "pred_logits": class_logits[None],
        "pred_masks": masks[None],
        "padded_size": geo.padded_size,
        "image_size": geo.image_size,
    }


def instance_result(
    class_logits: torch.Tensor, masks: torch.Tensor, geo: FrameGeometry, max_num: int
) -> dict:
    """Top-``max_num`` (query, class) pairs: ``scores`` (N,), ``labels`` (N,), ``track_ids`` (N,)
    (query index: the same object keeps its id in every frame), ``masks`` bool (N, H0, W0)."""
    out = postprocess_vis(_one_frame(class_logits, masks, geo), geo.output_size, max_num)
    return {
        "scores": out["pred_scores"],
        "labels": out["pred_labels"],
        "track_ids": out["pred_ids"],
        "masks": out["pred_masks"][:, 0],
    }


def semantic_result(class_logits: torch.Tensor, masks: torch.Tensor, geo: FrameGeometry) -> dict:
    """``sem_seg`` (H0, W0) int64 contiguous class per pixel."""
    return {"sem_seg": postprocess_vss(_one_frame(class_logits, masks, geo), geo.output_size)[0]}


class PanopticVideo:
    """Video panoptic segmentation fed one frame at a time.

    ``add(masks, geo)`` for every frame (in order), then ``frames()`` yields each frame's
    ``{"panoptic_seg" int32 (H0, W0), "segments_info"}``. Between the two, only per-query area
    counts and one zlib-compressed owner map per frame are kept. Segment ids are 1, 2, ... in
    query order (as the evaluation path numbers them) or, with ``stable_ids``, derived from the
    query (things: ``query + 1``) and the class (stuff: ``num_queries + 1 + class``), so that a
    stream that decides segments frame by frame keeps each object's id.
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
        )
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
        binary = probs >= 0.5
        owner_inside = binary.gather(0, owner[None])[0]  # the owner's own mask covers the pixel
        self.owned += torch.bincount(owner.flatten(), minlength=n)
        self.original += binary.flatten(1).sum(1)
        self.inside += torch.bincount(owner[owner_inside], minlength=n)
        candidate = torch.where(owner_inside, owner, torch.full_like(owner, -1)).to(torch.int16)
        self._maps.append((zlib.compress(candidate.numpy().tobytes(), 1), (h0, w0)))

    def segments(self) -> tuple[torch.Tensor, list[dict]]:
        """(lookup (N + 1,) int32 from kept index + 1 to segment id, segments [{id, isthing,
        category_id, score, track_id}]) with the panoptic overlap rule over all added frames."""
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

    def frames(self):
        """Yield per frame ``{"panoptic_seg": int32 (H0, W0), "segments_info": [...]}``; a
        frame lists the segments present in it, each with its ``area`` in that frame."""
        lookup, segments = self.segments()
        for blob, (h0, w0) in self._maps:
            if not blob:
                pan = torch.zeros(h0, w0, dtype=torch.int32)
            else:
                candidate = np.frombuffer(zlib.decompress(blob), dtype=np.int16).reshape(h0, w0)
                pan = lookup[torch.from_numpy(candidate.astype(np.int64) + 1)]
            areas = torch.bincount(pan.flatten().long())
            infos = [
                dict(s, area=int(areas[s["id"]]))
                for s in segments
                if s["id"] < areas.numel() and areas[s["id"]] > 0
            ]
            yield {"panoptic_seg": pan, "segments_info": infos}
