"""The VidEoMT module, a model core (contract in ``core.py``): a plain ViT whose last blocks also
process object queries that are propagated and fused from frame to frame.

Pure PyTorch + timm, no config object and no hidden state between calls:

    tokens, grid = core.encode(frames)               # first L1 blocks, all frames batched
    out_t, state = core.step(tokens_t, state, grid)  # last L2 blocks for one frame of B streams
    out = core(video, state=None)                    # encode + loop of step over time

``state`` is the propagated query tensor (B, Q, C), or None at the start of a stream.
Fusion: ``state_next = query_updater(queries_out) + q`` (q = learned queries).

Training extras, all explicit arguments: ``rope_scale`` (DINOv3 RoPE coordinate rescale factors,
one per stream, drawn by the caller once per clip and passed to ``encode`` and every ``step``),
``with_aux`` (deep-supervision predictions) and the ``grad_checkpointing`` constructor flag
(recompute the ViT blocks in the backward pass; same gradients, less activation memory).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .backbone import create_encoder, embed_frames, is_dinov3, rope_for_sequence, run_block
from .core import check_video, unroll
from .heads import MaskMLP, ScaleBlock, num_upscale_blocks, predict_from_tokens

__all__ = ["VidEoMT"]


class VidEoMT(nn.Module):
    def __init__(
        self,
        model_name: str = "vit_large_patch14_reg4_dinov2",
        *,
        img_size: int = 640,
        patch_size: int = 16,
        num_queries: int = 200,
        num_classes: int = 40,
        first_query_block: int = 20,
        norm_queries: bool = False,
        pretrained: str = "",
        drop_path_rate: float = 0.0,
        depth: int = 0,
        grad_checkpointing: bool = False,
    ):
        """
        Args:
            model_name: timm ViT name (DINOv2 ``*_reg4_dinov2`` or DINOv3 ``*_dinov3*``) or a
                ``facebook/dinov3-*`` id.
            img_size: side of the stored position grid (``img_size / patch_size`` positions).
            num_queries: Q. num_classes: K (the class head has K+1 outputs, K = no-object).
            first_query_block: L1, index of the first block that sees the queries
                (``SEGMENTER_BLOCKS[0]``); blocks L1..L-1 are the L2 query blocks.
            norm_queries: propagate (and make deep-supervision predictions from) queries after
                the final LayerNorm instead of the raw block output.
            pretrained / drop_path_rate / depth: see ``create_encoder``.
            grad_checkpointing: recompute each ViT block's activations in the backward pass
                (training with gradients only; identical results).
        """
        super().__init__()
        self.encoder = create_encoder(
            model_name,
            img_size=img_size,
            patch_size=patch_size,
            pretrained=pretrained,
            drop_path_rate=drop_path_rate,
            depth=depth,
        )
        dim = self.encoder.embed_dim
        num_blocks = len(self.encoder.blocks)
        if not 0 <= first_query_block < num_blocks:
            raise ValueError(
                f"first query block {first_query_block} outside the {num_blocks} encoder blocks"
            )
        self.num_queries = num_queries
        self.num_classes = num_classes
        self.first_query_block = first_query_block
        self.norm_queries = norm_queries
        self.patch_size = patch_size
        self.grad_checkpointing = grad_checkpointing
        self.num_prefix_tokens = self.encoder.num_prefix_tokens

        self.q = nn.Embedding(num_queries, dim)
        self.query_updater = nn.Linear(dim, dim)
        self.class_head = nn.Linear(dim, num_classes + 1)
        self.mask_head = MaskMLP(dim)
        self.upscale = nn.Sequential(
            *[ScaleBlock(dim) for _ in range(num_upscale_blocks(patch_size))]
        )

    @property
    def num_query_blocks(self) -> int:
        return len(self.encoder.blocks) - self.first_query_block

    @property
    def uses_rope(self) -> bool:
        """DINOv3 encoders rotate positions (``rope_scale`` applies); DINOv2 uses a table."""
        return is_dinov3(self.encoder)

    def _block(self, block: nn.Module, x: torch.Tensor, rope: torch.Tensor | None) -> torch.Tensor:
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(run_block, block, x, rope, use_reentrant=False)
        return run_block(block, x, rope)

    # ------------------------------------------------------------------ prediction
    def predict(self, x: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Class and mask logits from a token sequence.

        x: (N, Q + P + Hg*Wg, C) laid out [queries | cls, reg | patches].
        Returns class logits (N, Q, K+1) and mask logits (N, Q, Hg*s, Wg*s), s = 2**num_upscale.
        """
        return predict_from_tokens(self, x, grid)

    # ------------------------------------------------------------------ stream API
    def encode(
        self, frames: torch.Tensor, rope_scale: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, tuple[int, int]]:
        """Run the first L1 blocks on frames (N, 3, H, W) -> tokens (N, P + Hg*Wg, C), (Hg, Wg).

        rope_scale: None or (N,) per-frame DINOv3 RoPE coordinate factors (ignored for DINOv2)."""
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"frames must be (N, 3, H, W), got {tuple(frames.shape)}")
        h, w = frames.shape[-2:]
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(
                f"frame size {h}x{w} is not a multiple of the patch size {self.patch_size}"
            )
        x, grid = embed_frames(self.encoder, frames)
        rope = rope_for_sequence(self.encoder, grid, 0, scale=rope_scale)
        for block in self.encoder.blocks[: self.first_query_block]:
            x = self._block(block, x, rope)
        return x, grid

    def initial_state(self, batch_size: int) -> torch.Tensor:
        """The query input of a stream's first frame: the learned queries (B, Q, C)."""
        return self.q.weight.unsqueeze(0).expand(batch_size, -1, -1)

    def step(
        self,
        tokens: torch.Tensor,
        state: torch.Tensor | None,
        grid: tuple[int, int],
        with_aux: bool = False,
        rope_scale: torch.Tensor | None = None,
        num_aux: int | None = None,
    ) -> tuple[dict, torch.Tensor]:
        """One frame of B streams through the L2 query blocks.

        tokens: (B, P + Hg*Wg, C) from ``encode``; state: (B, Q, C) propagated queries or None.
        Returns ({"pred_logits" (B, Q, K+1), "pred_masks" (B, Q, 4Hg, 4Wg)[, "aux_outputs"]},
        next state (B, Q, C)). ``aux_outputs`` lists the predictions made from the sequence
        entering each query block (deep supervision); ``num_aux`` limits them to the first
        ``num_aux`` query blocks (None: all). rope_scale: None or (B,) per-stream DINOv3 RoPE
        coordinate factors, the same ones given to ``encode`` for these streams.
        """
        q_in = self.initial_state(tokens.shape[0]) if state is None else state
        x = torch.cat([q_in.to(tokens.dtype), tokens], dim=1)  # (B, Q + P + Hg*Wg, C)
        rope = rope_for_sequence(self.encoder, grid, self.num_queries, scale=rope_scale)
        aux = []
        num_aux = (self.num_query_blocks if num_aux is None else num_aux) if with_aux else 0
        for i, block in enumerate(self.encoder.blocks[self.first_query_block :]):
            if i < num_aux:
                logits, masks = self.predict(self.encoder.norm(x) if self.norm_queries else x, grid)
                aux.append({"pred_logits": logits, "pred_masks": masks})
            x = self._block(block, x, rope)
        x_normed = self.encoder.norm(x)
        logits, masks = self.predict(x_normed, grid)
        queries_out = (x_normed if self.norm_queries else x)[:, : self.num_queries]
        next_state = self.query_updater(queries_out) + self.q.weight
        out = {"pred_logits": logits, "pred_masks": masks}
        if with_aux:
            out["aux_outputs"] = aux
        return out, next_state

    # ------------------------------------------------------------------ clip API
    def forward(
        self,
        video: torch.Tensor,
        state: torch.Tensor | None = None,
        *,
        rope_scale: torch.Tensor | None = None,
        with_aux: bool | None = None,
        num_aux: int | None = None,
    ) -> dict:
        """video: (B, T, 3, H, W) normalised. Returns
        ``pred_logits`` (B, T, Q, K+1), ``pred_masks`` (B, T, Q, H/4, W/4), ``state`` (B, Q, C)
        and, with ``with_aux`` (default: in training mode), ``aux_outputs`` (one dict per query
        block, same shapes; only the first ``num_aux`` blocks' when given). rope_scale: None or
        (B,) DINOv3 RoPE factors, one per clip."""
        check_video(video)
        b, t = video.shape[:2]
        frame_scale = (
            None if rope_scale is None else rope_scale.repeat_interleave(t)
        )  # (B*T,) video-major
        tokens, grid = self.encode(video.flatten(0, 1), frame_scale)  # (B*T, S, C)
        with_aux = self.training if with_aux is None else with_aux
        return unroll(
            self,
            tokens.unflatten(0, (b, t)),  # (B, T, S, C)
            grid,
            state,
            rope_scale=rope_scale,
            with_aux=with_aux,
            num_aux=num_aux,
        )
