"""Clustering throughput on one core: numba kernels over all events vs per-event scipy loops.

Usage: python benchmarks/bench_clustering.py [--out results/benchmarks/clustering.json]
    [--events 20000] [--peer-events 2000] [--repeat 3] [--seed 1]

Figures (events per second, best of ``--repeat``, measured in the same run):

* ``agglomerative``: :func:`caloreco.clustering.agglomerative.agglomerative_clusters` on CALIFA-like events
  (1-3 gammas, hits snapped to crystals, times in +-4 us smeared by 200 ns, 1-25 hits) vs the
  peer ``scipy_fclusterdata``, a per-event loop over ``scipy.cluster.hierarchy.fclusterdata``
  (ward, criterion 'distance') on the same points. The partitions are compared event by event
  (``mismatched_events`` must be 0). Goal: ratio >= 50.
* ``connected``: :func:`caloreco.clustering.connected.connected_clusters` on ECAL events made of 1-4
  exponential blobs on the 48 x 48 grid (100 MeV cell threshold), without local-maximum
  splitting (the same task as the peer) and with it, vs the peer ``scipy_ndimage_label``, a
  per-event loop that fills the dense grid and calls ``scipy.ndimage.label`` (side
  connectivity). Goal: ratio >= 10.
* ``cone``: :func:`caloreco.clustering.cone.cone_clusters` vs a per-event numpy loop of the same
  algorithm (for scale).
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
from scipy import ndimage  # noqa: E402
from scipy.cluster.hierarchy import fclusterdata  # noqa: E402

from caloreco.clustering.agglomerative import (  # noqa: E402
    agglomerative_clusters,
    agglomerative_points,
)
from caloreco.clustering.cone import cone_clusters  # noqa: E402
from caloreco.clustering.connected import connected_clusters  # noqa: E402
from caloreco.geometry import califa_cell_from_direction, califa_geometry, ecal_geometry  # noqa: E402


def _offsets(counts: np.ndarray) -> np.ndarray:
    off = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=off[1:])
    return off


def califa_events(n: int, rng: np.random.Generator):
    """CALIFA-like events: (offsets, energy MeV, theta, phi rad, time ns)."""
    geom = califa_geometry()
    n_g = rng.integers(1, 4, n)
    n_gam = int(n_g.sum())
    k = rng.integers(1, 9, n_gam)  # hits per gamma
    gam_event = np.repeat(np.arange(n), n_g)
    cos_t = rng.uniform(np.cos(np.radians(140)), np.cos(np.radians(19)), n_gam)
    g_th, g_ph = np.arccos(cos_t), rng.uniform(0, 2 * np.pi, n_gam)
    g_t = rng.uniform(-4000, 4000, n_gam)
    h_gam = np.repeat(np.arange(n_gam), k)
    u = np.stack([np.sin(g_th) * np.cos(g_ph), np.sin(g_th) * np.sin(g_ph), np.cos(g_th)], axis=1)[
        h_gam
    ] + rng.normal(scale=0.15, size=(h_gam.size, 3))
    u /= np.linalg.norm(u, axis=1)[:, None]
    cell = califa_cell_from_direction(
        geom, np.arccos(u[:, 2]), np.mod(np.arctan2(u[:, 1], u[:, 0]), 2 * np.pi)
    )
    ev = gam_event[h_gam]
    keep = cell >= 0
    # truncate each event to at most a random 1-25 hits
    ev, cell, h_gam = ev[keep], cell[keep], h_gam[keep]
    rank = np.arange(ev.size) - np.searchsorted(ev, ev)
    keep = rank < rng.integers(1, 26, n)[ev]
    ev, cell, h_gam = ev[keep], cell[keep], h_gam[keep]
    counts = np.bincount(ev, minlength=n)
    nonempty = counts > 0
    off = _offsets(counts[nonempty])
    time_ns = g_t[h_gam] + rng.normal(0, 200, h_gam.size)
    energy = rng.exponential(1.0, h_gam.size) + 0.1
    return off, energy, geom.theta[cell], geom.phi[cell], time_ns


def ecal_events(n: int, rng: np.random.Generator):
    """ECAL events of 1-4 blobs: (offsets, cell ids, energy MeV)."""
    geom = ecal_geometry()
    n_b = rng.integers(1, 5, n)
    b_ev = np.repeat(np.arange(n), n_b)
    nb = b_ev.size
    r0 = rng.uniform(3, 45, nb)
    c0 = rng.uniform(3, 45, nb)
    e0 = rng.uniform(2000, 100000, nb)
    dr, dc = np.meshgrid(np.arange(-3, 4), np.arange(-3, 4), indexing="ij")
    rows = np.floor(r0)[:, None] + dr.ravel()[None, :]
    cols = np.floor(c0)[:, None] + dc.ravel()[None, :]
    dist = np.hypot(rows + 0.5 - r0[:, None], cols + 0.5 - c0[:, None])
    e = e0[:, None] * np.exp(-dist / 0.6) / 7.0
    ev = np.repeat(b_ev, rows.shape[1])
    cell = geom.cell_at(rows.ravel().astype(int), cols.ravel().astype(int))
    e = e.ravel()
    key = ev * geom.n_cells + cell
    uk, inv = np.unique(key, return_inverse=True)  # sum overlapping blobs per cell
    es = np.bincount(inv.reshape(-1), weights=e)
    ev_u, cell_u = uk // geom.n_cells, uk % geom.n_cells
    es = es * rng.normal(1.0, 0.05, es.size)
    keep = es > 100.0
    counts = np.bincount(ev_u[keep], minlength=n)
    return geom, _offsets(counts), cell_u[keep], es[keep]


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _scipy_agglomerative(off, X, thr):
    out = np.empty(X.shape[0], dtype=np.int64)
    for e in range(off.size - 1):
        a, b = off[e], off[e + 1]
        if b - a == 1:
            out[a] = 1
        elif b > a:
            out[a:b] = fclusterdata(X[a:b], t=thr, criterion="distance", method="ward")
    return out


def _ndimage_connected(off, cell, geom):
    out = np.empty(cell.size, dtype=np.int64)
    rows, cols = geom.row[cell], geom.col[cell]
    for e in range(off.size - 1):
        a, b = off[e], off[e + 1]
        grid = np.zeros((geom.n_rows, geom.n_cols), dtype=bool)
        grid[rows[a:b], cols[a:b]] = True
        lab, _ = ndimage.label(grid)
        out[a:b] = lab[rows[a:b], cols[a:b]]
    return out


def _numpy_cone(off, energy, theta, phi, alpha, thr):
    u = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], 1)
    out = np.full(energy.size, -1, dtype=np.int64)
    cos_a = np.cos(alpha)
    for e in range(off.size - 1):
        a, b = off[e], off[e + 1]
        lab = out[a:b]
        uu = u[a:b]
        k = 0
        for s in np.argsort(-energy[a:b], kind="stable"):
            if lab[s] >= 0 or energy[a + s] < thr:
                continue
            take = (lab < 0) & (uu @ uu[s] >= cos_a)
            lab[take] = k
            k += 1
    return out


def _partition_mismatches(off, a, b) -> int:
    bad = 0
    for e in range(off.size - 1):
        x, y = a[off[e] : off[e + 1]], b[off[e] : off[e + 1]]
        if not np.array_equal(x[:, None] == x[None, :], y[:, None] == y[None, :]):
            bad += 1
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks/clustering.json")
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--peer-events", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    numba.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    thr = 3540.0

    off, energy, th, ph, t = califa_events(args.events, rng)
    n_ev = off.size - 1
    np_ = min(args.peer_events, n_ev)
    off_p = off[: np_ + 1]
    hp = int(off_p[-1])
    # warm-up (numba compilation / cache load)
    agglomerative_clusters(off[:3], th[: off[2]], ph[: off[2]], t[: off[2]])
    cone_clusters(off[:3], energy[: off[2]], th[: off[2]], ph[: off[2]])

    t_agg = _best(lambda: agglomerative_clusters(off, th, ph, t, thr), args.repeat)
    X = agglomerative_points(th[:hp], ph[:hp], t[:hp])
    t_sc = _best(lambda: _scipy_agglomerative(off_p, X, thr), 1)
    mismatched = _partition_mismatches(
        off_p, agglomerative_clusters(off_p, th[:hp], ph[:hp], t[:hp], thr),
        _scipy_agglomerative(off_p, X, thr),
    )  # fmt: skip
    t_cone = _best(lambda: cone_clusters(off, energy, th, ph, 0.25, 0.8), args.repeat)
    t_cone_np = _best(lambda: _numpy_cone(off_p, energy, th, ph, 0.25, 0.8), 1)
    cone_mismatch = _partition_mismatches(
        off_p,
        cone_clusters(off_p, energy[:hp], th[:hp], ph[:hp], 0.25, 0.8),
        _numpy_cone(off_p, energy[:hp], th[:hp], ph[:hp], 0.25, 0.8),
    )

    geom, eoff, cell, e_ecal = ecal_events(args.events, rng)
    ne = eoff.size - 1
    npe = min(args.peer_events, ne)
    eoff_p = eoff[: npe + 1]
    connected_clusters(eoff[:3], cell[: eoff[2]], e_ecal[: eoff[2]], geom)
    t_conn = _best(
        lambda: connected_clusters(eoff, cell, e_ecal, geom, 0.0, split_local_maxima=False),
        args.repeat,
    )
    t_conn_split = _best(
        lambda: connected_clusters(eoff, cell, e_ecal, geom, 300.0, split_local_maxima=True),
        args.repeat,
    )
    cp = cell[: eoff_p[-1]]
    t_nd = _best(lambda: _ndimage_connected(eoff_p, cp, geom), 1)
    conn_mismatch = _partition_mismatches(
        eoff_p,
        connected_clusters(eoff_p, cp, e_ecal[: eoff_p[-1]], geom, 0.0, split_local_maxima=False),
        _ndimage_connected(eoff_p, cp, geom),
    )

    agg_rate, sc_rate = n_ev / t_agg, np_ / t_sc
    conn_rate, conn_split_rate, nd_rate = ne / t_conn, ne / t_conn_split, npe / t_nd
    cone_rate, cone_np_rate = n_ev / t_cone, np_ / t_cone_np
    result = {
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "numba": numba.__version__,
            "threads": 1,
        },
        "agglomerative": {
            "events": n_ev,
            "hits_per_event": round(float(off[-1]) / n_ev, 2),
            "events_per_s": round(agg_rate, 1),
            "peer_scipy_fclusterdata_events_per_s": round(sc_rate, 1),
            "peer_events": np_,
            "speedup": round(agg_rate / sc_rate, 1),
            "mismatched_events": mismatched,
        },
        "connected": {
            "events": ne,
            "hits_per_event": round(float(eoff[-1]) / ne, 2),
            "events_per_s": round(conn_rate, 1),
            "events_per_s_split_local_maxima": round(conn_split_rate, 1),
            "peer_scipy_ndimage_label_events_per_s": round(nd_rate, 1),
            "peer_events": npe,
            "speedup": round(conn_rate / nd_rate, 1),
            "speedup_split_local_maxima": round(conn_split_rate / nd_rate, 1),
            "mismatched_events": conn_mismatch,
        },
        "cone": {
            "events": n_ev,
            "events_per_s": round(cone_rate, 1),
            "peer_numpy_loop_events_per_s": round(cone_np_rate, 1),
            "speedup": round(cone_rate / cone_np_rate, 1),
            "mismatched_events": cone_mismatch,
        },
    }
    print(f"{'figure':<34} {'this package':>14} {'peer':>14} {'ratio':>8}  peer")
    rows = [
        ("agglomerative events/s", agg_rate, sc_rate, "scipy fclusterdata loop"),
        ("connected events/s", conn_rate, nd_rate, "scipy ndimage.label loop"),
        ("connected (split) events/s", conn_split_rate, nd_rate, "scipy ndimage.label loop"),
        ("cone events/s", cone_rate, cone_np_rate, "numpy per-event loop"),
    ]
    for name, ours, peer, pname in rows:
        print(f"{name:<34} {ours:>14.0f} {peer:>14.0f} {ours / peer:>8.1f}  {pname}")
    print(
        f"partition mismatches: agglomerative {mismatched}, connected {conn_mismatch}, "
        f"cone {cone_mismatch}"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")
    return 0 if (mismatched == 0 and conn_mismatch == 0) else 1


if __name__ == "__main__":
    raise SystemExit(main())
