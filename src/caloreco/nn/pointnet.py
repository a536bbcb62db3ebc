"""Point-cloud networks over all hits of an event, conditioned on a focal hit.

JetPointNet's task (ATLAS, Joshuah143/JetPointNet): every point of the cloud carries its own
features and its relation to the focal object; the network returns one logit per point, "same
particle as the focal one" or not. Two variants share the interface:

* ``pointnet``: a shared per-point MLP, then ``n_blocks`` residual blocks that concatenate to each
  point the masked max- and mean-pooled feature of the whole cloud (PointNet segmentation head,
  DeepSets-style updates), then a per-point head. No T-Nets: the inputs are already in the
  detector frame and the relations to the focal hit are explicit features.
* ``attention``: ``n_blocks`` pre-norm transformer blocks whose attention logits get a learned
  bias from the hit-pair features (Particle-Transformer style interaction bias), so each hit
  sees the others through their angle, time difference and Compton consistency.

Padding: ``mask`` (B, N) marks real points. Pooling and attention ignore padded points, and only
LayerNorm (per point) is used, so the outputs at real points do not depend on how many padded
points there are or what they hold. Logits at padded points are 0 and mean nothing.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

__all__ = [
    "FocalPointNet",
    "PairAttentionBlock",
    "PairBias",
    "masked_max",
    "masked_mean",
    "mlp",
    "VARIANTS",
]

VARIANTS = ("pointnet", "attention")


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max over the points (dim 1) of ``x`` (B, N, C) where ``mask`` (B, N); 0 for an empty row."""
    filled = x.masked_fill(~mask[..., None], float("-inf"))
    out = filled.max(dim=1).values
    return torch.where(torch.isfinite(out), out, torch.zeros_like(out))


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the points (dim 1) of ``x`` (B, N, C) where ``mask`` (B, N); 0 for an empty row."""
    w = mask.to(x.dtype)[..., None]
    return (x * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)


def mlp(n_in: int, hidden: int, n_out: int, dropout: float = 0.0) -> nn.Sequential:
    """Linear - LayerNorm - GELU (- Dropout) - Linear, applied on the last axis."""
    layers: list[nn.Module] = [nn.Linear(n_in, hidden), nn.LayerNorm(hidden), nn.GELU()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, n_out))
    return nn.Sequential(*layers)


class _PoolBlock(nn.Module):
    """h_i <- h_i + MLP([h_i, max_j h_j, mean_j h_j]) over the real points j."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.mlp = mlp(3 * hidden, 2 * hidden, hidden, dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        z = self.norm(h)
        n = z.shape[1]
        g = torch.cat([masked_max(z, mask), masked_mean(z, mask)], dim=-1)
        return h + self.mlp(torch.cat([z, g[:, None, :].expand(-1, n, -1)], dim=-1))


class PairAttentionBlock(nn.Module):
    """Pre-norm multi-head self-attention with an additive pair bias, then a feed-forward MLP."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden: {hidden} must be a multiple of heads ({heads})")
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.ffn = mlp(hidden, 2 * hidden, hidden, dropout)

    def forward(
        self, h: torch.Tensor, mask: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        b, n, c = h.shape
        d = c // self.heads
        q, k, v = self.qkv(self.norm1(h)).view(b, n, 3, self.heads, d).permute(2, 0, 3, 1, 4)
        logits = q @ k.transpose(-1, -2) / math.sqrt(d)  # (B, H, N, N)
        if bias is not None:
            logits = logits + bias
        logits = logits.masked_fill(~mask[:, None, None, :], float("-inf"))
        att = torch.softmax(logits, dim=-1)
        att = torch.nan_to_num(att)  # rows of an event without any real point
        z = (att @ v).transpose(1, 2).reshape(b, n, c)
        h = h + self.out(z)
        return h + self.ffn(self.norm2(h))


class PairBias(nn.Module):
    """Attention biases of ``n_blocks`` blocks x ``heads`` heads from pair features: one MLP on
    the pair features (E, N, N, P) -> (E, n_blocks, heads, N, N)."""

    def __init__(self, n_pair: int, heads: int, n_blocks: int) -> None:
        super().__init__()
        self.heads, self.n_blocks = int(heads), int(n_blocks)
        self.net = mlp(n_pair, 32, self.heads * self.n_blocks)

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        e, n = pair.shape[:2]
        return self.net(pair).view(e, n, n, self.n_blocks, self.heads).permute(0, 3, 4, 1, 2)


class FocalPointNet(nn.Module):
    """Per-point "same gamma as the focal hit" logits for a padded batch of point clouds.

    Args:
        n_features: per-point input width (e.g. ``len(FOCAL_FEATURES)``).
        n_pair_features: width of the pair features for the attention bias (``attention``
            only; 0 = no bias).
        hidden: point feature width.
        n_blocks: pooling (``pointnet``) or attention (``attention``) blocks.
        variant: ``"pointnet"`` or ``"attention"``.
        heads: attention heads.
        dropout: dropout inside the MLPs.
    """

    def __init__(
        self,
        n_features: int,
        n_pair_features: int = 0,
        hidden: int = 64,
        n_blocks: int = 2,
        variant: str = "pointnet",
        heads: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant: expected one of {VARIANTS}, got {variant!r}")
        for key, v in (("n_features", n_features), ("hidden", hidden), ("n_blocks", n_blocks)):
            if int(v) != v or v < 1:
                raise ValueError(f"{key}: expected a positive integer, got {v!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout}")
        self.hparams: dict[str, Any] = {
            "n_features": int(n_features),
            "n_pair_features": int(n_pair_features) if variant == "attention" else 0,
            "hidden": int(hidden),
            "n_blocks": int(n_blocks),
            "variant": variant,
            "heads": int(heads),
            "dropout": float(dropout),
        }
        self.variant = variant
        self.embed = mlp(n_features, hidden, hidden)
        if variant == "pointnet":
            self.blocks = nn.ModuleList(_PoolBlock(hidden, dropout) for _ in range(n_blocks))
        else:
            n_pair = self.hparams["n_pair_features"]
            self.blocks = nn.ModuleList(
                PairAttentionBlock(hidden, heads, dropout) for _ in range(n_blocks)
            )
            # one bias MLP for all blocks: the pair features do not depend on the focal hit, so
            # the bias is computed once per event and shared by all its focal samples
            self.pair = PairBias(n_pair, heads, n_blocks) if n_pair > 0 else None
        self.norm = nn.LayerNorm(hidden)
        self.head = mlp(3 * hidden, hidden, 1, dropout)

    def pair_bias(self, pair: torch.Tensor) -> torch.Tensor:
        """Attention bias (E, n_blocks, heads, N, N) of the pair features (E, N, N, P)."""
        if self.pair is None:
            raise ValueError("pair: this network has no pair features")
        return self.pair(pair)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        pair: torch.Tensor | None = None,
        pair_index: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, N) of the points.

        Args:
            x: (B, N, F) point features; mask: (B, N) real points.
            pair: (E, N, N, P) pair features of the events (attention variant with pair bias).
            pair_index: (B,) the event (row of ``pair`` or ``bias``) of each point cloud;
                default ``arange(B)``. Several focal samples of one event share its pairs.
            bias: instead of ``pair``, the attention bias :meth:`pair_bias` already computed
                (E, n_blocks, heads, N, N), e.g. once per event for all peeling rounds.
        """
        if x.ndim != 3 or mask.shape != x.shape[:2]:
            raise ValueError(
                f"x, mask: expected (B, N, F) and (B, N), got {tuple(x.shape)}, {tuple(mask.shape)}"
            )
        mask = mask.bool()
        if self.variant == "pointnet" or self.pair is None:
            bias = None
        else:
            if bias is None:
                if pair is None:
                    raise ValueError("pair: this network was built with pair features; pass them")
                if pair.ndim != 4 or pair.shape[1:3] != (x.shape[1], x.shape[1]):
                    raise ValueError(
                        f"pair: expected (E, {x.shape[1]}, {x.shape[1]}, P), got "
                        f"{tuple(pair.shape)}"
                    )
                bias = self.pair_bias(pair)
            elif bias.ndim != 5 or bias.shape[-2:] != (x.shape[1], x.shape[1]):
                raise ValueError(
                    f"bias: expected (E, n_blocks, heads, {x.shape[1]}, {x.shape[1]}), got "
                    f"{tuple(bias.shape)}"
                )
            if pair_index is not None:
                bias = bias[pair_index]
            elif bias.shape[0] != x.shape[0]:
                raise ValueError("pair_index: needed when pair has not one row per point cloud")
        h = self.embed(x)
        for i, block in enumerate(self.blocks):
            if self.variant == "pointnet":
                h = block(h, mask)
            else:
                h = block(h, mask, None if bias is None else bias[:, i])
        h = self.norm(h)
        g = torch.cat([masked_max(h, mask), masked_mean(h, mask)], dim=-1)
        out = self.head(torch.cat([h, g[:, None, :].expand(-1, h.shape[1], -1)], dim=-1))
        return out[..., 0].masked_fill(~mask, 0.0)
