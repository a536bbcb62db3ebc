"""Deterministic train/validation/test assignment by event number.

Every model of a dataset uses the same split, and an event always lands in the same part whatever
the chunking or the order in which events are read: the part is a pure function of
``(seed, event)``, computed with the splitmix64 finaliser (Steele, Lea and Flood, OOPSLA 2014),
so no random state is carried from one chunk to the next.

The test part never touches training, early stopping, tuning of cuts or thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["SPLITS", "assign_split", "split_uniform", "splitmix64"]

SPLITS: tuple[str, str, str] = ("train", "val", "test")

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 output function applied elementwise (uint64 in, uint64 out).

    ``z = x + golden; z = (z ^ z >> 30) * M1; z = (z ^ z >> 27) * M2; z ^ z >> 31`` with wrapping
    64-bit arithmetic. A bijection of uint64 with good avalanche: neighbouring event numbers give
    unrelated outputs.
    """
    z = np.asarray(x, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        z += _GOLDEN
        z ^= z >> np.uint64(30)
        z *= _M1
        z ^= z >> np.uint64(27)
        z *= _M2
        z ^= z >> np.uint64(31)
    return z


def split_uniform(event_numbers: np.ndarray | Sequence[int], seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per event, a pure function of ``(seed, event)``.

    Args:
        event_numbers: integer event numbers (any shape; negative numbers are allowed and are
            reinterpreted as their two's complement).
        seed: the dataset's split seed (any Python int; reduced modulo 2**64).

    Returns:
        float64 array of the shape of ``event_numbers``.
    """
    ev = np.asarray(event_numbers)
    if ev.size and not np.issubdtype(ev.dtype, np.integer):
        raise ValueError(f"event_numbers: expected integers, got dtype {ev.dtype}")
    key = splitmix64(np.array([int(seed) % 2**64], dtype=np.uint64))[0]
    with np.errstate(over="ignore"):
        h = splitmix64(ev.astype(np.int64).view(np.uint64) ^ key)
    # top 53 bits -> exactly representable double in [0, 1)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 2.0**53)


def assign_split(
    event_numbers: np.ndarray | Sequence[int],
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
) -> np.ndarray:
    """Assign each event to ``"train"``, ``"val"`` or ``"test"``.

    Args:
        event_numbers: integer event numbers (the ``event`` column of any table); every row of the
            same event gets the same part.
        fractions: expected fractions of (train, val, test); non-negative, summing to 1.
        seed: the dataset's split seed.

    Returns:
        An array of the strings ``"train"``, ``"val"``, ``"test"`` (dtype ``<U5``) of the shape of
        ``event_numbers``.
    """
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (3,) or np.any(f < 0) or not np.isfinite(f).all() or abs(f.sum() - 1) > 1e-9:
        raise ValueError(
            f"fractions: expected three non-negative numbers (train, val, test) summing to 1, "
            f"got {tuple(fractions)}"
        )
    u = split_uniform(event_numbers, seed)
    edges = np.cumsum(f)[:2]
    part = np.searchsorted(edges, u, side="right")
    return np.asarray(SPLITS)[part]
