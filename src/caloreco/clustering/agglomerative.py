"""Agglomerative (Ward) clustering of CALIFA hits in space and time (Jenegger et al. 2025).

Each hit becomes a point on its crystal's direction at a radius that grows with the hit time,
``r = radius_scale * (t + time_offset_ns)``, so that hits close in angle *and* in time are close
in space (the published choice: ``radius_scale = 2.5``, ``time_offset_ns = 4500``). Note that a
hit earlier than ``-time_offset_ns`` gets a negative radius (it is placed on the opposite
direction); this is the published method and is kept as it is.

The points of each event are clustered with Ward linkage and the dendrogram is cut at
``distance_threshold``: the result is *the same partition* as
``scipy.cluster.hierarchy.fclusterdata(X, t=distance_threshold, criterion='distance',
method='ward')``. To guarantee this, the numba kernel follows scipy's own algorithm step by step
(scipy 1.x ``_hierarchy.nn_chain``): Euclidean distances summed coordinate by coordinate,
the nearest-neighbour chain with scipy's tie rules (the chain starts at the lowest live index,
the previous chain element is preferred on equal distance, otherwise the first minimum wins),
the Lance-Williams update for Ward with scipy's operation order, a stable sort of the merges by
height, and the cut keeping every merge of height ``<= distance_threshold``. Ties are therefore
resolved as scipy resolves them.

All events are clustered in one call; an event with one hit is one cluster, an event with no
hits has no labels.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from caloreco.clustering.labels import check_hit_array, check_offsets, unit_vectors

__all__ = ["agglomerative_clusters", "agglomerative_points"]


def agglomerative_points(
    theta: np.ndarray,
    phi: np.ndarray,
    time_ns: np.ndarray,
    radius_scale: float = 2.5,
    time_offset_ns: float = 4500.0,
) -> np.ndarray:
    """The points (n, 3) the hits are clustered as: ``radius_scale * (t + time_offset_ns)`` times
    the unit vector of (theta, phi). Angles in rad, time in ns; the radius is in the published
    arbitrary units (ns times ``radius_scale``)."""
    r = radius_scale * (np.asarray(time_ns, dtype=np.float64) + time_offset_ns)
    return np.ascontiguousarray(unit_vectors(theta, phi) * r[:, None])


@njit(cache=True, inline="always")
def _cidx(n, i, j):  # pragma: no cover - numba
    """scipy's condensed_index for i != j."""
    if i < j:
        return n * i - (i * (i + 1)) // 2 + (j - i - 1)
    return n * j - (j * (j + 1)) // 2 + (i - j - 1)


@njit(cache=True)
def _ward_kernel(off, X, threshold):  # pragma: no cover - numba
    n_hits = X.shape[0]
    labels = np.full(n_hits, -1, dtype=np.int64)
    max_n = 0
    for e in range(off.size - 1):
        max_n = max(max_n, off[e + 1] - off[e])
    D = np.empty(max(max_n * (max_n - 1) // 2, 1))
    size = np.empty(max_n, dtype=np.int64)
    chain = np.empty(max_n, dtype=np.int64)
    mx = np.empty(max(max_n - 1, 1), dtype=np.int64)
    my = np.empty(max(max_n - 1, 1), dtype=np.int64)
    mh = np.empty(max(max_n - 1, 1))
    parent = np.empty(max_n, dtype=np.int64)
    root_label = np.empty(max_n, dtype=np.int64)
    for e in range(off.size - 1):
        a, b = off[e], off[e + 1]
        n = b - a
        if n == 0:
            continue
        if n == 1:
            labels[a] = 0
            continue
        # pdist (euclidean), coordinate by coordinate as scipy does
        for i in range(n):
            for j in range(i + 1, n):
                s = 0.0
                for c in range(3):
                    d = X[a + i, c] - X[a + j, c]
                    s += d * d
                D[_cidx(n, i, j)] = np.sqrt(s)
        for i in range(n):
            size[i] = 1
        # nearest-neighbour chain (scipy nn_chain)
        chain_len = 0
        y = 0
        for k in range(n - 1):
            if chain_len == 0:
                chain_len = 1
                for i in range(n):
                    if size[i] > 0:
                        chain[0] = i
                        break
            while True:
                x = chain[chain_len - 1]
                if chain_len > 1:
                    y = chain[chain_len - 2]
                    current_min = D[_cidx(n, x, y)]
                else:
                    current_min = np.inf
                for i in range(n):
                    if size[i] == 0 or x == i:
                        continue
                    dist = D[_cidx(n, x, i)]
                    if dist < current_min:
                        current_min = dist
                        y = i
                if chain_len > 1 and y == chain[chain_len - 2]:
                    break
                chain[chain_len] = y
                chain_len += 1
            chain_len -= 2
            if x > y:
                x, y = y, x
            nx = size[x]
            ny = size[y]
            mx[k] = x
            my[k] = y
            mh[k] = current_min
            size[x] = 0
            size[y] = nx + ny
            for i in range(n):
                ni = size[i]
                if ni == 0 or i == y:
                    continue
                d_xi = D[_cidx(n, i, x)]
                d_yi = D[_cidx(n, i, y)]
                t = 1.0 / (nx + ny + ni)
                D[_cidx(n, i, y)] = np.sqrt(
                    (ni + nx) * t * d_xi * d_xi
                    + (ni + ny) * t * d_yi * d_yi
                    - ni * t * current_min * current_min
                )
        # stable sort of the merges by height (scipy: argsort kind='mergesort')
        order = np.argsort(mh[: n - 1], kind="mergesort")
        # union-find over the merges of height <= threshold, in sorted order (scipy's `label`
        # followed by fcluster's 'distance' criterion)
        for i in range(n):
            parent[i] = i
        for r in range(n - 1):
            m = order[r]
            if not (mh[m] <= threshold):
                break
            p = mx[m]
            while parent[p] != p:
                p = parent[p]
            q = my[m]
            while parent[q] != q:
                q = parent[q]
            if p != q:
                parent[max(p, q)] = min(p, q)
        # labels by first appearance
        for i in range(n):
            root_label[i] = -1
        nlab = 0
        for i in range(n):
            p = i
            while parent[p] != p:
                p = parent[p]
            if root_label[p] < 0:
                root_label[p] = nlab
                nlab += 1
            labels[a + i] = root_label[p]
    return labels


def agglomerative_clusters(
    hit_offsets: np.ndarray,
    theta: np.ndarray,
    phi: np.ndarray,
    time_ns: np.ndarray,
    distance_threshold: float = 3540.0,
    radius_scale: float = 2.5,
    time_offset_ns: float = 4500.0,
) -> np.ndarray:
    """Ward clustering of every event in space-time points (see the module docstring).

    Args:
        hit_offsets: int64 CSR offsets, shape (n_events + 1,).
        theta, phi: hit (crystal) directions in rad, shape (n_hits,).
        time_ns: hit times in ns, shape (n_hits,).
        distance_threshold: Ward merge heights ``<=`` this are applied (units of the points,
            see :func:`agglomerative_points`); published tuning 3540.
        radius_scale, time_offset_ns: the radius ``radius_scale * (t + time_offset_ns)``.

    Returns:
        int64 labels, shape (n_hits,): cluster index within the event, numbered by first
        appearance in the event's hit list. Every hit belongs to a cluster.
    """
    off = check_offsets(hit_offsets)
    n = int(off[-1])
    th = check_hit_array(theta, n, "theta")
    ph = check_hit_array(phi, n, "phi")
    t = check_hit_array(time_ns, n, "time_ns")
    for name, value in (
        ("distance_threshold", distance_threshold),
        ("radius_scale", radius_scale),
        ("time_offset_ns", time_offset_ns),
    ):
        if not np.isfinite(value):
            raise ValueError(f"{name}: expected a finite number, got {value}")
    if distance_threshold < 0:
        raise ValueError(f"distance_threshold: expected >= 0, got {distance_threshold}")
    X = agglomerative_points(th, ph, t, radius_scale, time_offset_ns)
    return _ward_kernel(off, X, float(distance_threshold))
