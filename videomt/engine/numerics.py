"""Non-finite detection for the training step: after every optimizer step the weights and the
optimizer state are screened, before any hook can save them, with one device synchronisation; the
gradients are looked at only to name the cause once something is non-finite."""

from __future__ import annotations

import torch

from ..errors import UserError

__all__ = ["NonFiniteError", "non_finite_names", "step_tensors", "gradient_tensors"]


class NonFiniteError(UserError, FloatingPointError):
    """Training diverged: a loss, gradient, weight or optimizer state is NaN or infinite (a
    learning rate or loss weight too large for the data; the message names the iteration)."""


def non_finite_names(named: list[tuple[str, torch.Tensor]]) -> list[str]:
    """Names of the tensors that hold a NaN or an infinity, in ``named`` order.

    One fused pass screens them all: a tensor's L2 norm is finite only when all its elements are
    (a NaN or an infinity propagates), then a single ``.all()`` synchronises. A non-finite norm can
    also come from finite values too large to square; only those tensors get the exact
    element-wise test, so a false alarm is impossible and the common case costs one reduction."""
    if not named:
        return []
    norms = torch._foreach_norm([t for _, t in named], 2)  # multi-tensor kernel, one per tensor
    finite = torch.stack([n.float() for n in norms]).isfinite()  # (N,)
    if bool(finite.all()):
        return []
    suspects = [i for i, ok in enumerate(finite.tolist()) if not ok]
    return [named[i][0] for i in suspects if not bool(named[i][1].isfinite().all())]


def step_tensors(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> list[tuple[str, torch.Tensor]]:
    """``(description, tensor)`` of what an optimizer step writes: the trainable weights and the
    optimizer's floating-point state, named after the parameters. (A non-finite gradient always
    shows here too: it reaches the weights or the state; see :func:`gradient_tensors`.)"""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    names = {id(p): n for n, p in params}
    out = [(f"weight {n}", p.detach()) for n, p in params]
    for p, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dim() > 0:
                out.append((f"optimizer state '{key}' of {names.get(id(p), '?')}", value))
    return out


def gradient_tensors(model: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    """``("gradient of <name>", grad)`` of the trainable parameters that have one."""
    return [
        (f"gradient of {n}", p.grad)
        for n, p in model.named_parameters()
        if p.requires_grad and p.grad is not None
    ]
