"""Networks, trainer, checkpoints, baselines and metrics of the pair classifier."""

import numpy as np
import pandas as pd
import pytest
import torch

from caloreco.classification import (
    choose_threshold,
    classification_metrics,
    smart_random_draw,
    smart_random_expected,
)
from caloreco.nn.nets import PairMLP, Regressor, TinyModel, build_model
from caloreco.nn.training import (
    Standardizer,
    fit_network,
    load_checkpoint,
    predict,
    save_checkpoint,
    set_determinism,
    train,
)
from caloreco.pairs.baselines import CutBaseline, fit_gradient_boosting

QUIET = {"log": lambda s: None}


def _separable(rng, n=2000, n_features=6):
    X = rng.normal(size=(n, n_features))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0.8).astype(np.int8)  # ~25 % positives, linear boundary
    return X, y


# ---------------------------------------------------------------- networks


def test_networks_shapes_and_tiny_model_uses_its_activation():
    x = torch.randn(5, 11)
    assert TinyModel(11).forward(x).shape == (5, 1)
    assert PairMLP(16).forward(torch.randn(5, 16)).shape == (5, 1)
    reg = Regressor(27)
    assert reg(torch.randn(5, 27)).shape == (5, 3)
    widths = [m.out_features for m in reg.net if isinstance(m, torch.nn.Linear)]
    assert widths == [64, 128, 256, 128, 64, 32, 3]
    # ReLU in the hidden layer: output is not an affine function of the input
    m = TinyModel(2)
    a, b = torch.tensor([[1.0, -2.0]]), torch.tensor([[-1.0, 2.0]])
    with torch.no_grad():
        m.linear2.weight.fill_(1.0)
        lin = m(a) + m(b) - 2 * m(torch.zeros(1, 2))
    assert abs(float(lin)) > 1e-3
    assert isinstance(build_model("pair_mlp", 7, hidden=32), PairMLP)
    with pytest.raises(ValueError, match="model name"):
        build_model("transformer", 3)


# ---------------------------------------------------------------- trainer


def _fit_classifier(seed, X, y):
    Xtr, ytr, Xva, yva = X[:1500], y[:1500], X[1500:], y[1500:]
    std = Standardizer.fit(Xtr)
    set_determinism(seed)
    model = PairMLP(X.shape[1], hidden=32, n_layers=2, dropout=0.1)
    hist = train(
        model, std.transform(Xtr), ytr, std.transform(Xva), yva, loss="bce",
        pos_weight="auto", lr=3e-3, batch_size=64, max_epochs=25, patience=5, seed=seed, **QUIET,
    )  # fmt: skip
    return model, std, hist


def test_trainer_learns_separable_problem_deterministically():
    X, y = _separable(np.random.default_rng(0))
    m1, std, hist = _fit_classifier(11, X, y)
    m2, _, _ = _fit_classifier(11, X, y)
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        assert torch.equal(v1, v2), k
    Xte, yte = _separable(np.random.default_rng(1), n=3000)
    score = predict(m1, std.transform(Xte), activation="sigmoid")
    f1 = classification_metrics(yte, score, 0.5)["f1"]
    assert f1 > 0.95
    assert list(hist.columns) == ["epoch", "train_loss", "val_loss", "lr", "seconds", "best"]
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0]
    # the restored weights are those of the best validation epoch
    assert hist.loc[hist["best"], "val_loss"].item() == hist["val_loss"].min()
    m3, _, _ = _fit_classifier(12, X, y)
    assert not torch.equal(m1.net[0].weight, m3.net[0].weight)


def test_training_split_without_positives_or_negatives_raises():
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ValueError, match="0 positive"):
        train(TinyModel(3), X, np.zeros(50), X, np.zeros(50), max_epochs=1, **QUIET)
    with pytest.raises(ValueError, match="0 negative"):
        train(TinyModel(3), X, np.ones(50), X, np.ones(50), max_epochs=1, **QUIET)
    with pytest.raises(ValueError, match="positive"):
        fit_gradient_boosting(X, np.zeros(50), X, np.zeros(50))


def test_regressor_fits_linear_toy():
    rng = set_determinism(0)
    X = rng.normal(size=(3000, 25))
    W = rng.normal(size=(25, 3)) / 5
    Y = X @ W + 0.01 * rng.normal(size=(3000, 3))
    model = Regressor(25)
    hist = train(
        model, X[:2400], Y[:2400], X[2400:], Y[2400:], loss="mse", lr=1e-3, batch_size=64,
        max_epochs=15, patience=5, seed=0, **QUIET,
    )  # fmt: skip
    assert hist["val_loss"].min() < 0.1 * hist["val_loss"].iloc[0]
    pred = predict(model, X[2400:])
    assert pred.shape == (600, 3)
    # explained variance of each output
    resid = np.var(pred - Y[2400:], axis=0) / np.var(Y[2400:], axis=0)
    assert np.all(resid < 0.05)


def test_fit_network_standardises_features_and_targets_in_physical_units(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2000, 4)) * [1.0, 100.0, 0.01, 5.0] + [0.0, 1e3, 0.0, -20.0]
    Y = np.column_stack([20.0 * X[:, 0], 0.2 * X[:, 1], 1e4 * X[:, 2]])  # mm, mm, MeV
    fit = fit_network(
        "regressor", X[:1500], Y[:1500], X[1500:1800], Y[1500:1800], loss="mse",
        model_kwargs={"hidden": [32, 32]}, seed=0, lr=3e-3, batch_size=64, max_epochs=30,
        patience=5, **QUIET,
    )  # fmt: skip
    pred = fit.predict(X[1800:])
    rel = np.std(pred - Y[1800:], axis=0) / np.std(Y[1800:], axis=0)
    assert np.all(rel < 0.1), rel
    path = save_checkpoint(tmp_path / "r.pt", fit.model, fit.checkpoint_meta(list("abcd")))
    model, meta = load_checkpoint(path, expected_features=list("abcd"))
    Z = meta["standardizer"].transform(X[1800:])
    again = meta["target_standardizer"].inverse_transform(predict(model, Z))
    assert np.allclose(again, pred)


def test_standardizer_uses_train_statistics_only():
    Xtr = np.array([[0.0, 5.0], [2.0, 5.0]])
    std = Standardizer.fit(Xtr)
    assert std.mean.tolist() == [1.0, 5.0] and std.std.tolist() == [1.0, 1.0]  # constant -> 1
    Xte = np.array([[101.0, 7.0]])
    assert std.transform(Xte).tolist() == [[100.0, 2.0]]
    assert Standardizer.from_dict(std.to_dict()).transform(Xte).tolist() == [[100.0, 2.0]]


# ---------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_weights_only(tmp_path):
    feats = [f"f{i}" for i in range(5)]
    torch.manual_seed(0)
    model = PairMLP(5, hidden=16, n_layers=2, dropout=0.2).eval()
    std = Standardizer(np.arange(5.0), np.ones(5) * 2)
    path = save_checkpoint(
        tmp_path / "m" / "pair_classifier.pt",
        model,
        {"features": feats, "standardizer": std, "threshold": np.float64(0.62),
         "config_hash": "abc123", "positive_fraction": 0.1},
    )  # fmt: skip
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    raw = torch.load(path, weights_only=True)  # plain data only
    assert raw["model"] == "pair_mlp" and raw["features"] == feats
    loaded, meta = load_checkpoint(path, expected_features=feats)
    x = torch.randn(7, 5)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert meta["threshold"] == 0.62 and meta["config_hash"] == "abc123"
    assert meta["standardizer"].mean.tolist() == [0, 1, 2, 3, 4]
    assert loaded.hparams == model.hparams
    with pytest.raises(ValueError, match=r"5 features .* 4 features"):
        load_checkpoint(path, expected_features=feats[:4])
    with pytest.raises(ValueError, match="features"):
        load_checkpoint(path, expected_features=feats[::-1])
    with pytest.raises(ValueError, match="inputs"):
        save_checkpoint(tmp_path / "x.pt", model, {"features": feats[:3]})


# ---------------------------------------------------------------- baselines and metrics


def test_smart_random_expected_and_draw():
    p = 0.12
    assert smart_random_expected(p) == pytest.approx(
        {"precision": p, "recall": p, "f1": p, "accuracy": p * p + (1 - p) ** 2}
    )
    rng = np.random.default_rng(5)
    n = 100_000
    y = (rng.random(n) < p).astype(np.int8)
    pred = smart_random_draw(y, p, np.random.default_rng(6))
    m = classification_metrics(y, pred, 0.5)
    sigma = np.sqrt(p * (1 - p) / (p * n))  # recall from about p n positives
    assert abs(m["f1"] - p) < 5 * sigma
    assert abs(m["precision"] - p) < 5 * sigma and abs(m["recall"] - p) < 5 * sigma
    assert np.array_equal(pred, smart_random_draw(y, p, np.random.default_rng(6)))
    with pytest.raises(ValueError, match="p:"):
        smart_random_expected(1.5)


def test_choose_threshold_maximises_f1_on_validation():
    y = np.array([0, 0, 1, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.9])
    # candidates: >=0.6 gives TP 3, pred 3 -> F1 6/7; >=0.3 gives TP 4, pred 5 -> 8/9 (best)
    thr = choose_threshold(y, s)
    assert 0.2 < thr <= 0.3
    assert classification_metrics(y, s, thr)["f1"] == pytest.approx(8 / 9)


def test_threshold_and_cuts_depend_on_validation_only():
    rng = np.random.default_rng(0)
    n = 4000
    y_val = (rng.random(n) < 0.3).astype(int)
    s_val = np.clip(y_val * 0.4 + rng.normal(0.3, 0.2, n), 0, 1)
    y_test = (rng.random(n) < 0.3).astype(int)
    s_test = np.clip(y_test * 0.4 + rng.normal(0.3, 0.2, n), 0, 1)

    def tuned(s_val, s_test):  # the threshold from validation, applied unchanged to test
        return classification_metrics(y_test, s_test, choose_threshold(y_val, s_val))

    m1 = tuned(s_val, s_test)
    m2 = tuned(s_val, rng.random(n))  # garbage test scores
    assert m1["threshold"] == m2["threshold"] == choose_threshold(y_val, s_val)
    assert m2["f1"] < m1["f1"]
    m3 = tuned(s_val + 0.1, s_test)
    assert m3["threshold"] == pytest.approx(m1["threshold"] + 0.1)

    val = pd.DataFrame({"opening_angle": rng.random(n), "dt": rng.random(n) * 100})
    y_cut = ((val.opening_angle < 0.3) & (val["dt"] < 40)).astype(int).to_numpy()
    cut = CutBaseline().fit(val, y_cut)
    assert cut.angle_cut == pytest.approx(0.3, abs=0.03) and cut.dt_cut == pytest.approx(40, abs=3)
    assert cut.f1_val > 0.9
    before = (cut.angle_cut, cut.dt_cut)
    test = pd.DataFrame({"opening_angle": rng.random(n), "dt": rng.random(n) * 100})
    pred = cut.predict(test)
    assert (cut.angle_cut, cut.dt_cut) == before
    assert np.array_equal(pred, (cut.score(test) >= cut.threshold).astype(np.int8))


def test_gradient_boosting_and_bootstrap_over_events():
    rng = np.random.default_rng(1)
    X, y = _separable(rng, n=3000, n_features=4)
    clf = fit_gradient_boosting(X[:2000], y[:2000], X[2000:2500], y[2000:2500], seed=0)
    score = clf.predict_proba(X[2500:])[:, 1]
    thr = choose_threshold(y[2000:2500], clf.predict_proba(X[2000:2500])[:, 1])
    events = np.repeat(np.arange(100), 5)  # 5 pairs per event
    m = classification_metrics(y[2500:], score, thr, np.random.default_rng(0), 300, events)
    assert m["f1"] > 0.85 and m["roc_auc"] > 0.97
    lo, hi = m["f1_ci"]
    assert lo < m["f1"] < hi and hi - lo < 0.15
    # resampling by event with 1 pair per event equals resampling pairs
    m_ev = classification_metrics(
        y[2500:], score, thr, np.random.default_rng(0), 300, np.arange(500)
    )
    m_pair = classification_metrics(y[2500:], score, thr, np.random.default_rng(0), 300)
    assert m_ev["f1_ci"] == m_pair["f1_ci"]


def test_training_does_not_depend_on_the_callers_threads():
    """The trained weights are the same whatever thread count the caller (or Snakemake's
    --cores) left torch with, and the CPU kernel paths are pinned when caloreco.nn is imported
    (README, Reproducibility)."""
    import os

    from caloreco.nn.training import TORCH_THREADS

    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 8)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.float32)

    def weights(outer_threads: int) -> bytes:
        torch.set_num_threads(outer_threads)
        set_determinism(5)
        model = build_model("pair_mlp", 8, hidden=32, n_layers=2, dropout=0.0)
        train(model, X[:400], y[:400], X[400:], y[400:], max_epochs=3, seed=5, log=lambda s: None)
        return b"".join(p.detach().numpy().tobytes() for p in model.parameters())

    assert weights(1) == weights(3)
    assert torch.get_num_threads() == TORCH_THREADS
    assert os.environ["MKL_CBWR"] == "AVX2" and os.environ["ATEN_CPU_CAPABILITY"] == "avx2"
