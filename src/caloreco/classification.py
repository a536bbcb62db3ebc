"""Binary classification: metrics with bootstrap intervals, thresholds, the smart_random baseline.

* ``smart_random`` (ATLAS JetPointNet study): predicts "positive" with probability ``p``, the true
  positive fraction; expected precision = recall = F1 = p. Reported both as the analytic
  expectation and as a seeded draw.
* :func:`choose_threshold`: the F1-optimal threshold on VALIDATION data, then applied unchanged
  to the test split; the test split never feeds back into a choice.
* :func:`classification_metrics`: accuracy, precision, recall, F1 with an event-level bootstrap
  interval, ROC AUC.

Used by every classifier of the project (pairs, attribution, pixel selection).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

__all__ = [
    "smart_random_expected",
    "smart_random_draw",
    "choose_threshold",
    "classification_metrics",
    "bootstrap_f1_interval",
    "positive_weight",
    "binary_labels",
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
    y = binary_labels(y_val, "y_val")
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


def binary_labels(y: np.ndarray, name: str) -> np.ndarray:
    """``y`` as int64 0/1 labels; ValueError naming ``name`` unless 1-D and binary."""
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
    y = binary_labels(y_true, "y_true")
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


def positive_weight(y_train: np.ndarray) -> float:
    """``n_negative / n_positive`` of the training labels (the ``pos_weight`` of a balanced BCE).

    Raises ``ValueError`` when the training split has no positive or no negative example: such a
    split cannot train a classifier, and silently training on it would give a constant model.
    """
    y = np.asarray(y_train).ravel()
    n_pos = int(np.count_nonzero(y == 1))
    n_neg = int(np.count_nonzero(y == 0))
    if n_pos + n_neg != y.size:
        raise ValueError("y_train: expected binary labels 0/1")
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"y_train: the training split has {n_pos} positive (case B, merge) and {n_neg} "
            f"negative (case A) pairs; a classifier needs both. Use more events or check the "
            f"truth matching."
        )
    return n_neg / n_pos
