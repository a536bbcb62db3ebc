"""Scoring every pair classifier on the same test pairs (pairs.json).

Thresholds and cuts come from the validation split, the test split is only scored: the trained
networks (scores given), smart_random (a seeded draw at the positive fraction, with its analytic
expectation), the tuned angle + time cut and gradient boosting on the same features.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from caloreco.classification import (
    choose_threshold,
    classification_metrics,
    smart_random_draw,
    smart_random_expected,
)
from caloreco.pairs.baselines import CutBaseline, fit_gradient_boosting
from caloreco.pairs.training import score_pairs, split_xy

_log = logging.getLogger(__name__)

__all__ = ["evaluate_classifiers"]


def evaluate_classifiers(
    pairs: pd.DataFrame,
    networks: Mapping[str, tuple[Any, Mapping[str, Any]]],
    features: Sequence[str],
    rng: np.random.Generator,
    n_boot: int,
    seed: int,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """pairs.json's numbers and the per-pair score table of the test split.

    Args:
        pairs: every pair of the dataset (``split``, ``label``, ``event``, features).
        networks: per trained network, the loaded ``(model, meta)`` of its checkpoint
            (:func:`caloreco.nn.training.load_checkpoint`; ``meta["threshold"]`` from validation).
        features: the feature columns of the gradient-boosting baseline.
        rng: generator of the smart_random draw and the bootstrap intervals.
        n_boot: bootstrap replicates of the F1 interval (resampling events).
        seed: seed of the gradient boosting.

    Returns:
        ``(result, scores)``: the metrics dict (``positive_fraction``, ``classifiers``, ...) and a
        table with ``event``, ``label`` and one score column per classifier.

    Raises:
        ValueError: the test split lacks positive or negative pairs.
    """
    split = pairs["split"].to_numpy()
    test = pairs[split == "test"].reset_index(drop=True)
    val = pairs[split == "val"].reset_index(drop=True)
    if test.empty or test["label"].nunique() < 2:
        raise ValueError("the test split needs positive and negative pairs to be evaluated")
    y_test = test["label"].to_numpy()
    events = test["event"].to_numpy()
    p = float(pairs.loc[split == "train", "label"].mean())
    result: dict[str, Any] = {
        "positive_fraction": float(y_test.mean()),
        "positive_fraction_train": p,
        "n_test_pairs": len(test),
        "n_test_events": int(np.unique(events).size),
        "classifiers": {},
    }
    scores = pd.DataFrame({"event": events, "label": y_test})

    def record(name: str, score: np.ndarray, threshold: float) -> None:
        m = classification_metrics(y_test, score, threshold, rng, n_boot, events)
        result["classifiers"][name] = m
        scores[name] = score
        _log.info("%-14s F1 %.3f [%.3f, %.3f]  AUC %.3f", name, m["f1"], *m["f1_ci"], m["roc_auc"])

    for name, (model, meta) in networks.items():
        record(name, score_pairs(model, meta, test), float(meta["threshold"]))
    # smart_random: "positive" with probability p, the positive fraction
    draw = smart_random_draw(y_test, result["positive_fraction"], rng).astype(np.float64)
    record("smart_random", draw, 0.5)
    result["classifiers"]["smart_random"]["f1_expected"] = result["positive_fraction"]
    result["classifiers"]["smart_random"]["expected"] = smart_random_expected(
        result["positive_fraction"]
    )
    cut = CutBaseline().fit(val, val["label"].to_numpy())
    record("cut", cut.score(test), 0.5)
    result["classifiers"]["cut"]["cuts"] = {
        "opening_angle_rad": float(cut.angle_cut),
        "dt_ns": float(cut.dt_cut),
    }
    X_tr, y_tr = split_xy(pairs, "train", features)
    X_va, y_va = split_xy(pairs, "val", features)
    gb = fit_gradient_boosting(X_tr, y_tr, X_va, y_va, seed=seed)
    thr = choose_threshold(y_va, gb.predict_proba(X_va)[:, 1])
    gb_test = gb.predict_proba(test[list(features)].to_numpy(np.float64))[:, 1]
    record("gradient_boosting", gb_test, thr)
    return result, scores
