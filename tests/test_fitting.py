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
