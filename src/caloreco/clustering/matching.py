"""Truth matching of a clustering: per-hit labels from cell tables, per-primary matches.

A primary's true cluster is the set of hits it dominates (:func:`caloreco.clustering.table.true_labels`).
Units: MeV, rad.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from caloreco.clustering.table import true_labels
from caloreco.events import RawEvents, event_index

__all__ = ["labels_from_cells", "best_cluster_energy", "nearest_primary_angle", "primary_matches"]


def labels_from_cells(events: RawEvents, cells: pd.DataFrame) -> np.ndarray:
    """Per-hit labels of ``events`` from a cells table (event, hit, cluster)."""
    ev_pos = pd.Series(np.arange(events.n_events), index=events.event)
    try:
        pos = ev_pos.loc[cells["event"].to_numpy()].to_numpy()
    except KeyError as exc:
        raise ValueError(f"cells table names events absent from the raw files: {exc}") from None
    flat = events.hit_offsets[pos] + cells["hit"].to_numpy()
    labels = np.full(events.cell_id.size, -1, dtype=np.int64)
    labels[flat] = cells["cluster"].to_numpy()
    return labels


def best_cluster_energy(clusters: pd.DataFrame, events: RawEvents) -> np.ndarray:
    """Per primary of ``events`` (flat index): the energy (MeV) of its most energetic cluster
    among those it dominates (cluster table columns ``event``, ``primary``, ``energy``), 0 if
    none. ``clusters`` must name only events of ``events``."""
    ev_pos = pd.Series(np.arange(events.n_events), index=events.event)
    matched = clusters[clusters["primary"] >= 0]
    pos = ev_pos.loc[matched["event"].to_numpy()].to_numpy()
    flat = events.primary_offsets[pos] + matched["primary"].to_numpy()
    best = np.zeros(int(events.primary_offsets[-1]))
    np.maximum.at(best, flat, matched["energy"].to_numpy(np.float64))
    return best


def nearest_primary_angle(events: RawEvents) -> np.ndarray:
    """Per primary, the opening angle (rad) to the nearest other primary of its event
    (``inf`` for a primary alone in its event)."""
    off = events.primary_offsets
    n = int(off[-1])
    th = events.primary_theta.astype(np.float64)
    ph = events.primary_phi.astype(np.float64)
    u = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], axis=1)
    pe = event_index(off)
    k = np.diff(off)[pe]
    src = np.repeat(np.arange(n), k)
    local = np.arange(src.size) - np.repeat(np.cumsum(k) - k, k)
    dst = off[pe[src]] + local
    keep = src != dst
    src, dst = src[keep], dst[keep]
    ang = np.arccos(np.clip(np.einsum("ij,ij->i", u[src], u[dst]), -1.0, 1.0))
    out = np.full(n, np.inf)
    np.minimum.at(out, src, ang)
    return out


def primary_matches(events: RawEvents, reco_labels: np.ndarray) -> pd.DataFrame:
    """Per primary: whether its true cluster exists and is exactly reconstructed.

    A primary's true cluster is the set of hits it dominates; it is exactly matched when all
    those hits carry one reconstructed label (not ``-1``) and that reconstructed cluster holds
    no other true hit (hits without truth are ignored, as in
    :func:`caloreco.clustering.metrics.event_metrics`). The sum of ``matched`` over the sum of
    ``has_cluster`` is the WR of clustering.json.

    Args:
        events: events with truth.
        reco_labels: per-hit reconstructed cluster within the event, ``-1`` unclustered.

    Returns:
        DataFrame, one row per primary: ``event``, ``primary`` (index in the event),
        ``energy`` (MeV), ``nearest_angle`` (rad), ``has_cluster``, ``matched``.
    """
    reco = np.asarray(reco_labels, dtype=np.int64)
    if reco.shape != events.cell_id.shape:
        raise ValueError(
            f"reco_labels: expected one label per hit ({events.cell_id.size}), got {reco.shape}"
        )
    true = true_labels(events)
    ev = events.hit_event()
    keep = true >= 0
    ev, true, reco = ev[keep], true[keep], reco[keep]
    flat_p = events.primary_offsets[ev] + true  # flat primary index of every true hit
    n_prim = int(events.primary_offsets[-1])
    n_true = np.bincount(flat_p, minlength=n_prim)
    rmin = np.full(n_prim, np.iinfo(np.int64).max)
    rmax = np.full(n_prim, -2, dtype=np.int64)
    np.minimum.at(rmin, flat_p, reco)
    np.maximum.at(rmax, flat_p, reco)
    one_label = (n_true > 0) & (rmin == rmax) & (rmax >= 0)
    # size (in true hits) of each reconstructed cluster, looked up for each primary's label
    rkey = ev * (int(reco.max(initial=0)) + 2) + (reco + 1)
    uk, inv = np.unique(rkey, return_inverse=True)
    r_size = np.bincount(inv.reshape(-1), minlength=uk.size)
    size_of_hit = r_size[inv.reshape(-1)]
    r_size_p = np.zeros(n_prim, dtype=np.int64)
    r_size_p[flat_p] = size_of_hit
    matched = one_label & (r_size_p == n_true)
    pe = event_index(events.primary_offsets)
    return pd.DataFrame(
        {
            "event": events.event[pe],
            "primary": np.arange(n_prim) - events.primary_offsets[pe],
            "energy": events.primary_energy.astype(np.float64),
            "nearest_angle": nearest_primary_angle(events),
            "has_cluster": n_true > 0,
            "matched": matched,
        }
    )
