"""Classical ECAL estimators on Lednev showers whose right answer is known."""

import numpy as np
import pytest

from caloreco.lednev import window_fractions
from caloreco.models.classical import LogCogEstimator, log_cog, profile_fit

PITCH = 38.3


def lednev_showers(n, rng, energy=(5e3, 150e3), size=5):
    """Noiseless windows of photons uniformly inside the central cell (exact Lednev sharing)."""
    x = rng.uniform(1.5, 2.5, n) * PITCH
    y = rng.uniform(1.5, 2.5, n) * PITCH
    e = rng.uniform(*energy, n)
    w = window_fractions(x, y, size, PITCH) * e[:, None, None]
    return w, np.column_stack([x, y, e])


def test_log_cog_bias_is_small_with_w0_4():
    rng = np.random.default_rng(0)
    w, t = lednev_showers(4000, rng)
    xy = log_cog(w, PITCH, 4.0)
    rms_bias = np.sqrt(np.mean((xy[:, 0] - t[:, 0]) ** 2)) / PITCH
    # physics.md quotes about 0.017 cell; with exact Lednev sharing over a whole cell we find
    # 0.032 at w0 = 4 and 0.013 at w0 = 5: the rms bias depends on w0 at this level
    assert rms_bias < 0.04
    best = min(
        np.sqrt(np.mean((log_cog(w, PITCH, w0)[:, 0] - t[:, 0]) ** 2)) / PITCH
        for w0 in (3.5, 4.5, 5.0)
    )
    assert best < 0.02
    # linear weighting (w0 huge) has the large S-curve bias
    lin = log_cog(w, PITCH, 50.0)
    assert np.sqrt(np.mean((lin[:, 0] - t[:, 0]) ** 2)) / PITCH > 0.08


def test_s_curve_correction_reduces_bias_and_energy_is_right():
    rng = np.random.default_rng(1)
    w, t = lednev_showers(6000, rng)
    est = LogCogEstimator(PITCH).fit(w[:4000], t[:4000])
    p = est.predict(w[4000:])
    raw = log_cog(w[4000:], PITCH)
    before = np.sqrt(np.mean((raw[:, 0] - t[4000:, 0]) ** 2))
    after = np.sqrt(np.mean((p[:, 0] - t[4000:, 0]) ** 2))
    assert after < 0.5 * before
    assert np.abs(p[:, 2] / t[4000:, 2] - 1).max() < 0.01


def test_profile_fit_recovers_noiseless_showers():
    rng = np.random.default_rng(2)
    w, t = lednev_showers(500, rng)
    p, chi2, ok = profile_fit(w, PITCH)
    assert np.abs(p[:, 0] - t[:, 0]).max() < 0.05
    assert np.abs(p[:, 1] - t[:, 1]).max() < 0.05
    assert np.abs(p[:, 2] / t[:, 2] - 1).max() < 1e-3
    assert chi2.max() < 1e-3


def test_profile_fit_handles_noise_without_diverging():
    rng = np.random.default_rng(3)
    w, t = lednev_showers(300, rng, energy=(2e3, 20e3))
    noisy = w + rng.normal(0, 50.0, w.shape)
    p, _, _ = profile_fit(noisy, PITCH)
    assert np.all(np.isfinite(p))
    assert np.median(np.abs(p[:, 0] - t[:, 0])) < 3.0
    with pytest.raises(ValueError, match="50 training windows"):
        LogCogEstimator(PITCH).fit(w[:10], t[:10])
