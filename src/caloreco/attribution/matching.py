"""Matching of predicted slots (set segmenter outputs) to true clusters, batched.

For every event a cost matrix ``cost[k, m]`` (slot k, true cluster m) is solved as a linear sum
assignment, each true cluster to a different slot, minimising the total cost (the Hungarian
method, :func:`scipy.optimize.linear_sum_assignment`). Events here have a handful of slots, so
the batched solver enumerates all assignments at once for up to :data:`BRUTE_FORCE_MAX_SLOTS`
slots (exact, vectorised over the events, no per-event Python loop); larger problems go to
scipy event by event. Both give the same optimum (tests compare them).
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["BRUTE_FORCE_MAX_SLOTS", "hungarian", "match_slots"]

#: up to this many slots the batched solver enumerates all k!/(k-m)! assignments
BRUTE_FORCE_MAX_SLOTS = 6


def hungarian(cost: np.ndarray) -> np.ndarray:
    """One event: for each true cluster (column) its slot (row), minimising the total cost.

    Args:
        cost: (n_slots, n_clusters), n_slots >= n_clusters, finite.

    Returns:
        int64 (n_clusters,) slot index per cluster.
    """
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] < c.shape[1]:
        raise ValueError(
            f"cost: expected (n_slots, n_clusters) with n_slots >= n_clusters, got {c.shape}"
        )
    if not np.isfinite(c).all():
        raise ValueError("cost: expected finite values")
    rows, cols = linear_sum_assignment(c)
    out = np.empty(c.shape[1], dtype=np.int64)
    out[cols] = rows
    return out


@lru_cache(maxsize=32)
def _assignments(n_slots: int, n_clusters: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(n_slots), n_clusters)), dtype=np.int64)


def match_slots(cost: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Batched optimal assignment of true clusters to slots.

    Args:
        cost: (B, n_slots, n_clusters) cost of slot k for cluster m, n_slots >= n_clusters.
        valid: (B, n_clusters) bool, the clusters that exist (padding clusters are left out of
            the cost and get slot -1); default all.

    Returns:
        int64 (B, n_clusters): the slot of each cluster (distinct within an event), -1 for a
        padding cluster.
    """
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim != 3 or c.shape[1] < c.shape[2]:
        raise ValueError(
            f"cost: expected (B, n_slots, n_clusters) with n_slots >= n_clusters, got {c.shape}"
        )
    b, k, m = c.shape
    v = np.ones((b, m), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if v.shape != (b, m):
        raise ValueError(f"valid: expected shape {(b, m)}, got {v.shape}")
    if not np.isfinite(c[np.broadcast_to(v[:, None, :], c.shape)]).all():
        raise ValueError("cost: expected finite values for the valid clusters")
    c = np.where(v[:, None, :], np.nan_to_num(c), 0.0)  # padding clusters cost nothing anywhere
    if k <= BRUTE_FORCE_MAX_SLOTS:
        perms = _assignments(k, m)  # (P, m)
        total = c[:, perms, np.arange(m)[None, :]].sum(axis=2)  # (B, P)
        out = perms[np.argmin(total, axis=1)]
    else:
        out = np.stack([hungarian(c[i]) for i in range(b)]) if b else np.zeros((0, m), np.int64)
    return np.where(v, out, -1).astype(np.int64)
