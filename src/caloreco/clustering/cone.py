"""The R3B cone clustering of CALIFA (R3BRoot ``R3BCalifaCrystalCal2Cluster``).

Per event: hits are sorted by decreasing energy; the highest-energy hit not yet used seeds a
cluster if its energy reaches the seed threshold, and the cluster takes every unused hit whose
direction lies within the opening angle of the seed's direction (the seed direction is never
updated); repeat. A hit below the seed threshold that falls in no cone is dropped, as in R3BRoot:
it gets the label ``-1``.

Angles are measured between 3-D unit vectors (``atan2(|u x v|, u . v)``), so the phi = 0 / 2 pi
seam needs no special care.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from caloreco.clustering.labels import check_hit_array, check_offsets, unit_vectors

__all__ = ["cone_clusters"]


@njit(cache=True)
def _cone_kernel(off, energy, u, alpha, seed_thr):  # pragma: no cover - numba
    labels = np.full(energy.size, -1, dtype=np.int64)
    for e in range(off.size - 1):
        a, b = off[e], off[e + 1]
        if b == a:
            continue
        order = np.argsort(-energy[a:b], kind="mergesort")
        k = 0
        for r in range(b - a):
            s = a + order[r]
            if labels[s] >= 0 or energy[s] < seed_thr:
                continue
            labels[s] = k
            for h in range(a, b):
                if labels[h] >= 0:
                    continue
                dot = u[s, 0] * u[h, 0] + u[s, 1] * u[h, 1] + u[s, 2] * u[h, 2]
                cx = u[s, 1] * u[h, 2] - u[s, 2] * u[h, 1]
                cy = u[s, 2] * u[h, 0] - u[s, 0] * u[h, 2]
                cz = u[s, 0] * u[h, 1] - u[s, 1] * u[h, 0]
                if np.arctan2(np.sqrt(cx * cx + cy * cy + cz * cz), dot) <= alpha:
                    labels[h] = k
            k += 1
    return labels


def cone_clusters(
    hit_offsets: np.ndarray,
    energy_mev: np.ndarray,
    theta: np.ndarray,
    phi: np.ndarray,
    opening_angle_rad: float = 0.25,
    seed_threshold_mev: float = 0.0,
) -> np.ndarray:
    """R3B cone clustering of every event (see the module docstring).

    Args:
        hit_offsets: int64 CSR offsets, shape (n_events + 1,).
        energy_mev: hit energies in MeV, shape (n_hits,).
        theta, phi: hit (crystal) directions in rad, shape (n_hits,).
        opening_angle_rad: a hit joins a cluster when its angle to the seed is <= this (rad).
        seed_threshold_mev: minimum seed energy in MeV (R3BRoot: 1 MeV, common settings 0.8).

    Returns:
        int64 labels, shape (n_hits,): cluster index within the event in seed order (decreasing
        seed energy), ``-1`` for hits below the seed threshold outside every cone.
    """
    off = check_offsets(hit_offsets)
    n = int(off[-1])
    energy = check_hit_array(energy_mev, n, "energy_mev")
    th = check_hit_array(theta, n, "theta")
    ph = check_hit_array(phi, n, "phi")
    if not (np.isfinite(opening_angle_rad) and 0 <= opening_angle_rad <= np.pi):
        raise ValueError(f"opening_angle_rad: expected a value in [0, pi], got {opening_angle_rad}")
    if not np.isfinite(seed_threshold_mev):
        raise ValueError(f"seed_threshold_mev: expected a finite energy, got {seed_threshold_mev}")
    u = np.ascontiguousarray(unit_vectors(th, ph))
    return _cone_kernel(off, energy, u, float(opening_angle_rad), float(seed_threshold_mev))
