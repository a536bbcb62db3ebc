"""Figures of merit of pixel selections and frame / region classifiers (JSON-able results).

* Intensity kept vs area discarded: a selection keeps the truth light of its pixels; pooled over
  frames, ``intensity_kept`` = sum of kept light / sum of light and ``area_discarded`` = 1 -
  selected pixels / all pixels. For a score map thresholded at t the whole curve comes from
  per-frame histograms (:func:`threshold_histograms`), so a bootstrap over frames gives the
  uncertainty of any point on it.
* ROC AUC with the Hanley-McNeil (Radiology 143 (1982) 29) standard error; accuracy with its
  binomial error; cluster purity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "threshold_histograms",
    "curve_from_histograms",
    "kept_at_area",
    "area_at_kept",
    "bootstrap_at_area",
    "roc_auc",
    "accuracy",
    "efficiency_at_rejection",
    "cluster_purity",
    "selection_point",
]


def threshold_histograms(
    score: np.ndarray, light: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per frame and threshold ``edges[k]``: pixels with score > edges[k] and their light.

    Args:
        score: (n, H, W) scores; light: (n, H, W) truth light; edges: increasing thresholds (m,).

    Returns:
        ``(selected, kept)`` of shape (n, m): counts and light above each threshold.
    """
    s = np.asarray(score)
    lt = np.asarray(light)
    edges = np.asarray(edges, np.float64)
    if s.ndim != 3 or lt.shape != s.shape:
        raise ValueError(
            f"score, light: expected equal (n, H, W) shapes, got {s.shape}, {lt.shape}"
        )
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("edges: expected at least two increasing thresholds")
    n, m = s.shape[0], edges.size
    # bin k holds edges[k-1] < s <= edges[k]; "above edges[k]" = bins k+1 .. m
    b = np.searchsorted(edges, s.reshape(n, -1), side="left").astype(np.int64)
    key = (np.arange(n)[:, None] * (m + 1) + b).ravel()
    cnt = np.bincount(key, minlength=n * (m + 1)).reshape(n, m + 1)
    lig = np.bincount(
        key, weights=lt.reshape(-1).astype(np.float64), minlength=n * (m + 1)
    ).reshape(n, m + 1)
    above_cnt = np.cumsum(cnt[:, ::-1], axis=1)[:, ::-1][:, 1:]
    above_lig = np.cumsum(lig[:, ::-1], axis=1)[:, ::-1][:, 1:]
    return above_cnt, above_lig


def curve_from_histograms(
    selected: np.ndarray, kept: np.ndarray, pixels_per_frame: int, total_light: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled ``(area_discarded, intensity_kept)`` per threshold from per-frame histograms."""
    tot = float(np.sum(total_light))
    if tot <= 0:
        raise ValueError("total_light: the frames hold no signal light")
    n = selected.shape[0]
    area = 1.0 - selected.sum(axis=0) / float(n * pixels_per_frame)
    return area, kept.sum(axis=0) / tot


def kept_at_area(area: np.ndarray, kept: np.ndarray, target: float) -> float:
    """Intensity kept at ``target`` area discarded (linear interpolation along the curve)."""
    area = np.asarray(area, float)
    kept = np.asarray(kept, float)
    order = np.argsort(area)
    a, k = area[order], kept[order]
    if not (a[0] <= target <= a[-1]):
        return float("nan")
    return float(np.interp(target, a, k))


def area_at_kept(area: np.ndarray, kept: np.ndarray, target: float) -> float:
    """Area discarded at ``target`` intensity kept (linear interpolation)."""
    order = np.argsort(kept)
    k, a = np.asarray(kept, float)[order], np.asarray(area, float)[order]
    if not (k[0] <= target <= k[-1]):
        return float("nan")
    return float(np.interp(target, k, a))


def bootstrap_at_area(
    selected: np.ndarray,
    kept: np.ndarray,
    total_light: np.ndarray,
    pixels_per_frame: int,
    target: float,
    rng: np.random.Generator,
    n_boot: int = 200,
) -> float:
    """Bootstrap (over frames) standard deviation of :func:`kept_at_area` at ``target``."""
    n = selected.shape[0]
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        a, k = curve_from_histograms(selected[i], kept[i], pixels_per_frame, total_light[i])
        vals.append(kept_at_area(a, k, target))
    v = np.asarray(vals)
    v = v[np.isfinite(v)]
    return float(v.std(ddof=1)) if v.size > 1 else float("nan")


def selection_point(
    selected: np.ndarray,
    kept: np.ndarray,
    total_light: np.ndarray,
    pixels_per_frame: int,
    rng: np.random.Generator | None = None,
    n_boot: int = 200,
) -> dict[str, float]:
    """Area discarded and intensity kept of one selection (per-frame sums), with bootstrap errors."""
    sel = np.asarray(selected, float)
    kp = np.asarray(kept, float)
    tl = np.asarray(total_light, float)
    n = sel.size
    out = {
        "area_discarded": float(1 - sel.sum() / (n * pixels_per_frame)),
        "intensity_kept": float(kp.sum() / tl.sum()),
    }
    if rng is not None and n > 1:
        i = rng.integers(0, n, (n_boot, n))
        out["area_discarded_err"] = float((1 - sel[i].sum(1) / (n * pixels_per_frame)).std(ddof=1))
        out["intensity_kept_err"] = float((kp[i].sum(1) / tl[i].sum(1)).std(ddof=1))
    return out


def roc_auc(signal_scores: Sequence[float], background_scores: Sequence[float]) -> dict[str, float]:
    """ROC AUC (probability that a signal scores above a background, ties half) and its
    Hanley-McNeil standard error; NaN when a class is empty."""
    s = np.asarray(signal_scores, float)
    b = np.asarray(background_scores, float)
    n1, n2 = s.size, b.size
    if n1 == 0 or n2 == 0:
        return {"auc": float("nan"), "auc_err": float("nan"), "n_signal": n1, "n_background": n2}
    allv = np.concatenate([s, b])
    from scipy.stats import rankdata

    r = rankdata(allv)
    a = (r[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n2)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n2 - 1) * (q2 - a * a)) / (n1 * n2)
    return {
        "auc": float(a),
        "auc_err": float(np.sqrt(max(var, 0.0))),
        "n_signal": n1,
        "n_background": n2,
    }


def efficiency_at_rejection(
    signal_scores: Sequence[float], background_scores: Sequence[float], rejection: float = 0.96
) -> dict[str, float]:
    """Signal efficiency at the threshold that rejects ``rejection`` of the background (the
    background quantile), with its binomial error (the threshold's own spread left out)."""
    s = np.asarray(signal_scores, float)
    b = np.asarray(background_scores, float)
    if s.size == 0 or b.size == 0:
        return {"efficiency": float("nan"), "efficiency_err": float("nan"), "rejection": rejection}
    thr = np.quantile(b, rejection)
    e = float(np.mean(s > thr))
    return {
        "efficiency": e,
        "efficiency_err": float(np.sqrt(e * (1 - e) / s.size)),
        "rejection": rejection,
    }


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Fraction of correct labels and its binomial standard error."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError("y_true, y_pred: expected equal shapes")
    n = y_true.size
    if n == 0:
        return {"accuracy": float("nan"), "accuracy_err": float("nan"), "n": 0}
    p = float(np.mean(y_true == y_pred))
    return {"accuracy": p, "accuracy_err": float(np.sqrt(p * (1 - p) / n)), "n": int(n)}


def cluster_purity(assign: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Purity of unsupervised clusters against labels: sum over clusters of the majority count,
    divided by the total; beside it the purity of a single cluster (the majority fraction)."""
    assign = np.asarray(assign)
    labels = np.asarray(labels)
    if assign.shape != labels.shape or assign.size == 0:
        raise ValueError("assign, labels: expected equal non-empty shapes")
    _, a = np.unique(assign, return_inverse=True)
    _, y = np.unique(labels, return_inverse=True)
    table = np.zeros((a.max() + 1, y.max() + 1), np.int64)
    np.add.at(table, (a, y), 1)
    n = assign.size
    p = table.max(axis=1).sum() / n
    return {
        "purity": float(p),
        "purity_err": float(np.sqrt(p * (1 - p) / n)),
        "majority_fraction": float(table.sum(axis=0).max() / n),
        "n": int(n),
        "table": table.tolist(),
    }
