"""Point sampling for the mask losses (PointRend style): values of mask logits / binary masks at
continuous points, and the importance-sampled point sets of the criterion.

Coordinates are normalised (x, y) in [0, 1]^2 over the whole (padded) frame, so predictions at
stride 4 and ground truth at full resolution are compared without resizing. All random draws take
an explicit ``torch.Generator`` (one per clip: the draws do not depend on the rest of the batch).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["point_sample", "uniform_points", "uncertain_point_coords"]


def point_sample(inputs: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinear values of ``inputs`` (N, C, H, W) at ``coords`` (N, P, 2) (x, y in [0, 1],
    ``align_corners=False``, zeros outside) -> (N, C, P)."""
    grid = (2.0 * coords - 1.0).unsqueeze(2).to(inputs.dtype)  # (N, P, 1, 2) in [-1, 1]
    return F.grid_sample(inputs, grid, mode="bilinear", align_corners=False).squeeze(3)


def uniform_points(
    shape: tuple[int, ...], generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Uniform random points in [0, 1]^2: (*shape, 2) float32."""
    return torch.rand(*shape, 2, generator=generator, device=device)


def uncertain_point_coords(
    logits: torch.Tensor,
    num_points: int,
    oversample_ratio: float,
    importance_sample_ratio: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """PointRend training points for mask logits (N, 1, h, w) -> (N, num_points, 2).

    Draw ``int(num_points * oversample_ratio)`` uniform points, keep the
    ``int(importance_sample_ratio * num_points)`` most uncertain ones (uncertainty ``-|logit|``),
    and fill up with fresh uniform points. No gradient.
    """
    n = logits.shape[0]
    num_sampled = int(num_points * oversample_ratio)
    num_uncertain = int(importance_sample_ratio * num_points)
    num_random = num_points - num_uncertain
    with torch.no_grad():
        candidates = uniform_points((n, num_sampled), generator, logits.device)  # (N, S, 2)
        uncertainty = -point_sample(logits.detach().float(), candidates)[:, 0].abs()  # (N, S)
        top = uncertainty.topk(num_uncertain, dim=1).indices  # (N, U)
        chosen = candidates.gather(1, top.unsqueeze(-1).expand(-1, -1, 2))  # (N, U, 2)
        if num_random > 0:
            chosen = torch.cat(
                [chosen, uniform_points((n, num_random), generator, logits.device)], dim=1
            )
    return chosen
