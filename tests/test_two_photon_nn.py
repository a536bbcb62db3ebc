"""ECAL stage 4 networks: inputs and targets, the permutation-invariant loss, augmentation,
residual start on the fit, determinism and checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from caloreco.nn.two_photon import (
    LOSS_SCALE,
    PairCNN,
    PairDense,
    PairNetwork,
    _augment,
    _xy_pairs,
    fit_counter,
    fit_pair_regressor,
    network_inputs,
    pair_loss,
    regression_targets,
    targets_to_photons,
)
from caloreco.regression.lednev import lednev_window_fractions
from caloreco.regression.two_photon import permutation_invariant_loss
from caloreco.regression.two_shower_fit import two_shower_fit

PITCH = 38.3
torch.set_num_threads(1)


def _sample(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(3.5, 4.5, n) * PITCH
    y1 = rng.uniform(3.5, 4.5, n) * PITCH
    d = rng.uniform(1.3, 2.5, n) * PITCH
    ang = rng.uniform(0, 2 * np.pi, n)
    e1, e2 = rng.uniform(30e3, 60e3, n), rng.uniform(10e3, 30e3, n)
    truth = np.column_stack([x1, y1, e1, x1 + d * np.cos(ang), y1 + d * np.sin(ang), e2])
    w = e1[:, None, None] * lednev_window_fractions(truth[:, 0], truth[:, 1], 9, PITCH)
    w += e2[:, None, None] * lednev_window_fractions(truth[:, 3], truth[:, 4], 9, PITCH)
    w *= 1 + 0.01 * rng.standard_normal(w.shape)
    origin = rng.uniform(-500, 500, (n, 2))
    return w, truth, origin


def test_targets_round_trip_and_inputs():
    w, truth, origin = _sample(5)
    t = regression_targets(truth, w, PITCH)
    # the window centre (4, 4) cells from the lower-left centre is the origin of the targets
    np.testing.assert_allclose(t[:, 0], truth[:, 0] / PITCH - 4.0)
    np.testing.assert_allclose(t[:, 2] + t[:, 5], truth[:, [2, 5]].sum(1) / w.sum(axis=(1, 2)))
    np.testing.assert_allclose(targets_to_photons(t, w, PITCH), truth)
    X, names = network_inputs(w, origin[:, 0], origin[:, 1], PITCH)
    assert X.shape == (5, 81 + 3) and names == ["log_esum_gev", "centre_x", "centre_y"]
    np.testing.assert_allclose(X[:, :81].sum(axis=1), 1.0)
    np.testing.assert_allclose(X[:, 82], (origin[:, 0] + 4 * PITCH) / 1000.0)
    fit = two_shower_fit(w, PITCH)
    Xf, names_f = network_inputs(w, origin[:, 0], origin[:, 1], PITCH, fit)
    assert Xf.shape[1] == 81 + len(names_f) and "ref1_x" in names_f
    with pytest.raises(ValueError, match="origin"):
        network_inputs(w, origin[:3, 0], origin[:, 1], PITCH)


def test_pair_loss_matches_numpy_and_is_invariant_under_swapping():
    rng = np.random.default_rng(1)
    pred, target = rng.normal(size=(50, 6)), rng.normal(size=(50, 6))
    torch_loss = pair_loss(torch.tensor(pred), torch.tensor(target)).numpy()
    np.testing.assert_allclose(torch_loss, permutation_invariant_loss(pred, target, LOSS_SCALE))
    swapped = np.concatenate([pred[:, 3:], pred[:, :3]], axis=1)
    np.testing.assert_allclose(pair_loss(torch.tensor(swapped), torch.tensor(target)), torch_loss)
    # a perfectly predicted but swapped pair costs nothing
    t = torch.tensor(target)
    assert float(pair_loss(torch.cat([t[:, 3:], t[:, :3]], 1), t).max()) == 0.0
    # Huber: quadratic in the core, linear beyond delta (in units of the scale)
    one = torch.zeros(1, 6)
    far = one.clone()
    far[0, 0] = 10 * LOSS_SCALE[0]
    assert float(pair_loss(far, one, huber=3.0)[0]) == pytest.approx(2 * 3 * 10 - 9)
    assert float(pair_loss(far, one)[0]) == pytest.approx(100.0)


def test_augmentation_moves_window_and_targets_together():
    # one hot cell at (row 2, col 6): a photon at x = +2, y = -2 cells from the window centre
    size = 9
    img = np.zeros((size, size))
    img[2, 6] = 1.0
    names = ["log_esum_gev", "centre_x", "centre_y"]
    x = torch.tensor(np.concatenate([img.ravel(), [0.3, 0.5, -0.2]])[None], dtype=torch.float32)
    y = torch.tensor([[2.0, -2.0, 0.7, -1.0, 0.5, 0.3]])
    pairs = _xy_pairs(names, size * size)
    assert pairs == [(size * size + 1, size * size + 2)]
    for k in range(8):
        xa, ya = _augment(x.clone(), y, size, pairs, k)
        r, c = np.unravel_index(int(torch.argmax(xa[0, : size * size])), (size, size))
        assert (c - 4, r - 4) == (ya[0, 0].item(), ya[0, 1].item()), k
        # the absolute centre follows the same symmetry as the target positions
        _, yc = _augment(x.clone(), torch.tensor([[0.5, -0.2, 0, 0, 0, 0]]), size, pairs, k)
        assert (xa[0, -2].item(), xa[0, -1].item()) == pytest.approx(
            (yc[0, 0].item(), yc[0, 1].item())
        )
        assert ya[0, 2].item() == pytest.approx(0.7) and xa[0, -3].item() == pytest.approx(0.3)


def test_models_shapes():
    x = torch.rand(4, 81 + 5)
    assert PairCNN(9, n_extra=5, n_outputs=6)(x).shape == (4, 6)
    assert PairDense(9, n_extra=5, n_outputs=1, hidden=(16,))(x).shape == (4, 1)
    with pytest.raises(ValueError, match="PairCNN"):
        PairCNN(9, channels=())


def test_residual_regressor_starts_at_the_fit():
    w, truth, origin = _sample(64, seed=3)
    fit = two_shower_fit(w, PITCH)
    X, names = network_inputs(w, origin[:, 0], origin[:, 1], PITCH, fit)
    t = regression_targets(truth, w, PITCH)
    net = fit_pair_regressor(
        X,
        t,
        X,
        t,
        names,
        PITCH,
        architecture="dense",
        residual=True,
        model_kwargs={"hidden": (16,)},
        lr=0.0,
        max_epochs=1,
        device="cpu",
    )
    np.testing.assert_allclose(net.predict_photons(X, w), fit.two, rtol=1e-6, atol=1e-4)


def test_training_is_deterministic_and_learns(tmp_path):
    w, truth, origin = _sample(300, seed=5)
    X, names = network_inputs(w, origin[:, 0], origin[:, 1], PITCH)
    t = regression_targets(truth, w, PITCH)
    kw = {
        "architecture": "dense",
        "model_kwargs": {"hidden": (32, 32)},
        "max_epochs": 8,
        "device": "cpu",
        "seed": 7,
    }
    a = fit_pair_regressor(X[:200], t[:200], X[200:], t[200:], names, PITCH, **kw)
    b = fit_pair_regressor(X[:200], t[:200], X[200:], t[200:], names, PITCH, **kw)
    np.testing.assert_array_equal(a.raw_output(X), b.raw_output(X))
    hist = a.history
    assert hist["val_loss"].min() < hist["val_loss"].iloc[0]
    assert bool(hist.loc[hist["val_loss"].idxmin(), "best"])
    # checkpoint round trip through a weights_only file
    path = tmp_path / "regressor.pt"
    torch.save(a.state(), path)
    c = PairNetwork.from_state(torch.load(path, weights_only=True))
    np.testing.assert_array_equal(c.raw_output(X), a.raw_output(X))


def test_counter_separates_one_from_two_photons():
    w2, _, origin = _sample(200, seed=8)
    rng = np.random.default_rng(9)
    x1, y1 = rng.uniform(3.5, 4.5, 200) * PITCH, rng.uniform(3.5, 4.5, 200) * PITCH
    w1 = rng.uniform(40e3, 90e3, 200)[:, None, None] * lednev_window_fractions(x1, y1, 9, PITCH)
    w = np.concatenate([w1, w2])
    o = np.concatenate([origin, origin])
    label = np.repeat([1, 2], 200)
    X, names = network_inputs(w, o[:, 0], o[:, 1], PITCH)
    perm = rng.permutation(400)
    tr, va = perm[:300], perm[300:]
    net = fit_counter(
        X[tr],
        label[tr],
        X[va],
        label[va],
        names,
        PITCH,
        architecture="dense",
        model_kwargs={"hidden": (64, 32)},
        lr=3e-3,
        batch_size=32,
        max_epochs=60,
        patience=15,
        device="cpu",
    )
    assert np.mean(net.predict_count(X[va]) == label[va]) > 0.95
    with pytest.raises(ValueError, match="label_train"):
        fit_counter(X, np.full(400, 3), X, label, names, PITCH)
