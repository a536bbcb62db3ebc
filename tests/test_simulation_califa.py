"""CALIFA gamma transport: cross sections, Klein-Nishina, attenuation, energy balance, response."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from caloreco.constants import ELECTRON_MASS_MEV
from caloreco.geometry import califa_geometry, ecal_geometry
from caloreco.simulation._califa_reference import reference_transport
from caloreco.simulation.califa import (
    CalifaResponse,
    _cone_exit,
    _rotate,
    sample_klein_nishina,
    simulate_califa,
    transport_gammas,
    transport_gammas_detailed,
    validate_sim,
)
from caloreco.simulation.xcom import csi_attenuation, xcom_csi_attenuation

# physics.md section 2: E (MeV), mu (1/cm), Compton / photo / pair fractions
PHYSICS_MD = [
    (0.1, 8.68, 0.06, 0.94, 0.0),
    (0.3, 0.753, 0.51, 0.49, 0.0),
    (0.662, 0.335, 0.86, 0.14, 0.0),
    (1.0, 0.257, 0.92, 0.08, 0.0),
    (2.0, 0.184, 0.90, 0.03, 0.07),
    (5.0, 0.163, 0.57, 0.01, 0.42),
    (10.0, 0.182, 0.32, 0.0, 0.68),
]

SIM_21 = {"n_primaries": 1, "energy": {"distribution": "fixed", "value_mev": 2.1}}


@pytest.fixture(scope="module")
def geom():
    return califa_geometry()


def _isotropic(n, rng, lo_deg=19.0, hi_deg=140.0):
    c = rng.uniform(math.cos(math.radians(hi_deg)), math.cos(math.radians(lo_deg)), n)
    return np.arccos(c), rng.uniform(0.0, 2.0 * np.pi, n)


# ------------------------------------------------------------------ cross sections


@pytest.mark.parametrize("e, mu_cm, fc, fp, fq", PHYSICS_MD)
def test_mu_matches_physics_md_table(e, mu_cm, fc, fp, fq):
    att = csi_attenuation(np.array([e]))
    total = att.total[0] * 10.0  # 1/cm
    assert total == pytest.approx(mu_cm, rel=0.01)
    assert att.compton[0] / att.total[0] == pytest.approx(fc, abs=0.01)
    assert att.photo[0] / att.total[0] == pytest.approx(fp, abs=0.01)
    assert att.pair[0] / att.total[0] == pytest.approx(fq, abs=0.01)


def test_table_interpolation_matches_xcom_splines():
    e = np.geomspace(0.04, 100.0, 3001)
    fast = csi_attenuation(e)
    ref = xcom_csi_attenuation(e)
    np.testing.assert_allclose(fast.compton, ref.compton, rtol=1e-3)
    np.testing.assert_allclose(fast.photo, ref.photo, rtol=1e-3)
    # pair: the threshold factor (1 - E_thr/E)^3 bends ln mu near 1.02 and 2.04 MeV, where
    # linear interpolation is a few per cent off a coefficient that is < 1e-3 of the total
    np.testing.assert_allclose(fast.pair, ref.pair, rtol=0, atol=1e-3 * ref.total.min())
    np.testing.assert_allclose(fast.pair[e > 3.0], ref.pair[e > 3.0], rtol=1e-3)
    np.testing.assert_allclose(fast.total, ref.total, rtol=1e-3)
    assert np.all(fast.pair[e < 1.022] == 0.0)
    # iodine K edge (33.17 keV): iodine's photoelectric cross section jumps 1224 -> 7393 barn,
    # caesium's (no edge there) is about 1450 barn: CsI jumps by (7393 + 1450) / (1224 + 1450)
    jump = xcom_csi_attenuation(np.array([0.03316, 0.03318])).photo
    assert jump[1] / jump[0] == pytest.approx(3.3, abs=0.1)


def test_cross_section_input_checked():
    with pytest.raises(ValueError, match="energy_mev"):
        csi_attenuation(np.array([1e4]))
    with pytest.raises(ValueError, match="energy_mev"):
        xcom_csi_attenuation(np.array([1e-5]))


# ------------------------------------------------------------------ Klein-Nishina, rotation


def _kn_moments(k: float) -> tuple[float, float]:
    """<cos theta> and <E'/E> of the Klein-Nishina distribution, by quadrature."""

    def dsig(c):
        p = 1.0 / (1.0 + k * (1.0 - c))
        return p * p * (p + 1.0 / p - (1.0 - c * c))

    norm = quad(dsig, -1, 1)[0]
    mean_c = quad(lambda c: c * dsig(c), -1, 1)[0] / norm
    mean_eps = quad(lambda c: dsig(c) / (1.0 + k * (1.0 - c)), -1, 1)[0] / norm
    return mean_c, mean_eps


@pytest.mark.parametrize("e", [0.1, 0.662, 2.1, 10.0])
def test_klein_nishina_sampling_moments(e):
    rng = np.random.default_rng(11)
    eps, cos_t = sample_klein_nishina(np.full(200_000, e), rng)
    k = e / ELECTRON_MASS_MEV
    mean_c, mean_eps = _kn_moments(k)
    assert cos_t.mean() == pytest.approx(mean_c, abs=0.005)
    assert eps.mean() == pytest.approx(mean_eps, abs=0.003)
    # kinematics: E'/E = 1 / (1 + k (1 - cos theta)), bounded by the Compton edge
    np.testing.assert_allclose(eps, 1.0 / (1.0 + k * (1.0 - cos_t)), rtol=1e-12)
    assert eps.min() >= 1.0 / (1.0 + 2.0 * k) - 1e-12
    assert cos_t.min() >= -1.0 and cos_t.max() <= 1.0


def test_klein_nishina_angular_histogram():
    rng = np.random.default_rng(12)
    k = 1.0 / ELECTRON_MASS_MEV
    n = 400_000
    _, cos_t = sample_klein_nishina(np.full(n, 1.0), rng)
    edges = np.linspace(-1.0, 1.0, 21)
    counts, _ = np.histogram(cos_t, edges)

    def dsig(c):
        p = 1.0 / (1.0 + k * (1.0 - c))
        return p * p * (p + 1.0 / p - (1.0 - c * c))

    norm = quad(dsig, -1, 1)[0]
    bins = zip(edges[:-1], edges[1:], strict=True)
    expected = np.array([quad(dsig, a, b)[0] for a, b in bins]) / norm * n
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 45.0  # 20 bins; p ~ 1e-3


def test_rotation_gives_requested_angle_and_unit_vectors():
    rng = np.random.default_rng(3)
    n = 10_000
    u = rng.normal(size=(n, 3))
    u[:3] = [[0, 0, 1], [0, 0, -1], [1, 0, 0]]
    u /= np.linalg.norm(u, axis=1)[:, None]
    cos_t = rng.uniform(-1, 1, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    vx, vy, vz = _rotate(u[:, 0], u[:, 1], u[:, 2], cos_t, phi)
    np.testing.assert_allclose(vx**2 + vy**2 + vz**2, 1.0, atol=1e-12)
    np.testing.assert_allclose(vx * u[:, 0] + vy * u[:, 1] + vz * u[:, 2], cos_t, atol=1e-12)
    # azimuth uniform: for a fixed u the mean scattered direction is cos_t u
    m = 20_000
    ux, uy, uz = np.full(m, 0.6), np.full(m, 0.0), np.full(m, -0.8)
    wx, wy, wz = _rotate(ux, uy, uz, np.zeros(m), rng.uniform(0, 2 * np.pi, m))
    assert abs(wx.mean()) < 0.02 and abs(wy.mean()) < 0.02 and abs(wz.mean()) < 0.02


def test_cone_exit_against_brute_force():
    rng = np.random.default_rng(4)
    c = math.cos(math.radians(25.0))
    n = 3000
    # points inside the cone x.z >= c |x| around +z, random directions
    th = np.arccos(rng.uniform(c, 1.0, n))
    ph = rng.uniform(0, 2 * np.pi, n)
    r = rng.uniform(10.0, 400.0, n)
    q = r[:, None] * np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], 1)
    u = rng.normal(size=(n, 3))
    u /= np.linalg.norm(u, axis=1)[:, None]
    t = _cone_exit(q[:, 2], u[:, 2], np.sum(q * u, 1), np.sum(q * q, 1), c)
    steps = np.linspace(0.0, 5000.0, 500_001)[1:]
    for i in range(0, n, 100):
        x = q[i] + steps[:, None] * u[i]
        inside = x[:, 2] >= c * np.linalg.norm(x, axis=1)
        out = np.flatnonzero(~inside)
        if out.size == 0:
            assert not np.isfinite(t[i]) or t[i] > 5000.0
        else:
            assert t[i] == pytest.approx(steps[out[0]], abs=0.02)


# ------------------------------------------------------------------ transport


@pytest.mark.parametrize("e", [0.3, 1.0, 5.0])
def test_unscattered_fraction_follows_xcom_attenuation(e):
    mu = float(xcom_csi_attenuation(np.array([e])).total[0])  # 1/mm
    depth = 1.0 / mu  # transmission ~ 0.37
    geom = califa_geometry(crystal_length_mm=depth)
    rng = np.random.default_rng(21)
    n = 100_000
    th, ph = _isotropic(n, rng, 45.0, 135.0)
    gam, _, e_dep = transport_gammas(geom, np.full(n, e), th, ph, rng)
    # a gamma that interacted once has deposited energy (no coherent scattering)
    untouched = 1.0 - np.unique(gam[e_dep > 0]).size / n
    assert untouched == pytest.approx(math.exp(-mu * depth), rel=0.02)


def test_energy_conservation(geom):
    rng = np.random.default_rng(31)
    n = 20_000
    energy = rng.uniform(0.3, 10.0, n)
    th, ph = _isotropic(n, rng, 5.0, 175.0)  # some outside the coverage
    res = transport_gammas_detailed(geom, energy, th, ph, rng)
    total = np.bincount(res.gamma_index, weights=res.e_dep, minlength=n)
    np.testing.assert_allclose(total + res.escaped, energy, rtol=1e-12, atol=1e-12)
    assert np.all(res.e_dep > 0) and np.all(res.escaped >= 0)
    assert res.forced < 1e-4 * n
    # gammas outside the coverage escape untouched
    missed = (th < np.radians(19.0)) | (th > np.radians(140.0))
    np.testing.assert_array_equal(res.escaped[missed], energy[missed])
    assert np.all((res.cell_id >= 0) & (res.cell_id < geom.n_cells))
    # sorted and unique per (gamma, crystal)
    key = res.gamma_index * geom.n_cells + res.cell_id
    assert np.all(np.diff(key) > 0)


def test_thick_detector_absorbs_everything():
    # 2 m of CsI: nothing leaves through the outer sphere; only the openings lose energy
    geom = califa_geometry(crystal_length_mm=2000.0, theta_min_deg=5.0, theta_max_deg=175.0)
    rng = np.random.default_rng(32)
    n = 20_000
    th, ph = _isotropic(n, rng, 60.0, 120.0)
    res = transport_gammas_detailed(geom, np.full(n, 1.0), th, ph, rng)
    assert res.escaped.sum() / n < 0.01


@pytest.mark.parametrize("e, n_ref", [(1.0, 12_000), (5.0, 6_000)])
def test_agrees_with_history_reference(geom, e, n_ref):
    """The vectorised transport against plain delta tracking, one photon at a time."""
    rng = np.random.default_rng(41)
    n = 100_000
    th, ph = _isotropic(n, rng)
    energy = np.full(n, e)
    vec = transport_gammas(geom, energy, th, ph, rng)
    dep, _ = reference_transport(geom, energy[:n_ref], th[:n_ref], ph[:n_ref], rng)
    ref = (
        np.array([k[0] for k in dep]),
        np.array([k[1] for k in dep]),
        np.array(list(dep.values())),
    )

    def figures(g, cell, ed, m):
        tot = np.bincount(g, weights=ed, minlength=m)
        mult = np.bincount(g[ed > 0.1], minlength=m)
        u = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], 1)
        v = np.stack([geom.x, geom.y, geom.z], 1)
        far = np.einsum("ij,ij->i", u[g], v[cell]) < 0  # crystal in the opposite hemisphere
        return (
            np.mean(tot > e - 1e-6),
            np.mean(mult),
            np.mean(np.bincount(g[far], minlength=m) > 0),
        )

    full_v, mult_v, far_v = figures(*vec, n)
    full_r, mult_r, far_r = figures(*ref, n_ref)
    assert full_v == pytest.approx(full_r, abs=4 * math.sqrt(full_r * (1 - full_r) / n_ref))
    assert mult_v == pytest.approx(mult_r, abs=0.08)
    # backscattered photons cross the inner hole and deposit on the other side
    assert far_v > 0.005
    assert far_v == pytest.approx(far_r, abs=4 * math.sqrt(far_r / n_ref) + 1e-3)


def test_transport_input_checked(geom):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="same length"):
        transport_gammas(geom, np.ones(3), np.ones(2), np.ones(3), rng)
    with pytest.raises(ValueError, match="energy_mev"):
        transport_gammas(geom, np.array([2000.0]), np.ones(1), np.ones(1), rng)
    with pytest.raises(ValueError, match="califa"):
        transport_gammas(ecal_geometry(), np.ones(1), np.ones(1), np.ones(1), rng)
    with pytest.raises(ValueError, match="max_generations"):
        transport_gammas(geom, np.ones(1), np.ones(1), np.ones(1), rng, max_generations=0)


# ------------------------------------------------------------------ events and response


@pytest.fixture(scope="module")
def events_21(geom):
    return simulate_califa(geom, 40_000, SIM_21, CalifaResponse(), np.random.default_rng(51))


def test_published_multiplicity_and_full_energy_fraction(events_21):
    """Published Geant4 CALIFA at 2.1 MeV, 100 keV threshold: 1.99 crystals, 79 % full energy."""
    ev = events_21
    n_hits = np.diff(ev.hit_offsets)
    e_sum = np.bincount(ev.hit_event(), weights=ev.cell_energy, minlength=ev.n_events)
    sigma = 0.055 / 2.355 * math.sqrt(2.1)
    full = np.mean(np.abs(e_sum - 2.1) < 3 * sigma)
    assert 1.8 < n_hits.mean() < 2.15
    assert 0.75 < full < 0.88


def test_response_smearing_and_threshold(events_21):
    ev = events_21
    assert np.all(ev.cell_energy > 0.1)
    true_hit = np.zeros(ev.cell_id.size)
    flat = ev.hit_offsets[np.repeat(np.arange(ev.n_events), np.diff(ev.truth_offsets))]
    np.add.at(true_hit, flat + ev.truth_cell, ev.truth_energy)
    big = true_hit > 0.5  # far from the threshold
    t = true_hit[big]
    sigma = np.sqrt((0.055 / 2.355) ** 2 * t + (0.01 * t) ** 2)
    pull = (ev.cell_energy[big] - t) / sigma
    assert abs(pull.mean()) < 0.03
    assert pull.std() == pytest.approx(1.0, abs=0.03)


def test_event_structure_and_times(events_21):
    ev = events_21
    assert ev.n_events == 40_000
    np.testing.assert_array_equal(ev.event, np.arange(40_000))
    np.testing.assert_array_equal(np.diff(ev.primary_offsets), 1)
    assert np.all(np.isnan(ev.primary_x)) and np.all(np.isnan(ev.primary_y))
    assert np.all(np.abs(ev.primary_time) <= 4000.0)
    assert ev.primary_time.std() == pytest.approx(8000.0 / math.sqrt(12.0), rel=0.02)
    th = ev.primary_theta
    assert th.min() >= np.radians(19.0) - 1e-6 and th.max() <= np.radians(140.0) + 1e-6
    # isotropic: uniform in cos theta
    c = np.cos(th)
    lo, hi = math.cos(math.radians(140.0)), math.cos(math.radians(19.0))
    assert c.mean() == pytest.approx(0.5 * (lo + hi), abs=0.01)
    # single gamma per event: hit time = emission time + N(0, 200 ns)
    dt = ev.cell_time - ev.primary_time[ev.hit_event()]
    assert dt.std() == pytest.approx(200.0, rel=0.03)
    assert abs(dt.mean()) < 5.0


def test_multi_gamma_events(geom):
    sim = {
        "n_primaries": 3,
        "energy": {"distribution": "uniform", "min_mev": 0.3, "max_mev": 10.0},
        "theta_min_deg": 19.0,
        "theta_max_deg": 140.0,
    }
    ev = simulate_califa(geom, 3000, sim, CalifaResponse(), np.random.default_rng(61))
    np.testing.assert_array_equal(np.diff(ev.primary_offsets), 3)
    assert ev.primary_energy.min() >= 0.3 and ev.primary_energy.max() <= 10.0
    # a hit's time follows the gamma that deposited most in it
    dom, frac = ev.hit_truth()
    assert np.all(dom >= 0) and np.all((frac > 0) & (frac <= 1 + 1e-6))
    t_dom = ev.primary_time[ev.primary_offsets[ev.hit_event()] + dom]
    assert np.std(ev.cell_time - t_dom) == pytest.approx(200.0, rel=0.05)
    # crystals are unique within an event
    key = ev.hit_event() * geom.n_cells + ev.cell_id
    assert np.unique(key).size == key.size


def test_determinism(geom):
    sim = {"n_primaries": 3, "energy": {"distribution": "uniform", "min_mev": 0.3, "max_mev": 10}}
    a = simulate_califa(geom, 500, sim, CalifaResponse(), np.random.default_rng(7))
    b = simulate_califa(geom, 500, sim, CalifaResponse(), np.random.default_rng(7))
    c = simulate_califa(geom, 500, sim, CalifaResponse(), np.random.default_rng(8))
    for name, value in a.arrays().items():
        np.testing.assert_array_equal(value, getattr(b, name), err_msg=name)
    assert not np.array_equal(a.cell_energy[:50], c.cell_energy[:50])


@pytest.mark.parametrize(
    "sim, key",
    [
        ({"energy": {"distribution": "fixed", "value_mev": 2.1}, "seed": 1}, "seed"),
        ({"n_primaries": 3}, "simulation.energy"),
        ({"energy": {"distribution": "gauss", "value_mev": 2.1}}, "distribution"),
        ({"energy": {"distribution": "fixed"}}, "value_mev"),
        ({"energy": {"distribution": "fixed", "value_mev": 500.0}}, "value_mev"),
        ({"energy": {"distribution": "uniform", "min_mev": 5, "max_mev": 1}}, "min_mev"),
        ({"energy": {"distribution": "fixed", "value_mev": 1, "min_mev": 1}}, "min_mev"),
        ({"n_primaries": 0, "energy": {"distribution": "fixed", "value_mev": 1}}, "n_primaries"),
        ({"n_primaries": 1.5, "energy": {"distribution": "fixed", "value_mev": 1}}, "n_primaries"),
        (
            {"theta_min_deg": 150, "energy": {"distribution": "fixed", "value_mev": 1}},
            "theta_min_deg",
        ),
        (
            {"theta_max_deg": "140", "energy": {"distribution": "fixed", "value_mev": 1}},
            "theta_max_deg",
        ),
        ("not a dict", "mapping"),
    ],
)
def test_invalid_sim_raises(geom, sim, key):
    with pytest.raises(ValueError, match=key):
        validate_sim(sim)
    with pytest.raises(ValueError, match=key):
        simulate_califa(geom, 10, sim, CalifaResponse(), np.random.default_rng(0))


def test_invalid_response_and_arguments(geom):
    with pytest.raises(ValueError, match="threshold_mev"):
        CalifaResponse(threshold_mev=-1.0)
    with pytest.raises(ValueError, match="n_events"):
        simulate_califa(geom, 0, SIM_21, CalifaResponse(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="califa"):
        simulate_califa(ecal_geometry(), 5, SIM_21, CalifaResponse(), np.random.default_rng(0))


def test_validate_sim_defaults():
    cfg = validate_sim({"energy": {"distribution": "fixed", "value_mev": 2.1}})
    assert cfg["n_primaries"] == 1
    assert (cfg["theta_min_deg"], cfg["theta_max_deg"]) == (19.0, 140.0)


def test_openings_wider_than_a_hemisphere():
    """theta_max < 90 deg: the backward opening is not convex; plain delta tracking there."""
    geom = califa_geometry(theta_min_deg=10.0, theta_split_deg=30.0, theta_max_deg=80.0)
    rng = np.random.default_rng(71)
    n, n_ref = 40_000, 6_000
    th, ph = _isotropic(n, rng, 10.0, 80.0)
    energy = np.full(n, 1.0)
    res = transport_gammas_detailed(geom, energy, th, ph, rng, max_generations=60)
    total = np.bincount(res.gamma_index, weights=res.e_dep, minlength=n)
    np.testing.assert_allclose(total + res.escaped, energy, atol=1e-12)
    dep, _ = reference_transport(geom, energy[:n_ref], th[:n_ref], ph[:n_ref], rng)
    g = np.array([k[0] for k in dep])
    tot_ref = np.bincount(g, weights=np.array(list(dep.values())), minlength=n_ref)
    full_ref = np.mean(tot_ref > 1.0 - 1e-6)
    tol = 4 * math.sqrt(full_ref * (1 - full_ref) / n_ref)
    assert np.mean(total > 1.0 - 1e-6) == pytest.approx(full_ref, abs=tol)
