"""ECAL photon shower simulation: containment, resolution, fluctuations, incidence, validation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import gammainc

from caloreco.geometry import ecal_geometry
from caloreco.simulation._ecal_kernels import spot_deposits, window_deposits
from caloreco.simulation.ecal import (
    EcalResponse,
    _longitudinal_parameters,
    _simulate_showers,
    lednev_cell_fractions,
    shower_deposits,
    simulate_ecal,
    validate_sim,
)

GEOM = ecal_geometry()
PITCH = GEOM.pitch
C0 = int(GEOM.cell_at(24, 24))
X0, Y0 = float(GEOM.x[C0]), float(GEOM.y[C0])
UNIFORM = {"energy": {"distribution": "uniform", "min_mev": 2000.0, "max_mev": 200000.0}}

LEDNEV_CENTRE = (0.80, 0.974, 0.994)
LEDNEV_CORNER = (0.23, 0.961, 0.992)


def _containment(energy_mev: float, corner: bool, n: int = 300) -> np.ndarray:
    """Mean (1x1 or highest cell, 3x3, 5x5) fractions of the shower energy (true deposits)."""
    d = 0.5 * PITCH - 1e-6 if corner else 0.0
    sh = _simulate_showers(
        GEOM,
        np.full(n, energy_mev),
        np.full(n, X0 + d),
        np.full(n, Y0 + d),
        np.zeros(n),
        np.zeros(n),
        EcalResponse(),
        np.random.default_rng(7),
    )
    m = (sh.deposits / sh.e_depth[:, None, None]).mean(axis=0)
    h = m.shape[0] // 2  # the window is centred on cell (24, 24); the corner is its (+,+) one
    return np.array(
        [m.max(), m[h - 1 : h + 2, h - 1 : h + 2].sum(), m[h - 2 : h + 3, h - 2 : h + 3].sum()]
    )


def test_lednev_reference_numbers():
    centre = lednev_cell_fractions([0.0], [0.0], PITCH)[0]
    corner = lednev_cell_fractions([PITCH / 2], [PITCH / 2], PITCH)[0]
    assert centre[2, 2] == pytest.approx(0.80, abs=0.005)
    assert centre[1:4, 1:4].sum() == pytest.approx(0.974, abs=0.002)
    assert centre.sum() == pytest.approx(0.994, abs=0.002)
    assert corner.max() == pytest.approx(0.23, abs=0.005)
    assert corner[1:4, 1:4].sum() == pytest.approx(0.961, abs=0.002)


@pytest.mark.parametrize("energy_mev", [20000.0, 140000.0])
def test_containment_matches_lednev(energy_mev):
    np.testing.assert_allclose(_containment(energy_mev, False), LEDNEV_CENTRE, atol=0.03)
    np.testing.assert_allclose(_containment(energy_mev, True), LEDNEV_CORNER, atol=0.03)


def test_containment_low_energy_and_not_hard_coded():
    np.testing.assert_allclose(_containment(2000.0, False), LEDNEV_CENTRE, atol=0.03)
    np.testing.assert_allclose(_containment(2000.0, True), LEDNEV_CORNER, atol=0.03)
    # a wider shower (larger effective Moliere radius) puts less energy in the central cell
    sh = _simulate_showers(
        GEOM,
        np.full(50, 50000.0),
        np.full(50, X0),
        np.full(50, Y0),
        np.zeros(50),
        np.zeros(50),
        EcalResponse(moliere_radius_mm=35.0),
        np.random.default_rng(1),
    )
    frac = (sh.deposits[:, 4, 4] / sh.e_depth).mean()
    assert frac < _containment(50000.0, False, n=50)[0] - 0.03


def test_closed_form_matches_spot_sampling():
    """Cell integrals of the core/tail density agree with GFlash spot sampling."""
    one = np.ones((1, 1))
    args = (
        one * (X0 + 7.0),
        one * (Y0 - 3.0),
        one * 1000.0,
        one * 6.0,
        one * 30.0,
        one * 0.6,
    )
    edge_x = np.array([X0 - 4.5 * PITCH])
    edge_y = np.array([Y0 - 4.5 * PITCH])
    exact = window_deposits(*args, edge_x, edge_y, PITCH, 9)[0]
    spots = spot_deposits(
        *args, np.array([[2_000_000]]), edge_x, edge_y, PITCH, 9, np.random.default_rng(3)
    )[0]
    np.testing.assert_allclose(spots, exact, atol=1.0)  # MeV of 1000; sampling error ~0.3
    assert exact.sum() == pytest.approx(spots.sum(), rel=2e-3)


def _sum5x5(ev, measured: bool) -> np.ndarray:
    """5x5 sum around the cell of each event's (single) impact point."""
    col = np.floor((ev.primary_x - (GEOM.x.min() - PITCH / 2)) / PITCH).astype(int)
    row = np.floor((ev.primary_y - (GEOM.y.min() - PITCH / 2)) / PITCH).astype(int)
    if measured:
        hev, cells, e = ev.hit_event(), ev.cell_id, ev.cell_energy
    else:
        hev = np.repeat(np.arange(ev.n_events), np.diff(ev.truth_offsets))
        cells = ev.cell_id[ev.hit_offsets[hev] + ev.truth_cell]
        e = ev.truth_energy
    near = (np.abs(GEOM.row[cells] - row[hev]) <= 2) & (np.abs(GEOM.col[cells] - col[hev]) <= 2)
    return np.bincount(hev[near], weights=e[near].astype(float), minlength=ev.n_events)


def _fit_a_b(e_gev: np.ndarray, rel: np.ndarray) -> tuple[float, float]:
    edges = np.geomspace(2.0, 200.0, 9)
    idx = np.digitize(e_gev, edges) - 1
    e_mid, var = [], []
    for k in range(8):
        r = rel[idx == k]
        e_mid.append(np.exp(np.mean(np.log(e_gev[idx == k]))))
        var.append(np.var(r))
    design = np.column_stack([1.0 / np.array(e_mid), np.ones(8)])
    w = 1.0 / np.array(var)  # relative errors of the variances are equal: weight by 1/var
    coef = np.linalg.lstsq(design * w[:, None], np.array(var) * w, rcond=None)[0]
    return float(np.sqrt(coef[0])), float(np.sqrt(coef[1]))


def test_resolution_recovers_stochastic_and_constant_terms():
    resp = EcalResponse(noise_mev=0.0, threshold_mev=0.0)
    sim = {"energy": {"distribution": "log_uniform", "min_mev": 2000.0, "max_mev": 200000.0}}
    ev = simulate_ecal(GEOM, 16000, sim, resp, np.random.default_rng(11))
    meas, true = _sum5x5(ev, True), _sum5x5(ev, False)
    a, b = _fit_a_b(true / 1000.0, meas / true - 1.0)
    assert a == pytest.approx(0.07, rel=0.10)
    assert b == pytest.approx(0.015, rel=0.10)
    # other settings are realised too, so the numbers above are not an accident
    ev2 = simulate_ecal(
        GEOM, 16000, sim, EcalResponse(0.10, 0.03, 0.0, 0.0), np.random.default_rng(11)
    )
    a2, b2 = _fit_a_b(_sum5x5(ev2, False) / 1000.0, _sum5x5(ev2, True) / _sum5x5(ev2, False) - 1)
    assert a2 == pytest.approx(0.10, rel=0.10)
    assert b2 == pytest.approx(0.03, rel=0.10)


def test_deterministic_and_seed_dependent():
    a = simulate_ecal(GEOM, 200, UNIFORM, EcalResponse(), np.random.default_rng(5))
    b = simulate_ecal(GEOM, 200, UNIFORM, EcalResponse(), np.random.default_rng(5))
    c = simulate_ecal(GEOM, 200, UNIFORM, EcalResponse(), np.random.default_rng(6))
    for key, value in a.arrays().items():
        np.testing.assert_array_equal(value, b.arrays()[key], err_msg=key)
    assert not np.array_equal(a.primary_energy, c.primary_energy)
    assert a.cell_id.size != c.cell_id.size or not np.array_equal(a.cell_energy, c.cell_energy)


def test_event_structure_and_truth_sums():
    e = 50000.0
    sim = {"energy": {"distribution": "fixed", "value_mev": e}}
    ev = simulate_ecal(GEOM, 400, sim, EcalResponse(), np.random.default_rng(3))
    assert ev.n_events == 400 and np.array_equal(ev.event, np.arange(400))
    assert np.all(np.diff(ev.primary_offsets) == 1)
    assert np.all(ev.cell_energy > 100.0)
    assert np.all(ev.primary_time == 0) and np.all(ev.primary_theta == 0)
    lim = 0.5 * 48 * PITCH - 3 * PITCH
    assert np.all(np.abs(ev.primary_x) <= lim) and np.all(np.abs(ev.primary_y) <= lim)
    # the hit nearest the impact point carries the most energy
    hev = ev.hit_event()
    d2 = (GEOM.x[ev.cell_id] - ev.primary_x[hev]) ** 2 + (
        GEOM.y[ev.cell_id] - ev.primary_y[hev]
    ) ** 2
    assert np.all(d2[ev.hit_offsets[:-1] + _argmax_per_event(ev)] < (0.75 * PITCH) ** 2)
    # truth per primary = photon energy x longitudinal containment x window containment (9x9)
    t_alpha = _longitudinal_parameters(np.array([e]), EcalResponse(), None)
    t_max, alpha = t_alpha[0][0], t_alpha[1][0]
    contained = gammainc(alpha, (alpha - 1) / t_max * 22.5)
    assert 0.98 < contained < 0.995
    all_cells = simulate_ecal(
        GEOM, 400, sim, EcalResponse(noise_mev=0.0, threshold_mev=0.0), np.random.default_rng(3)
    )
    for events, lo, hi in ((all_cells, 0.99, 1.0), (ev, 0.96, 0.99)):
        per_primary = np.bincount(
            np.repeat(np.arange(400), np.diff(events.truth_offsets)), weights=events.truth_energy
        )
        ratio = per_primary / (e * contained)
        assert lo < ratio.mean() < hi  # the threshold drops the tail cells (about 2 %)
        assert np.std(ratio) > 0.003  # leakage fluctuates shower by shower
    # measured energy closes on the truth (calibration map has mean ~1)
    assert ev.cell_energy.sum() / ev.truth_energy.sum() == pytest.approx(1.0, abs=0.01)


def _argmax_per_event(ev) -> np.ndarray:
    hev = ev.hit_event()
    order = np.lexsort((-ev.cell_energy, hev))
    first = ev.hit_offsets[:-1]
    return order[first] - first


def test_showers_fluctuate_beyond_cell_noise():
    """Same photon, same point: the true central-cell fraction and the centroid scatter."""
    n = 400
    for e, min_std in ((2000.0, 0.01), (140000.0, 0.001)):
        sh = _simulate_showers(
            GEOM,
            np.full(n, e),
            np.full(n, X0 + 5.0),
            np.full(n, Y0),
            np.zeros(n),
            np.zeros(n),
            EcalResponse(),
            np.random.default_rng(2),
        )
        frac = sh.deposits[:, 4, 4] / sh.deposits.sum(axis=(1, 2))
        assert frac.std() > min_std
        # centre of gravity of the true 3x3 in x scatters by more than a fraction of a mm
        w = sh.deposits[:, 3:6, 3:6]
        cog = (w.sum(axis=1) * np.array([-PITCH, 0.0, PITCH])).sum(axis=1) / w.sum(axis=(1, 2))
        assert cog.std() > (0.3 if e < 10000 else 0.03)
        assert cog.std() < (5.0 if e < 10000 else 1.0)
    # the mean shower (rng=None) does not fluctuate at all
    mean = _simulate_showers(
        GEOM,
        np.full(3, 2000.0),
        np.full(3, X0),
        np.full(3, Y0),
        np.zeros(3),
        np.zeros(3),
        EcalResponse(),
        None,
    )
    np.testing.assert_allclose(mean.deposits[0], mean.deposits[2])


def _cog(prim, cell, dep) -> np.ndarray:
    """Linear centre of gravity of all deposits (x, y) in mm."""
    return np.array([np.sum(dep * GEOM.x[cell]), np.sum(dep * GEOM.y[cell])]) / dep.sum()


@pytest.mark.parametrize("phi", [0.0, 1.0, 2.5, 4.0])
def test_inclined_photon_shifts_centroid_along_phi(phi):
    n, theta, e = 200, 0.1, 50000.0
    resp = EcalResponse()
    args = (np.full(n, e), np.full(n, X0), np.full(n, Y0))
    angles = (np.full(n, theta), np.full(n, phi))
    incl = _cog(*shower_deposits(GEOM, *args, *angles, resp, np.random.default_rng(4)))
    perp = _cog(
        *shower_deposits(GEOM, *args, np.zeros(n), np.zeros(n), resp, np.random.default_rng(4))
    )
    d = incl - perp
    assert np.angle(np.exp(1j * (np.arctan2(d[1], d[0]) - phi))) == pytest.approx(0.0, abs=0.15)
    # the energy-weighted mean depth at 50 GeV is ~9.6 X0: the axis moves by tan(0.1) 9.6 X0 on
    # average; a perpendicular photon hitting there has the same cell centre of gravity
    s = np.tan(theta) * 9.6 * 15.7
    moved = (np.full(n, X0 + s * np.cos(phi)), np.full(n, Y0 + s * np.sin(phi)))
    ref = _cog(*shower_deposits(GEOM, args[0], *moved, 0.0, 0.0, resp, np.random.default_rng(4)))
    np.testing.assert_allclose(incl, ref, atol=1.0)


def test_target_incidence_and_two_photons():
    sim = {
        **UNIFORM,
        "n_primaries": 2,
        "incidence": "target",
        "max_angle_rad": 0.027,
        "min_separation_mm": 60.0,
    }
    ev = simulate_ecal(GEOM, 300, sim, EcalResponse(), np.random.default_rng(8))
    assert np.all(np.diff(ev.primary_offsets) == 2)
    assert np.all((ev.primary_theta >= 0) & (ev.primary_theta <= 0.027))
    r = 33027.0 * np.tan(ev.primary_theta.astype(float))
    np.testing.assert_allclose(ev.primary_x, r * np.cos(ev.primary_phi), atol=0.01)
    np.testing.assert_allclose(ev.primary_y, r * np.sin(ev.primary_phi), atol=0.01)
    lim = 0.5 * 48 * PITCH - 3 * PITCH + 1e-3
    assert np.all(np.abs(ev.primary_x) <= lim) and np.all(np.abs(ev.primary_y) <= lim)
    x = ev.primary_x.reshape(-1, 2)
    y = ev.primary_y.reshape(-1, 2)
    assert np.all(np.hypot(x[:, 0] - x[:, 1], y[:, 0] - y[:, 1]) >= 60.0 - 1e-3)
    assert set(np.unique(ev.truth_primary)) == {0, 1}
    # shared cells carry truth from both photons, summing to at most the measured scale
    assert ev.truth_offsets[-1] > ev.cell_id.size


@pytest.mark.parametrize(
    ("sim", "key"),
    [
        ({}, "energy"),
        ({**UNIFORM, "n_primaries": 0}, "n_primaries"),
        ({**UNIFORM, "incidence": "sideways"}, "incidence"),
        ({**UNIFORM, "max_angle_rad": -1.0}, "max_angle_rad"),
        ({**UNIFORM, "margin_cells": -2}, "margin_cells"),
        ({**UNIFORM, "min_separation_mm": -5}, "min_separation_mm"),
        ({**UNIFORM, "colour": "red"}, "colour"),
        ({"energy": {"distribution": "gauss", "value_mev": 1.0}}, "distribution"),
        ({"energy": {"distribution": "fixed"}}, "value_mev"),
        ({"energy": {"distribution": "uniform", "min_mev": 5e4, "max_mev": 2e3}}, "min_mev"),
        ({"energy": {"distribution": "fixed", "value_mev": "big"}}, "value_mev"),
        ({"energy": {"distribution": "fixed", "value_mev": 1e4, "min_mev": 1}}, "min_mev"),
    ],
)
def test_invalid_sim_raises_naming_key(sim, key):
    with pytest.raises(ValueError, match=key):
        validate_sim(sim)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="n_events"):
        simulate_ecal(GEOM, 0, UNIFORM, EcalResponse(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="energy_mev"):
        shower_deposits(
            GEOM, [10.0], [0.0], [0.0], [0.0], [0.0], EcalResponse(), np.random.default_rng(0)
        )
    with pytest.raises(ValueError, match="stochastic"):
        EcalResponse(stochastic=-0.1)
    with pytest.raises(ValueError, match="margin_cells"):
        simulate_ecal(
            GEOM, 5, {**UNIFORM, "margin_cells": 30}, EcalResponse(), np.random.default_rng(0)
        )
