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


@pytest.mark.parametrize("seed", range(5))
def test_core_fit_recovers_sigma_within_its_error(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 1.7, 4000)
    f = core_gaussian_fit(x, rng=rng)
    assert abs(f["sigma"] - 1.7) < 3 * f["sigma_err"]
    assert abs(f["mu"] - 0.3) < 3 * f["mu_err"]
    assert f["converged"]
    assert f["sigma68"] == pytest.approx(1.7, rel=0.06)
    # the error is the expected sqrt(N) scale, not a placeholder
    assert 0.01 < f["sigma_err"] < 0.06


def test_core_fit_ignores_tails():
    rng = np.random.default_rng(1)
    core = rng.normal(0, 1.0, 8000)
    tails = rng.normal(0, 8.0, 2000)
    f = core_gaussian_fit(np.concatenate([core, tails]))
    assert f["sigma"] == pytest.approx(1.0, abs=0.08)
    assert np.std(np.concatenate([core, tails])) > 3  # plain std would be far off


def test_core_fit_rejects_degenerate_input():
    with pytest.raises(ValueError, match="at least 10"):
        core_gaussian_fit(np.arange(5.0))
    with pytest.raises(ValueError, match="no spread"):
        core_gaussian_fit(np.ones(100))
    with pytest.raises(ValueError, match="at least 10"):
        core_gaussian_fit(np.full(50, np.nan))


def test_sigma68_of_gaussian():
    x = np.random.default_rng(2).normal(0, 2.0, 200_000)
    assert sigma68(x) == pytest.approx(2.0, rel=0.01)


def test_resolution_function_fit_recovers_terms():
    rng = np.random.default_rng(3)
    e = np.array([2, 5, 10, 20, 50, 100, 150, 200.0])
    truth = resolution_function(e, 0.07, 0.015, 0.05)
    err = 0.02 * truth
    f = resolution_function_fit(e, truth + rng.normal(0, err), err)
    assert f["a"] == pytest.approx(0.07, rel=0.1)
    assert f["b"] == pytest.approx(0.015, rel=0.15)
    assert f["c"] == pytest.approx(0.05, rel=0.3)
    g = resolution_function_fit(e, resolution_function(e, 0.07, 0.015), err, terms=("a", "b"))
    assert g["c"] == 0 and g["a"] == pytest.approx(0.07, rel=1e-3)


def test_binned_resolution_follows_energy():
    rng = np.random.default_rng(4)
    e = rng.uniform(2, 200, 20000)
    r = rng.normal(0, resolution_function(e, 0.07, 0.015))
    rows = binned_resolution(e, r, [2, 10, 50, 200], rng=rng)
    assert [round(x["e_lo"]) for x in rows] == [2, 10, 50]
    sig = [x["sigma"] for x in rows]
    assert sig[0] > sig[1] > sig[2]
