"""The training losses: weighted cross-entropy with a no-object class, and BCE + Dice
on PointRend importance-sampled points, for the final prediction and each supervised
deep-supervision output, each matched on its own by the consistent matcher.

Normalisation is explicit: mask losses are sums over matched (track, frame) pairs divided by
``num_masks``; the class loss is, per clip, PyTorch's weighted mean over the clip's T*Q entries,
summed over clips and divided by ``num_clips``. The caller chooses the normalisers (global counts
per process), which makes gradients independent of how clips are spread over processes.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .matcher import ConsistentMatcher
from .point_sampling import point_sample, uncertain_point_coords

__all__ = [
    "VideoSetCriterion",
    "loss_weight_dict",
    "sigmoid_bce_loss",
    "dice_loss",
    "mask_losses_at_points",
]

LOSS_NAMES = ("loss_ce", "loss_mask", "loss_dice")


def loss_weight_dict(
    class_weight: float, mask_weight: float, dice_weight: float, num_aux: int = 0
) -> dict[str, float]:
    """Weights of the final losses and of the deep-supervision losses with suffix ``_0 ..
    _{num_aux-1}``."""
    base = dict(zip(LOSS_NAMES, (class_weight, mask_weight, dice_weight)))
    weights = dict(base)
    for i in range(num_aux):
        weights.update({f"{k}_{i}": w for k, w in base.items()})
    return weights


def sigmoid_bce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum over masks of the mean point BCE-with-logits. logits, labels: (M, P) -> scalar."""
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(1).sum()


def dice_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum over masks of ``1 - (2 sum s*y + 1) / (sum s + sum y + 1)``, s = sigmoid. (M, P) ->
    scalar."""
    prob = logits.sigmoid()
    numerator = 2 * (prob * labels).sum(-1)
    denominator = prob.sum(-1) + labels.sum(-1)
    return (1 - (numerator + 1) / (denominator + 1)).sum()


def mask_losses_at_points(
    pred: torch.Tensor, gt: torch.Tensor, coords: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """BCE and Dice sums of mask logits pred (M, h, w) against binary gt (M, H, W) at coords
    (M, P, 2) in [0, 1]^2, in fp32. Returns (bce_sum, dice_sum)."""
    logits = point_sample(pred.float()[:, None], coords)[:, 0]  # (M, P)
    labels = point_sample(gt.float()[:, None], coords)[:, 0]  # (M, P)
    return sigmoid_bce_loss(logits, labels), dice_loss(logits, labels)


class VideoSetCriterion(nn.Module):
    def __init__(
        self,
        num_classes: int,
        matcher: ConsistentMatcher,
        weight_dict: dict[str, float],
        *,
        no_object_weight: float = 0.1,
        num_points: int = 12544,
        oversample_ratio: float = 3.0,
        importance_sample_ratio: float = 0.75,
    ):
        """
        Args:
            num_classes: K (logits have K+1 columns, K = no-object).
            matcher: assigns queries to tracks per clip.
            weight_dict: loss name -> weight (see ``loss_weight_dict``). Deep-supervision outputs
                whose losses have no weight are neither matched nor computed.
            no_object_weight: CE weight of the no-object class (the others weigh 1).
            num_points / oversample_ratio / importance_sample_ratio: PointRend point sampling.
        """
        super().__init__()
        self.num_classes = num_classes
        self.matcher = matcher
        self.weight_dict = dict(weight_dict)
        self.num_points = num_points
        self.oversample_ratio = oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio
        class_weights = torch.ones(num_classes + 1)
        class_weights[-1] = no_object_weight
        self.register_buffer("class_weights", class_weights, persistent=False)

    @property
    def num_aux(self) -> int:
        """Number of deep-supervision outputs that carry a loss weight (``_0 .. _{n-1}``)."""
        n = 0
        while f"loss_ce_{n}" in self.weight_dict:
            n += 1
        return n

    def forward(
        self,
        outputs: dict,
        targets: list[dict],
        generators: list[torch.Generator],
        num_masks: float,
        num_clips: float,
    ) -> dict[str, torch.Tensor]:
        """Unweighted losses.

        outputs: ``pred_logits`` (B, T, Q, K+1), ``pred_masks`` (B, T, Q, h, w) and optionally
            ``aux_outputs`` (list of dicts, same shapes).
        targets: B dicts ``labels`` (N,) in [0, K), ``ids`` (N, T) (-1 = absent), ``masks``
            (N, T, H, W) binary at the padded input size (H = 4h, W = 4w).
        generators: one per clip; all random draws of clip b come from ``generators[b]``.
        num_masks, num_clips: the normalisers (see module docstring).
        """
        layers = [("", outputs)]
        layers += [
            (f"_{i}", aux) for i, aux in enumerate(outputs.get("aux_outputs", [])[: self.num_aux])
        ]
        losses = {}
        with torch.autocast(outputs["pred_logits"].device.type, enabled=False):
            for suffix, out in layers:
                for name, value in self.layer_losses(
                    out, targets, generators, num_masks, num_clips
                ).items():
                    losses[name + suffix] = value
        return losses

    def layer_losses(
        self,
        out: dict,
        targets: list[dict],
        generators: list[torch.Generator],
        num_masks: float,
        num_clips: float,
    ) -> dict[str, torch.Tensor]:
        """loss_ce / loss_mask / loss_dice of one output (final or one deep-supervision layer)."""
        ce = bce = dice = out["pred_logits"].new_zeros((), dtype=torch.float32)
        for b, (target, generator) in enumerate(zip(targets, generators)):
            logits, masks = out["pred_logits"][b], out["pred_masks"][b]  # (T, Q, K+1), (T, Q, h, w)
            query_idx, track_idx = self.matcher(
                logits, masks, target["labels"], target["ids"], target["masks"], generator
            )
            ce = ce + self.clip_class_loss(logits, target["labels"], query_idx, track_idx)
            clip_bce, clip_dice = self.clip_mask_losses(
                masks, target["masks"], query_idx, track_idx, generator
            )
            bce, dice = bce + clip_bce, dice + clip_dice
        return {
            "loss_ce": ce / num_clips,
            "loss_mask": bce / num_masks,
            "loss_dice": dice / num_masks,
        }

    def clip_class_loss(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        query_idx: torch.Tensor,
        track_idx: torch.Tensor,
    ) -> torch.Tensor:
        """Weighted-mean CE over the clip's T*Q (frame, query) entries; matched queries get their
        track's class in every frame, the others no-object. logits (T, Q, K+1)."""
        t, q = logits.shape[:2]
        target = torch.full(
            (t, q), self.num_classes, dtype=torch.int64, device=logits.device
        )  # (T, Q)
        matched = (
            labels[track_idx.to(labels.device)].clamp(0, self.num_classes - 1).to(logits.device)
        )
        target[:, query_idx.to(logits.device)] = matched
        return F.cross_entropy(
            logits.float().flatten(0, 1), target.flatten(), weight=self.class_weights
        )

    def clip_mask_losses(
        self,
        masks: torch.Tensor,
        gt_masks: torch.Tensor,
        query_idx: torch.Tensor,
        track_idx: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """BCE and Dice sums over the clip's matched (track, frame) pairs.
        masks (T, Q, h, w) logits; gt_masks (N, T, H, W)."""
        if query_idx.numel() == 0:
            zero = (
                masks.float().sum() * 0.0
            )  # keeps the graph (and DDP's used-parameter set) intact
            return zero, zero
        pred = masks[:, query_idx.to(masks.device)].flatten(0, 1)  # (T*M, h, w), frame-major
        gt = gt_masks[track_idx.to(gt_masks.device)].transpose(0, 1).flatten(0, 1)  # (T*M, H, W)
        coords = uncertain_point_coords(
            pred[:, None],
            self.num_points,
            self.oversample_ratio,
            self.importance_sample_ratio,
            generator,
        )  # (T*M, P, 2)
        return mask_losses_at_points(pred, gt.to(pred.device), coords)
