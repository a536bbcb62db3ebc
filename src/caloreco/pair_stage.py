"""Workflow stages of the case A/B pair analysis: pairs, training, evaluation, merging.

Case B (label 1): two clusters of the same gamma, which should be merged; case A (label 0): two
gammas correctly kept apart. Every event has a fixed train/val/test assignment from
:func:`caloreco.split.assign_split`; thresholds and cuts are chosen on validation pairs, test pairs
are only scored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from caloreco import io
from caloreco.config import chunk_rng
from caloreco.pairs import FEATURES_DEFAULT, FEATURES_PUBLISHED, make_pairs
from caloreco.split import assign_split

log = logging.getLogger("caloreco.pairs")

__all__ = [
    "DEFAULTS",
    "pair_settings",
    "pairs_chunk",
    "train_pair_model",
    "evaluate_pairs",
    "merge_chunk",
    "seed_study",
]

DEFAULTS: dict[str, Any] = {
    "method": "agglomerative",
    "features": "default",
    "model": {"name": "pair_mlp", "hidden": 128, "n_layers": 3, "dropout": 0.1},
    "training": {"lr": 1e-3, "batch_size": 256, "max_epochs": 60, "patience": 8, "seed": 0},
    "seeds": 3,
    "merge_methods": ["agglomerative", "cone"],
    "bootstrap": 500,
}

# the reference: the seed talk's TinyModel, done right, on the published 11 features
TINY = {"name": "tiny", "hidden": 64}


def pair_settings(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The dataset's ``pairs`` block with defaults filled in (nested dicts merged)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULTS.items()}
    for key, value in dict(cfg or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = value
    return out


def feature_list(name: str) -> list[str]:
    """Feature names of a feature-set name (``default`` or ``published``)."""
    sets = {"default": FEATURES_DEFAULT, "published": FEATURES_PUBLISHED}
    if name not in sets:
        raise ValueError(f"pairs.features: expected one of {sorted(sets)}, got {name!r}")
    return list(sets[name])


def pairs_chunk(
    clusters_path: str | Path,
    out_path: str | Path,
    split_fractions: Sequence[float],
    split_seed: int,
) -> pd.DataFrame:
    """Every cluster pair of each event of one chunk, with features, label and split."""
    clusters = pd.read_parquet(clusters_path)
    pairs = make_pairs(clusters)
    pairs["split"] = assign_split(pairs["event"].to_numpy(), tuple(split_fractions), split_seed)
    if "label" in pairs:
        log.info(
            "%d clusters -> %d pairs, positive fraction %.3f",
            len(clusters),
            len(pairs),
            float(pairs["label"].mean()) if len(pairs) else float("nan"),
        )
    with io.atomic_path(out_path) as tmp:
        pairs.to_parquet(tmp, index=False)
    return pairs


def _load_pairs(paths: Sequence[str | Path]) -> pd.DataFrame:
    pairs = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    if "label" not in pairs:
        raise ValueError(
            f"{paths[0]}: pairs carry no truth label; the pair analysis needs Monte Carlo truth"
        )
    return pairs


def _xy(pairs: pd.DataFrame, split: str, features: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    sel = pairs["split"].to_numpy() == split
    X = pairs.loc[sel, list(features)].to_numpy(np.float64)
    y = pairs.loc[sel, "label"].to_numpy(np.float64)
    return X, y


def _fit_one(
    pairs: pd.DataFrame,
    model_cfg: Mapping[str, Any],
    features: Sequence[str],
    training: Mapping[str, Any],
    seed: int,
    device: str,
) -> tuple[Any, float, pd.DataFrame]:
    from caloreco.models.baselines import choose_threshold
    from caloreco.models.training import fit_network

    X_tr, y_tr = _xy(pairs, "train", features)
    X_va, y_va = _xy(pairs, "val", features)
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
        log=log.info,
        **train_kw,
    )
    dt = time.perf_counter() - t0
    threshold = choose_threshold(y_va, fit.predict(X_va, device))
    log.info(
        "trained %s (seed %d) on %d pairs in %.1f s (%.0f samples/s), validation threshold %.3f",
        model_cfg["name"],
        seed,
        len(y_tr),
        dt,
        len(y_tr) * len(fit.history) / max(dt, 1e-9),
        threshold,
    )
    return fit, threshold, fit.history


def train_pair_model(
    pairs_paths: Sequence[str | Path],
    model_out: str | Path,
    history_out: str | Path,
    settings: Mapping[str, Any],
    which: str,
    config_hash: str,
) -> None:
    """Train ``pair_classifier`` (the configured model) or ``pair_tiny`` (the reference)."""
    from caloreco.models.training import save_checkpoint, select_device

    s = pair_settings(settings)
    pairs = _load_pairs(pairs_paths)
    if which == "pair_tiny":
        model_cfg, features = dict(TINY), list(FEATURES_PUBLISHED)
    elif which == "pair_classifier":
        model_cfg, features = dict(s["model"]), feature_list(s["features"])
    else:
        raise ValueError(f"unknown pair model {which!r}")
    device = str(select_device("auto"))
    log.info("training %s on %s with features %s", which, device, features)
    fit, threshold, history = _fit_one(
        pairs, model_cfg, features, s["training"], int(s["training"]["seed"]), device
    )
    meta = fit.checkpoint_meta(
        features, threshold=float(threshold), config_hash=config_hash, seed=s["training"]["seed"]
    )
    save_checkpoint(model_out, fit.model, meta)
    with io.atomic_path(history_out) as tmp:
        history.to_csv(tmp, index=False)


def _score_model(path: str | Path, pairs: pd.DataFrame) -> tuple[np.ndarray, float]:
    from caloreco.models.training import load_checkpoint, predict

    model, meta = load_checkpoint(path)
    X = pairs[list(meta["features"])].to_numpy(np.float64)
    score = predict(model, meta["standardizer"].transform(X), "cpu", activation="sigmoid")
    return np.asarray(score).reshape(-1), float(meta["threshold"])


def evaluate_pairs(
    pairs_paths: Sequence[str | Path],
    model_paths: Mapping[str, str | Path],
    settings: Mapping[str, Any],
    seed: int,
    metrics_out: str | Path,
    scores_out: str | Path,
) -> dict[str, Any]:
    """pairs.json: every classifier on the same test pairs, thresholds from validation."""
    from caloreco.models.baselines import (
        CutBaseline,
        choose_threshold,
        classification_metrics,
        fit_gradient_boosting,
        smart_random_draw,
        smart_random_expected,
    )
    from caloreco.stages import write_json

    s = pair_settings(settings)
    pairs = _load_pairs(pairs_paths)
    rng = chunk_rng(seed, 0, "evaluate")
    n_boot = int(s["bootstrap"])
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
        "method": s["method"],
        "classifiers": {},
    }
    scores = pd.DataFrame({"event": events, "label": y_test})

    def record(name: str, score: np.ndarray, threshold: float) -> None:
        m = classification_metrics(y_test, score, threshold, rng, n_boot, events)
        result["classifiers"][name] = m
        scores[name] = score
        log.info("%-14s F1 %.3f [%.3f, %.3f]  AUC %.3f", name, m["f1"], *m["f1_ci"], m["roc_auc"])

    for name, path in model_paths.items():
        score, thr = _score_model(path, test)
        record(name, score, thr)
    # smart_random: "positive" with probability p, the positive fraction (train estimate)
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
    features = feature_list(s["features"])
    X_tr, y_tr = _xy(pairs, "train", features)
    X_va, y_va = _xy(pairs, "val", features)
    gb = fit_gradient_boosting(X_tr, y_tr, X_va, y_va, seed=seed)
    thr = choose_threshold(y_va, gb.predict_proba(X_va)[:, 1])
    record("gradient_boosting", gb.predict_proba(test[features].to_numpy(np.float64))[:, 1], thr)
    write_json(metrics_out, result)
    with io.atomic_path(scores_out) as tmp:
        scores.to_parquet(tmp, index=False)
    return result


def merge_chunk(
    raw_path: str | Path,
    cells_path: str | Path,
    pairs_path: str | Path,
    model_path: str | Path,
    clusters_out: str | Path,
    cells_out: str | Path,
) -> None:
    """Merge the pre-clusters of one chunk along the pairs the classifier accepts."""
    from caloreco import clustering as cl
    from caloreco.merging import event_index, merge_clusters
    from caloreco.stages import geometry_from_file, labels_from_cells

    events = io.read_raw(raw_path)
    geom = geometry_from_file(raw_path)
    labels = labels_from_cells(events, pd.read_parquet(cells_path))
    pairs = pd.read_parquet(pairs_path)
    if len(pairs):
        score, thr = _score_model(model_path, pairs)
        accept = score >= thr
        pos = event_index(events.event, pairs["event"].to_numpy())
        labels = merge_clusters(
            events.hit_offsets,
            labels,
            pos,
            pairs["cluster1"].to_numpy(),
            pairs["cluster2"].to_numpy(),
            accept,
        )
        log.info("accepted %d of %d pairs for merging", int(accept.sum()), len(pairs))
    labels = cl.canonical_labels(events.hit_offsets, labels, events.cell_energy)
    clusters = cl.cluster_table_from_events(events, labels, geom)
    for path, table in ((clusters_out, clusters), (cells_out, cl.cells_table(events, labels))):
        with io.atomic_path(path) as tmp:
            table.to_parquet(tmp, index=False)


def seed_study(
    pairs_paths: Sequence[str | Path],
    settings: Mapping[str, Any],
    out_path: str | Path,
) -> dict[str, Any]:
    """Train the pair classifier with several seeds; mean and spread of the test F1 and AUC."""
    from caloreco.models.baselines import classification_metrics
    from caloreco.models.training import select_device
    from caloreco.stages import write_json

    s = pair_settings(settings)
    pairs = _load_pairs(pairs_paths)
    features = feature_list(s["features"])
    test = pairs[pairs["split"] == "test"]
    X_te, y_te = test[features].to_numpy(np.float64), test["label"].to_numpy()
    device = str(select_device("auto"))
    runs = []
    base = int(s["training"]["seed"])
    for k in range(int(s["seeds"])):
        fit, thr, hist = _fit_one(pairs, s["model"], features, s["training"], base + k, device)
        m = classification_metrics(y_te, fit.predict(X_te, device), thr)
        runs.append({"seed": base + k, "f1": m["f1"], "roc_auc": m["roc_auc"], "epochs": len(hist)})
    f1 = np.array([r["f1"] for r in runs])
    auc = np.array([r["roc_auc"] for r in runs])
    out = {
        "runs": runs,
        "f1_mean": float(f1.mean()),
        "f1_std": float(f1.std(ddof=1)) if f1.size > 1 else 0.0,
        "roc_auc_mean": float(auc.mean()),
        "roc_auc_std": float(auc.std(ddof=1)) if auc.size > 1 else 0.0,
    }
    write_json(out_path, out)
    return out
