"""Autoencoder, score maps, regions, selection metrics and the anomaly analysis end to end."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from caloreco.imaging import metrics as M
from caloreco.imaging.anomaly import (
    AnomalySettings,
    anomaly_analysis,
    anomaly_settings_from_config,
    localised_score,
)
from caloreco.imaging.camera import CameraTPC
from caloreco.imaging.regions import region_crops, roi_labels
from caloreco.imaging.simulate import RecoilSpec, simulate_camera, simulate_frames
from caloreco.nn.autoencoder import (
    AutoencoderConfig,
    ConvAutoencoder,
    load_autoencoder,
    reconstruct_frames,
    save_autoencoder,
    train_autoencoder,
)
from caloreco.nn.recoil_classifier import CropAutoencoder, CropCNN


def test_autoencoder_shapes_and_any_size():
    ae = ConvAutoencoder((4, 8, 8), 2)
    x = torch.zeros(3, 1, 20, 36)
    assert ae(x).shape == (3, 1, 20, 36)
    assert ConvAutoencoder((4, 8, 8), 2, fast=True)(x).shape == (3, 1, 20, 36)
    assert CropCNN(32, 1)(torch.zeros(5, 1, 32, 32), torch.zeros(5, 1)).shape == (5,)
    z, rec = CropAutoencoder(32, 6)(torch.zeros(2, 1, 32, 32))
    assert z.shape == (2, 6) and rec.shape == (2, 1, 32, 32)


def test_autoencoder_training_is_deterministic_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 40, 40)).astype(np.float32)
    cfg = AutoencoderConfig(
        channels=(4, 4, 4), latent=2, patch=32, patches_per_frame=4, epochs=2, batch_size=8
    )
    a, ha = train_autoencoder(z, cfg, seed=3, device="cpu")
    b, hb = train_autoencoder(z, cfg, seed=3, device="cpu")
    c, _ = train_autoencoder(z, cfg, seed=4, device="cpu")
    assert ha == hb and len(ha) == 2
    for (k, va), vb, _vc in zip(
        a.state_dict().items(), b.state_dict().values(), c.state_dict().values(), strict=True
    ):
        assert torch.equal(va, vb), k
    assert any(
        not torch.equal(va, vc)
        for va, vc in zip(a.state_dict().values(), c.state_dict().values(), strict=True)
    )
    out = reconstruct_frames(a, z, clip=cfg.clip)
    assert out.shape == z.shape and out.dtype == np.float32
    path = save_autoencoder(tmp_path / "ae.pt", a, {"seed": 3})
    back, meta = load_autoencoder(path)
    assert meta == {"seed": 3}
    assert np.array_equal(reconstruct_frames(back, z, clip=cfg.clip), out)
    with pytest.raises(ValueError, match="z_pedestal"):
        train_autoencoder(z[:, :16, :16], cfg, device="cpu")
    with pytest.raises(ValueError, match="patch"):
        AutoencoderConfig(patch=30)


def test_threshold_histograms_against_brute_force():
    rng = np.random.default_rng(1)
    s = rng.normal(size=(3, 8, 9))
    light = rng.exponential(size=(3, 8, 9))
    edges = np.array([-1.0, 0.0, 0.5, 2.0])
    sel, kept = M.threshold_histograms(s, light, edges)
    for f in range(3):
        for j, t in enumerate(edges):
            assert sel[f, j] == (s[f] > t).sum()
            assert kept[f, j] == pytest.approx(light[f][s[f] > t].sum())
    area, ik = M.curve_from_histograms(sel, kept, 72, light.sum(axis=(1, 2)))
    assert area[1] == pytest.approx((s <= 0).mean()) and ik[0] == pytest.approx(
        light[s > -1].sum() / light.sum()
    )
    # a straight curve: interpolation
    assert M.kept_at_area([0.9, 1.0], [1.0, 0.0], 0.95) == pytest.approx(0.5)
    assert M.area_at_kept([0.9, 1.0], [1.0, 0.0], 0.25) == pytest.approx(0.975)
    assert np.isnan(M.kept_at_area([0.9, 0.95], [1.0, 0.9], 0.99))


def test_roc_auc_accuracy_and_purity():
    rng = np.random.default_rng(2)
    s, b = rng.normal(1, 1, 200), rng.normal(0, 1, 300)
    r = M.roc_auc(s, b)
    ref = roc_auc_score(np.r_[np.ones(200), np.zeros(300)], np.r_[s, b])
    assert r["auc"] == pytest.approx(ref)
    a = r["auc"]
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = np.sqrt((a * (1 - a) + 199 * (q1 - a * a) + 299 * (q2 - a * a)) / (200 * 300))
    assert r["auc_err"] == pytest.approx(se)
    assert np.isnan(M.roc_auc([], b)["auc"])
    acc = M.accuracy(np.array([1, 0, 1, 1]), np.array([1, 1, 1, 0]))
    assert acc["accuracy"] == 0.5 and acc["accuracy_err"] == pytest.approx(0.25)
    p = M.cluster_purity(np.array([0, 0, 0, 1, 1, 1]), np.array([1, 1, 0, 0, 0, 0]))
    assert p["purity"] == pytest.approx(5 / 6) and p["majority_fraction"] == pytest.approx(4 / 6)


def test_roi_labels_hysteresis_and_frames():
    s = np.zeros((2, 12, 12), np.float32)
    s[0, 1:4, 1:4] = 2.0
    s[0, 2, 2] = 9.0  # a seed: the blob is kept
    s[0, 7:10, 7:10] = 2.0  # no seed: dropped
    s[0, 0, 11] = 9.0  # a seed of one pixel: below min_pixels
    s[1, 1:4, 1:4] = 9.0  # same place, next frame: its own region 0
    lab = roi_labels(s, 1.0, 5.0, min_pixels=2)
    assert (lab[0] == 0).sum() == 9 and (lab[0] >= 0).sum() == 9
    assert lab[0, 0, 11] == -1 and lab[0, 8, 8] == -1
    assert (lab[1] == 0).sum() == 9
    assert (roi_labels(s, 1.0) >= 0).sum() == 9 + 9 + 1 + 9
    with pytest.raises(ValueError, match="t_high"):
        roi_labels(s, 3.0, 2.0)


def test_localised_score_and_crops():
    x = np.zeros((1, 41, 41), np.float32)
    x[0, 20, 20] = 1.0
    v = localised_score(x, [2.0], [0.5])
    g = 1 / (2 * np.pi * 4.0)  # peak of a unit impulse smoothed by a Gaussian of sigma 2
    assert v[0, 20, 20] == pytest.approx(g / 0.5, rel=0.02)
    sub = np.zeros((2, 30, 30), np.float32)
    sub[1, 10, 20] = 5.0
    c = region_crops(sub, np.array([1]), np.array([20.5]), np.array([10.5]), 1.0, size=8, bin=2)
    assert c.shape == (1, 4, 4) and c.sum() == 5.0 and c[0, 2, 2] == 5.0
    edge = region_crops(sub, np.array([1]), np.array([0.5]), np.array([0.5]), 1.0, size=8, bin=2)
    assert edge.sum() == 0.0  # outside the image is zero


def test_anomaly_analysis_small_end_to_end():
    cam = CameraTPC(height=64, width=64)
    spec = RecoilSpec(
        energy={"distribution": "lines", "values_kev": [1.0, 20.0], "balanced": True},
        empty_fraction=0.3,
        margin_mm=3.0,
    )
    true, meas = simulate_camera(cam, seed=5, n_pedestal_frames=30)
    frames = simulate_frames(cam, spec, true, 120, seed=5)
    settings = AnomalySettings(
        autoencoder={
            "channels": (4, 4, 4),
            "latent": 2,
            "patch": 32,
            "epochs": 1,
            "patches_per_frame": 2,
        },
        classifier_epochs=2,
        dec_steps=5,
        n_boot=20,
        area_targets=(0.9, 0.978),
    )
    m, art = anomaly_analysis(frames, meas, settings, pixel_mm=cam.pixel_mm, seed=1, device="cpu")
    sel = m["selection"]["methods"]
    for name in ("nsigma", "ae_pixel", "window", "ae_local"):
        k = sel[name]["kept_at_area"]["0.9"]["value"]
        assert 0.0 <= k <= 1.0
        a = np.asarray(sel[name]["curve"]["area_discarded"])
        assert a.min() >= 0 and a.max() <= 1
    assert 0.0 < sel["classical_reco"]["point"]["intensity_kept"] <= 1.0
    # 1 keV spots (2000 counts) are far above the noise: every frame score separates them
    assert m["roc"]["methods"]["ae_local"]["1"]["auc"] > 0.95
    assert set(m["er_nr"]["per_energy"]) <= {"1", "20"}
    assert 0.5 <= m["dec"]["purity"] <= 1.0
    assert len(art["regions"]) > 0 and art["examples"]["raw"].shape[1:] == (64, 64)
    with pytest.raises(ValueError, match="unknown keys"):
        anomaly_settings_from_config({"sigmas": [1]})
    with pytest.raises(ValueError, match="truth"):
        anomaly_analysis(
            frames.__class__(
                frames.event, frames.run, frames.image, frames.kind, frames.energy_kev
            ),
            meas,
        )
