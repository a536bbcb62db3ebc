"""Classical baselines of the pair (case A/B) classifier.

* :class:`CutBaseline`: merge when the opening angle and |dt| are both below cuts, the two cuts
  tuned jointly on the VALIDATION split by maximising F1.
* :func:`fit_gradient_boosting`: scikit-learn's histogram gradient boosting with early stopping
  on the validation split.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from caloreco.classification import binary_labels, positive_weight

__all__ = ["CutBaseline", "fit_gradient_boosting"]


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
        y = binary_labels(y_val, "y_val")
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
    yt = binary_labels(np.asarray(y_train).ravel(), "y_train")
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
    # an external validation set for early stopping (scikit-learn >= 1.7, pinned in the lock)
    clf.fit(X_train, yt, X_val=X_val, y_val=binary_labels(np.asarray(y_val).ravel(), "y_val"))
    return clf
