"""Training and scoring the pair classifier on pair tables (train/val/test by event).

The network is trained on the train split with early stopping on validation; its decision
threshold is the F1-optimal one on validation (:func:`caloreco.classification.choose_threshold`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from caloreco.classification import choose_threshold, classification_metrics
from caloreco.nn.training import FitResult, fit_network, predict

_log = logging.getLogger(__name__)

__all__ = ["split_xy", "fit_pair_classifier", "score_pairs", "seed_runs"]


def split_xy(
    pairs: pd.DataFrame, split: str, features: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix (float64, (n, n_features)) and labels of the pairs of one split."""
    sel = pairs["split"].to_numpy() == split
    X = pairs.loc[sel, list(features)].to_numpy(np.float64)
    y = pairs.loc[sel, "label"].to_numpy(np.float64)
    return X, y


def fit_pair_classifier(
    pairs: pd.DataFrame,
    model_cfg: Mapping[str, Any],
    features: Sequence[str],
    training: Mapping[str, Any],
    seed: int,
    device: str,
    log: Callable[[str], Any] | None = None,
) -> tuple[FitResult, float]:
    """Train one pair classifier (class-balanced BCE) and choose its threshold on validation.

    Args:
        pairs: pair table with ``split``, ``label`` and the feature columns.
        model_cfg: ``{"name": ..., **network kwargs}``.
        features: input columns, in order.
        training: training-loop settings (``seed`` is ignored: ``seed`` is used).
        seed: training seed.
        device: torch device.
        log: progress callback (default: this module's logger).

    Raises:
        ValueError: the train or validation split lacks positive or negative pairs.
    """
    log = log or _log.info
    X_tr, y_tr = split_xy(pairs, "train", features)
    X_va, y_va = split_xy(pairs, "val", features)
    for name, y in (("train", y_tr), ("validation", y_va)):
        if y.size == 0 or y.min() == y.max():
            raise ValueError(
                f"the {name} split has {int(y.sum())} positive and {int((1 - y).sum())} negative "
                "pairs; training needs both (more events, or other split fractions)"
            )
    kw = {k: v for k, v in model_cfg.items() if k != "name"}
    train_kw = {k: v for k, v in training.items() if k != "seed"}
    t0 = time.perf_counter()
    fit = fit_network(
        model_cfg["name"],
        X_tr,
        y_tr,
        X_va,
        y_va,
        loss="bce",
        model_kwargs=kw,
        seed=seed,
        device=device,
        pos_weight="auto",
        log=log,
        **train_kw,
    )
    dt = time.perf_counter() - t0
    threshold = choose_threshold(y_va, fit.predict(X_va, device))
    log(
        f"trained {model_cfg['name']} (seed {seed}) on {len(y_tr)} pairs in {dt:.1f} s "
        f"({len(y_tr) * len(fit.history) / max(dt, 1e-9):.0f} samples/s), validation threshold "
        f"{threshold:.3f}"
    )
    return fit, threshold


def score_pairs(model: Any, meta: Mapping[str, Any], pairs: pd.DataFrame) -> np.ndarray:
    """Scores in (0, 1) of a loaded pair classifier (``nn.training.load_checkpoint``)."""
    X = pairs[list(meta["features"])].to_numpy(np.float64)
    score = predict(model, meta["standardizer"].transform(X), "cpu", activation="sigmoid")
    return np.asarray(score).reshape(-1)


def seed_runs(
    pairs: pd.DataFrame,
    model_cfg: Mapping[str, Any],
    features: Sequence[str],
    training: Mapping[str, Any],
    seeds: Sequence[int],
    device: str,
) -> dict[str, Any]:
    """Train with each seed; the test F1 and ROC AUC of each run, their mean and spread."""
    test = pairs[pairs["split"] == "test"]
    X_te, y_te = test[list(features)].to_numpy(np.float64), test["label"].to_numpy()
    runs = []
    for seed in seeds:
        fit, thr = fit_pair_classifier(pairs, model_cfg, features, training, seed, device)
        m = classification_metrics(y_te, fit.predict(X_te, device), thr)
        runs.append(
            {"seed": seed, "f1": m["f1"], "roc_auc": m["roc_auc"], "epochs": len(fit.history)}
        )
    f1 = np.array([r["f1"] for r in runs])
    auc = np.array([r["roc_auc"] for r in runs])
    return {
        "runs": runs,
        "f1_mean": float(f1.mean()),
        "f1_std": float(f1.std(ddof=1)) if f1.size > 1 else 0.0,
        "roc_auc_mean": float(auc.mean()),
        "roc_auc_std": float(auc.std(ddof=1)) if auc.size > 1 else 0.0,
    }
