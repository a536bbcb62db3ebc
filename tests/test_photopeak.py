"""Photopeak efficiency and the expected energy resolution, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from caloreco.clustering.photopeak import photopeak_efficiency, resolution_sigma

#: the project's FWHM / sigma of a Gaussian (caloreco.constants.FWHM_OVER_SIGMA)
FWHM = 2.355


@pytest.mark.parametrize(
    ("response", "energy", "expected"),
    [
        # CALIFA: 5.5 % FWHM at 1 MeV scaling as 1/sqrt(E), (+) 1 % non-uniformity
        ({"resolution_fwhm_at_1mev": 0.055, "non_uniformity": 0.01}, 1.0, math.hypot(0.055 / FWHM, 0.01)),
        ({"resolution_fwhm_at_1mev": 0.055, "non_uniformity": 0.01}, 4.0, 4 * math.hypot(0.055 / FWHM / 2, 0.01)),
        ({"resolution_fwhm_at_1mev": 0.08, "non_uniformity": 0.03}, 0.25, 0.25 * math.hypot(0.08 / FWHM / 0.5, 0.03)),
        # one key is enough to mean CALIFA; the other takes its default (5.5 % FWHM, 1 %)
        ({"resolution_fwhm_at_1mev": 0.08}, 9.0, 9 * math.hypot(0.08 / FWHM / 3, 0.01)),
        ({"non_uniformity": 0.03}, 9.0, 9 * math.hypot(0.055 / FWHM / 3, 0.03)),
        # ECAL: a / sqrt(E / GeV) (+) b; 10 % and 2 % at 25 GeV: 2 % (+) 2 % = 707.107 MeV
        ({"stochastic": 0.1, "constant": 0.02}, 25_000.0, 707.1067811865),
        ({"stochastic": 0.1}, 25_000.0, 25_000 * math.hypot(0.02, 0.015)),  # default b 1.5 %
        ({"constant": 0.02}, 100_000.0, 100_000 * math.hypot(0.007, 0.02)),  # default a 7 %
        ({}, 100_000.0, 1655.294536),  # defaults 7 % / sqrt(100) (+) 1.5 %
    ],
)  # fmt: skip
def test_resolution_sigma_hand_values(response, energy, expected):
    got = resolution_sigma(np.array([energy]), response)
    assert got.shape == (1,)
    assert got[0] == pytest.approx(expected, rel=1e-9)


def test_resolution_sigma_is_elementwise():
    e = np.array([1000.0, 4000.0, 16000.0])
    # a = 0.1, b = 0.02: sigma^2 = 0.01 E GeV + 0.0004 E^2 = 10 E + 0.0004 E^2 in MeV^2
    expected = np.sqrt(10 * e + 0.0004 * e**2)
    np.testing.assert_allclose(
        resolution_sigma(e, {"stochastic": 0.1, "constant": 0.02}), expected, rtol=1e-12
    )


RESPONSE = {"stochastic": 0.1, "constant": 0.02}


def sigma_hand(e):
    return np.sqrt(10 * e + 0.0004 * e**2)  # MeV, see above


def test_photopeak_efficiency_hand_made_primaries():
    e_true = 1000.0 * np.arange(1, 17)  # 16 distinct energies, 1 ... 16 GeV
    # best cluster at 2.9 sigma (inside the 3 sigma window) or 3.1 sigma (outside), above or
    # below the true energy; in bins of two consecutive energies the efficiencies are
    # 1, 1/2, 0, 1, 1/2, 1, 1/2, 1
    inside = np.array([1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1], dtype=bool)
    sign = np.where(np.arange(16) % 3 == 0, 1.0, -1.0)
    best = e_true + sign * np.where(inside, 2.9, 3.1) * sigma_hand(e_true)
    # two primaries of unknown energy (NaN, 0) are left out, whatever their clusters
    best_all = np.concatenate([best, [5000.0, 0.0]])
    true_all = np.concatenate([e_true, [np.nan, 0.0]])
    perm = np.random.default_rng(0).permutation(best_all.size)  # order does not matter
    out = photopeak_efficiency(best_all[perm], true_all[perm], RESPONSE)

    assert out["primaries"] == 16
    assert out["n_sigma"] == 3.0
    assert out["efficiency"] == pytest.approx(11 / 16, rel=1e-12)
    assert out["efficiency_err"] == pytest.approx(math.sqrt(11 / 16 * 5 / 16 / 16), rel=1e-12)
    curve = out["vs_energy"]
    assert len(curve) == 8
    # quantile edges of 1..16 GeV at k/8: 1 + 15 k / 8 GeV
    edges = [1000 + 1875 * k for k in range(9)]
    assert [c["e_lo"] for c in curve] == pytest.approx(edges[:-1])
    assert [c["e_hi"] for c in curve] == pytest.approx(edges[1:])
    assert [c["n"] for c in curve] == [2] * 8
    eff = [1, 0.5, 0, 1, 0.5, 1, 0.5, 1]
    assert [c["efficiency"] for c in curve] == pytest.approx(eff)
    assert [c["err"] for c in curve] == pytest.approx([math.sqrt(p * (1 - p) / 2) for p in eff])

    # a window of 3.5 sigma takes the 3.1 sigma clusters in too, one of 2.5 sigma none at all
    assert photopeak_efficiency(best, e_true, RESPONSE, n_sigma=3.5)["efficiency"] == 1.0
    assert photopeak_efficiency(best, e_true, RESPONSE, n_sigma=2.5)["efficiency"] == 0.0
    # exactly on the window edge counts as inside
    edge = e_true - 3.0 * sigma_hand(e_true) * (1 - 1e-12)
    assert photopeak_efficiency(edge, e_true, RESPONSE)["efficiency"] == 1.0


def test_photopeak_window_follows_the_detector_resolution():
    # CALIFA at 2.1 MeV: sigma = 2.1 * (0.055 / 2.355 / sqrt(2.1) (+) 0.01) = 0.0398 MeV
    resp = {"resolution_fwhm_at_1mev": 0.055, "non_uniformity": 0.01}
    sigma = 2.1 * math.hypot(0.055 / FWHM / math.sqrt(2.1), 0.01)
    assert sigma == pytest.approx(0.03983, abs=5e-6)
    e_true = np.full(4, 2.1)
    best = 2.1 - np.array([0.0, 2.0, 2.99, 3.01]) * sigma
    out = photopeak_efficiency(best, e_true, resp)
    assert out["efficiency"] == pytest.approx(0.75)
    assert out["vs_energy"] == []  # no spread in energy: no curve (e_lo == e_hi)
    # a Compton-scattered gamma that left 1.9 MeV is out of the photopeak
    assert photopeak_efficiency(np.array([1.9]), np.array([2.1]), resp)["efficiency"] == 0.0


def test_photopeak_without_known_energies():
    out = photopeak_efficiency(np.array([1.0, 2.0]), np.array([np.nan, -1.0]), RESPONSE)
    assert out == {"efficiency": None, "note": "primary energies unknown"}


def test_photopeak_curve_for_energies_within_one_mev():
    # CALIFA gammas of 0.30 ... 0.93 MeV (a spread below 1 MeV still gets its curve)
    resp = {"resolution_fwhm_at_1mev": 0.055, "non_uniformity": 0.01}
    e_true = 0.30 + 0.042 * np.arange(16)
    out = photopeak_efficiency(e_true.copy(), e_true, resp)
    assert out["efficiency"] == 1.0 and len(out["vs_energy"]) == 8
    assert out["vs_energy"][0]["e_lo"] == pytest.approx(0.30)
    assert out["vs_energy"][-1]["e_hi"] == pytest.approx(0.30 + 0.042 * 15)


def test_photopeak_window_includes_its_edge():
    # sigma = 0.25 E exactly (no stochastic term): at 1 GeV the 2-sigma window is +-500 MeV
    response = {"stochastic": 0.0, "constant": 0.25}
    got = photopeak_efficiency(
        np.array([1500.0, 500.0, 1500.001]), np.full(3, 1000.0), response, n_sigma=2.0
    )
    assert got["efficiency"] == pytest.approx(2 / 3)
