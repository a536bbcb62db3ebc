"""Merge pre-clusters along accepted pairs (the edge model's last step).

The clusters of an event after merging are the connected components of the graph whose nodes are
its pre-clusters and whose edges are the pairs the classifier accepted (score above the threshold
chosen on validation). All events are solved at once as one block-diagonal sparse graph
(``scipy.sparse.csgraph.connected_components``), without a per-event loop.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["merge_clusters", "event_index"]


def event_index(event_numbers: np.ndarray, pair_events: np.ndarray) -> np.ndarray:
    """Positions of ``pair_events`` in the (sorted, unique) ``event_numbers`` of a hit table.

    Raises ``ValueError`` if a pair's event is not among ``event_numbers``.
    """
    ev = np.asarray(event_numbers)
    pe = np.asarray(pair_events)
    if ev.size > 1 and np.any(np.diff(ev) <= 0):
        raise ValueError("event_numbers: expected strictly increasing event numbers")
    if ev.size == 0:
        if pe.size:
            raise ValueError(f"pair_events: events {pe[:5].tolist()} are not in event_numbers")
        return np.zeros(0, dtype=np.int64)
    idx = np.searchsorted(ev, pe)
    ok = (idx < ev.size) & (ev[np.minimum(idx, ev.size - 1)] == pe)
    if not np.all(ok):
        raise ValueError(f"pair_events: events {pe[~ok][:5].tolist()} are not in event_numbers")
    return idx.astype(np.int64)


def merge_clusters(
    hit_offsets: np.ndarray,
    labels: np.ndarray,
    pair_event_index: np.ndarray,
    cluster1: np.ndarray,
    cluster2: np.ndarray,
    accept: np.ndarray,
) -> np.ndarray:
    """New per-hit cluster labels after merging every accepted pair.

    Args:
        hit_offsets: CSR offsets of the hits of each event, shape (n_events + 1,), starting at 0.
        labels: cluster label of each hit within its event, 0 .. k-1 (-1 = hit in no cluster,
            kept as -1), shape (n_hits,).
        pair_event_index: event POSITION (0 .. n_events-1, not the event number; see
            :func:`event_index`) of each pair, shape (n_pairs,).
        cluster1, cluster2: the two cluster labels of each pair within its event.
        accept: bool, True where the pair is merged.

    Returns:
        int32 labels of shape (n_hits,): the connected components of the accepted pairs,
        renumbered 0 .. k'-1 within each event in order of their lowest original label; -1 stays
        -1. Labels with no hit are dropped from the numbering.
    """
    off = np.asarray(hit_offsets, dtype=np.int64)
    lab = np.asarray(labels)
    if off.ndim != 1 or off.size < 1 or off[0] != 0 or np.any(np.diff(off) < 0):
        raise ValueError("hit_offsets: expected non-decreasing CSR offsets starting at 0")
    if lab.shape != (int(off[-1]),):
        raise ValueError(
            f"labels: expected {int(off[-1])} hit labels (hit_offsets[-1]), got {lab.shape}"
        )
    if lab.size and (not np.issubdtype(lab.dtype, np.integer) or lab.min() < -1):
        raise ValueError("labels: expected integer cluster labels >= -1")
    lab = lab.astype(np.int64)
    pe = np.asarray(pair_event_index, dtype=np.int64)
    c1 = np.asarray(cluster1, dtype=np.int64)
    c2 = np.asarray(cluster2, dtype=np.int64)
    acc = np.asarray(accept, dtype=bool)
    if not (pe.shape == c1.shape == c2.shape == acc.shape) or pe.ndim != 1:
        raise ValueError(
            "pair_event_index, cluster1, cluster2, accept: expected 1-D arrays of equal length, "
            f"got shapes {pe.shape}, {c1.shape}, {c2.shape}, {acc.shape}"
        )
    n_events = off.size - 1
    hit_event = np.repeat(np.arange(n_events, dtype=np.int64), np.diff(off))
    n_clusters = np.zeros(n_events, dtype=np.int64)
    np.maximum.at(n_clusters, hit_event, lab + 1)
    node_start = np.concatenate([[0], np.cumsum(n_clusters)])
    n_nodes = int(node_start[-1])

    pe, c1, c2 = pe[acc], c1[acc], c2[acc]
    if pe.size:
        if pe.min() < 0 or pe.max() >= n_events:
            raise ValueError(f"pair_event_index: expected event positions in [0, {n_events})")
        k = n_clusters[pe]
        if np.any((c1 < 0) | (c1 >= k) | (c2 < 0) | (c2 >= k)):
            bad = np.flatnonzero((c1 < 0) | (c1 >= k) | (c2 < 0) | (c2 >= k))[0]
            raise ValueError(
                f"cluster1/cluster2: accepted pair in event position {pe[bad]} names clusters "
                f"{c1[bad]}, {c2[bad]} but the event has {k[bad]} clusters"
            )
    a, b = node_start[pe] + c1, node_start[pe] + c2
    graph = coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(n_nodes, n_nodes))
    _, comp = connected_components(graph.tocsr(), directed=False)

    # representative of each component: its lowest node (lowest label, same event)
    nodes = np.arange(n_nodes, dtype=np.int64)
    rep_of_comp = np.full(comp.max() + 1 if n_nodes else 0, n_nodes, dtype=np.int64)
    np.minimum.at(rep_of_comp, comp, nodes)
    rep = rep_of_comp[comp]
    # only components that contain a hit get a number
    present = np.zeros(n_nodes, dtype=bool)
    clustered = lab >= 0
    present[node_start[hit_event[clustered]] + lab[clustered]] = True
    comp_has_hit = np.zeros(rep_of_comp.size, dtype=bool)
    comp_has_hit[comp[present]] = True
    is_root = (rep == nodes) & comp_has_hit[comp]
    roots_before = np.concatenate([[0], np.cumsum(is_root)])  # roots among nodes < i
    node_event = np.repeat(np.arange(n_events, dtype=np.int64), n_clusters)
    local = roots_before[rep] - roots_before[node_start[node_event]]

    out = np.full(lab.size, -1, dtype=np.int32)
    out[clustered] = local[node_start[hit_event[clustered]] + lab[clustered]]
    return out
