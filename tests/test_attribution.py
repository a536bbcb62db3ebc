"""Hit-level attribution: padding, features, targets, peeling, metrics, baselines, matching.

Expectations are computed by hand or by an independent implementation (scipy's Hungarian
solver, numpy on the raw directions, the pair module's Compton formula on single pairs).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from caloreco.attribution.inputs import (
    FOCAL_FEATURES,
    HIT_FEATURES,
    PAIR_FEATURES,
    event_hits,
    focal_inputs,
    hit_features,
    pad_hits,
    pair_features,
)
from caloreco.attribution.matching import hungarian, match_slots
from caloreco.attribution.metrics import (
    energy_binned,
    hit_metrics,
    majority_baseline,
    rates,
    smart_random_draw,
    smart_random_expected,
)
from caloreco.attribution.peeling import peel
from caloreco.attribution.targets import focal_targets, gamma_seeds, most_energetic
from caloreco.geometry import califa_geometry
from caloreco.pairs.features import compton_consistency

GEOM = califa_geometry()


# ------------------------------------------------------------------------------ padding


def test_pad_hits_layout_and_round_trip():
    off = np.array([0, 2, 2, 5])  # events of 2, 0 and 3 hits
    p = pad_hits(off)
    assert p.index.tolist() == [[0, 1, -1], [-1, -1, -1], [2, 3, 4]]
    assert p.mask.tolist() == [[True, True, False], [False, False, False], [True, True, True]]
    values = np.array([10.0, 11.0, 12.0, 13.0, 14.0])
    padded = p.scatter(values, fill=-1.0)
    assert padded.tolist() == [[10, 11, -1], [-1, -1, -1], [12, 13, 14]]
    np.testing.assert_array_equal(p.gather(padded), values)
    assert pad_hits(off, n_max=5).n_max == 5
    with pytest.raises(ValueError, match="n_max"):
        pad_hits(off, n_max=2)
    with pytest.raises(ValueError, match="hit_offsets"):
        pad_hits(np.array([0, 3, 2]))


# ------------------------------------------------------------------------------ features


def _two_event_hits():
    # event 0: three hits, event 1: two hits; energies MeV, times ns
    cells = np.array([100, 101, 900, 2000, 2010])
    energy = np.array([2.0, 0.5, 1.0, 3.0, 0.2])
    time = np.array([100.0, 300.0, -2000.0, 50.0, 60.0])
    off = np.array([0, 3, 5])
    return off, cells, energy, time, event_hits(off, cells, energy, time, GEOM)


def test_hit_features_values():
    off, cells, energy, time, hits = _two_event_hits()
    p = pad_hits(off)
    f = hit_features(hits, p)
    assert f.shape == (2, 3, len(HIT_FEATURES))
    np.testing.assert_allclose(f[0, :, 0], np.log(energy[:3]), rtol=1e-6)
    np.testing.assert_allclose(f[0, :, 1], energy[:3], rtol=1e-6)
    u0 = [
        np.sin(GEOM.theta[100]) * np.cos(GEOM.phi[100]),
        np.sin(GEOM.theta[100]) * np.sin(GEOM.phi[100]),
        np.cos(GEOM.theta[100]),
    ]
    np.testing.assert_allclose(f[0, 0, 2:5], u0, atol=1e-6)
    # time relative to the energy-weighted mean time, in us
    t_ref = (2.0 * 100 + 0.5 * 300 - 1.0 * 2000) / 3.5
    np.testing.assert_allclose(f[0, :, 5], (time[:3] - t_ref) / 1000, rtol=1e-5)
    assert np.all(f[1, 2] == 0)  # padding


def test_pair_features_values_and_rows():
    off, cells, energy, time, hits = _two_event_hits()
    p = pad_hits(off)
    pf = pair_features(hits, p)
    assert pf.shape == (2, 3, 3, len(PAIR_FEATURES))
    col = {name: k for k, name in enumerate(PAIR_FEATURES)}
    u = hits.unit
    # hit 0 -> hit 2 of event 0, computed on the raw directions
    ang = np.arccos(np.clip(u[0] @ u[2], -1, 1))
    np.testing.assert_allclose(pf[0, 0, 2, col["angle"]], ang, atol=1e-5)
    np.testing.assert_allclose(pf[0, 0, 2, col["cos_angle"]], np.cos(ang), atol=1e-6)
    np.testing.assert_allclose(pf[0, 0, 2, col["dt"]], (-2000 - 100) / 1000, rtol=1e-6)
    np.testing.assert_allclose(pf[0, 2, 0, col["dt"]], (100 + 2000) / 1000, rtol=1e-6)
    np.testing.assert_allclose(pf[0, 0, 2, col["abs_dt"]], 2.1, rtol=1e-6)
    np.testing.assert_allclose(pf[0, 0, 1, col["log_energy_ratio"]], np.log(0.5 / 2.0), rtol=1e-6)
    np.testing.assert_allclose(pf[0, 0, 1, col["log_energy_sum"]], np.log(2.5), rtol=1e-6)
    expected = compton_consistency(
        np.array([3.0]), np.array([0.2]), hits.position[[3]], hits.position[[4]]
    )[0]
    np.testing.assert_allclose(pf[1, 0, 1, col["compton"]], expected, rtol=1e-5)
    # padding pairs are zero; the single-row form equals the row of the full tensor
    assert np.all(pf[1, 2] == 0) and np.all(pf[1, :, 2] == 0)
    rows = np.array([2, 1])
    np.testing.assert_array_equal(pair_features(hits, p, rows=rows), pf[[0, 1], rows])
    with pytest.raises(ValueError, match="rows"):
        pair_features(hits, p, rows=np.array([0, 2]))  # event 1 has no hit 2


def test_focal_inputs_layout():
    off, cells, energy, time, hits = _two_event_hits()
    p = pad_hits(off)
    hf, pf = hit_features(hits, p), pair_features(hits, p)
    focal = np.array([1, 0])
    x = focal_inputs(hf, pf[np.arange(2), focal], p.mask, focal)
    assert x.shape == (2, 3, len(FOCAL_FEATURES))
    k = FOCAL_FEATURES.index("is_focal")
    assert x[:, :, k].tolist() == [[0, 1, 0], [1, 0, 0]]
    kf = FOCAL_FEATURES.index("focal_log_energy")
    np.testing.assert_allclose(x[0, :, kf], np.log(0.5), rtol=1e-6)
    assert np.all(x[1, 2] == 0)
    with pytest.raises(ValueError, match="focal"):
        focal_inputs(hf, pf[:, 0], p.mask, np.array([0, 2]))


def test_event_hits_rejects_bad_input():
    off = np.array([0, 2])
    with pytest.raises(ValueError, match="energy_mev"):
        event_hits(off, np.array([1, 2]), np.array([1.0, 0.0]), np.zeros(2), GEOM)
    with pytest.raises(ValueError, match="cell_id"):
        event_hits(off, np.array([1, 99999]), np.ones(2), np.zeros(2), GEOM)
    with pytest.raises(ValueError, match="time_ns"):
        event_hits(off, np.array([1, 2]), np.ones(2), np.array([0.0, np.nan]), GEOM)


# ------------------------------------------------------------------------------ targets


def test_most_energetic_and_targets():
    e = np.array([[1.0, 3.0, 3.0, 0.0], [0.5, 0.2, 0.0, 0.0]])
    avail = np.array([[True, True, True, False], [False, False, False, False]])
    assert most_energetic(e, avail).tolist() == [1, -1]  # tie -> lower position
    truth = np.array([[0, 1, 0, -1], [2, -1, 2, -1]])
    mask = np.array([[True, True, True, False], [True, True, True, False]])
    target, valid = focal_targets(truth, mask, np.array([0, 1]))
    assert target.tolist() == [[1, 0, 1, 0], [0, 0, 0, 0]]
    # focal itself excluded; a focal without truth makes its whole row invalid
    assert valid.tolist() == [[False, True, True, False], [False, False, False, False]]


def test_gamma_seeds_one_per_true_cluster():
    off = np.array([0, 4, 6])
    p = pad_hits(off)
    energy = np.array([1.0, 5.0, 2.0, 2.0, 0.3, 0.7])
    truth = np.array([0, 1, 0, 0, 2, -1])
    rows, pos, prim = gamma_seeds(p, energy, truth)
    # event 0: primary 1 seed hit 1 (5 MeV), primary 0 seed hit 2 (2 MeV, tie with hit 3);
    # event 1: primary 2 seed hit 0 (the other hit has no truth)
    assert rows.tolist() == [0, 0, 1]
    assert pos.tolist() == [1, 2, 0]
    assert prim.tolist() == [1, 0, 2]


# ------------------------------------------------------------------------------ peeling


class _TableScorer:
    """Probabilities from a fixed per-event table prob[row][focal][hit]; counts its calls."""

    def __init__(self, table):
        self.table = table
        self.calls = 0

    def __call__(self, rows, focal, available):
        self.calls += 1
        n = available.shape[1]
        out = np.zeros((rows.size, n))
        for i, (r, f) in enumerate(zip(rows, focal, strict=True)):
            t = np.asarray(self.table[r][f], dtype=float)
            out[i, : t.size] = t
        return out


def test_peeling_hand_made_events():
    # event 0: two gammas {1, 3} (3 and 2 MeV) and {0, 2}; event 1: hit 2 claimed by both
    # focals, the first (more energetic) keeps it; event 2: nothing belongs together
    energy = np.array([[1.0, 3.0, 0.5, 2.0], [5.0, 4.0, 1.0, 0.0], [1.0, 3.0, 2.0, 0.0]])
    mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 1, 0]], dtype=bool)
    same0 = np.array([0, 1, 0, 1])
    table = [
        {f: (same0 == same0[f]).astype(float) for f in range(4)},
        {0: [1, 0, 0.9], 1: [0, 1, 0.8], 2: [0, 0, 1]},
        {f: np.eye(3)[f] * 0.2 for f in range(3)},
    ]
    scorer = _TableScorer(table)
    labels = peel(energy, mask, scorer, threshold=0.5)
    assert labels.tolist() == [[1, 0, 1, 0], [0, 1, 0, -1], [2, 0, 1, -1]]
    assert scorer.calls == 3  # one batched call per round, not one per event


def test_peeling_threshold_inclusive_and_max_rounds():
    energy = np.array([[2.0, 1.0, 0.5]])
    mask = np.ones((1, 3), dtype=bool)
    table = [{0: [1, 0.5, 0.49], 1: [0, 1, 0], 2: [0, 0, 1]}]
    assert peel(energy, mask, _TableScorer(table), 0.5).tolist() == [[0, 0, 1]]
    assert peel(energy, mask, _TableScorer(table), 0.5, max_rounds=1).tolist() == [[0, 0, -1]]
    with pytest.raises(ValueError, match="scorer"):
        peel(energy, mask, lambda r, f, a: np.zeros((1, 2)), 0.5)


# ------------------------------------------------------------------------------ metrics


def test_hit_metrics_against_hand_computation():
    y = np.array([1, 1, 0, 0, 1])
    pred = np.array([1, 0, 1, 0, 1])
    e = np.array([2.0, 1.0, 1.0, 3.0, 4.0])
    m = hit_metrics(y, pred, e, np.zeros(5, dtype=int))
    raw, w = m["raw"], m["energy_weighted"]
    assert (raw["tp"], raw["fp"], raw["fn"], raw["tn"]) == (2, 1, 1, 1)
    assert raw["accuracy"] == pytest.approx(3 / 5)
    assert raw["precision"] == pytest.approx(2 / 3)
    assert raw["recall"] == pytest.approx(2 / 3)
    assert raw["f1"] == pytest.approx(4 / 6)
    assert w["accuracy"] == pytest.approx(9 / 11)
    assert w["precision"] == pytest.approx(6 / 7)
    assert w["recall"] == pytest.approx(6 / 7)
    assert w["f1"] == pytest.approx(12 / 14)
    assert m["positive_fraction"] == pytest.approx(3 / 5)
    assert m["positive_energy_fraction"] == pytest.approx(7 / 11)


def test_bootstrap_intervals_resample_events():
    rng = np.random.default_rng(3)
    # one event: resampling it gives the same numbers, so the interval collapses
    y, pred = np.array([1, 0, 1, 1]), np.array([1, 0, 0, 1])
    m = hit_metrics(y, pred, np.ones(4), np.zeros(4), rng, 200)
    assert m["raw"]["f1_ci"] == pytest.approx([m["raw"]["f1"]] * 2)
    # two events, one perfect and one all wrong: the interval spans 0 .. 1
    y2, p2 = np.array([1, 1, 0, 0]), np.array([1, 1, 1, 1])
    ev = np.array([0, 0, 1, 1])
    m2 = hit_metrics(y2, p2, np.ones(4), ev, rng, 400)
    lo, hi = m2["raw"]["accuracy_ci"]
    assert lo == pytest.approx(0.0) and hi == pytest.approx(1.0)


def test_rates_conventions():
    r = rates(np.array([0.0, 0.0, 0.0, 5.0]))
    assert r["precision"] == 0 and r["recall"] == 0 and r["f1"] == 0 and r["accuracy"] == 1


def test_majority_baseline_by_hand():
    y = np.array([1, 0, 0, 1, 1, 0, 1])
    e = np.array([5.0, 1.0, 1.0, 1.0, 1.0, 10.0, 1.0])
    s = np.array([0, 0, 0, 1, 1, 1, 1])
    m = majority_baseline(y, e, s)
    # sample 0 calls negative (1 of 3 positive), sample 1 positive (3 of 4)
    assert m["raw"]["accuracy"] == pytest.approx(5 / 7)
    assert m["raw"]["accuracy_per_sample_mean"] == pytest.approx((2 / 3 + 3 / 4) / 2)
    # by energy: sample 0 positive (5 of 7 MeV), sample 1 negative (10 of 13 MeV)
    assert m["energy_weighted"]["accuracy"] == pytest.approx(15 / 20)
    # raw majority predictions: [0,0,0,1,1,1,1] -> TP 3, FP 1, FN 1
    assert m["raw"]["f1"] == pytest.approx(6 / 8)
    assert m["n_samples"] == 2


def test_smart_random_expected_and_draw():
    ex = smart_random_expected(0.2, 0.5)
    assert ex["raw"]["f1"] == pytest.approx(0.2)
    assert ex["raw"]["accuracy"] == pytest.approx(0.04 + 0.64)
    assert ex["energy_weighted"]["precision"] == pytest.approx(0.5)
    assert ex["energy_weighted"]["f1"] == pytest.approx(2 * 0.2 * 0.5 / 0.7)
    # a draw on many hits lands on the expectation; seeded, hence reproducible
    rng = np.random.default_rng(11)
    n = 200_000
    y = (rng.random(n) < 0.2).astype(int)
    e = np.where(y == 1, 4.0, 1.0)  # energy fraction of positives = 0.8 / (0.8 + 0.8) = 0.5
    d1 = smart_random_draw(n, 0.2, np.random.default_rng(5))
    d2 = smart_random_draw(n, 0.2, np.random.default_rng(5))
    np.testing.assert_array_equal(d1, d2)
    m = hit_metrics(y, d1, e, np.arange(n))
    assert m["raw"]["f1"] == pytest.approx(0.2, abs=0.006)
    pe = m["positive_energy_fraction"]
    assert m["energy_weighted"]["f1"] == pytest.approx(2 * 0.2 * pe / (0.2 + pe), abs=0.006)
    with pytest.raises(ValueError, match="p"):
        smart_random_expected(1.5)


def test_energy_binned_splits_samples():
    y = np.array([1, 0, 1, 0])
    pred = np.array([1, 0, 0, 0])
    e = np.ones(4)
    s = np.array([0, 0, 1, 1])
    g = np.array([0.5, 0.5, 5.0, 5.0])
    bins = energy_binned(y, pred, e, s, g, [0.3, 1.0, 2.0, 10.0])
    assert [b["e_lo"] for b in bins] == [0.3, 2.0]  # the empty 1-2 MeV bin is left out
    assert bins[0]["raw"]["f1"] == pytest.approx(1.0)
    assert bins[1]["raw"]["f1"] == pytest.approx(0.0)
    assert bins[1]["smart_random"]["raw"]["f1"] == pytest.approx(0.5)
    assert bins[1]["majority"]["raw"]["accuracy"] == pytest.approx(0.5)


# ------------------------------------------------------------------------------ matching


def test_hungarian_recovers_a_known_permutation():
    rng = np.random.default_rng(0)
    perm = np.array([3, 0, 4, 1])  # cluster m belongs to slot perm[m]
    cost = rng.uniform(1.0, 2.0, (5, 4))
    cost[perm, np.arange(4)] = 0.1
    assert hungarian(cost).tolist() == perm.tolist()
    batch = np.stack([cost, cost[::-1]])
    out = match_slots(batch)
    assert out[0].tolist() == perm.tolist()
    assert out[1].tolist() == (4 - perm).tolist()


def test_match_slots_optimal_like_scipy_and_padding():
    rng = np.random.default_rng(1)
    for k, m in ((4, 3), (6, 6), (8, 5)):  # brute force and scipy paths
        cost = rng.normal(size=(50, k, m))
        got = match_slots(cost)
        for b in range(50):
            r, c = linear_sum_assignment(cost[b])
            assert cost[b, got[b], np.arange(m)].sum() == pytest.approx(cost[b][r, c].sum())
            assert len(set(got[b].tolist())) == m
    cost = rng.normal(size=(2, 4, 3))
    valid = np.array([[True, False, True], [True, True, True]])
    got = match_slots(cost, valid)
    assert got[0, 1] == -1
    best = min(
        (cost[0, a, 0] + cost[0, c, 2], (a, c)) for a, c in itertools.permutations(range(4), 2)
    )[1]
    assert (got[0, 0], got[0, 2]) == best
    with pytest.raises(ValueError, match="n_slots"):
        match_slots(np.zeros((1, 2, 3)))
