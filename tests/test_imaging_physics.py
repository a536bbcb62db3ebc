"""Energy loss and tracks of the camera TPC: CSDA ranges, He ranges and quenching, track MC."""

import math

import numpy as np
import pytest

from caloreco.imaging import stopping, tracks


@pytest.mark.parametrize(
    "energy, expected_mm",
    # imaging.md: ESTAR-scaled CSDA ranges in He:CF4 60/40 at 1.53 mg/cm^3
    [(1.0, 0.04), (6.0, 0.8), (20.0, 6.5), (60.0, 45.0)],
)
def test_electron_csda_range_matches_estar_scaled_values(energy, expected_mm):
    r = float(stopping.electron_csda_range(energy))
    assert r == pytest.approx(expected_mm, rel=0.25)


def test_electron_stopping_bethe_by_hand_at_20_kev():
    # relativistic Bethe without the Joy-Luo term (negligible at 20 keV: I/T = 0.005)
    t, m, i = 20.0, stopping.ELECTRON_MASS_KEV, stopping.HE_CF4.mean_excitation_ev * 1e-3
    tau = t / m
    b2 = 1 - 1 / (1 + tau) ** 2
    f = 1 - b2 + (tau**2 / 8 - (2 * tau + 1) * math.log(2)) / (tau + 1) ** 2
    s = (
        0.153536
        * stopping.HE_CF4.z_over_a
        / b2
        * (math.log(tau**2 * (tau + 2) / (2 * (i / m) ** 2)) + f)
    )
    assert float(stopping.electron_stopping(t)) == pytest.approx(s * 1.53e-3 * 100, rel=0.01)
    # mixture constants by hand: Z/A and the Bragg-additive I
    za = (0.6 * 2 + 0.4 * (6 + 36)) / (0.6 * 4.0026 + 0.4 * (12.011 + 4 * 18.998))
    assert stopping.HE_CF4.z_over_a == pytest.approx(za, rel=1e-9)
    ln_i = (1.2 * math.log(41.8) + 0.4 * (6 * math.log(70.0) + 36 * math.log(115.0))) / 18.0
    assert stopping.HE_CF4.mean_excitation_ev == pytest.approx(math.exp(ln_i), rel=1e-9)


def test_range_inverse_and_bad_input():
    e = np.array([0.5, 3.0, 30.0])
    assert np.allclose(
        stopping.electron_energy_at_range(stopping.electron_csda_range(e)), e, rtol=1e-3
    )
    with pytest.raises(ValueError, match="energy_kev"):
        stopping.electron_csda_range([1.0, -1.0])
    with pytest.raises(ValueError, match="energy_kev"):
        stopping.helium_range(np.nan)


def test_helium_range_is_sub_mm_at_a_few_kev():
    # imaging.md: 0.1 - 0.3 mm at a few keV
    r = stopping.helium_range([3.0, 6.0, 10.0])
    assert np.all((r > 0.08) & (r < 0.3))
    assert np.all(np.diff(r) > 0)


def test_lindhard_quenching_by_hand():
    def q(e):
        eps = 11.5 * e * 2 ** (-7 / 3)
        g = 3 * eps**0.15 + 0.7 * eps**0.6 + eps
        k = 0.133 * 2 ** (2 / 3) / math.sqrt(4.0026)
        return k * g / (1 + k * g)

    for e in (0.5, 1.0, 6.0):
        assert float(stopping.lindhard_quenching(e)) == pytest.approx(q(e), rel=1e-12)
    # imaging.md: quenched to 0.3 - 0.5 at the energies of the spots
    assert 0.3 < float(stopping.lindhard_quenching(0.6)) < 0.5
    v = np.array([0.25, 1.0, 6.0])
    enr = stopping.recoil_energy_for_visible(v)
    assert np.allclose(stopping.lindhard_quenching(enr) * enr, v, rtol=1e-3)


def test_electron_tracks_conserve_energy_and_follow_csda():
    rng = np.random.default_rng(1)
    e = np.full(300, 6.0)
    d = tracks.electron_tracks(e, rng)
    assert np.allclose(d.recoil_energy(), 6.0, rtol=1e-9)
    assert d.path_mm.mean() == pytest.approx(float(stopping.electron_csda_range(6.0)), rel=0.01)
    o = d.offsets
    ends = np.sqrt(d.x[o[1:] - 1] ** 2 + d.y[o[1:] - 1] ** 2 + d.z[o[1:] - 1] ** 2)
    # multiple scattering: the tracks curl (lambda_tr 0.6 mm against 0.84 mm of path) but are not
    # random walks; the mean end-to-start distance is a fraction of the path
    ratio = ends.mean() / d.path_mm.mean()
    assert 0.4 < ratio < 0.85
    # dE/dx grows towards the end: the last third of the path holds more than a third of E
    owner = np.repeat(np.arange(e.size), np.diff(o))
    along = np.zeros(d.energy.size)
    for i in range(3):  # cumulative path of each deposit (three recoils suffice)
        s = slice(o[i], o[i + 1])
        seg = np.sqrt(
            np.diff(d.x[s], prepend=0) ** 2
            + np.diff(d.y[s], prepend=0) ** 2
            + np.diff(d.z[s], prepend=0) ** 2
        )
        along[s] = np.cumsum(seg)
        late = along[s] > 2 / 3 * along[s][-1]
        assert d.energy[s][late].sum() > 0.4 * 6.0
    assert owner.max() == e.size - 1


def test_transport_mfp_scales_with_energy_squared():
    lam = tracks.electron_transport_mfp([5.0, 10.0])
    # screened Rutherford: lambda ~ (p v)^2 / log -> about E^2 at these energies
    assert 3.0 < lam[1] / lam[0] < 4.5


def test_tracks_deterministic_and_helium_quenched():
    a = tracks.electron_tracks(np.array([2.0, 20.0]), np.random.default_rng(5))
    b = tracks.electron_tracks(np.array([2.0, 20.0]), np.random.default_rng(5))
    assert np.array_equal(a.x, b.x) and np.array_equal(a.energy, b.energy)
    c = tracks.electron_tracks(np.array([2.0, 20.0]), np.random.default_rng(6))
    assert not np.array_equal(a.x, c.x)
    h = tracks.helium_tracks(np.array([1.0, 8.0]), np.random.default_rng(0))
    assert np.allclose(h.recoil_energy(), stopping.lindhard_quenching([1.0, 8.0]) * [1.0, 8.0])
    assert np.allclose(h.path_mm, stopping.helium_range([1.0, 8.0]))
    with pytest.raises(ValueError, match="energy_kev"):
        tracks.electron_tracks(np.array([0.0]), np.random.default_rng(0))
