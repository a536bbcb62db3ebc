"""Focal hits and their targets: which hits of an event belong to the focal hit's gamma.

The true cluster of a hit is its dominant primary (:func:`caloreco.clustering.true_labels`,
``-1`` for a hit without truth). For a focal hit f of an event, hit j is *positive* when it has
the same true primary as f. The focal hit itself is not a target (its answer is known), nor are
padding hits and hits of a focal without truth: :func:`focal_targets` gives their weight 0.
"""

from __future__ import annotations

import numpy as np

from caloreco.attribution.inputs import PaddedHits

__all__ = ["most_energetic", "focal_targets", "gamma_seeds", "training_focals"]


def most_energetic(energy: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Per row, the position of the most energetic available hit (ties: the lowest position).

    Args:
        energy: (B, n_max) hit energies (MeV), any value on padding.
        available: (B, n_max) bool, the hits that may be chosen.

    Returns:
        int64 (B,): the position, ``-1`` for a row without available hit.
    """
    e = np.asarray(energy, dtype=np.float64)
    a = np.asarray(available, dtype=bool)
    if e.shape != a.shape or e.ndim != 2:
        raise ValueError(f"energy, available: expected equal 2-D shapes, got {e.shape}, {a.shape}")
    masked = np.where(a, e, -np.inf)
    pos = np.argmax(masked, axis=1)  # first maximum: ties go to the lowest position
    return np.where(a.any(axis=1), pos, -1).astype(np.int64)


def focal_targets(
    true_padded: np.ndarray, mask: np.ndarray, focal: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Targets and loss/metric weights of every hit for one focal hit per row.

    Args:
        true_padded: (B, n_max) true primary of each hit (``-1`` without truth / padding).
        mask: (B, n_max) real hits.
        focal: int (B,) focal position per row (a real hit).

    Returns:
        ``(target, valid)``: float32 (B, n_max) 1 where the hit shares the focal's primary, and
        bool (B, n_max) True for the hits that count (real, not the focal, focal with truth).
    """
    t = np.asarray(true_padded, dtype=np.int64)
    m = np.asarray(mask, dtype=bool)
    f = np.asarray(focal, dtype=np.int64)
    if t.shape != m.shape or f.shape != (t.shape[0],):
        raise ValueError(
            f"true_padded, mask, focal: expected (B, n), (B, n), (B,), got {t.shape}, "
            f"{m.shape}, {f.shape}"
        )
    ar = np.arange(t.shape[0])
    if np.any(f < 0) or np.any(f >= t.shape[1]) or np.any(~m[ar, np.clip(f, 0, None)]):
        raise ValueError("focal: expected one real hit position per row")
    tf = t[ar, f]
    target = (t == tf[:, None]) & (tf[:, None] >= 0) & m
    valid = m & (tf[:, None] >= 0)
    valid[ar, f] = False
    return target.astype(np.float32), valid


def gamma_seeds(
    padded: PaddedHits, energy: np.ndarray, true_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The most energetic hit of each true cluster (the evaluation focals, one per gamma).

    Args:
        padded: the events' layout.
        energy: flat hit energies (MeV), shape (n_hits,).
        true_labels: flat true primary per hit (``-1`` without truth), shape (n_hits,).

    Returns:
        ``(row, position, primary)`` int64 arrays, one entry per (event, true primary) with at
        least one hit: the event row, the seed's position in it, the primary's index within the
        event. Sorted by row, then by decreasing seed energy.
    """
    e = padded.scatter(np.asarray(energy, dtype=np.float64), fill=-np.inf)
    t = padded.scatter(np.asarray(true_labels, dtype=np.int64), fill=-1)
    b, n = t.shape
    row = np.repeat(np.arange(b), n)
    pos = np.tile(np.arange(n), b)
    keep = t.reshape(-1) >= 0
    row, pos = row[keep], pos[keep]
    prim, ee = t.reshape(-1)[keep], e.reshape(-1)[keep]
    # per (row, primary) the highest energy, ties to the lowest position
    order = np.lexsort((pos, -ee, prim, row))
    row, pos, prim, ee = row[order], pos[order], prim[order], ee[order]
    first = np.ones(row.size, dtype=bool)
    first[1:] = (row[1:] != row[:-1]) | (prim[1:] != prim[:-1])
    row, pos, prim, ee = row[first], pos[first], prim[first], ee[first]
    order = np.lexsort((pos, -ee, row))
    return row[order], pos[order], prim[order]


def training_focals(padded: PaddedHits, mode: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """The (row, position) focal samples of a training epoch.

    ``"all"``: every real hit is a focal once, the network then sees every view it meets when
    peeling (where the focal is whichever hit is the most energetic one left).

    Returns:
        int64 ``(row, position)`` arrays.
    """
    if mode != "all":
        raise ValueError(f"mode: expected 'all', got {mode!r}")
    row, pos = np.nonzero(padded.mask)
    return row.astype(np.int64), pos.astype(np.int64)
