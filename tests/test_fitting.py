"""Resolution fits: core Gaussians recover the sigma they were given; resolution functions."""

import numpy as np
import pytest

from caloreco.fitting import (
    binned_resolution,
    core_gaussian_fit,
    resolution_function,
    resolution_function_fit,
    sigma68,
)

# Moments of a unit normal truncated to [-2, 2] (hand computation: phi(2) = 0.0539910,
# Z = 2 Phi(2) - 1 = 0.9544997; E[z^2] = 1 - 4 phi / Z, E[z^4] = 3 - (12 + 16) phi / Z).
PHI2, Z2 = 0.0539910, 0.9544997
M2 = 1 - 4 * PHI2 / Z2  # 0.773741
VAR_Z2 = 3 - 28 * PHI2 / Z2 - M2**2  # Var(z^2) = 0.817506
# Fisher information per value of the likelihood truncated to mu +- 2 sigma (window fixed):
# I_mu = E[z^2] / sigma^2, I_sigma = Var(z^2) / sigma^2, no correlation (symmetric window)


def expected_errors(sigma: float, n_fit: int) -> tuple[float, float]:
    """(mu_err, sigma_err) of the truncated-Gaussian likelihood fit, from its information."""
    return sigma / np.sqrt(n_fit * M2), sigma / np.sqrt(n_fit * VAR_Z2)


#: asymptotic standard deviation of sigma68 in units of sigma / sqrt(n): the half-difference of
#: the p and 1 - p quantiles (p = 0.158655) has variance p (1 - 2p) / (2 n f^2), f = phi(1) =
#: 0.241971 / sigma, so sqrt(0.158655 * 0.68269 / 2) / 0.241971 = 0.9618
SIGMA68_SD = np.sqrt(0.158655 * 0.68269 / 2) / 0.241971


@pytest.mark.parametrize("bins", [None, 40])
@pytest.mark.parametrize("seed", range(3))
def test_core_fit_recovers_sigma_within_its_error(seed, bins):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 1.7, 4000)
    f = core_gaussian_fit(x, bins=bins, rng=rng)
    assert abs(f["sigma"] - 1.7) < 3 * f["sigma_err"]
    assert abs(f["mu"] - 0.3) < 3 * f["mu_err"]
    assert f["converged"] and f["valid"]
    assert f["sigma68"] == pytest.approx(1.7, abs=3 * f["sigma68_err"])
    # the quoted errors are those of the truncated likelihood (Fisher information above), to
    # 2 %: an error 10 % too large or too small fails
    mu_err, sigma_err = expected_errors(f["sigma"], f["n_fit"])
    assert f["sigma_err"] == pytest.approx(sigma_err, rel=0.02)
    assert f["mu_err"] == pytest.approx(mu_err, rel=0.02)
    # the bootstrap error of sigma68 is the quantile estimator's (a 200-replicate bootstrap
    # scatters by 1 / sqrt(2 * 199) = 5 %)
    assert f["sigma68_err"] == pytest.approx(SIGMA68_SD * 1.7 / np.sqrt(4000), rel=0.15)
    assert f["lo"] == pytest.approx(f["mu"] - 2 * f["sigma"], rel=1e-12)
    assert f["hi"] == pytest.approx(f["mu"] + 2 * f["sigma"], rel=1e-12)
    # a window of +-2 sigma holds 95.45 % of a Gaussian sample
    assert f["n"] == 4000 and f["n_fit"] == pytest.approx(0.9545 * 4000, abs=4 * 13.2)
    assert f["n_fit"] == int(np.sum((x >= f["lo"]) & (x <= f["hi"])))
    assert 1 <= f["iterations"] <= 5


def test_sigma68_error_without_bootstrap_is_the_asymptotic_quantile_error():
    rng = np.random.default_rng(8)
    x = rng.normal(0.0, 2.0, 5000)
    f = core_gaussian_fit(x)  # no rng: the asymptotic error
    assert f["sigma68_err"] == pytest.approx(SIGMA68_SD * f["sigma68"] / np.sqrt(5000), rel=1e-3)
    # and it is what repeated samples show: the scatter of sigma68 over 4000 samples of 1000
    s = [sigma68(rng.normal(0.0, 1.0, 1000)) for _ in range(4000)]
    assert np.std(s) * np.sqrt(1000) == pytest.approx(SIGMA68_SD, rel=0.05)


def test_core_fit_errors_are_the_fisher_errors_of_the_window():
    # a wider window (n_sigma 3) holds more information: the errors follow the moments of the
    # normal truncated to +-3 (phi(3) = 0.00443185, Z = 0.9973002)
    phi3, z3 = 0.00443185, 0.9973002
    m2 = 1 - 6 * phi3 / z3
    var_z2 = 3 - (18 + 54) * phi3 / z3 - m2**2
    x = np.random.default_rng(5).normal(2.0, 0.4, 6000)
    f = core_gaussian_fit(x, n_sigma=3.0)
    assert f["sigma_err"] == pytest.approx(f["sigma"] / np.sqrt(f["n_fit"] * var_z2), rel=0.02)
    assert f["mu_err"] == pytest.approx(f["sigma"] / np.sqrt(f["n_fit"] * m2), rel=0.02)
    assert f["n_fit"] == pytest.approx(0.9973 * 6000, abs=4 * 4.0)


@pytest.mark.parametrize("bins", [None, 40])
def test_core_fit_pulls_are_standard_normal(bins):
    # 800 seeded toys: the fitted mu and sigma scatter around the truth by their quoted errors.
    # The width of 800 unit pulls is known to 1/sqrt(1600) = 2.5 %, their mean to 0.035; a
    # quoted error 10 % off moves the width by 10 % (4 standard deviations).
    pulls_s, pulls_m = [], []
    for seed in range(800):
        rng = np.random.default_rng(100 + seed)
        f = core_gaussian_fit(rng.normal(-1.0, 0.5, 1000), bins=bins)
        pulls_s.append((f["sigma"] - 0.5) / f["sigma_err"])
        pulls_m.append((f["mu"] + 1.0) / f["mu_err"])
    for p in (np.array(pulls_s), np.array(pulls_m)):
        # the sigma of a likelihood fit is biased low by O(1/n): -0.06 of its error here
        assert abs(p.mean()) < 0.15
        assert p.std() == pytest.approx(1.0, abs=0.075)


def test_core_fit_ignores_tails():
    rng = np.random.default_rng(1)
    core = rng.normal(0, 1.0, 8000)
    tails = rng.normal(0, 8.0, 2000)
    skew = rng.exponential(5.0, 1000) + 2.0  # a one-sided tail (energy leakage-like)
    values = np.concatenate([core, tails, -skew])
    f = core_gaussian_fit(values)
    assert f["sigma"] == pytest.approx(1.0, abs=0.08)
    assert f["mu"] == pytest.approx(0.0, abs=0.08)
    assert np.std(values) > 3  # the plain std would be far off
    g = core_gaussian_fit(values, bins=30)
    assert g["sigma"] == pytest.approx(1.0, abs=0.08)


def test_core_fit_rejects_degenerate_input():
    with pytest.raises(ValueError, match="at least 10"):
        core_gaussian_fit(np.arange(5.0))
    with pytest.raises(ValueError, match="no spread"):
        core_gaussian_fit(np.ones(100))
    with pytest.raises(ValueError, match="at least 10"):
        core_gaussian_fit(np.full(50, np.nan))
    with pytest.raises(ValueError, match="bins"):
        core_gaussian_fit(np.random.default_rng(0).normal(size=100), bins=1)
    with pytest.raises(ValueError, match="values"):
        core_gaussian_fit(np.zeros((10, 10)))
    # NaNs are dropped, not propagated
    x = np.random.default_rng(0).normal(0, 1, 500)
    x[::10] = np.nan
    assert core_gaussian_fit(x)["n"] == 450


def test_sigma68_of_gaussian():
    x = np.random.default_rng(2).normal(0, 2.0, 200_000)
    assert sigma68(x) == pytest.approx(2.0, rel=0.01)
    with pytest.raises(ValueError, match="sigma68"):
        sigma68(np.array([1.0]))


def test_resolution_function_fit_recovers_terms():
    e = np.array([2, 5, 10, 20, 50, 100, 150, 200.0])
    truth = resolution_function(e, 0.07, 0.015, 0.05)
    err = 0.02 * truth
    pulls = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        f = resolution_function_fit(e, truth + rng.normal(0, err), err)
        assert f["ndof"] == 5 and f["valid"]
        pulls.append([(f[k] - v) / f[f"{k}_err"] for k, v in (("a", 0.07), ("b", 0.015))])
        assert f["a"] == pytest.approx(0.07, rel=0.1)
        assert f["b"] == pytest.approx(0.015, rel=0.2)
        assert f["c"] == pytest.approx(0.05, rel=0.5)
    assert np.abs(np.array(pulls)).max() < 4
    g = resolution_function_fit(e, resolution_function(e, 0.07, 0.015), err, terms=("a", "b"))
    assert g["c"] == 0 and g["c_err"] == 0 and g["a"] == pytest.approx(0.07, rel=1e-3)
    assert g["chi2"] < 1e-6 and g["ndof"] == 6
    # a term that is not there is fitted at its limit 0, never negative
    h = resolution_function_fit(e, resolution_function(e, 0.07, 0.0, 0.0), err)
    assert h["b"] >= 0 and h["b"] < 2e-3 and h["c"] >= 0
    with pytest.raises(ValueError, match="terms"):
        resolution_function_fit(e, truth, err, terms=("d",))
    with pytest.raises(ValueError, match="usable points"):
        resolution_function_fit(e[:2], truth[:2], err[:2])


def test_binned_resolution_follows_energy():
    rng = np.random.default_rng(4)
    e = rng.uniform(2, 200, 20000)
    r = rng.normal(0, resolution_function(e, 0.07, 0.015))
    rows = binned_resolution(e, r, [0, 2, 10, 50, 200, 300], rng=rng)
    assert [round(x["e_lo"]) for x in rows] == [2, 10, 50]  # empty bins are skipped
    sig = [x["sigma"] for x in rows]
    assert sig[0] > sig[1] > sig[2]
    for row in rows:
        assert row["e_lo"] < row["e_mean"] < row["e_hi"]
    # the fitted sigmas feed the resolution function and give back the terms
    sel = [
        (x["e_mean"], x["sigma"], x["sigma_err"])
        for x in binned_resolution(e, r, np.geomspace(2, 200, 9))
    ]
    em, s, se = map(np.array, zip(*sel, strict=True))
    f = resolution_function_fit(em, s, se, terms=("a", "b"))
    assert f["a"] == pytest.approx(0.07, abs=4 * f["a_err"] + 0.005)
    with pytest.raises(ValueError, match="edges"):
        binned_resolution(e, r, [10, 5])


# ------------------------------------------------------------------ edge cases and plumbing


def test_sigma68_of_two_values_by_hand():
    # linear quantiles of [1, 2] at 0.158650 and 0.841350: half their difference is 0.341350
    assert sigma68(np.array([2.0, 1.0, np.nan])) == pytest.approx(0.34135, rel=1e-12)


def tails_sample():
    rng = np.random.default_rng(1)
    return np.concatenate([rng.normal(0, 1.0, 3000), rng.normal(0, 6.0, 1000)])


def test_core_fit_iterations_convergence_and_scale_invariance():
    x = tails_sample()
    f = core_gaussian_fit(x)
    assert f["converged"] and 2 <= f["iterations"] <= 5
    # a fit in mm or in m is the same fit: same rounds, same window, scaled numbers
    g = core_gaussian_fit(100.0 * x)
    assert g["iterations"] == f["iterations"] and g["n_fit"] == f["n_fit"]
    for k in ("mu", "sigma", "mu_err", "sigma_err", "sigma68", "lo", "hi"):
        assert g[k] == pytest.approx(100.0 * f[k], rel=1e-5, abs=1e-9)
    # one round from sigma68 (far wider than the core) has not settled
    one = core_gaussian_fit(x, max_iter=1)
    assert one["iterations"] == 1 and not one["converged"]
    # three bins across the window hold less information than the unbinned likelihood
    coarse = core_gaussian_fit(x, bins=3)
    assert coarse["sigma_err"] > 1.1 * f["sigma_err"]
    # exactly 10 values are enough; n_sigma 0.5 and 3 bins are allowed
    assert core_gaussian_fit(np.linspace(-1, 1, 10), n_sigma=3.0)["n"] == 10
    assert core_gaussian_fit(x, n_sigma=0.5)["n_fit"] < 0.5 * x.size


def test_core_fit_argument_errors_name_the_argument():
    x = tails_sample()
    for kwargs in ({"n_sigma": 0.0}, {"n_sigma": -1.0}, {"max_iter": 0}):
        with pytest.raises(ValueError, match="n_sigma, max_iter"):
            core_gaussian_fit(x, **kwargs)
    with pytest.raises(ValueError, match="bins"):
        core_gaussian_fit(x, bins=2)
    with pytest.raises(ValueError, match="^values: core_gaussian_fit needs at least 10"):
        core_gaussian_fit(np.arange(9.0))
    with pytest.raises(ValueError, match="^values: core_gaussian_fit found no spread"):
        core_gaussian_fit(np.ones(20))
    # a window of 0.01 sigma holds fewer than 10 values
    with pytest.raises(ValueError, match="^values: too few values in the core window"):
        core_gaussian_fit(np.random.default_rng(0).normal(size=200), n_sigma=0.01)


def bootstrap_reference(v: np.ndarray, seed: int, n_boot: int) -> float:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    q = np.quantile(v[idx], [0.5 - 0.6827 / 2, 0.5 + 0.6827 / 2], axis=1)
    return float(np.std(0.5 * (q[1] - q[0]), ddof=1))


def test_sigma68_bootstrap_equals_a_reference_bootstrap():
    v = np.random.default_rng(4).normal(0, 1, 500)
    f = core_gaussian_fit(v, rng=np.random.default_rng(12))  # default 200 replicates
    assert f["sigma68_err"] == pytest.approx(bootstrap_reference(v, 12, 200), rel=1e-12)
    g = core_gaussian_fit(v, rng=np.random.default_rng(12), n_boot=2)
    assert g["sigma68_err"] == pytest.approx(bootstrap_reference(v, 12, 2), rel=1e-12)
    # a single replicate has no spread: the asymptotic error is quoted instead
    h = core_gaussian_fit(v, rng=np.random.default_rng(12), n_boot=1)
    assert h["sigma68_err"] == pytest.approx(0.9618 * h["sigma68"] / np.sqrt(500), rel=1e-3)


def test_binned_resolution_edges_entries_and_failed_fits():
    rng = np.random.default_rng(6)
    # 20 values in [0, 1) (enough at the default min_entries), 30 on the edge 1.0 and in (1, 2),
    # 15 in [2, 3) (too few), one value of 3.0 (the last edge is excluded)
    e = np.concatenate(
        [np.full(20, 0.5), np.full(10, 1.0), np.full(20, 1.5), np.full(15, 2.5), [3.0]]
    )
    r = rng.normal(0, 1, e.size)
    rows = binned_resolution(e, r, [0.0, 1.0, 2.0, 3.0])
    assert [(x["e_lo"], x["n"]) for x in rows] == [(0.0, 20), (1.0, 30)]
    assert rows[1]["e_mean"] == pytest.approx((10 * 1.0 + 20 * 1.5) / 30)
    assert len(binned_resolution(e, r, [0.0, 1.0, 2.0, 3.0], min_entries=16)) == 2
    assert len(binned_resolution(e, r, [0.0, 1.0, 2.0, 3.0], min_entries=15)) == 3
    # edges closer than 1 and two edges only are fine
    assert len(binned_resolution(e, r, [0.0, 0.6])) == 1
    # keyword arguments and the generator reach the fits
    wide = binned_resolution(e, r, [1.0, 2.0], n_sigma=3.0, rng=np.random.default_rng(2))[0]
    sel = (e >= 1.0) & (e < 2.0)
    ref = core_gaussian_fit(r[sel], n_sigma=3.0, rng=np.random.default_rng(2))
    assert wide["hi"] == pytest.approx(ref["hi"]) and wide["sigma68_err"] == ref["sigma68_err"]
    # a bin whose fit fails keeps its place with the error and its count
    flat = binned_resolution(np.full(12, 5.0), np.ones(12), [4.0, 6.0], min_entries=10)
    assert flat == [
        {
            "error": "values: core_gaussian_fit found no spread (sigma68 = 0)",
            "n": 12,
            "e_lo": 4.0,
            "e_hi": 6.0,
            "e_mean": 5.0,
        }
    ]
    with pytest.raises(ValueError, match="^true_energy, residual"):
        binned_resolution(e, r[:-1], [0.0, 1.0])
    for bad in ([1.0], [0.0, 1.0, 1.0], [[0.0, 1.0]]):
        with pytest.raises(ValueError, match="^edges"):
            binned_resolution(e, r, bad)


def test_resolution_function_fit_drops_unusable_points():
    e = np.array([0.5, 2, 5, 10, 20, 50, 100, 200.0])
    s = resolution_function(e, 0.07, 0.015, 0.05)
    err = 0.02 * s
    ref = resolution_function_fit(e, s, err)
    assert ref["ndof"] == 5  # 0.5 GeV counts
    bad_e = np.concatenate([e, [0.0, -1.0, 10.0, 10.0, np.nan]])
    bad_s = np.concatenate([s, [0.1, 0.1, np.nan, 0.1, 0.1]])
    bad_err = np.concatenate([err, [0.01, 0.01, 0.01, 0.0, 0.01]])
    f = resolution_function_fit(bad_e, bad_s, bad_err)
    assert f["ndof"] == 5
    for k in ("a", "b", "c"):
        assert f[k] == pytest.approx(ref[k], rel=1e-6, abs=1e-9)
    # as many points as terms: no degree of freedom left
    assert resolution_function_fit(e[:3], s[:3], err[:3])["ndof"] == 0
    with pytest.raises(ValueError, match="^energy_gev, sigma_rel, sigma_rel_err"):
        resolution_function_fit(e, s[:-1], err)
