"""Cluster and cell tables (the ``clusters/{method}`` parquet files) and true labels.

The cluster table is a contract between stages: one row per cluster, clusters of an event
numbered ``0 .. k-1`` by decreasing energy (:func:`caloreco.clustering.labels.canonical_labels`), the
same numbering as the ``cluster`` column of the cells table. Units: MeV, mm, ns, rad.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from caloreco.clustering.labels import (
    canonical_labels,
    check_hit_array,
    check_labels,
    check_offsets,
    unit_vectors,
)
from caloreco.events import RawEvents, event_index
from caloreco.geometry import Geometry

__all__ = [
    "CLUSTER_COLUMNS",
    "cluster_table",
    "cluster_table_from_events",
    "cells_table",
    "true_labels",
]

CLUSTER_COLUMNS = (
    "event",
    "cluster",
    "energy",
    "theta",
    "phi",
    "x",
    "y",
    "z",
    "time",
    "size",
    "seed_cell",
    "seed_row",
    "seed_col",
    "seed_energy",
    "primary",
    "purity",
    "completeness",
    "primary_energy",
)

_TRUTH_ARGS = (
    "truth_offsets",
    "truth_cell",
    "truth_primary",
    "truth_energy",
    "primary_offsets",
    "primary_energy",
)


def _weighted_mean(values: np.ndarray, w: np.ndarray, row: np.ndarray, n: int) -> np.ndarray:
    """Per-row mean of ``values`` weighted by ``w``; unweighted where the weights sum to <= 0."""
    wsum = np.bincount(row, weights=w, minlength=n)
    num = np.bincount(row, weights=w * values, minlength=n)
    cnt = np.bincount(row, minlength=n)
    plain = np.bincount(row, weights=values, minlength=n) / np.maximum(cnt, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(wsum > 0, num / np.where(wsum > 0, wsum, 1.0), plain)


def cluster_table(
    event_numbers: np.ndarray,
    hit_offsets: np.ndarray,
    labels: np.ndarray,
    cell_id: np.ndarray,
    energy_mev: np.ndarray,
    time_ns: np.ndarray,
    geom: Geometry,
    *,
    truth_offsets: np.ndarray | None = None,
    truth_cell: np.ndarray | None = None,
    truth_primary: np.ndarray | None = None,
    truth_energy: np.ndarray | None = None,
    primary_offsets: np.ndarray | None = None,
    primary_energy: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per cluster: energy, direction, position, time, seed and truth matching.

    Args:
        event_numbers: int64 event number of each event, shape (n_events,).
        hit_offsets: int64 CSR offsets, shape (n_events + 1,).
        labels: per-hit cluster labels within the event (``-1``: in no cluster; such hits are
            not in any row), shape (n_hits,).
        cell_id: cell of each hit, index into ``geom``; energy_mev: hit energy (MeV);
            time_ns: hit time (ns); all shape (n_hits,).
        geom: the detector (cell centres, directions, row/col).
        truth_offsets, truth_cell, truth_primary, truth_energy: the sparse Monte Carlo truth of
            :class:`caloreco.events.RawEvents` (truth_cell indexes the hits of its event,
            truth_primary the primaries of its event, truth_energy in MeV); give all or none.
        primary_offsets, primary_energy: the events' primaries (CSR) and their energies (MeV);
            needed with the truth.

    Returns:
        DataFrame with columns :data:`CLUSTER_COLUMNS`: ``event`` (int64), ``cluster`` (int32,
        0 = most energetic), ``energy`` (MeV, sum of hit energies), ``theta``, ``phi`` (rad,
        direction of the energy-weighted sum of the hits' cell unit vectors, phi in
        [0, 2 pi)), ``x``, ``y``, ``z`` (mm, energy-weighted mean of the cell centres),
        ``time`` (ns, mean hit time), ``size`` (hits), ``seed_cell``, ``seed_row``,
        ``seed_col``, ``seed_energy`` (the highest-energy hit; ties: first hit), and the truth
        columns ``primary`` (int32: index within the event of the primary with the largest true
        deposit in the cluster, ties to the lower index), ``purity`` (its share of the
        cluster's true energy), ``completeness`` (the share of that primary's total true
        deposit in the event that lies in this cluster), ``primary_energy`` (MeV). Without
        truth: ``primary`` -1 and the other three NaN; with truth but a cluster holding no true
        energy (noise only): ``primary`` -1, ``purity`` and ``completeness`` 0,
        ``primary_energy`` NaN.
    """
    off = check_offsets(hit_offsets)
    n_ev = off.size - 1
    n = int(off[-1])
    events = np.asarray(event_numbers)
    if events.shape != (n_ev,) or (events.size and not np.issubdtype(events.dtype, np.integer)):
        raise ValueError(f"event_numbers: expected {n_ev} integers (one per event)")
    events = events.astype(np.int64)
    lab = check_labels(labels, n)
    cell = check_hit_array(cell_id, n, "cell_id", np.int64)
    energy = check_hit_array(energy_mev, n, "energy_mev")
    time = check_hit_array(time_ns, n, "time_ns")
    if cell.size and (cell.min() < 0 or cell.max() >= geom.n_cells):
        raise ValueError(f"cell_id: expected ids in [0, {geom.n_cells}) of detector {geom.name!r}")
    given = [a is not None for a in (truth_offsets, truth_cell, truth_primary, truth_energy)]
    if any(given) and not all(given):
        raise ValueError("truth_*: give all of truth_offsets/cell/primary/energy or none")
    has_truth = all(given)
    if has_truth and (primary_offsets is None or primary_energy is None):
        raise ValueError("primary_offsets, primary_energy: required with the truth arrays")

    canon = canonical_labels(off, lab, energy)
    ev = event_index(off)
    k_per_event = np.zeros(n_ev, dtype=np.int64)
    np.maximum.at(k_per_event, ev, canon + 1)
    c_off = np.zeros(n_ev + 1, dtype=np.int64)
    np.cumsum(k_per_event, out=c_off[1:])
    n_cl = int(c_off[-1])
    inc = canon >= 0
    row_of_hit = np.full(n, -1, dtype=np.int64)
    row_of_hit[inc] = c_off[ev[inc]] + canon[inc]
    row = row_of_hit[inc]
    e_h, c_h, t_h = energy[inc], cell[inc], time[inc]
    hit_idx = np.nonzero(inc)[0]

    cl_event = np.repeat(np.arange(n_ev), k_per_event)
    cl_index = np.arange(n_cl) - c_off[cl_event]
    e_sum = np.bincount(row, weights=e_h, minlength=n_cl)
    size = np.bincount(row, minlength=n_cl)
    u = unit_vectors(geom.theta[c_h], geom.phi[c_h])
    w = np.where(e_sum[row] > 0, e_h, 1.0)  # unweighted if a cluster's energy is not positive
    vx = np.bincount(row, weights=w * u[:, 0], minlength=n_cl)
    vy = np.bincount(row, weights=w * u[:, 1], minlength=n_cl)
    vz = np.bincount(row, weights=w * u[:, 2], minlength=n_cl)
    theta = np.arctan2(np.hypot(vx, vy), vz)
    phi = np.mod(np.arctan2(vy, vx), 2 * np.pi)
    phi = np.where(phi >= 2 * np.pi, 0.0, phi)
    x = _weighted_mean(geom.x[c_h], e_h, row, n_cl)
    y = _weighted_mean(geom.y[c_h], e_h, row, n_cl)
    z = _weighted_mean(geom.z[c_h], e_h, row, n_cl)
    t_mean = np.bincount(row, weights=t_h, minlength=n_cl) / np.maximum(size, 1)
    order = np.lexsort((hit_idx, -e_h, row))
    first = np.ones(order.size, dtype=bool)
    first[1:] = row[order][1:] != row[order][:-1]
    seed = order[first]  # one per row, rows ascending
    seed_cell = c_h[seed]

    primary = np.full(n_cl, -1, dtype=np.int32)
    nan = np.full(n_cl, np.nan)
    purity, completeness, p_energy = nan.copy(), nan.copy(), nan.copy()
    if has_truth:
        t_off = check_offsets(truth_offsets, "truth_offsets")
        p_off = check_offsets(primary_offsets, "primary_offsets")
        if t_off.size != n_ev + 1 or p_off.size != n_ev + 1:
            raise ValueError("truth_offsets, primary_offsets: expected length n_events + 1")
        nt = int(t_off[-1])
        tcell = check_hit_array(truth_cell, nt, "truth_cell", np.int64)
        tprim = check_hit_array(truth_primary, nt, "truth_primary", np.int64)
        tene = check_hit_array(truth_energy, nt, "truth_energy")
        # unknown primary energies (NaN, e.g. imported CSV hits) are allowed: only passed on
        penergy = check_hit_array(primary_energy, int(p_off[-1]), "primary_energy", finite=False)
        t_ev = event_index(t_off)
        n_hits_ev = np.diff(off)[t_ev]
        n_prim_ev = np.diff(p_off)[t_ev]
        if np.any((tcell < 0) | (tcell >= n_hits_ev)):
            raise ValueError("truth_cell: expected indices of hits of the entry's own event")
        if np.any((tprim < 0) | (tprim >= n_prim_ev)):
            raise ValueError("truth_primary: expected indices of primaries of the entry's event")
        gp = p_off[t_ev] + tprim  # global primary index
        prim_total = np.bincount(gp, weights=tene, minlength=int(p_off[-1]))
        t_row = row_of_hit[off[t_ev] + tcell]
        sel = t_row >= 0
        t_row, gp_s, te_s = t_row[sel], gp[sel], tene[sel]
        purity[:] = 0.0
        completeness[:] = 0.0
        if t_row.size:
            base = int(gp_s.max()) + 1
            ukey, inv = np.unique(t_row * base + gp_s, return_inverse=True)
            keys = np.stack([ukey // base, ukey % base])
            sums = np.bincount(inv.reshape(-1), weights=te_s, minlength=keys.shape[1])
            cl_true = np.bincount(keys[0], weights=sums, minlength=n_cl)
            o = np.lexsort((keys[1], -sums, keys[0]))
            f = np.ones(o.size, dtype=bool)
            f[1:] = keys[0][o][1:] != keys[0][o][:-1]
            dom = o[f]
            r_dom, g_dom, s_dom = keys[0][dom], keys[1][dom], sums[dom]
            primary[r_dom] = (g_dom - p_off[cl_event[r_dom]]).astype(np.int32)
            with np.errstate(invalid="ignore", divide="ignore"):
                purity[r_dom] = np.where(cl_true[r_dom] > 0, s_dom / cl_true[r_dom], 0.0)
                completeness[r_dom] = np.where(
                    prim_total[g_dom] > 0, s_dom / prim_total[g_dom], 0.0
                )
            p_energy[r_dom] = penergy[g_dom]

    return pd.DataFrame(
        {
            "event": events[cl_event],
            "cluster": cl_index.astype(np.int32),
            "energy": e_sum,
            "theta": theta,
            "phi": phi,
            "x": x,
            "y": y,
            "z": z,
            "time": t_mean,
            "size": size.astype(np.int32),
            "seed_cell": seed_cell.astype(np.int32),
            "seed_row": np.asarray(geom.row)[seed_cell].astype(np.int32),
            "seed_col": np.asarray(geom.col)[seed_cell].astype(np.int32),
            "seed_energy": e_h[seed],
            "primary": primary,
            "purity": purity,
            "completeness": completeness,
            "primary_energy": p_energy,
        },
        columns=list(CLUSTER_COLUMNS),
    )


def cluster_table_from_events(raw: RawEvents, labels: np.ndarray, geom: Geometry) -> pd.DataFrame:
    """:func:`cluster_table` of a :class:`~caloreco.events.RawEvents` chunk (truth if present)."""
    truth = {}
    if raw.has_truth:
        truth = {name: getattr(raw, name) for name in _TRUTH_ARGS}
    return cluster_table(
        raw.event,
        raw.hit_offsets,
        labels,
        raw.cell_id,
        raw.cell_energy.astype(np.float64),
        raw.cell_time.astype(np.float64),
        geom,
        **truth,
    )


def cells_table(raw: RawEvents, labels: np.ndarray) -> pd.DataFrame:
    """Hit-to-cluster table: columns ``event`` (int64 event number), ``hit`` (int32 index within
    the event), ``cell_id`` (int32), ``cluster`` (int32, the numbering of :func:`cluster_table`,
    -1 for a hit in no cluster). One row per hit, unclustered hits included."""
    off = raw.hit_offsets
    n = int(off[-1])
    canon = canonical_labels(off, check_labels(labels, n), raw.cell_energy.astype(np.float64))
    ev = event_index(off)
    return pd.DataFrame(
        {
            "event": raw.event[ev],
            "hit": (np.arange(n) - off[ev]).astype(np.int32),
            "cell_id": raw.cell_id.astype(np.int32),
            "cluster": canon.astype(np.int32),
        }
    )


def true_labels(raw: RawEvents) -> np.ndarray:
    """Per-hit true cluster label: the hit's dominant primary (index within its event), ``-1``
    for a hit without any truth entry. Raises ValueError for events without truth."""
    dom, _ = raw.hit_truth()
    return dom.astype(np.int64)
