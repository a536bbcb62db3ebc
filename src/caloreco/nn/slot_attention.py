"""A set segmenter: slot attention over the hits of an event, every cluster at once.

Slot attention (Locatello et al., NeurIPS 2020): ``n_slots`` slot vectors compete for the hits
(softmax over the slots), each slot is updated from the attention-weighted mean of the hits it
won, ``iters`` times. With the fixes known to make it train (physics.md section 5, the
maintainers' advice in google-research issue 567 and the lucidrains implementation):

* GRU slot updates plus a residual MLP (``update="gru"``), or a plain residual update
  (``update="residual"``);
* bias terms in the query/key/value projections;
* a softmax temperature below sqrt(slot size): logits are ``q.k / temperature`` with
  ``temperature = temperature_factor * sqrt(dim)``, ``temperature_factor < 1``;
* an output after every iteration, so the training loss can be applied to each (intermediate
  losses);
* learned slot initialisations (``init="learned"``: one learned vector per slot, deterministic)
  or the original Gaussian draw (``init="random"``: learned mean and width, a fresh draw per
  training step; in ``eval`` mode one fixed draw stored with the weights, so inference is
  deterministic and the slots still differ).

The hits are first encoded by pair-bias attention blocks
(:class:`caloreco.nn.pointnet.PairAttentionBlock`), so that hits of one gamma look alike before
the slots compete for them. The output per iteration is the per-hit logit of every slot,
``(B, n_slots, N)``, a dot product of the projected slot and hit vectors plus a per-slot bias;
``log_softmax`` over the slot axis is the per-hit assignment. Padding hits take no part in the
competition nor in the slot means, and their logits are 0.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from caloreco.nn.pointnet import PairAttentionBlock, PairBias, mlp

__all__ = ["SlotAttention", "SlotSegmenter", "UPDATES", "INITS"]

UPDATES = ("gru", "residual")
INITS = ("learned", "random")


class SlotAttention(nn.Module):
    """The slot attention module on encoded inputs (B, N, dim) with a mask (B, N)."""

    def __init__(
        self,
        dim: int,
        n_slots: int,
        iters: int = 3,
        temperature_factor: float = 0.5,
        update: str = "gru",
        init: str = "learned",
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        if update not in UPDATES:
            raise ValueError(f"update: expected one of {UPDATES}, got {update!r}")
        if init not in INITS:
            raise ValueError(f"init: expected one of {INITS}, got {init!r}")
        if not temperature_factor > 0:
            raise ValueError(f"temperature_factor: expected > 0, got {temperature_factor}")
        self.n_slots, self.iters, self.eps = n_slots, iters, eps
        self.update, self.init = update, init
        self.temperature = temperature_factor * math.sqrt(dim)
        if init == "learned":
            self.slots = nn.Parameter(torch.randn(n_slots, dim) / math.sqrt(dim))
        else:
            self.mu = nn.Parameter(torch.randn(1, 1, dim) / math.sqrt(dim))
            self.log_sigma = nn.Parameter(torch.full((1, 1, dim), -1.0))
            # one fixed draw for inference: the mean alone would make every slot identical,
            # so all hits would tie (measured: validation loss stuck at ln(n_slots))
            self.register_buffer("eval_noise", torch.randn(1, n_slots, dim))
        self.norm_in = nn.LayerNorm(dim)
        self.norm_slots = nn.LayerNorm(dim)
        self.norm_mlp = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim, bias=True)
        self.k = nn.Linear(dim, dim, bias=True)
        self.v = nn.Linear(dim, dim, bias=True)
        self.gru = nn.GRUCell(dim, dim) if update == "gru" else None
        self.mlp = mlp(dim, 2 * dim, dim)

    def initial_slots(self, batch: int) -> torch.Tensor:
        """(batch, n_slots, dim) starting slots."""
        if self.init == "learned":
            return self.slots[None].expand(batch, -1, -1)
        mu = self.mu.expand(batch, self.n_slots, -1)
        noise = torch.randn_like(mu) if self.training else self.eval_noise.expand(batch, -1, -1)
        return mu + self.log_sigma.exp() * noise

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """The slots after each iteration: a list of ``iters`` tensors (B, n_slots, dim)."""
        b, n, d = x.shape
        x = self.norm_in(x)
        k, v = self.k(x), self.v(x)
        slots = self.initial_slots(b)
        out = []
        keep = mask[:, None, :].to(x.dtype)
        for _ in range(self.iters):
            prev = slots
            q = self.q(self.norm_slots(slots))
            logits = q @ k.transpose(1, 2) / self.temperature  # (B, K, N)
            att = torch.softmax(logits, dim=1) * keep  # competition over the slots
            weights = att / (att.sum(dim=2, keepdim=True) + self.eps)
            updates = weights @ v  # (B, K, d)
            if self.gru is not None:
                slots = self.gru(updates.reshape(-1, d), prev.reshape(-1, d)).view(b, -1, d)
            else:
                slots = prev + updates
            slots = slots + self.mlp(self.norm_mlp(slots))
            out.append(slots)
        return out


class SlotSegmenter(nn.Module):
    """Per-hit slot logits of a padded batch of events, after every slot-attention iteration.

    Args:
        n_features: per-hit input width.
        n_pair_features: pair-feature width of the encoder's attention bias (0: none).
        hidden: hit and slot width.
        n_blocks: encoder attention blocks.
        heads: encoder attention heads.
        n_slots: slots (the most clusters an event can get).
        iters: slot-attention iterations.
        temperature_factor: softmax temperature over sqrt(hidden) (< 1 sharpens).
        update: ``"gru"`` or ``"residual"``.
        init: ``"learned"`` or ``"random"``.
    """

    def __init__(
        self,
        n_features: int,
        n_pair_features: int = 0,
        hidden: int = 64,
        n_blocks: int = 2,
        heads: int = 4,
        n_slots: int = 4,
        iters: int = 3,
        temperature_factor: float = 0.5,
        update: str = "gru",
        init: str = "learned",
    ) -> None:
        super().__init__()
        for key, val in (
            ("n_features", n_features),
            ("hidden", hidden),
            ("n_slots", n_slots),
            ("iters", iters),
        ):
            if int(val) != val or val < 1:
                raise ValueError(f"{key}: expected a positive integer, got {val!r}")
        self.hparams: dict[str, Any] = {
            "n_features": int(n_features),
            "n_pair_features": int(n_pair_features),
            "hidden": int(hidden),
            "n_blocks": int(n_blocks),
            "heads": int(heads),
            "n_slots": int(n_slots),
            "iters": int(iters),
            "temperature_factor": float(temperature_factor),
            "update": update,
            "init": init,
        }
        self.embed = mlp(n_features, hidden, hidden)
        self.blocks = nn.ModuleList(PairAttentionBlock(hidden, heads, 0.0) for _ in range(n_blocks))
        self.pair = (
            PairBias(n_pair_features, heads, n_blocks) if n_pair_features and n_blocks else None
        )
        self.norm = nn.LayerNorm(hidden)
        self.slot_attention = SlotAttention(
            hidden, n_slots, iters, temperature_factor, update, init
        )
        self.slot_proj = nn.Linear(hidden, hidden)
        self.hit_proj = nn.Linear(hidden, hidden)
        self.slot_bias = nn.Linear(hidden, 1)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, pair: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """Per-iteration slot logits, a list of ``iters`` tensors (B, n_slots, N).

        Args:
            x: (B, N, F) hit features; mask: (B, N) real hits; pair: (B, N, N, P) pair
                features (when built with ``n_pair_features``).
        """
        if x.ndim != 3 or mask.shape != x.shape[:2]:
            raise ValueError(
                f"x, mask: expected (B, N, F) and (B, N), got {tuple(x.shape)}, {tuple(mask.shape)}"
            )
        mask = mask.bool()
        bias = None
        if self.pair is not None:
            if pair is None or pair.shape[:3] != (x.shape[0], x.shape[1], x.shape[1]):
                raise ValueError("pair: expected (B, N, N, P) pair features for this network")
            bias = self.pair(pair)
        h = self.embed(x)
        for i, block in enumerate(self.blocks):
            h = block(h, mask, None if bias is None else bias[:, i])
        h = self.norm(h)
        hits = self.hit_proj(h)  # (B, N, d)
        scale = 1.0 / math.sqrt(h.shape[-1])
        out = []
        for slots in self.slot_attention(h, mask):
            logits = (self.slot_proj(slots) @ hits.transpose(1, 2)) * scale + self.slot_bias(slots)
            out.append(logits.masked_fill(~mask[:, None, :], 0.0))
        return out
