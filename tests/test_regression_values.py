"""Classical ECAL estimators on inputs whose answer is known by hand: log-weighted CoG weights,
S-curve map, GFlash containment, energy calibration, coral's cell error, depth correction,
and the windows of a cluster table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.isotonic import IsotonicRegression

from caloreco.events import RawEvents
from caloreco.geometry import califa_geometry, ecal_geometry
from caloreco.regression.depth import apply_depth_correction, fit_depth_correction
from caloreco.regression.energy import (
    apply_energy_calibration,
    energy_estimate,
    fit_energy_calibration,
    gflash_mean_profile,
    longitudinal_containment,
    window_containment,
)
from caloreco.regression.lednev import LEDNEV_A, LEDNEV_B, lednev_window_fractions
from caloreco.regression.log_cog import _isotonic, apply_s_curve, fit_s_curve, log_cog
from caloreco.regression.profile_fit import coral_cell_sigma, profile_fit
from caloreco.regression.windows import cluster_windows

PITCH = 38.3


# ----------------------------------------------------------------------------- log CoG


def test_log_cog_weights_by_hand():
    w = np.zeros((1, 5, 5))
    w[0, 2, 2], w[0, 2, 3], w[0, 1, 2], w[0, 0, 0] = 100.0, 50.0, 20.0, 1.0
    total = 171.0
    # w_i = max(0, 4 + ln(E_i / E_sum)): the 1 MeV cell (ln(1/171) = -5.14) gets none
    wt = {(2, 2): 4 + math.log(100 / total), (2, 3): 4 + math.log(50 / total)}
    wt[(1, 2)] = 4 + math.log(20 / total)
    norm = sum(wt.values())
    x = sum(v * c for (r, c), v in wt.items()) * PITCH / norm
    y = sum(v * r for (r, c), v in wt.items()) * PITCH / norm
    assert log_cog(w, PITCH).tolist() == [pytest.approx([x, y], rel=1e-12)]
    # w0 = 6: the 1 MeV cell enters with 6 - 5.14
    wt6 = {k: v + 2 for k, v in wt.items()} | {(0, 0): 6 + math.log(1 / total)}
    n6 = sum(wt6.values())
    x6 = sum(v * c for (r, c), v in wt6.items()) * PITCH / n6
    y6 = sum(v * r for (r, c), v in wt6.items()) * PITCH / n6
    assert log_cog(w, PITCH, w0=6.0)[0] == pytest.approx([x6, y6], rel=1e-12)


def test_log_cog_linear_fallback_negative_cells_and_empty_windows():
    w = np.zeros((3, 3, 3))
    # 9 cells of one energy and w0 = 2: 2 + ln(1/9) < 0 for all, so the linear CoG is used;
    # a negative cell (noise) takes no part
    w[0] = [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 4.0]]
    w[0, 0, 0] = -1.0
    lin = np.clip(w[0], 0, None)
    x = (lin.sum(axis=0) * np.arange(3)).sum() * PITCH / lin.sum()
    y = (lin.sum(axis=1) * np.arange(3)).sum() * PITCH / lin.sum()
    w[1, 1, 2] = 5.0  # a single cell: exactly its centre
    out = log_cog(w, PITCH, w0=0.5)  # E_sum 10 (with the -1): 0.5 + ln(4/10) < 0
    assert out[0] == pytest.approx([x, y], rel=1e-12)
    assert out[1].tolist() == [2 * PITCH, PITCH]
    assert np.isnan(out[2]).all()  # empty window
    with pytest.raises(ValueError, match="w0"):
        log_cog(w, PITCH, w0=0.0)
    with pytest.raises(ValueError, match="pitch"):
        log_cog(w, 0.0)
    with pytest.raises(ValueError, match="windows"):
        log_cog(np.zeros((3, 3)), PITCH)


# ----------------------------------------------------------------------------- S-curve


def test_s_curve_of_a_known_bias_is_removed():
    rng = np.random.default_rng(1)
    truth = rng.uniform(1.5, 2.5, (4000, 2)) * PITCH
    u = truth / PITCH - np.round(truth / PITCH)
    # a CoG pulled towards the cell centre by 30 % of its in-cell offset (an S-curve)
    cog = truth - 0.3 * u * PITCH
    params = fit_s_curve(cog, truth, PITCH, n_energy_bins=1, n_u_bins=32)
    assert params["pitch_mm"] == PITCH
    assert len(params["u_nodes"]) == 34 and params["u_nodes"][0] == -0.5
    assert params["u_nodes"][-1] == 0.5
    v = np.array(params["v_nodes"])
    assert v.shape == (1, 2, 34)
    assert np.all(np.diff(v, axis=-1) >= 0)  # monotone
    fixed = apply_s_curve(cog, params)
    assert fixed.shape == cog.shape
    # exact but for the extrapolated end nodes at the edge of the populated range
    assert np.abs(fixed - truth).max() < 0.02 * PITCH
    assert np.sqrt(np.mean((fixed - truth) ** 2)) < 0.003 * PITCH
    assert np.abs(cog - truth).max() > 0.1 * PITCH
    # an unbiased CoG maps (nearly) onto itself; a constant shift is learnt as such
    same = apply_s_curve(truth, fit_s_curve(truth, truth, PITCH, n_u_bins=16))
    assert np.abs(same - truth).max() < 0.01 * PITCH
    shifted = truth + 2.0
    back = apply_s_curve(shifted, fit_s_curve(shifted, truth, PITCH, n_u_bins=16))
    inner = np.all(np.abs(u) < 0.4, axis=1)
    assert np.abs(back - truth)[inner].max() < 0.1
    # 1-d input keeps its shape
    assert apply_s_curve(cog[:, 0], fit_s_curve(cog[:, 0], truth[:, 0], PITCH)).shape == (4000,)


def test_s_curve_energy_bins_keep_their_own_maps():
    rng = np.random.default_rng(2)
    n = 6000
    truth = rng.uniform(1.5, 2.5, n) * PITCH
    e = np.exp(rng.uniform(np.log(2e3), np.log(2e5), n))  # median 20 GeV
    u = truth / PITCH - np.round(truth / PITCH)
    # energies below the median biased by 40 % of the offset, those above not at all
    low = e < np.median(e)
    cog = np.where(low, truth - 0.4 * u * PITCH, truth)
    params = fit_s_curve(cog, truth, PITCH, energy_mev=e, n_energy_bins=2, n_u_bins=32)
    assert len(params["log_e_edges"]) == 3
    assert params["log_e_edges"][0] == -np.inf and params["log_e_edges"][-1] == np.inf
    fixed = apply_s_curve(cog, params, e)
    assert np.sqrt(np.mean((fixed - truth) ** 2)) < 0.005 * PITCH
    # the wrong bin's map does not correct: energies swapped leave a large error
    swapped = apply_s_curve(cog, params, np.where(low, 1e5, 5e3))
    assert np.abs(swapped - truth).max() > 0.1 * PITCH
    with pytest.raises(ValueError, match="energy_mev: this S-curve map is binned in energy"):
        apply_s_curve(cog, params)
    with pytest.raises(ValueError, match="energy_mev"):
        fit_s_curve(cog, truth, PITCH, energy_mev=e[:10])
    with pytest.raises(ValueError, match="x_true"):
        fit_s_curve(cog, truth[:10], PITCH)
    with pytest.raises(ValueError, match="at least 32"):
        fit_s_curve(cog[:10], truth[:10], PITCH)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_isotonic_equals_scikit_learns_weighted_pool_adjacent_violators(seed):
    rng = np.random.default_rng(seed)
    n = 40
    # a rising trend with noise: many violators, pooled blocks of several lengths
    y = np.linspace(-0.5, 0.5, n) + rng.normal(0, 0.15, n)
    w = rng.uniform(0.5, 20.0, n)
    ref = IsotonicRegression(increasing=True).fit_transform(np.arange(n), y, sample_weight=w)
    got = _isotonic(y, w)
    assert got.shape == (n,)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    assert np.any(np.diff(y) < 0) and np.all(np.diff(got) >= -1e-15)


def test_isotonic_by_hand():
    # monotone input is returned unchanged
    np.testing.assert_array_equal(_isotonic(np.array([1.0, 2.0, 3.0]), np.ones(3)), [1, 2, 3])
    # one violator pooled with its neighbour by weight: (3*1 + 1*3) / 4 = 1.5
    np.testing.assert_allclose(
        _isotonic(np.array([0.0, 3.0, 1.0, 4.0]), np.array([1.0, 1.0, 3.0, 1.0])),
        [0.0, 1.5, 1.5, 4.0],
    )
    # a late low value pools back across the earlier blocks, one at a time: (3 + 0) / 3 = 1,
    # then 2 > 1 pools (2 + 3) / 4 = 1.25, and 1 < 1.25 stops
    np.testing.assert_allclose(
        _isotonic(np.array([1.0, 2.0, 3.0, 0.0]), np.array([4.0, 1.0, 1.0, 2.0])),
        [1.0, 1.25, 1.25, 1.25],
    )
    # with a heavy last point it pools all the way back: (1 + 2 + 3 + 0 * 5) / 8 = 0.75
    np.testing.assert_allclose(
        _isotonic(np.array([1.0, 2.0, 3.0, 0.0]), np.array([1.0, 1.0, 1.0, 5.0])),
        [0.75, 0.75, 0.75, 0.75],
    )


def test_s_curve_with_sparse_bins_interpolates_or_falls_back_to_identity():
    rng = np.random.default_rng(5)
    # every point in two u bins only (u = -0.2 and +0.2 of 4 bins), v = 0.5 u: the two good
    # bins are interpolated (and extrapolated) linearly across the cell
    cell = rng.integers(1, 4, 200).astype(np.float64)
    u = np.where(rng.random(200) < 0.5, -0.2, 0.2)
    params = fit_s_curve((cell + u) * PITCH, (cell + 0.5 * u) * PITCH, PITCH, n_u_bins=4)
    v = np.array(params["v_nodes"])[0, 0]
    u_nodes = np.array(params["u_nodes"])
    np.testing.assert_allclose(u_nodes, [-0.5, -0.375, -0.125, 0.125, 0.375, 0.5])
    # bin means at u_mid -0.375..0.375 are the linear map through (-0.2,-0.1), (0.2, 0.1)
    # evaluated with np.interp, i.e. clamped outside [-0.125, 0.125]: -0.125+(-0.1+0.125)...
    d_good = np.array([-0.1 - -0.125, 0.1 - 0.125])  # mean v minus bin centre, bins 1 and 2
    d = np.interp([-0.375, -0.125, 0.125, 0.375], [-0.125, 0.125], d_good)
    m = np.array([-0.375, -0.125, 0.125, 0.375]) + d
    lo = m[0] - (m[1] - m[0]) * (-0.375 + 0.5) / 0.25
    hi = m[-1] + (m[-1] - m[-2]) * (0.5 - 0.375) / 0.25
    np.testing.assert_allclose(v, [lo, *m, hi], atol=1e-12)
    # with min_entries above every bin's count no bin is good: the identity map
    ident = fit_s_curve(
        (cell + u) * PITCH, (cell + 0.5 * u) * PITCH, PITCH, n_u_bins=4, min_entries=10_000
    )
    np.testing.assert_allclose(np.array(ident["v_nodes"])[0, 0], u_nodes, atol=1e-12)
    # one good bin is not enough for a slope: identity too
    one = np.full(200, 0.2)
    ident1 = fit_s_curve((cell + one) * PITCH, (cell + 0.5 * one) * PITCH, PITCH, n_u_bins=4)
    np.testing.assert_allclose(np.array(ident1["v_nodes"])[0, 0], u_nodes, atol=1e-12)


# ----------------------------------------------------------------------------- energy


def gflash_hand(e_mev, z=70.0, ec=9.6, fs=6.8, e_hat=0.645):
    """Grindhammer-Peters mean profile with the sampling corrections (physics.md 1)."""
    ln_y = math.log(max(e_mev / ec, 3.0))
    t = max(ln_y - 0.812 - 0.55 / fs - 0.69 * (1 - e_hat), 1.0)
    a = max(0.81 + (0.458 + 2.26 / z) * ln_y - 0.476 / fs, 1.1)
    return a, (a - 1) / t


@pytest.mark.parametrize("e_mev", [2e3, 50e3, 200e3])
def test_gflash_profile_and_containment_by_hand(e_mev):
    alpha, beta = gflash_mean_profile(np.array([e_mev]))
    a, b = gflash_hand(e_mev)
    assert alpha[0] == pytest.approx(a, rel=1e-12) and beta[0] == pytest.approx(b, rel=1e-12)
    # containment in 22.5 X0 is the Gamma(alpha, 1/beta) CDF there (a reference implementation)
    ref = stats.gamma.cdf(22.5, a, scale=1 / b)
    assert longitudinal_containment(np.array([e_mev]))[0] == pytest.approx(ref, rel=1e-10)
    assert longitudinal_containment(np.array([e_mev]), 15.0)[0] == pytest.approx(
        stats.gamma.cdf(15.0, a, scale=1 / b), rel=1e-10
    )


def test_gflash_material_overrides_and_clamps():
    a, b = gflash_hand(10e3, z=20.0, ec=20.0, fs=5.0, e_hat=0.8)
    alpha, beta = gflash_mean_profile(
        np.array([10e3]), z_eff=20.0, critical_energy_mev=20.0, fs=5.0, e_hat=0.8
    )
    assert (alpha[0], beta[0]) == (pytest.approx(a, rel=1e-12), pytest.approx(b, rel=1e-12))
    # at the critical energy: y clamped at 3, T at 1
    a0, b0 = gflash_hand(5.0)
    alpha0, beta0 = gflash_mean_profile(np.array([5.0]))
    assert (alpha0[0], beta0[0]) == (pytest.approx(a0), pytest.approx(b0))
    assert beta0[0] == pytest.approx(alpha0[0] - 1.0)  # T_max = 1
    c = longitudinal_containment(np.array([10e3]), z_eff=20.0, critical_energy_mev=20.0)
    aa, bb = gflash_hand(10e3, z=20.0, ec=20.0)
    assert c[0] == pytest.approx(stats.gamma.cdf(22.5, aa, scale=1 / bb), rel=1e-10)
    with pytest.raises(ValueError, match="depth_x0"):
        longitudinal_containment(np.array([1e3]), depth_x0=0.0)


def test_energy_estimate_undoes_both_containments():
    x = np.array([2.0, 2.3, 1.6]) * PITCH
    y = np.array([2.0, 1.8, 2.4]) * PITCH
    e = np.array([3e3, 40e3, 150e3])
    frac = lednev_window_fractions(x, y, 5, PITCH)
    assert window_containment(x, y, 5, PITCH) == pytest.approx(frac.sum(axis=(1, 2)))
    w = frac * e[:, None, None]
    # transverse only: exact
    assert energy_estimate(w, x, y, PITCH, longitudinal=False) == pytest.approx(e, rel=1e-9)
    # with the longitudinal leakage of the mean profile: 3 fixed-point rounds get E to 1e-6
    dep = w * longitudinal_containment(e)[:, None, None]
    assert energy_estimate(dep, x, y, PITCH) == pytest.approx(e, rel=1e-5)
    one = energy_estimate(dep, x, y, PITCH, n_iter=1)
    assert np.abs(one / e - 1).max() > 1e-5  # a single round is not yet there
    # a photon far outside the window: the containment is clamped at 5 %
    far = energy_estimate(w[:1], np.array([-400.0]), np.array([-400.0]), PITCH, False)
    assert far[0] == pytest.approx(w[0].sum() / 0.05)


def test_energy_calibration_exact_line_and_scale_only():
    e_true = np.linspace(2e3, 2e5, 50)
    raw = (e_true - 300.0) / 1.07
    cal = fit_energy_calibration(raw, e_true)
    assert cal["slope"] == pytest.approx(1.07, rel=1e-9)
    assert cal["offset_mev"] == pytest.approx(300.0, rel=1e-6)
    assert cal["n"] == 50
    assert apply_energy_calibration(raw, cal) == pytest.approx(e_true, rel=1e-9)
    # a spread of 1 % (< 2 %) is mono-energetic: scale only
    mono = np.linspace(99e3, 101e3, 40)
    cal1 = fit_energy_calibration(mono / 1.05, mono)
    assert cal1 == {"slope": pytest.approx(1.05, rel=1e-9), "offset_mev": 0.0, "n": 40}
    # min_spread decides: the same sample with min_spread 0.005 gets a free offset
    cal2 = fit_energy_calibration(mono / 1.05, mono, min_spread=0.005)
    assert cal2["offset_mev"] == pytest.approx(0.0, abs=1e-3) and cal2["n"] == 40
    # outliers beyond n_clip robust sigmas are dropped
    noisy = raw * (1 + 0.01 * np.sin(np.arange(50)))
    noisy[:3] *= 0.5
    cal3 = fit_energy_calibration(noisy, e_true)
    assert cal3["n"] == 47
    assert fit_energy_calibration(noisy, e_true, n_clip=100.0)["n"] == 50
    # a beam sample with 2 of 12 windows at double the raw energy (merged clusters): the first
    # slope (14/18) leaves the doubled ones 0.78 off against a MAD of 0, so they are clipped and
    # the refit on the remaining 10 (exactly the minimum) finds the true scale
    beam = np.full(12, 100e3)
    merged = np.r_[np.full(10, 100e3), np.full(2, 200e3)]
    assert fit_energy_calibration(merged, beam) == {"slope": 1.0, "offset_mev": 0.0, "n": 10}
    # clipping never leaves fewer than 10 windows: with 3 of 12 doubled it stops at the first fit
    few = np.r_[np.full(9, 100e3), np.full(3, 200e3)]
    stop = fit_energy_calibration(few, beam)
    assert stop["n"] == 12 and stop["slope"] == pytest.approx(15 / 21, rel=1e-12)
    # zero raw energies are never fitted, not even in the first round, nor later when the line
    # passes through them (E_raw = 0 at E_true = offset would have a zero residual)
    on_line = fit_energy_calibration(np.r_[raw, np.zeros(5)], np.r_[e_true, np.full(5, 300.0)])
    assert on_line["n"] == 50 and on_line["offset_mev"] == pytest.approx(300.0, rel=1e-6)
    zeros = np.r_[raw, np.zeros(5)]
    first = fit_energy_calibration(zeros, np.r_[e_true, np.full(5, 1e4)], max_iter=1)
    assert first["n"] == 50 and first["slope"] == pytest.approx(1.07, rel=1e-9)
    with pytest.raises(ValueError, match="10 positive"):
        fit_energy_calibration(raw[:9], e_true[:9])
    with pytest.raises(ValueError, match="e_raw, e_true"):
        fit_energy_calibration(raw, e_true[:10])


# ----------------------------------------------------------------------------- profile fit


def test_coral_cell_sigma_by_hand():
    # 10 GeV: 0.15^2 * 10 + 0.15^2 + 0.05^2 = 0.25 GeV^2 -> 500 MeV; 0 (and below): 50 MeV
    got = coral_cell_sigma(np.array([10e3, 0.0, -5.0, 1e3]))
    one = 1000 * math.sqrt(0.15**2 * 1 + 0.015**2 + 0.05**2)
    assert got == pytest.approx([500.0, 50.0, 50.0, one], rel=1e-12)


def test_profile_fit_options_on_noiseless_showers():
    rng = np.random.default_rng(7)
    n = 40
    x, y = rng.uniform(1.5, 2.5, (2, n)) * PITCH
    e = rng.uniform(5e3, 1e5, n)
    w = lednev_window_fractions(x, y, 5, PITCH) * e[:, None, None]
    r = profile_fit(w, PITCH, longitudinal=False)
    assert r.params[:, :2] == pytest.approx(np.column_stack([x, y]), abs=0.02)
    assert r.params[:, 2] == pytest.approx(e, rel=1e-4)
    assert r.converged.all() and (r.iterations >= 1).all() and (r.iterations <= 30).all()
    # measured-value errors, a given start and small blocks find the same minimum
    rm = profile_fit(w, PITCH, longitudinal=False, errors="measured")
    assert rm.params == pytest.approx(r.params, rel=1e-4, abs=0.02)
    start = np.column_stack([x + 5.0, y - 5.0, 0.8 * e])
    rs = profile_fit(w, PITCH, start=start, longitudinal=False, block=7)
    assert rs.params == pytest.approx(r.params, rel=1e-4, abs=0.02)
    # the chi2 is that of the model at the fitted point with the model's cell errors
    mu = r.params[:, 2:3] * lednev_window_fractions(
        r.params[:, 0], r.params[:, 1], 5, PITCH
    ).reshape(n, -1)
    chi2 = (((w.reshape(n, -1) - mu) / coral_cell_sigma(mu)) ** 2).sum(axis=1)
    assert r.chi2 == pytest.approx(chi2, rel=1e-6, abs=1e-12)
    # with the longitudinal correction the energy is amplitude / containment(E)
    rl = profile_fit(w, PITCH)
    c = longitudinal_containment(rl.params[:, 2])
    assert rl.params[:, 2] * c == pytest.approx(r.params[:, 2], rel=1e-4)
    # one iteration from a far start does not converge
    r1 = profile_fit(w, PITCH, start=start, n_iter=1, longitudinal=False)
    assert not r1.converged.any() and (r1.iterations == 1).all()
    with pytest.raises(ValueError, match="errors"):
        profile_fit(w, PITCH, errors="poisson")


def test_profile_fit_recovers_from_a_singular_first_step():
    # a start at E = 0 has no position gradient (J_x = J_y = 0): the normal matrix is singular,
    # the step falls back to the pseudo-inverse, and the fit still finds the photon
    t = np.array([[2 * PITCH + 5.0, 2 * PITCH - 7.0]])
    w = 5e4 * lednev_window_fractions(t[:, 0], t[:, 1], 5, PITCH)
    r = profile_fit(w, PITCH, start=np.array([[2 * PITCH, 2 * PITCH, 0.0]]), longitudinal=False)
    assert r.converged.all()
    assert r.params[0] == pytest.approx([t[0, 0], t[0, 1], 5e4], rel=1e-6)


# ----------------------------------------------------------------------------- depth


def test_depth_correction_exact_coefficients():
    rng = np.random.default_rng(3)
    n = 200
    true = rng.uniform(-900, 900, (n, 2))
    e = rng.uniform(2e3, 2e5, n)
    shift = (2.5 + 0.7 * np.log(e / 1000.0))[:, None] * true / 1000.0  # mm
    est = true + shift
    corr = fit_depth_correction(est, true, true, e)
    assert corr["c0_mm_per_m"] == pytest.approx(2.5, rel=1e-9)
    assert corr["c1_mm_per_m"] == pytest.approx(0.7, rel=1e-9)
    assert corr["n"] == 2 * n  # x and y pooled
    assert apply_depth_correction(est, true, e, corr) == pytest.approx(true, abs=1e-9)
    # energies below 1 MeV are clamped there (ln(1 MeV / GeV))
    low = apply_depth_correction(np.zeros((1, 2)), np.array([[1000.0, 0.0]]), [0.1], corr)
    assert low[0] == pytest.approx([-(2.5 + 0.7 * math.log(1e-3)), 0.0])
    # outliers are clipped away at n_clip robust sigmas
    est2 = est + rng.normal(0, 0.3, est.shape)
    est2[:5] += 40.0
    c2 = fit_depth_correction(est2, true, true, e)
    assert c2["n"] == 2 * n - 10
    assert fit_depth_correction(est2, true, true, e, n_clip=1e6)["n"] == 2 * n
    with pytest.raises(ValueError, match="20 finite"):
        fit_depth_correction(est[:9], true[:9], true[:9], e[:9])


def test_depth_correction_clips_a_minority_that_pulls_the_first_fit():
    # 12 photons at X = Y = 1 m and 1 GeV (only c0 matters: ln(E/GeV) = 0), shifted by 2.5 mm;
    # two of them 40 mm further. The first fit (c0 = 2.5 + 160/24) leaves the 20 good
    # coordinates at one residual, so the robust sigma is 0 and the 4 outliers go
    true = np.zeros((12, 2))
    est = true + 2.5
    est[:2] += 40.0
    corr = fit_depth_correction(est, true, np.full((12, 2), 1000.0), np.full(12, 1000.0))
    assert corr["n"] == 20
    assert corr["c0_mm_per_m"] == pytest.approx(2.5, rel=1e-12)


# ----------------------------------------------------------------------------- cluster windows


def test_cluster_windows_targets_masks_and_split():
    geom = ecal_geometry()
    pitch = geom.pitch
    # event 5: two photons; event 8: one photon at the detector edge
    cells = [
        geom.cell_at(np.array([20]), np.array([30]))[0],
        geom.cell_at(np.array([10]), np.array([12]))[0],
    ]
    edge = geom.cell_at(np.array([0]), np.array([47]))[0]
    events = RawEvents(
        event=[5, 8],
        hit_offsets=[0, 2, 3],
        cell_id=[cells[0], cells[1], edge],
        cell_energy=[9000.0, 4000.0, 7000.0],
        cell_time=np.zeros(3),
        primary_offsets=[0, 2, 3],
        primary_energy=[10e3, 5e3, 8e3],
        primary_theta=[0.01, 0.02, 0.03],
        primary_phi=np.zeros(3),
        primary_time=np.zeros(3),
        primary_x=[geom.x[cells[0]] + 3.0, geom.x[cells[1]] - 4.0, geom.x[edge]],
        primary_y=[geom.y[cells[0]] - 2.0, geom.y[cells[1]] + 1.0, geom.y[edge]],
        truth_offsets=[0, 2, 3],
        truth_cell=[0, 1, 0],
        truth_primary=[0, 1, 0],
        truth_energy=[9000.0, 4000.0, 7000.0],
    )
    clusters = pd.DataFrame(
        {
            "event": [5, 5, 8, 5],
            "cluster": [0, 1, 0, 2],
            "seed_row": [20, 10, 0, 20],
            "seed_col": [30, 12, 47, 30],
            "primary": [0, 1, 0, -1],
            "purity": [0.99, 0.6, 1.0, 0.0],
            "energy": [9000.0, 4000.0, 7000.0, 50.0],
        }
    )
    out = cluster_windows(
        events, clusters, geom, 5, "centred", 0.9, np.random.default_rng(0), (0.6, 0.2, 0.2), 3
    )
    assert out["windows"].shape == (4, 5, 5) and out["windows"].dtype == np.float32
    # centred: the seed is the middle cell, its energy there
    assert out["windows"][0, 2, 2] == 9000.0 and out["windows"][1, 2, 2] == 4000.0
    assert out["windows"][0].sum() == 9000.0  # the other photon is far away
    # targets: true impact relative to the lower-left cell centre (2 cells below/left of seed)
    assert out["targets"][0] == pytest.approx([2 * pitch + 3.0, 2 * pitch - 2.0, 10e3])
    assert out["targets"][1] == pytest.approx([2 * pitch - 4.0, 2 * pitch + 1.0, 5e3])
    assert out["targets"][2] == pytest.approx([2 * pitch, 2 * pitch, 8e3])
    assert np.isnan(out["targets"][3]).all()  # no matched primary
    assert out["primary_theta"][:3] == pytest.approx([0.01, 0.02, 0.03])
    assert np.isnan(out["primary_theta"][3])
    assert out["outside"].tolist() == [False, False, True, False]
    # training windows: matched, purity >= 0.9 and inside the detector
    assert out["train_mask"].tolist() == [True, False, False, False]
    assert out["origin_row"].tolist() == [18, 8, -2, 18]
    assert out["origin_col"].tolist() == [28, 10, 45, 28]
    assert out["origin_x_mm"][0] == pytest.approx(geom.x[cells[0]] - 2 * pitch)
    assert out["origin_y_mm"][0] == pytest.approx(geom.y[cells[0]] - 2 * pitch)
    assert out["event"].tolist() == [5, 5, 8, 5] and out["cluster"].tolist() == [0, 1, 0, 2]
    assert out["primary"].tolist() == [0, 1, 0, -1]
    assert out["purity"].tolist() == [0.99, 0.6, 1.0, 0.0]
    assert out["cluster_energy"].tolist() == [9000.0, 4000.0, 7000.0, 50.0]
    assert float(out["pitch_mm"]) == pitch
    from caloreco.split import assign_split

    assert (
        out["split"].tolist() == assign_split(np.array([5, 5, 8, 5]), (0.6, 0.2, 0.2), 3).tolist()
    )
    # random placement keeps the seed's side neighbours inside (margin 1)
    rnd = cluster_windows(
        events, clusters, geom, 5, "random", 0.9, np.random.default_rng(1), (0.6, 0.2, 0.2), 3
    )
    # the seed's place in the window varies (centred would put all four at (2, 2))
    seeds = np.column_stack(
        [clusters["seed_row"] - rnd["origin_row"], clusters["seed_col"] - rnd["origin_col"]]
    )
    assert len({tuple(s) for s in seeds}) > 1
    row = 20 - rnd["origin_row"][0]
    col = 30 - rnd["origin_col"][0]
    assert 1 <= row <= 3 and 1 <= col <= 3
    assert rnd["windows"][0, row, col] == 9000.0
    assert rnd["targets"][0, :2] == pytest.approx(
        [
            geom.x[cells[0]] + 3.0 - rnd["origin_x_mm"][0],
            geom.y[cells[0]] - 2.0 - rnd["origin_y_mm"][0],
        ]
    )
    # the purity cut is inclusive; the window size is the one asked for; the file's dtypes
    # hold whatever the cluster table had
    typed = clusters.astype({"event": np.int32, "cluster": np.int64, "energy": np.float32})
    at_cut = cluster_windows(
        events, typed, geom, 3, "centred", 0.99, np.random.default_rng(0), (0.6, 0.2, 0.2), 3
    )
    assert at_cut["train_mask"].tolist() == [True, False, False, False]
    assert at_cut["windows"].shape == (4, 3, 3)
    assert at_cut["event"].dtype == np.int64 and at_cut["cluster"].dtype == np.int32
    assert at_cut["cluster_energy"].dtype == np.float64
    # an unmatched cluster in the chunk's last event (its primary offset is the last one)
    last = clusters.iloc[[2]].assign(primary=-1)
    lone = cluster_windows(
        events, last, geom, 5, "centred", 0.9, np.random.default_rng(0), (0.6, 0.2, 0.2), 3
    )
    assert np.isnan(lone["targets"]).all() and lone["train_mask"].tolist() == [False]
    with pytest.raises(ValueError, match=r"^windows need a planar detector, got 'califa'$"):
        cluster_windows(
            events, clusters, califa_geometry(), 5, "centred", 0.9, None, (0.6, 0.2, 0.2), 3
        )


def test_network_targets_and_outputs_carry_the_log_cog_reference():
    """The regressor learns the correction to the log-CoG: ``from_targets`` must add the
    reference back (a network that forgot it would be tens of mm off) and undo the energy
    normalisation; a zero correction is the log-CoG position itself."""
    from caloreco.regression.inputs import from_targets, network_inputs, training_targets

    w = np.zeros((2, 3, 3))
    w[0] = [[10.0, 40.0, 5.0], [60.0, 900.0, 120.0], [5.0, 30.0, 8.0]]
    w[1] = [[0.0, 0.0, 0.0], [0.0, 2000.0, 600.0], [0.0, 300.0, 100.0]]
    data = {
        "windows": w,
        "pitch_mm": PITCH,
        "targets": np.array([[40.0, 35.0, 1100.0], [50.0, 30.0, 3100.0]]),
        "origin_x_mm": np.array([-500.0, 700.0]),
        "origin_y_mm": np.array([100.0, -40.0]),
    }
    cog = log_cog(w, PITCH, 4.0)
    assert np.all(np.abs(cog - [[38.3, 38.3], [38.3, 38.3]]) < 20.0)  # near the central cell
    for inputs in ("raw", "normalised"):
        for ref in (False, True):
            t = training_targets(data, inputs, ref)
            np.testing.assert_allclose(t[:, :2], data["targets"][:, :2] - (cog if ref else 0.0))
            e = data["targets"][:, 2] / (
                w.reshape(2, -1).sum(axis=1) if inputs == "normalised" else 1
            )
            np.testing.assert_allclose(t[:, 2], e)
            np.testing.assert_allclose(from_targets(t, data, inputs, ref), data["targets"])
    zero = np.zeros((2, 3))
    np.testing.assert_allclose(from_targets(zero, data, "raw", True)[:, :2], cog)
    X, names = network_inputs(data, "normalised", True, True)
    assert names[-4:] == ["cog_x_cells", "cog_y_cells", "origin_x_m", "origin_y_m"]
    np.testing.assert_allclose(X[:, -4:-2], cog / PITCH)
    np.testing.assert_allclose(X[:, -2:], [[-0.5, 0.1], [0.7, -0.04]])
    np.testing.assert_allclose(X[:, :9].sum(axis=1), 1.0)
    np.testing.assert_allclose(X[:, 9], np.log([1178.0 / 1000.0, 3000.0 / 1000.0]))
    Xr, _ = network_inputs(data, "raw", False)
    np.testing.assert_allclose(Xr, w.reshape(2, -1) / 1000.0)
    with pytest.raises(ValueError, match="inputs"):
        network_inputs(data, "cells", False)


def _design(abs_xy, e_mev):
    """The depth regressors by hand: X / m and X / m * ln(E / GeV), per axis."""
    a = abs_xy / 1000.0
    le = np.log(e_mev / 1000.0)[:, None]
    return np.stack([a, a * le], axis=-1).reshape(-1, 2)


def test_depth_correction_drops_exactly_the_outliers_beyond_four_robust_sigmas():
    """Inliers with 0.3 mm noise, 20 gross outliers (+30 mm) and 10 moderate ones at 5.5 sigma
    (dropped at 4 sigma, kept by a looser cut): the fit must keep exactly the inliers and equal
    least squares on them; a NaN row is dropped alone; fewer than 20 positions is an error."""
    rng = np.random.default_rng(3)
    n = 400
    abs_xy = rng.uniform(-1000.0, 1000.0, (n, 2))
    # the gross outliers near the axis (no lever arm): the first fit is close, so no inlier
    # is dropped on the way (the clipping never takes a position back)
    abs_xy[:20] = rng.uniform(-20.0, 20.0, (20, 2))
    e = rng.uniform(5e3, 1e5, n)
    true = rng.uniform(-50.0, 50.0, (n, 2))
    shift = (_design(abs_xy, e) @ np.array([3.0, 1.5])).reshape(n, 2)
    # noise truncated at 3 sigma: no inlier near the 4-sigma cut
    est = true + shift + np.clip(rng.normal(0.0, 0.3, (n, 2)), -0.9, 0.9)
    est[:20, 0] += 30.0
    est[20:30, 1] = true[20:30, 1] + shift[20:30, 1] + 5.5 * 0.3  # no noise on these
    est[30, 0] = np.nan
    got = fit_depth_correction(est, true, abs_xy, e)
    inlier = np.ones((n, 2), dtype=bool)
    inlier[:20, 0] = inlier[20:30, 1] = inlier[30, 0] = False
    inlier = inlier.ravel()
    d = (est - true).ravel()
    ref, *_ = np.linalg.lstsq(_design(abs_xy, e)[inlier], d[inlier], rcond=None)
    assert got["n"] == 2 * n - 31
    assert got["c0_mm_per_m"] == pytest.approx(ref[0], rel=1e-9)
    assert got["c1_mm_per_m"] == pytest.approx(ref[1], rel=1e-9)
    # and it is the true shift (c0, c1 anti-correlate: compare at 30 GeV)
    at30 = got["c0_mm_per_m"] + got["c1_mm_per_m"] * np.log(30.0)
    assert at30 == pytest.approx(3.0 + 1.5 * np.log(30.0), abs=0.1)
    # a non-finite energy drops that photon's two coordinates only
    e_nan = e.copy()
    e_nan[40] = np.nan
    assert fit_depth_correction(est, true, abs_xy, e_nan)["n"] == 2 * n - 33
    # 20 finite positions (10 photons) are enough, 19 are not
    assert fit_depth_correction(est[31:41], true[31:41], abs_xy[31:41], e[31:41])["n"] == 20
    est19 = est[31:41].copy()
    est19[0, 0] = np.nan
    with pytest.raises(ValueError, match="20"):
        fit_depth_correction(est19, true[31:41], abs_xy[31:41], e[31:41])


def test_energy_calibration_drops_exactly_the_outliers_beyond_four_robust_sigmas():
    """1 % relative noise, 20 mis-clustered windows (half the energy) and 10 at 5.5 sigma: the
    calibration keeps exactly the inliers and equals the relative least squares on them; a
    zero true or raw energy is left out; ten pairs are enough, nine are not."""
    rng = np.random.default_rng(4)
    n = 300
    e_true = rng.uniform(2e3, 2e5, n)
    raw = (e_true - 300.0) / 1.07 * (1.0 + np.clip(rng.normal(0.0, 0.01, n), -0.03, 0.03))
    raw[:20] *= 0.5
    raw[20:30] = (e_true[20:30] - 300.0) / 1.07 * (1.0 + 5.5 * 0.01)
    e_true[30], raw[31] = 0.0, 0.0
    with np.errstate(divide="ignore"):  # the residual of the zero true energy
        got = fit_energy_calibration(raw, e_true)
    inlier = np.ones(n, dtype=bool)
    inlier[:32] = False
    A = np.column_stack([raw[inlier] / e_true[inlier], 1.0 / e_true[inlier]])
    (slope, offset), *_ = np.linalg.lstsq(A, np.ones(inlier.sum()), rcond=None)
    assert got["n"] == n - 32
    assert got["slope"] == pytest.approx(slope, rel=1e-9)
    assert got["offset_mev"] == pytest.approx(offset, rel=1e-6)
    assert got["slope"] == pytest.approx(1.07, rel=0.005)
    assert fit_energy_calibration(raw[40:50], e_true[40:50])["n"] == 10
    with pytest.raises(ValueError, match="10"):
        fit_energy_calibration(raw[41:50], e_true[41:50])


def test_energy_calibration_below_one_mev_and_outliers_just_past_four_sigma():
    """Energies below 1 MeV count like any other (nothing is cut at 1); residuals at 4.6 robust
    sigmas are dropped and those at 3.5 kept (the cut is at 4, not 5)."""
    rng = np.random.default_rng(7)
    n = 400
    e_true = rng.uniform(0.1, 0.9, n)  # MeV: a low-energy calibration line
    noise = rng.normal(0.0, 0.01, n)
    raw = e_true / 1.07 * (1.0 + noise)
    got = fit_energy_calibration(raw, e_true)
    assert got["n"] == n
    A = np.column_stack([raw / e_true, 1.0 / e_true])
    (slope, offset), *_ = np.linalg.lstsq(A, np.ones(n), rcond=None)
    assert got["slope"] == pytest.approx(slope, rel=1e-9)
    assert got["offset_mev"] == pytest.approx(offset, rel=1e-6, abs=1e-12)
    # ten windows 4.6 robust sigmas low, ten 3.5 high (sigma from the MAD of the inliers)
    sigma = 1.4826 * np.median(np.abs(noise - np.median(noise)))
    out = raw.copy()
    out[:10] = e_true[:10] / 1.07 * (1.0 - 4.6 * sigma)
    out[10:20] = e_true[10:20] / 1.07 * (1.0 + 3.5 * sigma)
    assert fit_energy_calibration(out, e_true)["n"] == n - 10


def test_containments_take_the_depth_and_profile_they_are_given():
    e = np.array([5e3, 80e3])
    alpha, beta = gflash_mean_profile(e)
    # a thin module of 0.5 X0 is valid and contains the Gamma CDF up to there
    np.testing.assert_allclose(
        longitudinal_containment(e, depth_x0=0.5), stats.gamma.cdf(0.5, alpha, scale=1 / beta)
    )
    # a module of 15 X0: energy_estimate undoes the leakage of that depth, not of the default
    x, y = np.array([2.1, 1.8]) * PITCH, np.array([2.0, 2.2]) * PITCH
    w = lednev_window_fractions(x, y, 5, PITCH) * e[:, None, None]
    dep = w * longitudinal_containment(e, depth_x0=15.0)[:, None, None]
    assert energy_estimate(dep, x, y, PITCH, depth_x0=15.0) == pytest.approx(e, rel=1e-4)
    assert np.abs(energy_estimate(dep, x, y, PITCH) / e - 1).max() > 1e-3
    # window containment with another transverse profile (both a and b) is that profile's
    a, b = LEDNEV_A, 1.5 * LEDNEV_B
    ref = lednev_window_fractions(x, y, 3, PITCH, a, b).sum(axis=(1, 2))
    np.testing.assert_allclose(window_containment(x, y, 3, PITCH, a, b), ref)
    assert np.abs(ref - window_containment(x, y, 3, PITCH)).max() > 1e-3


def test_windows_at_the_detector_edge_read_zero_not_the_next_event():
    """A seed on the last row: the window rows beyond the detector read 0 and set ``outside``;
    a cell one row past the edge must not alias the next event's first row (its key would be
    (event + 1) * n_cells + col)."""
    from caloreco.regression.windows import extract_windows

    geom = ecal_geometry()
    top, col = geom.n_rows - 1, 10
    # event 0: the seed on the top row; event 1: a hit on row 0 in the window's columns
    cells = np.array([top * geom.n_cols + col, 0 * geom.n_cols + col + 1])
    w = extract_windows(
        geom,
        np.array([0, 1, 2]),
        cells,
        np.array([5000.0, 777.0]),
        np.array([0]),
        np.array([top]),
        np.array([col]),
    )
    win = w["windows"][0]
    assert win[2, 2] == 5000.0 and win.sum() == 5000.0
    np.testing.assert_array_equal(win[3:], 0.0)
    assert w["outside"][0] and w["origin_row"][0] == top - 2
