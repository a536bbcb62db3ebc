"""coral's one- and two-shower Lednev fit: noiseless showers, local maxima, the splitting rules."""

from __future__ import annotations

import numpy as np
import pytest

from caloreco.regression.lednev import lednev_window_fractions
from caloreco.regression.profile_fit import coral_cell_sigma
from caloreco.regression.two_photon import order_like_truth
from caloreco.regression.two_shower_fit import (
    apply_fit_calibration,
    fit_calibration,
    fit_estimates,
    fit_photons,
    fit_showers,
    local_maxima,
    two_shower_fit,
)

PITCH = 38.3


def _pairs(n: int, d_cells: tuple[float, float], rng: np.random.Generator):
    x1 = rng.uniform(3.5, 4.5, n) * PITCH
    y1 = rng.uniform(3.5, 4.5, n) * PITCH
    ang = rng.uniform(0, 2 * np.pi, n)
    d = rng.uniform(*d_cells, n) * PITCH
    x2, y2 = x1 + d * np.cos(ang), y1 + d * np.sin(ang)
    e1 = rng.uniform(30e3, 90e3, n)
    e2 = rng.uniform(15e3, 30e3, n)
    truth = np.column_stack([x1, y1, e1, x2, y2, e2])
    w = e1[:, None, None] * lednev_window_fractions(x1, y1, 9, PITCH)
    w += e2[:, None, None] * lednev_window_fractions(x2, y2, 9, PITCH)
    return w, truth


def test_two_noiseless_lednev_showers_are_recovered():
    w, truth = _pairs(60, (1.3, 3.0), np.random.default_rng(4))
    r = two_shower_fit(w, PITCH, longitudinal=False)
    assert np.all(r.n_showers == 2)
    ordered, _ = order_like_truth(r.two, truth)
    np.testing.assert_allclose(ordered[:, [0, 1, 3, 4]], truth[:, [0, 1, 3, 4]], atol=0.05)
    np.testing.assert_allclose(ordered[:, [2, 5]], truth[:, [2, 5]], rtol=1e-3)
    # a noiseless model has chi2 ~ 0, the one-shower hypothesis a large one
    assert np.all(r.chi2_two < 1e-2) and np.all(r.chi2_one > 100)
    # the more energetic shower first
    assert np.all(r.two[:, 2] >= r.two[:, 5])


def test_fit_showers_with_given_start_and_chi2_definition():
    w, truth = _pairs(20, (1.5, 2.5), np.random.default_rng(8))
    start = truth.reshape(-1, 2, 3) + np.array([3.0, -3.0, 2000.0])  # off by 3 mm, 2 GeV
    p, chi2, conv = fit_showers(w, PITCH, start)
    assert conv.all()
    np.testing.assert_allclose(p.reshape(-1, 6), truth, atol=0.05 * 1, rtol=1e-3)
    # chi2 uses coral's cell errors at the model: at the true parameters (no iteration) a
    # 1-sigma offset in one cell gives exactly 1; the fit then absorbs part of it
    bumped = w.copy()
    bumped[:, 4, 4] += coral_cell_sigma(w[:, 4, 4])
    _, chi2b, _ = fit_showers(bumped, PITCH, truth.reshape(-1, 2, 3), n_iter=0)
    np.testing.assert_allclose(chi2b, 1.0, rtol=1e-6)
    _, chi2f, _ = fit_showers(bumped, PITCH, truth.reshape(-1, 2, 3))
    assert np.all(chi2f < chi2b)


def test_single_noiseless_shower_stays_one():
    rng = np.random.default_rng(2)
    n = 30
    x, y = rng.uniform(3.5, 4.5, n) * PITCH, rng.uniform(3.5, 4.5, n) * PITCH
    e = rng.uniform(20e3, 150e3, n)
    w = e[:, None, None] * lednev_window_fractions(x, y, 9, PITCH)
    r = two_shower_fit(w, PITCH, longitudinal=False)
    assert np.all(r.n_showers == 1) and not r.tried.any()
    np.testing.assert_allclose(r.one[:, :2], np.column_stack([x, y]), atol=0.05)
    np.testing.assert_allclose(r.one[:, 2], e, rtol=1e-3)
    # coral's reading on every event: the one shower as a degenerate pair
    pairs = fit_photons(r)
    np.testing.assert_allclose(pairs[:, 2] + pairs[:, 5], r.one[:, 2])


def test_splitting_rules():
    w, truth = _pairs(20, (1.5, 2.5), np.random.default_rng(6))
    # d12 = 2 sqrt(E1 E2) d / (E1 + E2) is 40-80 mm here: a 1 m discut merges every pair ...
    r = two_shower_fit(w, PITCH, discut_mm=1000.0, longitudinal=False)
    assert np.all(r.n_showers == 1)
    # ... unless coral's merge step is off: delta chi2 > 10 keeps the second shower
    r = two_shower_fit(w, PITCH, discut_mm=1000.0, merge_below_discut=False, longitudinal=False)
    assert np.all(r.n_showers == 2)
    # the chi2 gain must pass dchi2_strong when d12 fails discut
    r = two_shower_fit(
        w,
        PITCH,
        discut_mm=1000.0,
        merge_below_discut=False,
        dchi2_strong=1e12,
        longitudinal=False,
    )
    assert np.all(r.n_showers == 1)
    # a second shower below egcut is dropped
    r = two_shower_fit(w, PITCH, egcut_mev=50e3, longitudinal=False)
    assert np.all(r.n_showers[truth[:, 5] < 50e3] == 1)
    # the d12 of the result is coral's formula
    d = np.hypot(r.two[:, 0] - r.two[:, 3], r.two[:, 1] - r.two[:, 4])
    e1, e2 = r.two[:, 2], r.two[:, 5]
    np.testing.assert_allclose(r.d12_mm, 2 * np.sqrt(e1 * e2) * d / (e1 + e2), rtol=1e-9)


def test_local_maxima_by_hand():
    w = np.zeros((2, 5, 5))
    w[0, 1, 1], w[0, 3, 3], w[0, 1, 3] = 5000.0, 3000.0, 200.0  # third below threshold
    w[0, 2, 2] = 1000.0
    w[1, 2, 2], w[1, 2, 3] = 4000.0, 4000.0  # a tie: one maximum only
    row, col, count = local_maxima(w, 300.0, 2)
    assert count.tolist() == [2, 1]
    assert (row[0].tolist(), col[0].tolist()) == ([1, 3], [1, 3])
    assert (row[1, 0], col[1, 0], row[1, 1]) == (2, 2, -1)


def test_calibration_removes_a_known_shift_and_scale():
    rng = np.random.default_rng(3)
    n = 400
    truth = np.column_stack(
        [rng.uniform(100, 200, n), rng.uniform(100, 200, n), rng.uniform(20e3, 80e3, n)] * 2
    )
    origin = rng.uniform(-600, 600, (n, 2))
    # an estimator shifted by 4 mm per m of absolute position and 3 % low in energy
    est = truth.copy()
    for j in (0, 3):
        est[:, j : j + 2] += 4.0 * (truth[:, j : j + 2] + origin) / 1000.0
        est[:, j + 2] *= 0.97
    cal = fit_calibration(est, truth, origin)
    assert cal["energy_scale"] == pytest.approx(1 / 0.97, rel=1e-6)
    fixed = apply_fit_calibration(est, origin, cal)
    np.testing.assert_allclose(fixed, truth, atol=0.05, rtol=1e-6)


def test_fit_estimates_layout_and_bad_input():
    w, truth = _pairs(10, (1.5, 2.5), np.random.default_rng(1))
    test = {
        "windows": w,
        "origin_x_mm": np.zeros(10),
        "origin_y_mm": np.zeros(10),
        "pitch_mm": PITCH,
    }
    est = fit_estimates(test)
    assert set(est) == {"fit", "fit_forced", "local_maxima"}
    assert est["fit"]["photons"].shape == (10, 6) and est["fit"]["n_photons"].tolist() == [2] * 10
    with pytest.raises(ValueError, match="windows"):
        two_shower_fit(np.zeros((3, 9)), PITCH)
    with pytest.raises(ValueError, match="pitch_mm"):
        two_shower_fit(w, -1.0)
    with pytest.raises(ValueError, match="start"):
        fit_showers(w, PITCH, np.zeros((10, 3)))


def test_numba_and_numpy_engines_agree():
    rng = np.random.default_rng(12)
    w, truth = _pairs(40, (0.8, 3.0), rng)
    w = w + rng.normal(0, 1, w.shape) * coral_cell_sigma(w)  # noisy, so the fits iterate
    start = truth.reshape(-1, 2, 3) * np.array([1.0, 1.0, 0.8]) + np.array([6.0, -4.0, 0.0])
    a = fit_showers(w, PITCH, start, engine="numba")
    b = fit_showers(w, PITCH, start, engine="numpy")
    np.testing.assert_allclose(a[0], b[0], atol=1e-3, rtol=1e-5)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6)
    np.testing.assert_array_equal(a[2], b[2])
    with pytest.raises(ValueError, match="engine"):
        fit_showers(w, PITCH, start, engine="cuda")
