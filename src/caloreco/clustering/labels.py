"""Per-hit cluster labels: input checks and the canonical numbering shared by every method.

Labels convention (all methods): one int64 label per hit, the cluster index *within its event*,
``0 .. k-1``; ``-1`` marks a hit that belongs to no cluster.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["check_offsets", "check_hit_array", "unit_vectors", "canonical_labels"]


def check_offsets(hit_offsets: np.ndarray, name: str = "hit_offsets") -> np.ndarray:
    """Validate CSR offsets: 1-D int, starting at 0, non-decreasing. Returns an int64 copy."""
    off = np.asarray(hit_offsets)
    if off.ndim != 1 or off.size < 1 or not np.issubdtype(off.dtype, np.integer):
        raise ValueError(f"{name}: expected a 1-D integer array of length n_events + 1")
    off = off.astype(np.int64)
    if off[0] != 0 or np.any(np.diff(off) < 0):
        raise ValueError(f"{name}: expected non-decreasing offsets starting at 0")
    return off


def check_hit_array(
    values: np.ndarray, n_hits: int, name: str, dtype: type = np.float64, finite: bool = True
) -> np.ndarray:
    """Validate a per-hit array (1-D, length ``n_hits``; finite if float and ``finite``) and
    convert it."""
    arr = np.asarray(values)
    if arr.shape != (n_hits,):
        raise ValueError(
            f"{name}: expected shape ({n_hits},) (one value per hit, hit_offsets[-1]), "
            f"got {arr.shape}"
        )
    if np.issubdtype(np.dtype(dtype), np.floating):
        arr = arr.astype(dtype)
        if finite and not np.all(np.isfinite(arr)):
            raise ValueError(f"{name}: expected finite values")
    else:
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name}: expected integers, got dtype {arr.dtype}")
        arr = arr.astype(dtype)
    return arr


def check_labels(labels: np.ndarray, n_hits: int, name: str = "labels") -> np.ndarray:
    """Validate per-hit cluster labels (integers >= -1). Returns int64."""
    lab = np.asarray(labels)
    if lab.shape != (n_hits,):
        raise ValueError(
            f"{name}: expected shape ({n_hits},) (one label per hit, hit_offsets[-1]), "
            f"got {lab.shape}"
        )
    if lab.size and not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"{name}: expected integer cluster labels, got dtype {lab.dtype}")
    lab = lab.astype(np.int64)
    if lab.size and lab.min() < -1:
        raise ValueError(f"{name}: expected labels >= -1 (-1 = no cluster)")
    return lab


def unit_vectors(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Unit vectors (n, 3) of directions (theta, phi) in rad (polar angle from +z)."""
    st = np.sin(theta)
    return np.stack([st * np.cos(phi), st * np.sin(phi), np.cos(theta)], axis=1)


@njit(cache=True)
def _canonical_kernel(off, labels, energy):  # pragma: no cover - numba
    out = np.full(labels.size, -1, dtype=np.int64)
    for e in range(off.size - 1):
        a, b = off[e], off[e + 1]
        if b == a:
            continue
        kmax = -1
        for h in range(a, b):
            if labels[h] > kmax:
                kmax = labels[h]
        if kmax < 0:
            continue
        esum = np.zeros(kmax + 1)
        first = np.full(kmax + 1, b)
        for h in range(a, b):
            lab = labels[h]
            if lab >= 0:
                esum[lab] += energy[h]
                if h < first[lab]:
                    first[lab] = h
        # keep labels that occur; order by decreasing energy, ties by first hit
        used = np.empty(kmax + 1, dtype=np.int64)
        nu = 0
        for lab in range(kmax + 1):
            if first[lab] < b:
                used[nu] = lab
                nu += 1
        used = used[:nu]
        key_e = -esum[used]
        key_f = first[used]
        order = np.arange(nu)
        # insertion sort (clusters per event are few), stable on (key_e, key_f)
        for i in range(1, nu):
            j = i
            while j > 0:
                p, q = order[j - 1], order[j]
                if key_e[q] < key_e[p] or (key_e[q] == key_e[p] and key_f[q] < key_f[p]):
                    order[j - 1], order[j] = q, p
                    j -= 1
                else:
                    break
        new = np.full(kmax + 1, -1, dtype=np.int64)
        for rank in range(nu):
            new[used[order[rank]]] = rank
        for h in range(a, b):
            if labels[h] >= 0:
                out[h] = new[labels[h]]
    return out


def canonical_labels(
    hit_offsets: np.ndarray, labels: np.ndarray, energy_mev: np.ndarray
) -> np.ndarray:
    """Renumber each event's clusters ``0 .. k-1`` by decreasing cluster energy.

    Ties in energy are broken by the position of the cluster's first hit. Labels that do not
    occur are dropped (numbering is compact), ``-1`` stays ``-1``. This is the numbering of the
    ``cluster`` column of :func:`caloreco.clustering.table.cluster_table` and
    :func:`caloreco.clustering.table.cells_table`.

    Args:
        hit_offsets: int64 CSR offsets, shape (n_events + 1,).
        labels: per-hit cluster labels within the event (>= -1), shape (n_hits,).
        energy_mev: per-hit energies in MeV, shape (n_hits,).

    Returns:
        int64 labels, shape (n_hits,).
    """
    off = check_offsets(hit_offsets)
    n = int(off[-1])
    lab = check_labels(labels, n)
    energy = check_hit_array(energy_mev, n, "energy_mev")
    return _canonical_kernel(off, lab, energy)
