"""Hungarian matching of query predictions to ground-truth tracks.

``frame_cost`` is the per-frame cost (class + mask BCE + Dice on shared uniform points, fp32);
``ConsistentMatcher`` assigns each track of a clip one query, chosen at the track's first visible
frame among the queries still free, and keeps that pair for every frame of the clip.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch.nn import functional as F

from .point_sampling import point_sample, uniform_points

__all__ = ["frame_cost", "ConsistentMatcher", "TAKEN_COST"]

TAKEN_COST = 1e6  # cost of a query already assigned at an earlier frame


def pairwise_mask_costs(pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean point BCE and Dice between every prediction and every target.

    pred: (Q, P) logits; gt: (N, P) in {0, 1}. Returns bce (Q, N), dice (Q, N), fp32.
    """
    pred, gt = pred.float(), gt.float()
    num_points = pred.shape[1]
    pos = F.binary_cross_entropy_with_logits(
        pred, torch.ones_like(pred), reduction="none"
    )  # (Q, P)
    neg = F.binary_cross_entropy_with_logits(pred, torch.zeros_like(pred), reduction="none")
    bce = (pos @ gt.T + neg @ (1 - gt).T) / num_points  # (Q, N)
    prob = pred.sigmoid()
    numerator = 2 * prob @ gt.T  # (Q, N)
    denominator = prob.sum(-1)[:, None] + gt.sum(-1)[None, :]
    dice = 1 - (numerator + 1) / (denominator + 1)
    return bce, dice


def frame_cost(
    logits: torch.Tensor,
    masks: torch.Tensor,
    labels: torch.Tensor,
    gt_masks: torch.Tensor,
    points: torch.Tensor,
    class_weight: float,
    mask_weight: float,
    dice_weight: float,
) -> torch.Tensor:
    """Matching cost of one frame, fp32 and without gradient.

    logits: (Q, K+1); masks: (Q, h, w) mask logits; labels: (N,) in [0, K]; gt_masks: (N, H, W)
    binary; points: (P, 2) in [0, 1]^2 shared by all masks. Returns (Q, N).
    """
    with torch.no_grad(), torch.autocast(logits.device.type, enabled=False):
        prob = logits.float().softmax(-1)  # (Q, K+1)
        cost_class = -prob[:, labels.clamp(0, logits.shape[-1] - 1)]  # (Q, N)
        pts = points[None]  # (1, P, 2)
        pred = point_sample(masks.float()[:, None], pts.expand(masks.shape[0], -1, -1))[
            :, 0
        ]  # (Q, P)
        gt = point_sample(gt_masks.float()[:, None], pts.expand(gt_masks.shape[0], -1, -1))[
            :, 0
        ]  # (N, P)
        cost_mask, cost_dice = pairwise_mask_costs(pred, gt)
        return mask_weight * cost_mask + class_weight * cost_class + dice_weight * cost_dice


class ConsistentMatcher:
    """Temporally consistent matching of one clip.

    For each distinct first-visible frame f (ascending), the tracks that first appear at f are
    matched by Hungarian assignment on frame f's cost, with the queries taken at earlier frames
    priced ``TAKEN_COST``; the union of pairs holds for all frames of the clip.
    """

    def __init__(
        self,
        class_weight: float = 2.0,
        mask_weight: float = 5.0,
        dice_weight: float = 5.0,
        num_points: int = 12544,
    ):
        self.class_weight, self.mask_weight, self.dice_weight = (
            class_weight,
            mask_weight,
            dice_weight,
        )
        self.num_points = num_points

    @torch.no_grad()
    def __call__(
        self,
        pred_logits: torch.Tensor,
        pred_masks: torch.Tensor,
        labels: torch.Tensor,
        ids: torch.Tensor,
        gt_masks: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """pred_logits (T, Q, K+1), pred_masks (T, Q, h, w), labels (N,), ids (N, T) (-1 = absent),
        gt_masks (N, T, H, W). One set of ``num_points`` uniform points is drawn per matched frame.

        Returns (query_idx (M,), track_idx (M,)) int64 on the CPU, in matching order.
        """
        num_queries = pred_logits.shape[1]
        visible = ids >= 0  # (N, T)
        first = torch.where(
            visible.any(1), visible.int().argmax(1), -1
        ).tolist()  # (N,) first visible frame
        taken = np.zeros(num_queries, dtype=bool)
        queries, tracks = [], []
        for f in sorted({v for v in first if v >= 0}):
            group = [n for n, v in enumerate(first) if v == f]
            points = uniform_points((self.num_points,), generator, pred_masks.device)  # (P, 2)
            idx = torch.as_tensor(group, device=labels.device)
            cost = frame_cost(
                pred_logits[f],
                pred_masks[f],
                labels[idx],
                gt_masks[idx, f].to(pred_masks.device),
                points,
                self.class_weight,
                self.mask_weight,
                self.dice_weight,
            )
            cost = cost.cpu().numpy()  # (Q, n)
            cost[taken] = TAKEN_COST
            rows, cols = linear_sum_assignment(cost)
            taken[rows] = True
            queries += rows.tolist()
            tracks += [group[c] for c in cols]
        return torch.as_tensor(queries, dtype=torch.int64), torch.as_tensor(
            tracks, dtype=torch.int64
        )
