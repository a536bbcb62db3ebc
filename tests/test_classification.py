"""Binary classification metrics, thresholds, smart_random and the pair cut baseline, by hand."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from caloreco.classification import (
    binary_labels,
    bootstrap_f1_interval,
    choose_threshold,
    classification_metrics,
    positive_weight,
    smart_random_draw,
    smart_random_expected,
)
from caloreco.pairs.baselines import CutBaseline, fit_gradient_boosting

# four positives, four negatives; at threshold 0.5: TP 2 (0.9, 0.6), FP 1 (0.7), FN 2, TN 3
Y = np.array([1, 0, 1, 0, 1, 0, 1, 0])
S = np.array([0.9, 0.7, 0.6, 0.4, 0.3, 0.1, 0.2, 0.05])


def test_classification_metrics_by_hand():
    m = classification_metrics(Y, S, 0.5)
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 4)
    assert m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))  # 4/7
    # ROC AUC: negatives below each positive 4, 3, 2, 2 of 4 -> 11/16
    assert m["roc_auc"] == pytest.approx(11 / 16)
    assert m["threshold"] == 0.5 and m["n"] == 8 and m["n_positive"] == 4
    assert all(math.isnan(v) for v in m["f1_ci"])  # no rng: no interval
    # predictions are score >= threshold: 0.6 itself is positive
    assert classification_metrics(Y, S, 0.6)["f1"] == pytest.approx(4 / 7)
    assert classification_metrics(Y, S, 0.61)["recall"] == pytest.approx(1 / 4)
    # nothing predicted positive: precision and F1 are 0, not NaN
    none = classification_metrics(Y, S, 2.0)
    assert none["precision"] == 0.0 and none["recall"] == 0.0 and none["f1"] == 0.0
    assert none["accuracy"] == pytest.approx(4 / 8)
    # one class only: AUC undefined, recall 0 without positives
    neg = classification_metrics(np.zeros(4, int), np.array([0.1, 0.6, 0.7, 0.2]), 0.5)
    assert math.isnan(neg["roc_auc"]) and neg["recall"] == 0.0 and neg["precision"] == 0.0
    assert neg["accuracy"] == pytest.approx(0.5)
    # all positive: AUC undefined too, and without a warning from sklearn in the job log
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pos = classification_metrics(np.ones(4, int), np.array([0.1, 0.6, 0.7, 0.2]), 0.5)
    assert math.isnan(pos["roc_auc"]) and pos["recall"] == 0.5 and pos["precision"] == 1.0
    with pytest.raises(ValueError, match="score"):
        classification_metrics(Y, S[:-1], 0.5)
    with pytest.raises(ValueError, match="no pairs"):
        classification_metrics(np.zeros(0, int), np.zeros(0), 0.5)


def reference_interval(tp, fp, fn, idx, ci):
    """Percentile interval of F1 over the bootstrap replicates ``idx`` (loop, by hand)."""
    f1 = []
    for rows in idx:
        t, p, n = tp[rows].sum(), fp[rows].sum(), fn[rows].sum()
        f1.append(2 * t / (2 * t + p + n) if 2 * t + p + n else 0.0)
    a = (1 - ci) / 2
    return np.quantile(f1, [a, 1 - a]).tolist()


def test_bootstrap_interval_equals_a_replicate_loop():
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.4).astype(int)
    s = np.clip(0.5 * y + rng.normal(0.25, 0.2, 300), 0, 1)
    pred = s >= 0.5
    tp, fp, fn = (pred & (y == 1)), (pred & (y == 0)), (~pred & (y == 1))
    tp, fp, fn = (a.astype(np.int64) for a in (tp, fp, fn))
    for ci in (0.95, 0.68):
        got = bootstrap_f1_interval(tp, fp, fn, np.random.default_rng(9), 400, ci=ci)
        idx = np.random.default_rng(9).integers(0, 300, size=(400, 300))
        assert got == pytest.approx(reference_interval(tp, fp, fn, idx, ci), rel=1e-12)
    # resampling events: the indicators are summed per event first (3 pairs per event)
    events = np.repeat(np.arange(100), 3)[np.random.default_rng(1).permutation(300)]
    got = bootstrap_f1_interval(tp, fp, fn, np.random.default_rng(9), 400, events=events)
    per_event = [np.bincount(events, weights=a, minlength=100) for a in (tp, fp, fn)]
    idx = np.random.default_rng(9).integers(0, 100, size=(400, 100))
    assert got == pytest.approx(reference_interval(*per_event, idx, 0.95), rel=1e-12)
    # through classification_metrics, the same interval
    m = classification_metrics(y, s, 0.5, np.random.default_rng(9), 400, events)
    assert m["f1_ci"] == pytest.approx(got, rel=1e-12)
    # the 95 % interval is about +-1.96 of the F1's binomial-like spread: wider than the 68 %
    lo68, hi68 = bootstrap_f1_interval(tp, fp, fn, np.random.default_rng(9), 400, ci=0.68)
    assert hi68 - lo68 < got[1] - got[0]
    with pytest.raises(ValueError, match="ci"):
        bootstrap_f1_interval(tp, fp, fn, np.random.default_rng(0), 10, ci=1.0)
    with pytest.raises(ValueError, match="events"):
        bootstrap_f1_interval(tp, fp, fn, np.random.default_rng(0), 10, events=events[:5])


def test_choose_threshold_cases():
    # best F1 when everything is predicted positive: the lowest score itself
    assert choose_threshold(np.array([1, 1, 1]), np.array([0.2, 0.5, 0.9])) == 0.2
    # ties are one candidate: scores 0.8, 0.8 (one positive), 0.3 (positive), 0.1
    y = np.array([1, 0, 1, 0])
    s = np.array([0.8, 0.8, 0.3, 0.1])
    # >= 0.8: TP 1, pred 2 -> F1 2/4; >= 0.3: TP 2, pred 3 -> 4/5 (best); >= 0.1: 4/6
    assert choose_threshold(y, s) == pytest.approx(0.5 * (0.3 + 0.1))
    # the best is the highest score: halfway to the next lower one
    assert choose_threshold(np.array([1, 0, 0]), np.array([0.9, 0.4, 0.2])) == pytest.approx(0.65)
    with pytest.raises(ValueError, match="no positive"):
        choose_threshold(np.zeros(3, int), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match=r"^score_val: contains NaN or infinite values$"):
        choose_threshold(np.array([1, 0]), np.array([np.nan, 0.2]))
    with pytest.raises(ValueError, match="shape"):
        choose_threshold(np.array([1, 0]), np.array([0.2]))


def test_smart_random_and_labels():
    assert smart_random_expected(0.25) == {
        "precision": 0.25,
        "recall": 0.25,
        "f1": 0.25,
        "accuracy": 0.25**2 + 0.75**2,
    }
    assert smart_random_expected(0.0)["accuracy"] == 1.0
    y = np.zeros(1000)
    assert smart_random_draw(y, 0.0, np.random.default_rng(0)).sum() == 0
    assert smart_random_draw(y, 1.0, np.random.default_rng(0)).sum() == 1000
    draw = smart_random_draw(y, 0.3, np.random.default_rng(4))
    assert draw.dtype == np.int8 and draw.shape == (1000,)
    assert np.array_equal(draw, np.random.default_rng(4).random(1000) < 0.3)
    with pytest.raises(ValueError, match="p:"):
        smart_random_draw(y, -0.1, np.random.default_rng(0))
    assert positive_weight(np.array([0, 0, 0, 1])) == 3.0
    assert positive_weight(np.array([1, 1, 0])) == 0.5
    with pytest.raises(ValueError, match="1 positive"):
        positive_weight(np.array([1]))
    with pytest.raises(ValueError, match="binary"):
        positive_weight(np.array([0, 2]))
    assert binary_labels(np.array([True, False]), "y").tolist() == [1, 0]
    with pytest.raises(ValueError, match="y_x: expected a 1-D"):
        binary_labels(np.zeros((2, 2)), "y_x")
    with pytest.raises(ValueError, match="y_x: expected binary"):
        binary_labels(np.array([0, 3]), "y_x")


# eight validation pairs: (opening angle rad, |dt| ns, label)
VAL = pd.DataFrame(
    {
        "opening_angle": [0.05, 0.10, 0.12, 0.30, 0.08, 0.50, 0.20, 0.40],
        "dt": [5.0, 20.0, 8.0, 10.0, 60.0, 3.0, 15.0, 40.0],
    }
)
Y_VAL = np.array([1, 1, 1, 1, 0, 0, 0, 0])


def grid_optimum(a, t, y, n_grid):
    """Brute force over the documented grid (the quantiles of each variable): best F1, cuts."""
    q = np.linspace(0.0, 1.0, n_grid)
    best = (-1.0, None)
    for ac in np.unique(np.quantile(a, q)):
        for tc in np.unique(np.quantile(t, q)):
            pred = (a <= ac) & (t <= tc)
            f1 = 2 * int((pred & (y == 1)).sum()) / (pred.sum() + y.sum())
            if f1 > best[0]:
                best = (f1, (float(ac), float(tc)))
    return best


def test_cut_baseline_finds_the_best_cut_pair_by_hand():
    a, t = VAL.opening_angle.to_numpy(), VAL["dt"].to_numpy()
    # the optimum over the data values: angle <= 0.30 and dt <= 20 takes the four positives
    # and pair 7 (0.20, 15): F1 = 8/9; the quantile grid of 8 points holds 0.3 - 1 ulp
    # (interpolated), so with n_grid = 8 the cuts are angle <= 0.12, dt <= 40 (F1 6/7)
    for n_grid, f1 in ((8, 6 / 7), (64, 8 / 9)):
        best = grid_optimum(a, t, Y_VAL, n_grid)
        assert best[0] == pytest.approx(f1)
        cut = CutBaseline(n_grid=n_grid).fit(VAL, Y_VAL)
        assert (cut.angle_cut, cut.dt_cut) == best[1]
        assert cut.f1_val == pytest.approx(best[0])
    # n_grid 64: the cuts sit at (or just above) 0.30 and 20 and keep pairs 0, 1, 2, 3, 6
    assert cut.angle_cut == pytest.approx(0.30, abs=0.03) and cut.angle_cut < 0.4
    assert cut.predict(VAL).tolist() == [1, 1, 1, 1, 0, 0, 1, 0]
    # score 1 / (1 + max(a / a_cut, t / t_cut)): >= 0.5 exactly when both cuts pass
    fixed = CutBaseline(angle_cut=0.30, dt_cut=20.0)
    s = fixed.score(VAL)
    ratio = np.maximum(VAL.opening_angle / 0.30, VAL["dt"] / 20.0)
    np.testing.assert_allclose(s, 1 / (1 + ratio), rtol=1e-12)
    assert s[3] == pytest.approx(0.5) and s[1] == pytest.approx(0.5)  # on a cut: passes
    assert s[0] == pytest.approx(1 / (1 + 0.25)) and s[4] == pytest.approx(1 / 4)
    assert fixed.predict(VAL).tolist() == [1, 1, 1, 1, 0, 0, 1, 0]
    assert ((cut.score(VAL) >= cut.threshold) == cut.predict(VAL).astype(bool)).all()
    with pytest.raises(ValueError, match="fit"):
        CutBaseline().score(VAL)
    with pytest.raises(ValueError, match="fit"):
        CutBaseline().predict(VAL)
    with pytest.raises(ValueError, match="no positive"):
        CutBaseline().fit(VAL, np.zeros(8, int))
    with pytest.raises(ValueError, match="length"):
        CutBaseline().fit(VAL, Y_VAL[:4])


def test_gradient_boosting_settings_and_early_stopping():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(600, 3))
    y = (X[:, 0] + rng.normal(size=600) > 0.8).astype(int)  # about 26 % positive
    clf = fit_gradient_boosting(X[:400], y[:400], X[400:], y[400:], seed=7)
    p = clf.get_params()
    assert p["max_iter"] == 500 and p["learning_rate"] == 0.1 and p["early_stopping"] is True
    assert p["n_iter_no_change"] == 20 and p["scoring"] == "loss"
    assert p["random_state"] == 7 and p["class_weight"] == "balanced"
    assert clf.n_iter_ < 500  # stopped early on the validation loss
    other = fit_gradient_boosting(
        X[:400], y[:400], X[400:], y[400:], class_weight=None, max_iter=30
    )
    assert other.get_params()["max_iter"] == 30 and other.get_params()["class_weight"] is None
    # unweighted, the mean score is the positive fraction; balanced weights raise it
    mean_none = other.predict_proba(X[:400])[:, 1].mean()
    assert mean_none == pytest.approx(y[:400].mean(), abs=0.03)
    assert clf.predict_proba(X[:400])[:, 1].mean() > mean_none + 0.04
    with pytest.raises(ValueError, match="y_train"):
        fit_gradient_boosting(X[:10], np.zeros(10, int), X[10:20], y[10:20])
