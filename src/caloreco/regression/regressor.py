"""The ECAL regressor: training on window data and prediction of x, y (mm) and E (MeV).

Inputs and targets from :mod:`.inputs`; the network and training loop from :mod:`caloreco.nn`.
Trained on the train split with early stopping on validation; windows enter when they pass the
purity cut (``train_mask``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from caloreco.nn.training import FitResult, fit_network, predict
from caloreco.regression.inputs import from_targets, network_inputs, training_targets
from caloreco.regression.settings import regression_settings

_log = logging.getLogger(__name__)

__all__ = ["fit_regressor", "predict_regressor"]


def fit_regressor(
    data: Mapping[str, np.ndarray],
    settings: Mapping[str, Any],
    absolute_position: bool,
    device: str,
    log: Callable[[str], Any] | None = None,
) -> tuple[FitResult, dict[str, Any]]:
    """Train the regressor on the train split of window data (early stopping on validation).

    Args:
        data: window data (:func:`caloreco.io.tables.read_windows`).
        settings: the ``regression`` section.
        absolute_position: add the window origin as inputs (the stage-3 study).
        device: torch device.
        log: progress callback (default: this module's logger).

    Returns:
        the fit and the checkpoint metadata (features, inputs, targets; the caller adds its own).

    Raises:
        ValueError: fewer than 10 training or 5 validation windows pass the purity cut.
    """
    log = log or _log.info
    s = regression_settings(settings)
    n = len(data["windows"])
    if n == 0:
        raise ValueError(
            "regressor: the dataset has no windows (no connected cluster in any event); check "
            "the raw events (simulation.json) and clustering.connected.seed_threshold_mev"
        )
    cog_ref = bool(s["cog_reference"])
    X, names = network_inputs(data, s["inputs"], absolute_position, cog_ref)
    y = training_targets(data, s["inputs"], cog_ref)
    usable = data["train_mask"] & np.all(np.isfinite(y), axis=1)
    tr = usable & (data["split"] == "train")
    va = usable & (data["split"] == "val")
    if tr.sum() < 10 or va.sum() < 5:
        raise ValueError(
            f"regressor: {int(tr.sum())} training and {int(va.sum())} validation windows pass the "
            "purity cut; need at least 10 and 5 (more events, or a lower regression.purity_cut)"
        )
    m = dict(s["model"])
    name = m.pop("name")
    if "hidden" in m:
        m["hidden"] = tuple(m["hidden"])
    train_kw = {k: v for k, v in s["training"].items() if k != "seed"}
    log(
        f"training {name} on {device}: {int(tr.sum())} train / {int(va.sum())} val windows, "
        f"{X.shape[1]} features"
    )
    t0 = time.perf_counter()
    fit = fit_network(
        name,
        X[tr],
        y[tr],
        X[va],
        y[va],
        loss=str(s["loss"]),
        model_kwargs=m,
        seed=int(s["training"]["seed"]),
        device=device,
        log=log,
        **train_kw,
    )
    dt = time.perf_counter() - t0
    log(
        f"trained in {dt:.1f} s, {len(fit.history)} epochs "
        f"({tr.sum() * len(fit.history) / max(dt, 1e-9):.0f} samples/s)"
    )
    meta = {
        "features": names,
        "inputs": s["inputs"],
        "absolute_position": bool(absolute_position),
        "cog_reference": cog_ref,
        "targets": ["x_mm", "y_mm", "energy" if s["inputs"] == "raw" else "energy_over_sum"],
    }
    return fit, meta


def predict_regressor(
    model: Any, meta: Mapping[str, Any], data: Mapping[str, np.ndarray]
) -> np.ndarray:
    """x, y (mm) and energy (MeV) of a loaded regressor (``nn.training.load_checkpoint``)."""
    cog_ref = bool(meta.get("cog_reference", False))
    X, names = network_inputs(data, meta["inputs"], bool(meta["absolute_position"]), cog_ref)
    if names != list(meta["features"]):
        raise ValueError(f"checkpoint features {meta['features']} != inputs {names}")
    z = predict(model, meta["standardizer"].transform(X), "cpu").reshape(len(X), -1)
    pred = meta["target_standardizer"].inverse_transform(z)
    return from_targets(pred, data, meta["inputs"], cog_ref)
