"""The PMT-video module, a model core (contract in ``core.py``): a **frozen** plain ViT, four of
its levels fused into one token map, and a small decoder of DINOv3-style blocks that carries the
object queries, propagated from frame to frame as in VidEoMT.

Pure PyTorch + timm, no config object and no hidden state between calls. The query-free part is
split in two so that several PMT models can share one encoder pass::

    taps, grid = core.encoder_features(frames)   # frozen ViT only: 4 x (N, S, C), no gradients
    tokens = core.fuse(taps)                     # this model's BatchNorm + lateral MLPs: (N, S, C)
    out, state = core.step(tokens_t, state, grid)  # 6 decoder blocks for one frame of B streams

``encode(frames)`` is ``fuse(encoder_features(frames)[0])`` is the core contract's ``encode``.
Models trained on different tasks over the same frozen encoder can run ``encoder_features`` once per
frame and each its own ``fuse`` + ``step``; ``encoder_fingerprint()`` (a content hash of the
encoder weights, cached until a weight changes) or ``shares_encoder_with(other)`` tells whether
two cores may share that pass.

Architecture (S = P + Hg*Wg tokens laid out [cls, registers, patches]):

* encoder: timm DINOv2-with-registers or DINOv3 (``create_encoder``), every parameter
  ``requires_grad=False`` and run under ``torch.no_grad()``; it follows the module's train/eval
  mode like the reference (DINOv2 has no mode-dependent layer; DINOv3 gets the caller's
  ``rope_scale`` in training).
* taps: the encoder's own final norm applied after blocks ``taps`` (ViT-L [5, 11, 17, 23];
  12-block ViTs [2, 5, 8, 11]).
* fusion per level l: ``u = BN_l(tap_l)`` (statistics per channel over every token of every frame,
  prefix tokens included, and over all processes: ``TokenBatchNorm``), ``y_l = s_l * (u +
  MLP_l(u))`` with ``MLP_l = Linear(C, C/2) -> GELU -> Linear(C/2, C)`` and ``s_l`` a learned
  per-channel scale; ``tokens = sum_l y_l``.
* decoder: ``num_blocks`` pre-norm blocks (LayerNorm eps 1e-5, q/v biases, no k bias, LayerScale
  init 1, GELU MLP of ``mlp_dim`` hidden units) on ``[queries | tokens]``, rotary positions on the
  patch tokens only (DINOv2: a parameter-free DINOv3-style RoPE with theta 100; DINOv3: the
  encoder's own RoPE), then ``decoder_norm`` and the VidEoMT heads.
* propagation: ``state_next = query_updater(x[:, :Q]) + q`` from the last block's output
  *before* ``decoder_norm``; deep supervision predicts from the un-normalised input of each block.
"""

from __future__ import annotations

import hashlib
from functools import partial

import torch
from timm.layers import Mlp
from timm.layers.pos_embed_sincos import RotaryEmbeddingDinoV3
from timm.models.eva import EvaBlock
from torch import nn

from .backbone import (
    create_encoder,
    embed_frames,
    is_dinov3,
    rope_for_sequence,
    rope_table,
    run_block,
)
from .core import check_video, unroll
from .heads import MaskMLP, ScaleBlock, num_upscale_blocks, predict_from_tokens
from .token_norm import TokenBatchNorm

__all__ = ["PMT", "default_taps"]

NUM_TAPS = 4


def default_taps(depth: int) -> list[int]:
    """The 4 tapped blocks of a ``depth``-block encoder: the last block of each quarter
    ([5, 11, 17, 23] for 24 blocks, [2, 5, 8, 11] for 12)."""
    return [max(0, depth * (k + 1) // NUM_TAPS - 1) for k in range(NUM_TAPS)]


class PMT(nn.Module):
    def __init__(
        self,
        model_name: str = "vit_large_patch14_reg4_dinov2",
        *,
        img_size: int = 640,
        patch_size: int = 16,
        num_queries: int = 200,
        num_classes: int = 40,
        taps: list[int] | tuple[int, ...] | None = None,
        num_blocks: int = 6,
        mlp_dim: int = 0,
        pretrained: str = "",
        depth: int = 0,
        encoder: nn.Module | None = None,
    ):
        """
        Args:
            model_name: timm ViT name (DINOv2 ``*_reg4_dinov2`` or DINOv3 ``*_dinov3*``) or a
                ``facebook/dinov3-*`` id.
            img_size / patch_size / pretrained / depth: see ``create_encoder``.
            num_queries: Q. num_classes: K (the class head has K+1 outputs, K = no-object).
            taps: the 4 encoder blocks whose (normed) outputs are fused; None: ``default_taps``.
            num_blocks: decoder blocks (the query blocks).
            mlp_dim: hidden units of the decoder blocks' MLPs; 0: the encoder width C.
            encoder: an already built encoder to hold (frozen here) instead of creating one, e.g.
                another PMT's, so that several task models keep one encoder in memory;
                ``model_name`` / ``img_size`` / ``pretrained`` / ``depth`` are then not used.
        """
        super().__init__()
        if encoder is None:
            encoder = create_encoder(
                model_name,
                img_size=img_size,
                patch_size=patch_size,
                pretrained=pretrained,
                depth=depth,
            )
        self.encoder = encoder
        self.encoder.requires_grad_(False)
        self.encoder.eval()
        dim = self.encoder.embed_dim
        encoder_depth = len(self.encoder.blocks)
        taps = default_taps(encoder_depth) if taps is None else [int(t) for t in taps]
        if len(taps) != NUM_TAPS or not all(0 <= t < encoder_depth for t in taps):
            raise ValueError(
                f"taps {taps} must be {NUM_TAPS} block indices of the {encoder_depth}-block encoder"
            )
        if num_blocks < 1:
            raise ValueError(f"num_blocks {num_blocks} must be at least 1")
        self.taps = taps
        self.num_queries = num_queries
        self.num_classes = num_classes
        self.patch_size = patch_size
        self.num_prefix_tokens = self.encoder.num_prefix_tokens
        num_heads = self.encoder.blocks[0].attn.num_heads
        mlp_dim = mlp_dim or dim

        # DINOv2 has no rotary table of its own: a parameter-free one for the decoder.
        self.rope = (
            None
            if is_dinov3(self.encoder)
            else RotaryEmbeddingDinoV3(dim // num_heads, temperature=100.0, rotate_half=True)
        )
        self.bn = nn.ModuleList(TokenBatchNorm(dim) for _ in range(NUM_TAPS))
        self.lateral_projections = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, dim // 2), nn.GELU(), nn.Linear(dim // 2, dim))
            for _ in range(NUM_TAPS)
        )
        self.scalers = nn.ParameterList(nn.Parameter(torch.ones(dim)) for _ in range(NUM_TAPS))
        self.q = nn.Embedding(num_queries, dim)
        self.blocks = nn.ModuleList(
            _decoder_block(dim, num_heads, mlp_dim, self.num_prefix_tokens)
            for _ in range(num_blocks)
        )
        self.decoder_norm = nn.LayerNorm(dim)
        self.query_updater = nn.Linear(dim, dim)
        self.class_head = nn.Linear(dim, num_classes + 1)
        self.mask_head = MaskMLP(dim)
        self.upscale = nn.Sequential(
            *[ScaleBlock(dim) for _ in range(num_upscale_blocks(patch_size))]
        )
        self._fingerprint: tuple[tuple, str] | None = None

    @property
    def num_query_blocks(self) -> int:
        return len(self.blocks)

    @property
    def uses_rope(self) -> bool:
        """The decoder always rotates patch positions: training draws ``rope_scale``."""
        return True

    # ------------------------------------------------------------------ shared encoder pass
    def encoder_features(
        self, frames: torch.Tensor, rope_scale: torch.Tensor | None = None
    ) -> tuple[list[torch.Tensor], tuple[int, int]]:
        """The frozen encoder on frames (N, 3, H, W) -> 4 normed taps, each (N, S, C), and the
        patch grid (Hg, Wg). No gradients. rope_scale: None or (N,) per-frame DINOv3 RoPE
        coordinate factors (ignored for DINOv2)."""
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"frames must be (N, 3, H, W), got {tuple(frames.shape)}")
        h, w = frames.shape[-2:]
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(
                f"frame size {h}x{w} is not a multiple of the patch size {self.patch_size}"
            )
        taps = []
        with torch.no_grad():
            x, grid = embed_frames(self.encoder, frames)  # (N, S, C)
            rope = rope_for_sequence(self.encoder, grid, 0, scale=rope_scale)
            for i, block in enumerate(self.encoder.blocks[: max(self.taps) + 1]):
                x = run_block(block, x, rope)
                taps += [self.encoder.norm(x)] * self.taps.count(i)
        return taps, grid

    def fuse(self, taps: list[torch.Tensor]) -> torch.Tensor:
        """4 taps (N, S, C) -> decoder input tokens (N, S, C) (BatchNorm statistics over these
        N frames in training; see ``fuse_sets``)."""
        return self.fuse_sets([taps])[0]

    def fuse_sets(self, tap_sets: list[list[torch.Tensor]]) -> list[torch.Tensor]:
        """``fuse`` for several tap sets (e.g. clips of different sizes in one training batch)
        whose BatchNorm statistics are computed together, as if they were one batch.
        tap_sets[i]: 4 x (N_i, S_i, C). Returns one (N_i, S_i, C) per set."""
        fused = [0.0] * len(tap_sets)
        for level in range(NUM_TAPS):
            flat = [taps[level].flatten(0, 1) for taps in tap_sets]  # (N_i * S_i, C)
            normed = self.bn[level].forward_sets(flat)
            for i, (u, taps) in enumerate(zip(normed, tap_sets)):
                u = u.view_as(taps[level])  # (N_i, S_i, C)
                y = self.scalers[level] * (u + self.lateral_projections[level](u))
                fused[i] = fused[i] + y
        return fused

    def encoder_fingerprint(self) -> str:
        """SHA-256 of the encoder's state dict (names, dtypes, shapes, values). Computed once and
        kept until a weight is replaced or changed in place (e.g. by ``load_state_dict``)."""
        state = self.encoder.state_dict()
        key = tuple((name, t.data_ptr(), t._version) for name, t in state.items())
        if self._fingerprint is None or self._fingerprint[0] != key:
            digest = hashlib.sha256()
            for name, tensor in state.items():
                digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
                digest.update(
                    tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
                )
            self._fingerprint = (key, digest.hexdigest())
        return self._fingerprint[1]

    def shares_encoder_with(self, other: PMT) -> bool:
        """Whether ``other``'s frozen encoder has exactly this one's weights (same features)."""
        return self.encoder_fingerprint() == other.encoder_fingerprint()

    # ------------------------------------------------------------------ stream API
    def encode(
        self, frames: torch.Tensor, rope_scale: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, tuple[int, int]]:
        """Frames (N, 3, H, W) -> fused tokens (N, S, C) and (Hg, Wg)."""
        taps, grid = self.encoder_features(frames, rope_scale)
        return self.fuse(taps), grid

    def initial_state(self, batch_size: int) -> torch.Tensor:
        """The query input of a stream's first frame: the learned queries (B, Q, C)."""
        return self.q.weight.unsqueeze(0).expand(batch_size, -1, -1)

    def decoder_rope(
        self, grid: tuple[int, int], rope_scale: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Rotary table of the decoder sequence [queries | prefix | patches]: identity on the Q
        queries (the blocks skip the P prefix tokens themselves). (Q + Hg*Wg, 2*head_dim), or
        (B, 1, Q + Hg*Wg, 2*head_dim) with per-stream ``rope_scale`` (B,)."""
        rope = self.encoder.rope if self.rope is None else self.rope
        return rope_table(rope, grid, self.num_queries, scale=rope_scale)

    def predict(self, x: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Class (N, Q, K+1) and mask (N, Q, 4Hg, 4Wg) logits from (N, Q + S, C)."""
        return predict_from_tokens(self, x, grid)

    def step(
        self,
        tokens: torch.Tensor,
        state: torch.Tensor | None,
        grid: tuple[int, int],
        with_aux: bool = False,
        rope_scale: torch.Tensor | None = None,
        num_aux: int | None = None,
    ) -> tuple[dict, torch.Tensor]:
        """One frame of B streams through the decoder blocks (see the core contract).

        tokens: (B, S, C) from ``encode``/``fuse``; state: (B, Q, C) or None. ``aux_outputs``
        lists the predictions from the (un-normalised) input of each of the first ``num_aux``
        blocks (None: all)."""
        q_in = self.initial_state(tokens.shape[0]) if state is None else state
        x = torch.cat([q_in.to(tokens.dtype), tokens], dim=1)  # (B, Q + S, C)
        rope = self.decoder_rope(grid, rope_scale).to(x.dtype)
        aux = []
        num_aux = (self.num_query_blocks if num_aux is None else num_aux) if with_aux else 0
        for i, block in enumerate(self.blocks):
            if i < num_aux:
                logits, masks = self.predict(x, grid)
                aux.append({"pred_logits": logits, "pred_masks": masks})
            x = run_block(block, x, rope)
        logits, masks = self.predict(self.decoder_norm(x), grid)
        next_state = self.query_updater(x[:, : self.num_queries]) + self.q.weight
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
        """video: (B, T, 3, H, W) normalised -> the core contract's clip outputs."""
        return self.forward_clips(
            [video], [state], rope_scale=[rope_scale], with_aux=with_aux, num_aux=num_aux
        )[0]

    def forward_clips(
        self,
        videos: list[torch.Tensor],
        states: list[torch.Tensor | None] | None = None,
        *,
        rope_scale: list[torch.Tensor | None] | None = None,
        with_aux: bool | None = None,
        num_aux: int | None = None,
    ) -> list[dict]:
        """``forward`` for several batches of clips (each (B_i, T, 3, H_i, W_i), e.g. clips of
        different sizes) whose fusion BatchNorm shares its training statistics: one call gives the
        same results however the clips are grouped. ``rope_scale[i]``: None or (B_i,)."""
        states = states or [None] * len(videos)
        rope_scale = rope_scale or [None] * len(videos)
        with_aux = self.training if with_aux is None else with_aux
        tap_sets, grids = [], []
        for video, scale in zip(videos, rope_scale):
            check_video(video)
            t = video.shape[1]
            frame_scale = None if scale is None else scale.repeat_interleave(t)  # (B*T,)
            taps, grid = self.encoder_features(video.flatten(0, 1), frame_scale)  # 4 x (B*T, S, C)
            tap_sets.append(taps)
            grids.append(grid)
        fused = self.fuse_sets(tap_sets)
        return [
            unroll(
                self,
                tokens.unflatten(0, video.shape[:2]),  # (B, T, S, C)
                grid,
                state,
                rope_scale=scale,
                with_aux=with_aux,
                num_aux=num_aux,
            )
            for tokens, video, grid, state, scale in zip(fused, videos, grids, states, rope_scale)
        ]


def _decoder_block(dim: int, num_heads: int, mlp_dim: int, num_prefix_tokens: int) -> nn.Module:
    """A DINOv3-style pre-norm block (timm ``EvaBlock``: fused qkv weight with q and v biases, no
    k bias; LayerScale 1.0) with a GELU MLP of ``mlp_dim`` hidden units; LayerNorm eps 1e-5.
    The first ``num_prefix_tokens`` tokens are never rotated."""
    block = EvaBlock(
        dim,
        num_heads,
        qkv_bias=True,
        qkv_fused=True,
        num_prefix_tokens=num_prefix_tokens,
        rotate_half=True,
        init_values=1.0,
        norm_layer=partial(nn.LayerNorm, eps=1e-5),
    )
    block.mlp = Mlp(dim, hidden_features=mlp_dim, act_layer=nn.GELU)
    bound = dim**-0.5  # q/v biases as separate nn.Linear biases would start (PyTorch default)
    nn.init.uniform_(block.attn.q_bias, -bound, bound)
    nn.init.uniform_(block.attn.v_bias, -bound, bound)
    return block
