"""Cluster finding on the cell grid: side-connected cells, split at local maxima (coral-like).

COMPASS's reconstruction (coral) forms clusters from above-threshold cells linked by their
sides; overlapping showers show up as several local maxima in one connected group. This module
implements that step for any detector with a side-neighbour table
(:attr:`caloreco.geometry.Geometry.neighbour_index`), i.e. for both presets.

Splitting rule (``split_local_maxima=True``), steepest ascent:

1. Hits are totally ordered by energy (ties: the lower hit index counts as higher). Each hit
   points to its highest neighbouring hit if that one is above it; a hit with no neighbour above
   it is a *local maximum* (peak).
2. Every peak with ``energy >= seed_threshold_mev`` seeds a cluster.
3. Every hit follows its pointers uphill and joins the cluster of the seed it ends at. A hit on
   the ridge between two showers therefore goes, whole, to the shower its steepest neighbour
   belongs to (no energy sharing: the labels are a partition of the hits).
4. Hits whose ascent ends at a peak below the seed threshold (a noise bump on a shower's flank)
   join the cluster of their highest-energy clustered neighbour, layer by layer outwards from
   the clusters, so that the bump stays with the shower.
5. Connected groups that contain no seed at all are left unclustered (label ``-1``): this is the
   shower (seed) energy threshold of coral.

With ``split_local_maxima=False`` the clusters are the connected components themselves, kept
when their highest hit reaches the seed threshold. Several hits in the same cell (possible in
merged inputs) count as neighbours of each other.

Labels are numbered by decreasing seed energy within the event.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from caloreco.clustering.labels import check_hit_array, check_offsets
from caloreco.geometry import Geometry

__all__ = ["connected_clusters"]

_PENDING = -2


@njit(cache=True)
def _order_by_energy(e, n, order, tmp):  # pragma: no cover - numba
    """Fill order[:n] with 0..n-1 sorted by decreasing e (ties: lower index first); a
    bottom-up merge sort on preallocated buffers (no allocation per event)."""
    for i in range(n):
        order[i] = i
    width = 1
    src, dst = order, tmp
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j, o = lo, mid, lo
            while i < mid and j < hi:
                if e[src[j]] > e[src[i]]:  # strict: equal keys keep their (index) order
                    dst[o] = src[j]
                    j += 1
                else:
                    dst[o] = src[i]
                    i += 1
                o += 1
            while i < mid:
                dst[o] = src[i]
                i += 1
                o += 1
            while j < hi:
                dst[o] = src[j]
                j += 1
                o += 1
        src, dst = dst, src
        width *= 2
    if src is not order:
        for i in range(n):
            order[i] = src[i]


@njit(cache=True)
def _connected_kernel(
    off, cell, energy, nb_off, nb_idx, n_cells, seed_thr, split
):  # pragma: no cover - numba
    n_hits = cell.size
    labels = np.full(n_hits, -1, dtype=np.int64)
    head = np.full(n_cells, -1, dtype=np.int64)  # cell -> first local hit in that cell
    max_n = 0
    for e in range(off.size - 1):
        max_n = max(max_n, off[e + 1] - off[e])
    nxt = np.full(max_n, -1, dtype=np.int64)
    adj_off = np.zeros(max_n + 1, dtype=np.int64)
    rank = np.empty(max_n, dtype=np.int64)
    lab = np.empty(max_n, dtype=np.int64)
    stack = np.empty(max_n, dtype=np.int64)
    adj = np.empty(8 * max_n, dtype=np.int64)
    top_e = np.empty(max_n)
    order = np.empty(max_n, dtype=np.int64)
    tmp = np.empty(max_n, dtype=np.int64)
    up = np.empty(max_n, dtype=np.int64)
    tmp2 = np.empty(max_n, dtype=np.int64)
    for e in range(off.size - 1):
        a, b = off[e], off[e + 1]
        n = b - a
        if n == 0:
            continue
        # cell -> hits linked list
        for i in range(n):
            c = cell[a + i]
            nxt[i] = head[c]
            head[c] = i
        # local adjacency (CSR): other hits in the same cell and hits in neighbour cells
        adj_off[0] = 0
        for i in range(n):
            c = cell[a + i]
            cnt = 0
            j = head[c]
            while j >= 0:
                if j != i:
                    cnt += 1
                j = nxt[j]
            for k in range(nb_off[c], nb_off[c + 1]):
                j = head[nb_idx[k]]
                while j >= 0:
                    cnt += 1
                    j = nxt[j]
            adj_off[i + 1] = adj_off[i] + cnt
        if adj_off[n] > adj.size:
            adj = np.empty(2 * adj_off[n], dtype=np.int64)
        for i in range(n):
            c = cell[a + i]
            p = adj_off[i]
            j = head[c]
            while j >= 0:
                if j != i:
                    adj[p] = j
                    p += 1
                j = nxt[j]
            for k in range(nb_off[c], nb_off[c + 1]):
                j = head[nb_idx[k]]
                while j >= 0:
                    adj[p] = j
                    p += 1
                    j = nxt[j]
        for i in range(n):  # reset the cell map for the next event
            head[cell[a + i]] = -1
        k = 0
        if not split:
            # connected components in hit order, then keep those with a seed, numbered by
            # decreasing highest energy (ties: first hit)
            for i in range(n):
                lab[i] = _PENDING
            for s in range(n):
                if lab[s] != _PENDING:
                    continue
                lab[s] = k
                top_e[k] = energy[a + s]
                top = 0
                stack[top] = s
                top += 1
                while top > 0:
                    top -= 1
                    i = stack[top]
                    for q in range(adj_off[i], adj_off[i + 1]):
                        j = adj[q]
                        if lab[j] == _PENDING:
                            lab[j] = k
                            top_e[k] = max(top_e[k], energy[a + j])
                            stack[top] = j
                            top += 1
                k += 1
            # rank[c]: new label of component c (-1 without seed)
            if k == 1:
                rank[0] = 0 if top_e[0] >= seed_thr else -1
            else:
                corder = np.argsort(-top_e[:k], kind="mergesort")
                m = 0
                for r in range(k):
                    c = corder[r]
                    if top_e[c] >= seed_thr:
                        rank[c] = m
                        m += 1
                    else:
                        rank[c] = -1
            for i in range(n):
                lab[i] = rank[lab[i]]
        else:
            # steepest ascent: up[i] = the highest neighbour if it is above i, else i (a peak);
            # "above" is the total order (energy, then lower index), so there are no cycles
            for i in range(n):
                best = i
                eb = energy[a + i]
                for q in range(adj_off[i], adj_off[i + 1]):
                    j = adj[q]
                    ej = energy[a + j]
                    if ej > eb or (ej == eb and j < best):
                        best = j
                        eb = ej
                up[i] = best
            # seeds: peaks at or above threshold, numbered by decreasing energy (ties: index)
            n_seed = 0
            for i in range(n):
                if up[i] == i and energy[a + i] >= seed_thr:
                    order[n_seed] = i
                    n_seed += 1
            for r in range(n_seed):
                top_e[r] = energy[a + order[r]]
            _order_by_energy(top_e, n_seed, tmp, tmp2)
            for i in range(n):
                rank[i] = -1
            for r in range(n_seed):
                rank[order[tmp[r]]] = r
            # every hit joins the seed its ascent ends at; sub-threshold basins are pending
            n_pending = 0
            for i in range(n):
                p = i
                while up[p] != p:
                    p = up[p]
                lab[i] = rank[p]
                if lab[i] < 0:
                    lab[i] = _PENDING
                    n_pending += 1
            # pending hits join their highest clustered neighbour, layer by layer outwards
            while n_pending > 0:
                n_new = 0
                for i in range(n):
                    if lab[i] != _PENDING:
                        continue
                    best = -1
                    for q in range(adj_off[i], adj_off[i + 1]):
                        j = adj[q]
                        if lab[j] >= 0 and (
                            best < 0
                            or energy[a + j] > energy[a + best]
                            or (energy[a + j] == energy[a + best] and j < best)
                        ):
                            best = j
                    if best >= 0:
                        stack[n_new] = i
                        tmp2[n_new] = lab[best]
                        n_new += 1
                if n_new == 0:
                    break
                for r in range(n_new):
                    lab[stack[r]] = tmp2[r]
                n_pending -= n_new
            for i in range(n):
                if lab[i] == _PENDING:
                    lab[i] = -1
        for i in range(n):
            labels[a + i] = lab[i]
    return labels


def connected_clusters(
    hit_offsets: np.ndarray,
    cell_id: np.ndarray,
    energy_mev: np.ndarray,
    geom: Geometry,
    seed_threshold_mev: float = 300.0,
    split_local_maxima: bool = True,
) -> np.ndarray:
    """Side-connected clusters of every event, split at local maxima (see the module docstring).

    Args:
        hit_offsets: int64 CSR offsets, shape (n_events + 1,).
        cell_id: cell of each hit (index into ``geom``), shape (n_hits,).
        energy_mev: measured hit energy in MeV, shape (n_hits,).
        geom: detector geometry; its side-neighbour table defines connectivity.
        seed_threshold_mev: a local maximum seeds a cluster only at or above this energy (MeV);
            connected groups without a seed are left unclustered. The default, 300 MeV, is coral's
            shower threshold for the ECAL; use about 1 MeV for CALIFA.
        split_local_maxima: split connected groups at local maxima (else one cluster per group).

    Returns:
        int64 labels, shape (n_hits,): cluster index within the event (by decreasing seed
        energy), ``-1`` for unclustered hits.
    """
    off = check_offsets(hit_offsets)
    n = int(off[-1])
    cell = check_hit_array(cell_id, n, "cell_id", np.int64)
    energy = check_hit_array(energy_mev, n, "energy_mev")
    if cell.size and (cell.min() < 0 or cell.max() >= geom.n_cells):
        raise ValueError(f"cell_id: expected ids in [0, {geom.n_cells}) of detector {geom.name!r}")
    if not np.isfinite(seed_threshold_mev):
        raise ValueError(f"seed_threshold_mev: expected a finite energy, got {seed_threshold_mev}")
    return _connected_kernel(
        off,
        cell,
        energy,
        np.asarray(geom.neighbour_offsets, dtype=np.int64),
        np.asarray(geom.neighbour_index, dtype=np.int64),
        geom.n_cells,
        float(seed_threshold_mev),
        bool(split_local_maxima),
    )
