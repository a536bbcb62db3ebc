"""Realism of the camera TPC simulation: light yield, diffusion law, pedestal maps, determinism."""

import math

import numpy as np
import pytest

from caloreco.imaging.camera import CameraTPC, camera_from_config
from caloreco.imaging.digitise import digitise_recoils
from caloreco.imaging.frames import KIND_CODES
from caloreco.imaging.pedestal import camera_pedestal, pedestal_frames, pedestal_from_frames
from caloreco.imaging.simulate import (
    RecoilSpec,
    recoil_spec_from_config,
    simulate_camera,
    simulate_frames,
)
from caloreco.imaging.tracks import Deposits, electron_tracks


def point_deposits(n: int, energy_kev: float) -> Deposits:
    """``n`` point-like deposits of ``energy_kev`` at their recoil's start."""
    return Deposits(
        offsets=np.arange(n + 1, dtype=np.int64),
        x=np.zeros(n),
        y=np.zeros(n),
        z=np.zeros(n),
        energy=np.full(n, energy_kev),
        path_mm=np.zeros(n),
    )


def test_gains_and_unsaturated_yield_by_hand():
    cam = CameraTPC()
    g = 0.0347 * math.exp(0.0209 * 440)
    e = 0.87319885 * math.exp(-0.002 * 440)
    assert g == pytest.approx(342, rel=0.01) and e == pytest.approx(0.362, rel=0.01)
    omega = 1 / (4 * (346 / 14.976 + 1) * 0.95) ** 2
    assert cam.solid_angle == pytest.approx(omega) and omega == pytest.approx(1.19e-4, rel=0.01)
    per_e = (g * e) ** 2 * cam.light_scale * g * 0.07 * omega * 2.0
    assert cam.unsaturated_counts_per_kev(0.0) == pytest.approx(1000 / 46.2 * per_e)


def test_linear_chain_matches_the_analytic_yield_without_saturation():
    cam = CameraTPC(height=64, width=64, saturation_beta=0.0)
    rng = np.random.default_rng(3)
    n, drift = 400, 200.0
    sig = digitise_recoils(
        point_deposits(n, 2.0),
        np.arange(n),
        np.full(n, 4.9),
        np.full(n, 4.9),
        np.full(n, drift),
        n,
        cam,
        rng,
    )
    per_kev = sig.light_total / 2.0
    expected = cam.unsaturated_counts_per_kev(drift)
    # relative spread per spot ~ sqrt(1/N_e (1 + 1) ...) ~ 0.2: the mean of 400 is good to 1 %
    assert per_kev.mean() == pytest.approx(expected, rel=0.03)
    assert np.array_equal(sig.light, sig.light_total)  # all inside the 9.7 mm image


def test_counts_per_kev_of_fe55_is_about_2000():
    # 5.9 keV electrons over LIME's 0-50 cm drift, saturation on (the tuned light scale):
    # about 2000 counts/keV (LNGS Run 2: 2080, Run 3: about 1700); tolerance 10 %
    cam = CameraTPC(height=96, width=96)
    rng = np.random.default_rng(11)
    n = 300
    dep = electron_tracks(np.full(n, 5.9), rng)
    z = rng.uniform(0.0, 500.0, n)
    sig = digitise_recoils(dep, np.arange(n), np.full(n, 7.3), np.full(n, 7.3), z, n, cam, rng)
    assert sig.light_total.mean() / 5.9 == pytest.approx(2000.0, rel=0.10)
    # saturation: a spot near the GEM is denser, hence darker, than one far away (LIME data)
    near, far = z < 100, z > 300
    assert sig.light_total[near].mean() < 0.8 * sig.light_total[far].mean()


def test_spot_size_follows_the_diffusion_law():
    cam = CameraTPC(height=64, width=64, saturation_beta=0.0)
    rng = np.random.default_rng(7)
    drifts = np.array([20.0, 100.0, 250.0, 500.0])
    sig2 = []
    for d in drifts:
        # bright points (40 keV: ~500 electrons) so that the spread of the few electrons around
        # their own centroid (a 1 - 2 / N_e bias with exponential gains) stays below 1 %
        n = 80
        x0 = rng.uniform(4.0, 5.7, n)  # random sub-pixel positions
        y0 = rng.uniform(4.0, 5.7, n)
        s = digitise_recoils(
            point_deposits(n, 40.0), np.arange(n), x0, y0, np.full(n, d), n, cam, rng
        )
        c = s.counts.astype(np.float64)
        rows = (np.arange(64) + 0.5) * cam.pixel_mm
        tot = c.sum(axis=(1, 2))
        mx = (c.sum(axis=1) * rows).sum(axis=1) / tot
        vx = (c.sum(axis=1) * (rows - mx[:, None]) ** 2).sum(axis=1) / tot
        # remove the pixel size (uniform sub-pixel position: pitch^2 / 12)
        sig2.append(vx.mean() - cam.pixel_mm**2 / 12)
    sig2 = np.array(sig2)
    law = 0.1225 + 0.01232 * drifts / 10.0
    assert np.allclose(sig2, law, rtol=0.04)
    slope, intercept = np.polyfit(drifts / 10.0, sig2, 1)
    assert slope == pytest.approx(0.01232, rel=0.06)
    assert intercept == pytest.approx(0.1225, rel=0.10)
    # imaging.md: 0.37 mm at 1 cm, 0.86 mm at 50 cm
    assert float(cam.sigma_t_mm(10.0)) == pytest.approx(0.37, abs=0.005)
    assert float(cam.sigma_t_mm(500.0)) == pytest.approx(0.86, abs=0.005)


def test_pedestal_sigma_map_is_recovered_from_pedestal_frames():
    cam = CameraTPC(height=64, width=64, hot_fraction=2e-3)
    rng = np.random.default_rng(0)
    true = camera_pedestal(cam, rng)
    frames = pedestal_frames(true, 200, rng)
    meas = pedestal_from_frames(frames)
    ratio = meas.rms / true.rms
    # the sample RMS of 200 Gaussian values scatters by 1/sqrt(2 x 199) = 5 % (plus rounding)
    assert np.median(ratio) == pytest.approx(1.0, abs=0.01)
    assert np.std(ratio) == pytest.approx(1 / math.sqrt(2 * 199), rel=0.15)
    assert np.abs(meas.mean - true.mean).max() < 6 * true.rms.max() / math.sqrt(200)
    # hot pixels stand out
    assert true.hot.sum() > 0
    assert np.all(meas.rms[true.hot] > 2 * np.median(meas.rms))
    assert np.median(true.mean) == pytest.approx(100.0, abs=0.2)
    assert np.median(true.rms) == pytest.approx(2.5, rel=0.05)


def test_frames_truth_and_determinism():
    cam = CameraTPC(height=96, width=96)
    spec = RecoilSpec(
        energy={"distribution": "lines", "values_kev": [1.0, 6.0], "balanced": True},
        empty_fraction=0.2,
        margin_mm=3.0,
    )
    true, meas = simulate_camera(cam, seed=4, n_pedestal_frames=20)
    a = simulate_frames(cam, spec, true, 40, seed=4, first_event=100)
    b = simulate_frames(cam, spec, true, 40, seed=4, first_event=100)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.truth_light, b.truth_light)
    c = simulate_frames(cam, spec, true, 40, seed=4, first_event=140)
    assert not np.array_equal(a.image, c.image)
    assert np.array_equal(a.event, np.arange(100, 140))
    # the truth is the signal: per frame it sums to the recoils' light inside the image
    per_frame = np.add.reduceat(a.recoils["recoil_light"], a.recoil_offsets[:-1]) * (
        np.diff(a.recoil_offsets) > 0
    )
    assert np.allclose(a.truth_light.sum(axis=(1, 2)), per_frame)
    assert np.all((a.truth_recoil >= 0) == (a.truth_light > 0))
    # pedestal-like frames: (image - true mean) / true rms is standard normal (rounding adds 1/12)
    empty = a.kind == KIND_CODES["pedestal"]
    assert empty.any()
    z = (a.image[empty] - true.mean) / np.sqrt(true.rms**2 + 1 / 12)
    assert abs(z.mean()) < 0.02 and z.std() == pytest.approx(1.0, abs=0.02)
    # NR: visible energy as asked, kinetic energy higher (quenching)
    nr = a.recoils["recoil_kind"] == KIND_CODES["NR"]
    assert nr.any() and np.all(
        a.recoils["recoil_ekin_kev"][nr] > a.recoils["recoil_energy_kev"][nr]
    )


def test_balanced_lines_and_config_errors():
    spec = RecoilSpec(
        energy={"distribution": "lines", "values_kev": [0.5, 2.0, 6.0], "balanced": True},
        empty_fraction=0.0,
    )
    cam = CameraTPC(height=64, width=64)
    true, _ = simulate_camera(cam, seed=1, n_pedestal_frames=4)
    f = simulate_frames(cam, spec, true, 60, seed=1)
    pairs = list(
        zip(f.recoils["recoil_energy_kev"].tolist(), f.recoils["recoil_kind"].tolist(), strict=True)
    )
    counts = {p: pairs.count(p) for p in set(pairs)}
    assert len(counts) == 6 and set(counts.values()) == {10}
    with pytest.raises(ValueError, match="unknown keys"):
        recoil_spec_from_config({"energies": [1]})
    with pytest.raises(ValueError, match="distribution"):
        RecoilSpec(energy={"distribution": "gauss"})
    with pytest.raises(ValueError, match="kinds"):
        RecoilSpec(kinds={"alpha": 1.0})
    with pytest.raises(ValueError, match="unknown keys"):
        camera_from_config({"pixel": 0.1})
    with pytest.raises(ValueError, match="noise_median"):
        CameraTPC(noise_median=0.0)
    with pytest.raises(ValueError, match="pedestal"):
        simulate_frames(CameraTPC(height=32, width=32), spec, true, 2, seed=1)


def test_continuous_spectrum_and_poisson_multiplicity():
    spec = RecoilSpec(
        energy={"distribution": "exponential", "slope_kev": 3.0, "min_kev": 1.0, "max_kev": 30.0},
        recoils_per_frame=2.0,
        poisson=True,
        empty_fraction=0.0,
    )
    cam = CameraTPC(height=64, width=64)
    true, _ = simulate_camera(cam, seed=2, n_pedestal_frames=4)
    f = simulate_frames(cam, spec, true, 80, seed=2)
    n = np.diff(f.recoil_offsets)
    assert n.mean() == pytest.approx(2.0, abs=0.4)
    e = f.recoils["recoil_energy_kev"]
    assert e.min() >= 1.0 and e.max() <= 30.0
    # truncated exponential mean: slope + lo - (hi - lo) exp(-(hi-lo)/slope) / (1 - exp(...))
    x = math.exp(-29 / 3)
    assert e.mean() == pytest.approx(3 + 1 - 29 * x / (1 - x), rel=0.15)
    assert np.allclose(
        f.energy_kev, np.bincount(np.repeat(np.arange(80), n), weights=e, minlength=80), rtol=1e-6
    )
