"""BatchNorm over tokens whose training statistics span several token sets and every process.

PMT normalises each tapped encoder level with a BatchNorm whose statistics, per channel, run
over all tokens (prefix tokens included) of all frames of the batch, synchronised over the
processes (the reference uses ``nn.SyncBatchNorm``, which needs CUDA). This module computes the
same numbers on any device: the per-channel sums of every token set given to one call and of
every process are added (``all_reduce`` with autograd, so gradients flow through the shared
statistics as in ``SyncBatchNorm``), so the result does not depend on how the tokens are split
into sets, micro-batches of equal-size clips, or processes.

State-dict keys are ``nn.BatchNorm1d``'s (``weight``, ``bias``, ``running_mean``,
``running_var``, ``num_batches_tracked``); eval mode uses the running statistics.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["TokenBatchNorm"]


def _sum_over_processes(x: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        from torch.distributed.nn.functional import all_reduce

        return all_reduce(x)  # differentiable sum over processes
    return x


class TokenBatchNorm(nn.BatchNorm1d):
    """``forward_sets([(n_i, C), ...]) -> [(n_i, C), ...]`` with one shared set of statistics."""

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (n, C) -> (n, C)
        return self.forward_sets([tokens])[0]

    def forward_sets(self, sets: list[torch.Tensor]) -> list[torch.Tensor]:
        """Normalise token sets (each (n_i, C)); training: batch statistics over all of them
        (and over all processes) and a running-statistics update (momentum, unbiased var)."""
        if not self.training:
            return [
                nn.functional.batch_norm(
                    x,
                    self.running_mean,
                    self.running_var,
                    self.weight,
                    self.bias,
                    False,
                    0.0,
                    self.eps,
                )
                for x in sets
            ]
        x32 = [x.float() for x in sets]
        count = _sum_over_processes(
            torch.tensor([float(sum(x.shape[0] for x in sets))], device=sets[0].device)
        )  # (1,) tokens over all sets and processes
        total = _sum_over_processes(torch.stack([x.sum(0) for x in x32]).sum(0))  # (C,)
        mean = total / count
        squares = torch.stack([((x - mean) ** 2).sum(0) for x in x32]).sum(0)  # (C,)
        var = _sum_over_processes(squares) / count  # biased, as BatchNorm normalises
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            unbiased = var * (count / (count - 1).clamp(min=1))
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(unbiased.detach(), self.momentum)
        scale = self.weight * torch.rsqrt(var + self.eps)  # (C,)
        shift = self.bias - mean * scale
        return [(x * scale + shift).to(s.dtype) for x, s in zip(x32, sets)]
