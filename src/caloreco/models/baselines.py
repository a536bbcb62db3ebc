"""Baselines and metrics for the pair (case A/B) classifier.

* ``smart_random`` (ATLAS JetPointNet study): predicts "merge" with probability ``p``, the true
  positive fraction; expected precision = recall = F1 = p. Reported both as the analytic
  expectation and as a seeded draw.
* :class:`CutBaseline`: merge when the opening angle and |dt| are both below cuts, the two cuts
  tuned jointly on the VALIDATION split by maximising F1.
* :func:`fit_gradient_boosting`: scikit-learn's histogram gradient boosting with early stopping
  on the validation split.

Every threshold and cut is chosen on validation data (:func:`choose_threshold`) and then applied
unchanged to the test split; the test split never feeds back into a choice.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from caloreco.models.training import positive_weight

__all__ = [
    "smart_random_expected",
    "smart_random_draw",
    "CutBaseline",
    "fit_gradient_boosting",
    "choose_threshold",
    "classification_metrics",
    "tuned_metrics",
    "bootstrap_f1_interval",
    "feature_matrix",
]


def _check_p(p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p: expected a positive fraction in [0, 1], got {p}")
    return p


def smart_random_expected(p: float) -> dict[str, float]:
    """Analytic metrics of the smart_random classifier for a positive fraction ``p``.

    With P positives among N pairs and each pair called positive with probability p:
    E[TP] = p P, E[FP] = p (N - P), E[FN] = (1 - p) P, so precision = recall = F1 = p, and the
    expected accuracy is p^2 + (1 - p)^2.
    """
    p = _check_p(p)
    return {"precision": p, "recall": p, "f1": p, "accuracy": p * p + (1 - p) * (1 - p)}


def smart_random_draw(y_true: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """A seeded smart_random prediction: each pair is called positive (1) with probability ``p``.

    Args:
        y_true: labels (only their count is used).
        p: the positive fraction (normally that of the training split).
        rng: the numpy generator.

    Returns:
        int8 predictions of the length of ``y_true``; use them as scores with threshold 0.5.
    """
    p = _check_p(p)
    n = np.asarray(y_true).shape[0]
    return (rng.random(n) < p).astype(np.int8)


def choose_threshold(y_val: np.ndarray, score_val: np.ndarray) -> float:
    """The score threshold maximising F1 on the validation split.

    Predictions are ``score >= threshold``. Every distinct score is a candidate; the returned
    threshold lies halfway between the best candidate and the next lower distinct score, so that
    small score shifts on other data do not flip the decision at exactly the boundary.

    Raises ``ValueError`` if ``y_val`` has no positive (F1 undefined everywhere).
    """
    y = _binary(y_val, "y_val")
    s = np.asarray(score_val, dtype=np.float64)
    if s.shape != y.shape:
        raise ValueError(f"score_val: expected shape {y.shape} like y_val, got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("score_val: contains NaN or infinite values")
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("y_val: the validation split has no positive pair; F1 is undefined")
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    predicted = np.arange(1, s.size + 1)
    # candidate cut after the last element of each run of equal scores
    last_of_run = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    tp, predicted, cand = tp[last_of_run], predicted[last_of_run], s_sorted[last_of_run]
    f1 = 2 * tp / (predicted + n_pos)
    k = int(np.argmax(f1))
    if k + 1 < cand.size:
        return float(0.5 * (cand[k] + cand[k + 1]))
    return float(cand[k])


def _binary(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D label array, got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{name}: expected binary labels 0/1")
    return y.astype(np.int64)


def _f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denom = 2 * tp + fp + fn
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)


def classification_metrics(
    y_true: np.ndarray,
    score: np.ndarray,
    threshold: float,
    rng: np.random.Generator | None = None,
    n_boot: int = 1000,
    events: np.ndarray | None = None,
    ci: float = 0.95,
) -> dict[str, Any]:
    """Accuracy, precision, recall, F1 (with a bootstrap interval) and ROC AUC.

    Args:
        y_true: labels 0/1, shape (n,).
        score: classifier scores (higher = more likely positive), shape (n,).
        threshold: predictions are ``score >= threshold`` (chosen on validation data).
        rng: generator for the bootstrap; without it ``f1_ci`` is ``[nan, nan]``.
        n_boot: bootstrap replicates.
        events: event id of each pair: the bootstrap then resamples whole EVENTS (pairs of one
            event are correlated); without it, pairs are resampled.
        ci: central coverage of the interval.

    Returns:
        ``{"accuracy", "precision", "recall", "f1", "f1_ci": [lo, hi], "roc_auc", "threshold",
        "n", "n_positive"}``; precision (recall) is 0 when nothing is predicted (is) positive;
        ``roc_auc`` is NaN with a single class.
    """
    y = _binary(y_true, "y_true")
    s = np.asarray(score, dtype=np.float64)
    if s.shape != y.shape:
        raise ValueError(f"score: expected shape {y.shape} like y_true, got {s.shape}")
    if y.size == 0:
        raise ValueError("y_true: no pairs to evaluate")
    pred = s >= threshold
    tp_i = (pred & (y == 1)).astype(np.int64)
    fp_i = (pred & (y == 0)).astype(np.int64)
    fn_i = (~pred & (y == 1)).astype(np.int64)
    tp, fp, fn = int(tp_i.sum()), int(fp_i.sum()), int(fn_i.sum())
    out: dict[str, Any] = {
        "accuracy": float(np.mean(pred == (y == 1))),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": float(_f1_from_counts(np.array(tp), np.array(fp), np.array(fn))),
        "f1_ci": [float("nan"), float("nan")],
        "roc_auc": float(roc_auc_score(y, s)) if 0 < y.sum() < y.size else float("nan"),
        "threshold": float(threshold),
        "n": int(y.size),
        "n_positive": int(y.sum()),
    }
    if rng is not None and n_boot > 0:
        out["f1_ci"] = bootstrap_f1_interval(tp_i, fp_i, fn_i, rng, n_boot, events, ci)
    return out


def bootstrap_f1_interval(
    tp: np.ndarray,
    fp: np.ndarray,
    fn: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = 1000,
    events: np.ndarray | None = None,
    ci: float = 0.95,
) -> list[float]:
    """Percentile bootstrap interval of F1 from per-pair TP/FP/FN indicators.

    With ``events`` the resampling unit is the event (the indicators are summed per event
    first), otherwise the pair. Replicates are drawn in blocks to bound memory.
    """
    if not 0 < ci < 1:
        raise ValueError(f"ci: expected a coverage in (0, 1), got {ci}")
    if events is not None:
        ev = np.asarray(events)
        if ev.shape != tp.shape:
            raise ValueError(f"events: expected shape {tp.shape} like y_true, got {ev.shape}")
        _, unit = np.unique(ev, return_inverse=True)
        n_units = int(unit.max()) + 1
        counts = np.stack([np.bincount(unit, weights=a, minlength=n_units) for a in (tp, fp, fn)])
    else:
        counts = np.stack([tp, fp, fn]).astype(np.float64)
    n_units = counts.shape[1]
    f1 = np.empty(n_boot)
    block = max(1, min(n_boot, 20_000_000 // max(n_units, 1)))
    for start in range(0, n_boot, block):
        m = min(block, n_boot - start)
        idx = rng.integers(0, n_units, size=(m, n_units))
        sums = counts[:, idx].sum(axis=2)  # (3, m)
        f1[start : start + m] = _f1_from_counts(sums[0], sums[1], sums[2])
    alpha = (1 - ci) / 2
    lo, hi = np.quantile(f1, [alpha, 1 - alpha])
    return [float(lo), float(hi)]


def tuned_metrics(
    y_val: np.ndarray,
    score_val: np.ndarray,
    y_test: np.ndarray,
    score_test: np.ndarray,
    rng: np.random.Generator | None = None,
    n_boot: int = 1000,
    events_test: np.ndarray | None = None,
) -> dict[str, Any]:
    """Choose the F1-optimal threshold on validation, then report test metrics at it."""
    threshold = choose_threshold(y_val, score_val)
    return classification_metrics(y_test, score_test, threshold, rng, n_boot, events_test)


@dataclass
class CutBaseline:
    """Merge a pair when ``opening_angle <= angle_cut`` and ``dt <= dt_cut``.

    Both cuts are tuned jointly on the validation split (:meth:`fit`) by a grid search maximising
    F1; the grid is the quantiles of the validation values of each variable. Units: rad, ns.
    """

    angle_feature: str = "opening_angle"
    dt_feature: str = "dt"
    n_grid: int = 64
    angle_cut: float = float("nan")
    dt_cut: float = float("nan")
    f1_val: float = float("nan")
    #: threshold to use with :meth:`score` in :func:`classification_metrics`
    threshold: float = 0.5

    def fit(self, val: Mapping[str, Any], y_val: np.ndarray) -> CutBaseline:
        """Tune both cuts on validation pairs (a DataFrame or mapping of feature columns)."""
        y = _binary(y_val, "y_val")
        a = np.asarray(val[self.angle_feature], dtype=np.float64)
        t = np.asarray(val[self.dt_feature], dtype=np.float64)
        if a.shape != y.shape or t.shape != y.shape:
            raise ValueError("val: feature columns must have the length of y_val")
        if y.sum() == 0:
            raise ValueError("y_val: the validation split has no positive pair; cannot tune cuts")
        q = np.linspace(0.0, 1.0, self.n_grid)
        a_edges = np.unique(np.quantile(a, q))
        t_edges = np.unique(np.quantile(t, q))
        # pairs passing (a <= a_edges[i]) & (t <= t_edges[j]): 2-D cumulative histogram
        ia = np.searchsorted(a_edges, a, side="left")
        it = np.searchsorted(t_edges, t, side="left")
        shape = (a_edges.size + 1, t_edges.size + 1)
        flat = ia * shape[1] + it
        n_all = np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape)
        n_pos = np.bincount(flat, weights=y, minlength=shape[0] * shape[1]).reshape(shape)
        pred = n_all.cumsum(0).cumsum(1)[:-1, :-1]
        tp = n_pos.cumsum(0).cumsum(1)[:-1, :-1]
        f1 = 2 * tp / (pred + y.sum())
        i, j = np.unravel_index(int(np.argmax(f1)), f1.shape)
        self.angle_cut, self.dt_cut = float(a_edges[i]), float(t_edges[j])
        self.f1_val = float(f1[i, j])
        return self

    def score(self, pairs: Mapping[str, Any]) -> np.ndarray:
        """A score in (0, 1], >= 0.5 exactly when both cuts pass: ``1 / (1 + max(a/a_cut, t/t_cut))``."""
        if not np.isfinite(self.angle_cut):
            raise ValueError("CutBaseline: call fit() on the validation split first")
        a = np.asarray(pairs[self.angle_feature], dtype=np.float64)
        t = np.asarray(pairs[self.dt_feature], dtype=np.float64)
        tiny = np.finfo(np.float64).tiny
        r = np.maximum(a / max(self.angle_cut, tiny), t / max(self.dt_cut, tiny))
        return 1.0 / (1.0 + r)

    def predict(self, pairs: Mapping[str, Any]) -> np.ndarray:
        """1 where both cuts pass, else 0 (int8)."""
        a = np.asarray(pairs[self.angle_feature], dtype=np.float64)
        t = np.asarray(pairs[self.dt_feature], dtype=np.float64)
        if not np.isfinite(self.angle_cut):
            raise ValueError("CutBaseline: call fit() on the validation split first")
        return ((a <= self.angle_cut) & (t <= self.dt_cut)).astype(np.int8)


def fit_gradient_boosting(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    seed: int = 0,
    class_weight: str | None = "balanced",
    **kwargs: Any,
) -> HistGradientBoostingClassifier:
    """Histogram gradient boosting with early stopping on the validation split.

    Args:
        X_train, y_train: training features (n, n_features) and labels 0/1.
        X_val, y_val: validation split, used only to stop boosting (log loss, patience 20).
        seed: ``random_state``.
        class_weight: ``"balanced"`` (default; mirrors the network's class-weighted BCE) or None.
        **kwargs: further ``HistGradientBoostingClassifier`` arguments (e.g. ``max_iter``,
            ``learning_rate``, ``max_leaf_nodes``).

    Returns:
        The fitted classifier; ``predict_proba(X)[:, 1]`` is the score.
    """
    yt = _binary(np.asarray(y_train).ravel(), "y_train")
    positive_weight(yt)  # refuses a training split without positives or negatives
    params: dict[str, Any] = {
        "max_iter": 500,
        "learning_rate": 0.1,
        "early_stopping": True,
        "n_iter_no_change": 20,
        "scoring": "loss",
        "random_state": int(seed),
        "class_weight": class_weight,
    }
    params.update(kwargs)
    clf = HistGradientBoostingClassifier(**params)
    if "X_val" in inspect.signature(clf.fit).parameters:  # scikit-learn >= 1.7
        clf.fit(X_train, yt, X_val=X_val, y_val=_binary(np.asarray(y_val).ravel(), "y_val"))
        return clf
    return _fit_gb_manual_early_stopping(clf, X_train, yt, X_val, y_val, params)


def _fit_gb_manual_early_stopping(
    clf: HistGradientBoostingClassifier,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    params: dict[str, Any],
) -> HistGradientBoostingClassifier:
    """Early stopping on an external validation set for scikit-learn < 1.7 (staged predictions)."""
    from sklearn.metrics import log_loss

    clf.set_params(early_stopping=False)
    clf.fit(X_train, y_train)
    losses = [log_loss(y_val, p[:, 1], labels=[0, 1]) for p in clf.staged_predict_proba(X_val)]
    best = int(np.argmin(losses)) + 1
    clf.set_params(max_iter=best)
    clf.fit(X_train, y_train)
    return clf


def feature_matrix(pairs: Mapping[str, Any], features: Sequence[str]) -> np.ndarray:
    """Stack feature columns of a pair table into a float64 (n, n_features) matrix."""
    missing = [f for f in features if f not in pairs]
    if missing:
        raise ValueError(f"pairs: missing feature columns {missing}")
    return np.column_stack([np.asarray(pairs[f], dtype=np.float64) for f in features])
