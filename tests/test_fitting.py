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
    # errors have the expected 1/sqrt(N) scale: a fit in +-2 sigma is a bit less efficient
    # than the full-sample sigma / sqrt(2N) = 0.019
    assert 0.019 < f["sigma_err"] < 0.045
    assert 0.015 < f["sigma68_err"] < 0.04
    assert f["lo"] == pytest.approx(f["mu"] - 2 * f["sigma"])
    assert f["n"] == 4000 and 0.9 * 4000 < f["n_fit"] < 0.99 * 4000


def test_core_fit_pulls_are_standard_normal():
    # 40 samples: the fitted sigma scatters around the truth by its quoted error
    pulls_s, pulls_m = [], []
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        f = core_gaussian_fit(rng.normal(-1.0, 0.5, 1500))
        pulls_s.append((f["sigma"] - 0.5) / f["sigma_err"])
        pulls_m.append((f["mu"] + 1.0) / f["mu_err"])
    for p in (np.array(pulls_s), np.array(pulls_m)):
        assert abs(p.mean()) < 0.6  # 3 sigma of the mean of 40 unit pulls is 0.47
        assert 0.6 < p.std() < 1.45


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
