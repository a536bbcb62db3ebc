"""The classical CYGNO chain, step by step on hand-made frames, and end to end on a simulated one."""

import numpy as np
import pytest

from caloreco.imaging import reco
from caloreco.imaging.camera import CameraTPC
from caloreco.imaging.pedestal import PedestalMaps
from caloreco.imaging.simulate import RecoilSpec, simulate_camera, simulate_frames


def flat_pedestal(h, w, mean=100.0, rms=2.0):
    return PedestalMaps(
        np.full((h, w), mean, np.float32), np.full((h, w), rms, np.float32), np.zeros((h, w), bool)
    )


def test_spark_cimax_and_zero_suppression():
    ped = flat_pedestal(8, 8)
    img = np.full((3, 8, 8), 100, np.uint16)
    img[1] = 400  # raw sum 2 x 100 x 64 + 1.695 x 64 exceeded
    img[2, 3, 3] = 6000
    img[2, 4, 4] = 102
    img[2, 5, 5] = 101
    assert reco.spark_mask(img, ped).tolist() == [False, True, False]
    sub = reco.pedestal_subtract(img, ped)
    assert sub[2, 3, 3] == 0.0 and sub[2, 4, 4] == 2.0 and sub[0, 0, 0] == 0.0
    zs = reco.zero_suppress(sub, ped.rms, nsigma=0.6)  # threshold 1.2 counts
    assert zs[2, 4, 4] == 2.0 and zs[2, 5, 5] == 0.0 and zs[2].sum() == 2.0
    assert reco.zero_suppress(sub, ped.rms, nsigma=1.0)[2, 4, 4] == 0.0  # not strictly above 2
    with pytest.raises(ValueError, match="pedestal"):
        reco.pedestal_subtract(img, flat_pedestal(4, 4))
    with pytest.raises(ValueError, match="rms"):
        reco.zero_suppress(sub, np.ones((4, 4)), 1.0)


def test_rebin_is_a_block_mean():
    x = np.arange(32, dtype=np.float64).reshape(1, 4, 8)
    r = reco.rebin_frames(x, 2)
    assert r.shape == (1, 2, 4)
    assert r[0, 0, 0] == (0 + 1 + 8 + 9) / 4 and r[0, 1, 3] == (22 + 23 + 30 + 31) / 4
    with pytest.raises(ValueError, match="multiple"):
        reco.rebin_frames(np.zeros((1, 5, 8)), 2)


def test_median_filter_size_two_against_a_loop():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 9, (2, 6, 7)).astype(np.float32)
    got = reco.median_filter_frames(x, 2)
    # scipy's even window: rows/cols i-1..i with reflected borders, the upper of the two middles
    pad = np.pad(x, ((0, 0), (1, 0), (1, 0)), mode="symmetric")
    ref = np.empty_like(x)
    for f in range(2):
        for i in range(6):
            for j in range(7):
                ref[f, i, j] = np.sort(pad[f, i : i + 2, j : j + 2].ravel())[2]
    assert np.array_equal(got, ref)
    lone = np.zeros((1, 5, 5), np.float32)
    lone[0, 2, 2] = 50
    assert reco.median_filter_frames(lone, 2).max() == 0  # an isolated pixel is removed


def noise_filter_reference(e, tpx=10.0, meancut=1.2, min_nb=3, border=2):
    """tools_lib.noisereductor written out in plain Python (square or not)."""
    e = e.copy()
    nr, nc = e.shape
    e[:border, :] = 0
    e[nr - border :, :] = 0
    e[:, :border] = 0
    e[:, nc - border :] = 0
    for i in range(1, nr - 2):
        for j in range(1, nc - 2):
            spx = e[i, j]
            frame = e[i - 1 : i + 2, j - 1 : j + 2]
            mpx = (frame.sum() - spx) / 8.0
            if abs(spx - mpx) > tpx:
                e[i, j] = mpx
            if mpx < meancut:
                e[i, j] = 0
            if (frame > 0).sum() < min_nb:
                e[i, j] = 0
    return e


def test_noise_filter_hand_made_and_against_reference():
    e = np.zeros((1, 12, 12))
    e[0, 4:7, 4:7] = 5.0  # a 3 x 3 blob
    e[0, 5, 5] = 40.0  # a spike in it: replaced by its neighbour mean (5)
    e[0, 9, 2] = 8.0  # an isolated macro-pixel: its neighbours average 0 < 1.2
    e[0, 0, 6] = 9.0  # on the border
    out = reco.noise_filter(e)[0]
    assert out[5, 5] == 5.0
    assert out[9, 2] == 0.0 and out[0, 6] == 0.0
    # the blob's corner (4,4) sees the mean of 3 neighbours (x5) / 8 = 1.875 >= 1.2 -> kept
    assert out[4, 4] == 5.0
    rng = np.random.default_rng(4)
    for _ in range(3):
        x = rng.exponential(1.0, (16, 20)) * (rng.random((16, 20)) < 0.6)
        x[5:9, 6:12] += 15
        assert np.allclose(reco.noise_filter(x[None])[0], noise_filter_reference(x))


def test_dbscan_two_blobs_and_batching():
    f = np.zeros((2, 40, 40))
    f[0, 5:9, 5:9] = 3.0
    f[0, 25:29, 28:32] = 3.0
    f[0, 35, 2] = 1.0  # a lone point of weight 1 < 20: noise
    f[1, 5:9, 5:9] = 3.0  # same place in another frame: must not merge with frame 0
    w = f.copy()
    s = reco.RecoSettings(eps=3.0, min_samples=20)
    lab = reco.dbscan_labels(f, w, s)
    assert set(np.unique(lab[0])) == {-1, 0, 1}
    assert lab[0, 35, 2] == -1
    assert len(np.unique(lab[0, 5:9, 5:9])) == 1 and len(np.unique(lab[0, 25:29, 28:32])) == 1
    assert lab[0, 6, 6] != lab[0, 26, 29]
    assert np.all(lab[1, 5:9, 5:9] == 0) and (lab[1] >= 0).sum() == 16
    # each frame alone gives the same clusters (up to numbering)
    alone = reco.dbscan_labels(f[:1], w[:1], s)
    assert np.array_equal(alone[0] >= 0, lab[0] >= 0)
    # weights count: 16 points of weight 1 do not reach min_samples 20 within eps 1
    assert (
        reco.dbscan_labels(f[1:] / 3.0, f[1:] / 3.0, reco.RecoSettings(eps=1.0, min_samples=20))
        >= 0
    ).sum() == 0


def test_cluster_table_integral_centroid_and_axes():
    rebin = 2
    lab = np.full((1, 6, 10), -1, np.int32)
    lab[0, 2, 1:9] = 0  # a horizontal line of 8 macro-pixels
    lab[0, 5, 0] = 1
    sub = np.zeros((1, 12, 20), np.float32)
    sub[0, 4:6, 2:18] = 3.0
    sub[0, 4, 2] = -1.0  # a negative pixel inside counts in the integral
    sub[0, 0, 0] = 100.0  # outside every cluster
    sub[0, 10:12, 0:2] = [[1.0, 2.0], [3.0, 4.0]]
    zs = np.clip(sub, 0, None)
    t = reco.cluster_table(reco.order_labels(lab, sub, rebin), sub, zs, pixel_mm=0.5, rebin=rebin)
    assert len(t) == 2
    line = t[t.cluster == 0].iloc[0]
    assert line.integral == pytest.approx(3.0 * 32 - 4.0)
    assert line.integral_zs == pytest.approx(3.0 * 31)
    assert line.n_macro == 8 and line.n_pixels == 32
    # centroid with the positive part as weights: the -1 pixel at column 2 weighs nothing
    cols = (2 * np.arange(2, 18).sum() - 2) / 31
    assert line.x_mm == pytest.approx((cols + 0.5) * 0.5) and line.y_mm == pytest.approx(
        2.5, abs=0.01
    )
    # the major axis is x: weighted variance of the 31 positive pixel columns, written out
    c = np.array([c for c in range(2, 18) for _ in range(2)][1:], float)
    var = ((c - c.mean()) ** 2).mean() * 0.5**2
    assert line.length_mm == pytest.approx(
        np.sqrt(12 * var), rel=1e-3
    ) and line.length_mm == pytest.approx(8.0, rel=0.04)
    assert line.width_mm == pytest.approx(np.sqrt(12 * 0.25**2), rel=0.02)  # two rows: var 1/4 px^2
    small = t[t.cluster == 1].iloc[0]
    assert small.integral == 10.0 and small.peak == 4.0 and small.density == 2.5


def test_reconstruct_a_simulated_6kev_electron():
    cam = CameraTPC(height=128, width=128)
    spec = RecoilSpec(
        energy={"distribution": "lines", "values_kev": [6.0]},
        kinds={"ER": 1.0},
        empty_fraction=0.0,
        margin_mm=4.0,
    )
    true, meas = simulate_camera(cam, seed=3, n_pedestal_frames=60)
    f = simulate_frames(cam, spec, true, 6, seed=3)
    res = reco.reconstruct(
        f.image,
        meas,
        pixel_mm=cam.pixel_mm,
        events=f.event,
        truth_light=f.truth_light,
        truth_recoil=f.truth_recoil,
        recoil_offsets=f.recoil_offsets,
        recoils=f.recoils,
    )
    main = res.clusters[res.clusters.cluster == 0].set_index("frame")
    assert len(main) == 6
    light = f.recoils["recoil_light"]
    # the pedestal-subtracted integral is an unbiased measure of the signal light
    assert np.allclose(main.integral / light, 1.0, atol=0.08)
    assert (
        np.all(main.recoil == 0) and np.all(main.purity == 1.0) and np.all(main.completeness > 0.95)
    )
    assert np.all(
        np.hypot(main.x_mm - f.recoils["recoil_cx_mm"], main.y_mm - f.recoils["recoil_cy_mm"]) < 0.3
    )
    assert np.all(main.true_kind == 1) and np.all(main.true_energy_kev == 6.0)
    mask = reco.full_resolution_mask(res.labels, 4)
    assert mask.shape == f.image.shape and mask.any()
    # numbering of labels follows the table
    assert set(np.unique(res.labels[0])) - {-1} == set(
        res.clusters[res.clusters.frame == 0].cluster
    )
    with pytest.raises(ValueError, match="unknown keys"):
        reco.reco_settings_from_config({"eps_px": 3})
