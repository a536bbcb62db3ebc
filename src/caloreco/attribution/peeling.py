"""Clustering by peeling: take the focal hit's cluster, remove it, repeat.

Each round, every event that still has unassigned hits takes its most energetic unassigned hit as
the focal hit; a scorer (the point-cloud network) gives every hit of the event the probability of
belonging to the focal hit's gamma; the focal hit and the unassigned hits scored at or above the
threshold become the event's next cluster. All events of a round are scored in one batch, so the
number of scorer calls is the number of rounds (at most the hits of the largest event), not the
number of events. Every hit ends in exactly one cluster (a focal hit always takes itself).

Labels follow the clustering convention of :mod:`caloreco.clustering`: per hit the cluster index
within its event; here cluster k is the one peeled in round k, so clusters come in the order of
decreasing seed energy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from caloreco.attribution.targets import most_energetic

__all__ = ["Scorer", "peel"]

#: ``scorer(rows, focal, available) -> probabilities``: for the event rows ``rows`` (int64 (k,)),
#: their focal positions (int64 (k,)) and the still unassigned hits (bool (k, n_max)), the
#: probability (k, n_max) that each hit belongs to the focal hit's gamma.
Scorer = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def peel(
    energy: np.ndarray,
    mask: np.ndarray,
    scorer: Scorer,
    threshold: float = 0.5,
    max_rounds: int | None = None,
) -> np.ndarray:
    """Peel every event into clusters (vectorised over events, one scorer call per round).

    Args:
        energy: (B, n_max) hit energies in MeV (any value on padding).
        mask: (B, n_max) real hits.
        scorer: see :data:`Scorer`.
        threshold: a hit joins the focal cluster when its probability is ``>= threshold``.
        max_rounds: stop after this many rounds (default: until every hit is assigned); hits
            left then keep label ``-1``.

    Returns:
        int64 (B, n_max) cluster labels (round index), ``-1`` on padding.

    Raises:
        ValueError: bad shapes, or a scorer output of the wrong shape or with NaN.
    """
    e = np.asarray(energy, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if e.shape != m.shape or e.ndim != 2:
        raise ValueError(f"energy, mask: expected equal 2-D shapes, got {e.shape}, {m.shape}")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold: expected a finite number, got {threshold}")
    labels = np.full(m.shape, -1, dtype=np.int64)
    free = m.copy()
    limit = m.shape[1] if max_rounds is None else int(max_rounds)
    for k in range(limit):
        rows = np.flatnonzero(free.any(axis=1))
        if rows.size == 0:
            break
        avail = free[rows]
        focal = most_energetic(e[rows], avail)
        prob = np.asarray(scorer(rows, focal, avail.copy()), dtype=np.float64)
        if prob.shape != avail.shape:
            raise ValueError(
                f"scorer: expected probabilities of shape {avail.shape}, got {prob.shape}"
            )
        if np.isnan(prob[avail]).any():
            raise ValueError("scorer: returned NaN for an unassigned hit")
        take = avail & (prob >= threshold)
        take[np.arange(rows.size), focal] = True
        sub = labels[rows]
        sub[take] = k
        labels[rows] = sub
        f = free[rows]
        f[take] = False
        free[rows] = f
    return labels
