"""Cluster restoration (connected, cone, agglomerative), metrics and tables on hand-made events."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scipy.cluster.hierarchy import fclusterdata, linkage

from caloreco.clustering.agglomerative import (
    _ward_kernel,
    agglomerative_clusters,
    agglomerative_points,
)
from caloreco.clustering.cone import cone_clusters
from caloreco.clustering.connected import connected_clusters
from caloreco.clustering.labels import canonical_labels
from caloreco.clustering.metrics import event_metrics, summarize_metrics
from caloreco.clustering.table import (
    CLUSTER_COLUMNS,
    cells_table,
    cluster_table,
    cluster_table_from_events,
    true_labels,
)
from caloreco.events import RawEvents
from caloreco.geometry import califa_geometry, ecal_geometry

TWO_PI = 2 * np.pi


@pytest.fixture(scope="module")
def ecal():
    return ecal_geometry()


@pytest.fixture(scope="module")
def califa():
    return califa_geometry()


def _off(counts):
    off = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=off[1:])
    return off


def _per_event(labels, off):
    return [labels[off[i] : off[i + 1]].tolist() for i in range(off.size - 1)]


def _same_partition(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return np.array_equal(a[:, None] == a[None, :], b[:, None] == b[None, :])


# ----------------------------------------------------------------------------- connected


def test_connected_two_touching_showers_split_at_local_maxima(ecal):
    # one row of cells: peaks 800 (col 6) and 900 (col 9), valley 300 at col 8
    cols = np.arange(5, 11)
    cells = ecal.cell_at(np.full(6, 10), cols)
    energy = np.array([100.0, 800.0, 400.0, 300.0, 900.0, 200.0])
    off = _off([6])
    split = connected_clusters(off, cells, energy, ecal, seed_threshold_mev=300.0)
    # col 8 (300) goes to its highest clustered neighbour, the 900 peak; 900 seeds label 0
    assert split.tolist() == [1, 1, 1, 0, 0, 0]
    whole = connected_clusters(off, cells, energy, ecal, 300.0, split_local_maxima=False)
    assert whole.tolist() == [0] * 6
    # a peak below the seed threshold does not seed: its basin joins the shower
    low = connected_clusters(off, cells, energy, ecal, seed_threshold_mev=850.0)
    assert low.tolist() == [0] * 6


def test_connected_2d_blobs_sides_only_and_seedless_groups(ecal):
    rc = [(20, 20), (20, 21), (21, 20), (22, 22), (30, 30), (30, 31)]
    cells = ecal.cell_at(*np.array(rc).T)
    energy = np.array([900.0, 500.0, 400.0, 700.0, 250.0, 120.0])
    off = _off([3, 0, 3])  # middle event empty
    lab = connected_clusters(off, cells, energy, ecal, seed_threshold_mev=300.0)
    # (22, 22) touches (21, 20)? no: only by no side -> own cluster; the 250 MeV pair has no
    # seed above 300 MeV -> unclustered
    assert _per_event(lab, off) == [[0, 0, 0], [], [0, -1, -1]]


def test_connected_sub_threshold_bump_stays_with_its_shower(ecal):
    cells = ecal.cell_at(np.full(5, 3), np.arange(5))
    energy = np.array([1000.0, 500.0, 100.0, 200.0, 50.0])
    lab = connected_clusters(_off([5]), cells, energy, ecal, seed_threshold_mev=300.0)
    assert lab.tolist() == [0] * 5
    lab0 = connected_clusters(_off([5]), cells, energy, ecal, seed_threshold_mev=0.0)
    assert lab0.tolist() == [0, 0, 0, 1, 1]


def test_connected_single_hit_duplicates_and_errors(ecal):
    cells = np.array([100, 700, 700])
    energy = np.array([400.0, 200.0, 500.0])
    lab = connected_clusters(_off([1, 2]), cells, energy, ecal, seed_threshold_mev=300.0)
    assert lab.tolist() == [0, 0, 0]  # one hit; two hits of the same cell are neighbours
    lab = connected_clusters(_off([1]), np.array([5]), np.array([10.0]), ecal, 300.0)
    assert lab.tolist() == [-1]
    with pytest.raises(ValueError, match="cell_id"):
        connected_clusters(_off([1]), np.array([ecal.n_cells]), np.array([1.0]), ecal)
    with pytest.raises(ValueError, match="energy_mev"):
        connected_clusters(_off([2]), np.array([1, 2]), np.array([1.0]), ecal)
    with pytest.raises(ValueError, match="hit_offsets"):
        connected_clusters(np.array([1, 2]), np.array([1]), np.array([1.0]), ecal)


def test_connected_across_the_phi_seam_on_califa(califa):
    ring = 30
    first = califa.ring_first_cell[ring]
    seg = califa.ring_segments[ring]
    cells = np.array([first + seg - 1, first, first + 1, first + seg // 2])
    energy = np.array([3.0, 5.0, 1.0, 2.0])
    lab = connected_clusters(_off([4]), cells, energy, califa, seed_threshold_mev=1.0)
    assert lab.tolist() == [0, 0, 0, 1]


def test_connected_components_equal_ndimage_label(ecal):
    rng = np.random.default_rng(7)
    counts, cells = [], []
    for _ in range(200):
        k = rng.integers(0, 60)
        c = rng.choice(ecal.n_cells // 4, size=k, replace=False)  # a 12-row band: dense enough
        counts.append(k)
        cells.append(c)
    off = _off(counts)
    cells = np.concatenate(cells)
    energy = rng.uniform(1.0, 100.0, cells.size)
    lab = connected_clusters(off, cells, energy, ecal, 0.0, split_local_maxima=False)
    for e in range(len(counts)):
        c = cells[off[e] : off[e + 1]]
        grid = np.zeros((ecal.n_rows, ecal.n_cols), dtype=bool)
        grid[ecal.row[c], ecal.col[c]] = True
        ref, _ = ndimage.label(grid)
        assert _same_partition(lab[off[e] : off[e + 1]], ref[ecal.row[c], ecal.col[c]])


# ----------------------------------------------------------------------------- cone


def test_cone_seed_is_not_updated_and_threshold_drops_hits():
    th = np.full(3, np.pi / 2)
    ph = np.array([0.0, 0.2, 0.4])
    energy = np.array([5.0, 1.0, 1.0])
    off = _off([3])
    assert cone_clusters(off, energy, th, ph, 0.25, 0.5).tolist() == [0, 0, 1]
    # the 0.4 rad hit is below the seed threshold and in no cone: dropped
    assert cone_clusters(off, energy, th, ph, 0.25, 1.5).tolist() == [0, 0, -1]
    # the most energetic seed goes first and takes the shared hit
    energy2 = np.array([1.0, 2.0, 3.0])
    assert cone_clusters(off, energy2, th, ph, 0.25, 0.5).tolist() == [1, 0, 0]


def test_cone_phi_seam_single_and_empty_events():
    th = np.array([1.2, 1.2, 1.2, 0.8])
    ph = np.array([0.05, TWO_PI - 0.05, np.pi, 1.0])
    energy = np.array([2.0, 1.0, 1.0, 0.5])
    off = _off([3, 0, 1])
    lab = cone_clusters(off, energy, th, ph, 0.25, 0.8)
    assert _per_event(lab, off) == [[0, 0, 1], [], [-1]]
    # angle is 3-D: near theta = 0 a big phi difference is a small angle
    th2 = np.array([0.05, 0.05])
    lab2 = cone_clusters(_off([2]), np.array([2.0, 1.0]), th2, np.array([0.0, np.pi]), 0.25)
    assert lab2.tolist() == [0, 0]
    with pytest.raises(ValueError, match="opening_angle_rad"):
        cone_clusters(off, energy, th, ph, -1.0)
    with pytest.raises(ValueError, match="phi"):
        cone_clusters(off, energy, th, ph[:2])


# ----------------------------------------------------------------------------- agglomerative


def _realistic_events(rng, n_events):
    """1-3 gammas per event, each 1-8 hits within ~0.15 rad of its direction, emission time
    uniform in +-4 us, hit times smeared by 200 ns; events truncated to 1-25 hits."""
    counts, th, ph, t = [], [], [], []
    for _ in range(n_events):
        n_g = rng.integers(1, 4)
        th_e, ph_e, t_e = [], [], []
        for _ in range(n_g):
            k = rng.integers(1, 9)
            u = rng.normal(size=3)
            u /= np.linalg.norm(u)
            d = u + rng.normal(scale=0.15, size=(k, 3))
            d /= np.linalg.norm(d, axis=1)[:, None]
            th_e.append(np.arccos(d[:, 2]))
            ph_e.append(np.mod(np.arctan2(d[:, 1], d[:, 0]), TWO_PI))
            t_e.append(rng.uniform(-4000, 4000) + rng.normal(0, 200, k))
        th_e, ph_e, t_e = map(np.concatenate, (th_e, ph_e, t_e))
        k = min(th_e.size, int(rng.integers(1, 26)))
        counts.append(k)
        th.append(th_e[:k])
        ph.append(ph_e[:k])
        t.append(t_e[:k])
    return _off(counts), *map(np.concatenate, (th, ph, t))


@pytest.mark.parametrize("threshold", [3540.0, 800.0])
def test_agglomerative_equals_scipy_fclusterdata(threshold):
    rng = np.random.default_rng(11)
    off, th, ph, t = _realistic_events(rng, 2500)
    lab = agglomerative_clusters(off, th, ph, t, distance_threshold=threshold)
    X = agglomerative_points(th, ph, t)
    n_multi = 0
    for e in range(off.size - 1):
        a, b = off[e], off[e + 1]
        if b - a == 1:
            assert lab[a] == 0
            continue
        ref = fclusterdata(X[a:b], t=threshold, criterion="distance", method="ward")
        assert _same_partition(lab[a:b], ref), f"event {e}"
        assert sorted(set(lab[a:b].tolist())) == list(range(len(set(ref.tolist()))))
        n_multi += len(set(ref.tolist())) > 1
    assert n_multi > 300  # the comparison is not trivial: many events have several clusters


def test_agglomerative_ties_and_threshold_exactly_at_a_merge_height():
    """Lattice points give exactly equal distances; cutting at a merge height keeps it."""
    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(2, 10))
        X = rng.integers(0, 3, size=(n, 3)).astype(np.float64)
        X[:, 2] = 0.0
        Z = linkage(X, method="ward")
        for thr in np.unique(Z[:, 2]):
            lab = _ward_kernel(np.array([0, n]), X, float(thr))
            ref = fclusterdata(X, t=thr, criterion="distance", method="ward")
            assert _same_partition(lab, ref)


def test_agglomerative_time_separation_phi_seam_single_and_empty():
    # same direction: 1000 ns apart -> distance 2500 <= 3540 (merged); 2000 ns -> 5000 (split)
    th = np.full(4, 1.0)
    ph = np.array([0.01, TWO_PI - 0.01, 0.0, 0.0])
    t = np.array([0.0, 0.0, 0.0, 1000.0])
    lab = agglomerative_clusters(_off([2, 2]), th, ph, t)
    assert lab.tolist() == [0, 0, 0, 0]
    lab = agglomerative_clusters(_off([2]), th[2:], ph[2:], np.array([0.0, 2000.0]))
    assert lab.tolist() == [0, 1]
    lab = agglomerative_clusters(_off([0, 1, 0]), [1.0], [2.0], [10.0])
    assert lab.tolist() == [0]
    pts = agglomerative_points(np.array([np.pi / 2]), np.array([0.0]), np.array([500.0]))
    np.testing.assert_allclose(pts, [[2.5 * 5000.0, 0.0, 0.0]], atol=1e-9)
    with pytest.raises(ValueError, match="time_ns"):
        agglomerative_clusters(_off([1]), [1.0], [1.0], [np.nan])


# ----------------------------------------------------------------------------- metrics


def test_event_metrics_hand_made_events():
    events = [
        ([0, 0, 1, 1], [0, 0, 1, 1]),  # TP, 2 matched
        ([0, 0, 1], [0, 0, 0]),  # FP (over-merged)
        ([0, 0, 1], [0, 1, 2]),  # FN (split), true 1 matched
        ([0, 0, 1, 1], [0, 1, 1, 2]),  # FM
        ([], []),  # empty
        ([0], [0]),  # one hit: TP
        ([0], [-1]),  # lost hit: FN
        ([-1, 0, 0], [0, 0, 0]),  # noise in the cluster is ignored: TP
        ([-1], [0]),  # only noise: empty
        ([1, 1, 0], [5, 5, 2]),  # labels are arbitrary: TP
        ([0, 0, 1], [0, -1, 1]),  # one hit of a primary lost: FN, 1 matched
    ]
    off = _off([len(t) for t, _ in events])
    true = np.array([x for t, _ in events for x in t], dtype=np.int64)
    reco = np.array([x for _, r in events for x in r], dtype=np.int64)
    m = event_metrics(off, reco, true)
    assert m["category"].tolist() == [0, 1, 2, 3, -1, 0, 2, 0, -1, 0, 2]
    assert m["n_true_clusters"].tolist() == [2, 2, 2, 2, 0, 1, 1, 1, 0, 2, 2]
    assert m["n_exactly_matched"].tolist() == [2, 0, 1, 0, 0, 1, 0, 1, 0, 2, 1]
    assert m["empty"].tolist() == [False] * 4 + [True] + [False] * 3 + [True] + [False] * 2
    s = summarize_metrics(m)
    assert s["events"] == 9 and s["empty_events"] == 2
    assert s["TP"] == pytest.approx(4 / 9) and s["FP"] == pytest.approx(1 / 9)
    assert s["FN"] == pytest.approx(3 / 9) and s["FM"] == pytest.approx(1 / 9)
    assert s["TP"] + s["FP"] + s["FN"] + s["FM"] == pytest.approx(1.0)
    assert s["WR"] == pytest.approx(8 / 15)
    assert s["TP_err"] == pytest.approx(np.sqrt(4 / 9 * 5 / 9 / 9))
    assert s["WR_err"] == pytest.approx(np.sqrt(8 / 15 * 7 / 15 / 15))


def test_event_metrics_identity_is_all_tp_and_errors():
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 12, 300)
    off = _off(counts)
    true = np.concatenate([rng.integers(0, 3, k) for k in counts]).astype(np.int64)
    m = event_metrics(off, true * 7 + 1, true)
    s = summarize_metrics(m)
    assert s["TP"] == 1.0 and s["WR"] == 1.0 and s["TP_err"] == 0.0
    assert s["empty_events"] == int(np.sum(counts == 0))
    # everything in one cluster: every event with >= 2 primaries is FP
    one = event_metrics(off, np.zeros_like(true), true)
    n_prim = np.array([len(set(true[off[i] : off[i + 1]].tolist())) for i in range(300)])
    assert np.array_equal(one["FP"], n_prim >= 2)
    assert np.array_equal(one["TP"], n_prim == 1)
    with pytest.raises(ValueError, match="reco_labels"):
        event_metrics(off, true[:-1], true)
    with pytest.raises(ValueError, match="true_labels"):
        event_metrics(off, true, true - 5)
    nothing = summarize_metrics(event_metrics(_off([0]), np.zeros(0, int), np.zeros(0, int)))
    assert nothing["events"] == 0 and np.isnan(nothing["TP"])


# ----------------------------------------------------------------------------- tables


def _raw(ecal):
    """Event 10: two primaries in a row of cells, sharing cell (5, 6); event 11: no hits;
    event 12: one clustered hit and one unclustered hit, no truth for the second."""
    cells = np.concatenate([ecal.cell_at(np.full(4, 5), np.arange(4, 8)), [0, 1]])
    energy = np.array([100.0, 300.0, 250.0, 500.0, 40.0, 5.0])
    time = np.array([1.0, 2.0, 3.0, 4.0, 7.0, 9.0])
    return RawEvents(
        event=[10, 11, 12],
        hit_offsets=[0, 4, 4, 6],
        cell_id=cells,
        cell_energy=energy,
        cell_time=time,
        primary_offsets=[0, 2, 2, 3],
        primary_energy=[1000.0, 800.0, 60.0],
        primary_theta=[0.0, 0.0, 0.0],
        primary_phi=[0.0, 0.0, 0.0],
        primary_time=[0.0, 0.0, 0.0],
        primary_x=[0.0, 0.0, 0.0],
        primary_y=[0.0, 0.0, 0.0],
        truth_offsets=[0, 5, 5, 6],
        # hits 0,1 from primary 0; hit 2 shared 150 (p0) / 100 (p1); hit 3 from p1
        truth_cell=[0, 1, 2, 2, 3, 0],
        truth_primary=[0, 0, 0, 1, 1, 0],
        truth_energy=[90.0, 310.0, 150.0, 100.0, 520.0, 45.0],
    )


def test_cluster_table_values_truth_and_order(ecal):
    raw = _raw(ecal)
    labels = np.array([3, 3, 3, 1, 0, -1])  # event 10: {0,1,2} (650 MeV) and {3} (500 MeV)
    tab = cluster_table_from_events(raw, labels, ecal)
    assert list(tab.columns) == list(CLUSTER_COLUMNS)
    assert tab["event"].tolist() == [10, 10, 12] and tab["cluster"].tolist() == [0, 1, 0]
    assert tab["event"].dtype == np.int64 and tab["cluster"].dtype == np.int32
    np.testing.assert_allclose(tab["energy"], [650.0, 500.0, 40.0])
    x = ecal.x[raw.cell_id]
    np.testing.assert_allclose(tab["x"][0], (100 * x[0] + 300 * x[1] + 250 * x[2]) / 650)
    np.testing.assert_allclose(tab["y"], ecal.y[raw.cell_id[[0, 3, 4]]])
    np.testing.assert_allclose(tab["z"], 33027.0)
    np.testing.assert_allclose(tab["time"], [2.0, 4.0, 7.0])
    assert tab["size"].tolist() == [3, 1, 1]
    assert tab["seed_cell"].tolist() == raw.cell_id[[1, 3, 4]].tolist()
    assert tab["seed_row"].tolist() == [5, 5, 0] and tab["seed_col"].tolist() == [5, 7, 0]
    np.testing.assert_allclose(tab["seed_energy"], [300.0, 500.0, 40.0])
    assert tab["primary"].tolist() == [0, 1, 0]
    np.testing.assert_allclose(tab["purity"], [550 / 650, 1.0, 1.0])
    np.testing.assert_allclose(tab["completeness"], [1.0, 520 / 620, 1.0])
    np.testing.assert_allclose(tab["primary_energy"], [1000.0, 800.0, 60.0])
    # direction: energy-weighted sum of unit vectors, consistent with the position on the plane
    np.testing.assert_allclose(np.tan(tab["theta"][1]) * 33027.0, np.hypot(x[3], tab["y"][1]))
    cells = cells_table(raw, labels)
    assert cells.columns.tolist() == ["event", "hit", "cell_id", "cluster"]
    assert cells["cluster"].tolist() == [0, 0, 0, 1, 0, -1]
    assert cells["hit"].tolist() == [0, 1, 2, 3, 0, 1]
    assert cells["event"].tolist() == [10, 10, 10, 10, 12, 12]
    assert true_labels(raw).tolist() == [0, 0, 0, 1, 0, -1]


def test_cluster_table_without_truth_and_noise_cluster(ecal):
    raw = _raw(ecal)
    tab = cluster_table(
        raw.event, raw.hit_offsets, [0, 0, 1, 1, 0, 1], raw.cell_id, raw.cell_energy,
        raw.cell_time, ecal,
    )  # fmt: skip
    assert tab["primary"].tolist() == [-1] * 4 and tab["purity"].isna().all()
    assert tab["energy"].tolist() == [750.0, 400.0, 40.0, 5.0]
    with_truth = cluster_table_from_events(raw, np.array([0, 0, 1, 1, 0, 1]), ecal)
    noise = with_truth.iloc[3]  # event 12, the 5 MeV hit: no true energy
    assert noise["primary"] == -1 and noise["purity"] == 0.0 and np.isnan(noise["primary_energy"])
    with pytest.raises(ValueError, match="truth"):
        cluster_table(
            raw.event, raw.hit_offsets, np.zeros(6, int), raw.cell_id, raw.cell_energy,
            raw.cell_time, ecal, truth_offsets=raw.truth_offsets,
        )  # fmt: skip
    with pytest.raises(ValueError, match="event_numbers"):
        cluster_table(
            raw.event[:2], raw.hit_offsets, np.zeros(6, int), raw.cell_id, raw.cell_energy,
            raw.cell_time, ecal,
        )  # fmt: skip


def test_cluster_direction_across_the_phi_seam(califa):
    ring = 30
    first, seg = califa.ring_first_cell[ring], califa.ring_segments[ring]
    cells = np.array([first, first + seg - 1])  # the two cells either side of phi = 0
    tab = cluster_table(
        [0], _off([2]), [0, 0], cells, [2.0, 2.0], [0.0, 0.0], califa
    )  # fmt: skip
    phi = tab["phi"][0]
    assert 0.0 <= phi < TWO_PI and min(phi, TWO_PI - phi) < 1e-9
    th, dphi = califa.theta[first], califa.phi[first]  # cells at phi = +-dphi
    expected = np.arctan2(np.sin(th) * np.cos(dphi), np.cos(th))  # direction of the vector sum
    np.testing.assert_allclose(tab["theta"][0], expected, rtol=1e-12)


def test_canonical_labels_order_by_energy():
    off = _off([4, 2])
    lab = canonical_labels(off, [5, 2, 5, -1, 0, 0], [1.0, 3.0, 1.5, 9.0, 1.0, 1.0])
    assert lab.tolist() == [1, 0, 1, -1, 0, 0]


def test_connected_on_simulated_ecal_photons(ecal):
    """Single photons are one cluster; splitting at local maxima separates photon pairs."""
    from caloreco.simulation import simulate_events

    spectrum = {"distribution": "uniform", "min_mev": 5000.0, "max_mev": 100000.0}

    def run(n_primaries, split):
        sim = {"n_primaries": n_primaries, "energy": spectrum, "incidence": "perpendicular"}
        raw = simulate_events(ecal, "ecal", None, sim, 300, np.random.default_rng(n_primaries))
        lab = connected_clusters(raw.hit_offsets, raw.cell_id, raw.cell_energy, ecal, 500.0, split)
        summary = summarize_metrics(event_metrics(raw.hit_offsets, lab, true_labels(raw)))
        return summary, cluster_table_from_events(raw, lab, ecal)

    single, _ = run(1, True)
    assert single["TP"] > 0.98
    split, tab = run(2, True)
    whole, _ = run(2, False)
    assert split["FP"] + split["FM"] < whole["FP"] + whole["FM"]
    assert split["WR"] > 0.9 and split["WR"] > whole["WR"]
    assert (tab["purity"] > 0.9).mean() > 0.9
