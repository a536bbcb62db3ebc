"""Rule ``evaluate_two_photon``: network against coral's two-shower fit on the test pi0s."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from caloreco.io.files import write_json
from caloreco.io.two_photon import read_pair_sample
from caloreco.nn.two_photon import load_pair_network, network_estimates, network_inputs
from caloreco.regression.two_photon import evaluate_estimates, select
from caloreco.regression.two_photon_settings import two_photon_settings
from caloreco.regression.two_shower_fit import fit_calibration, fit_estimates, select_result

log = logging.getLogger("caloreco.stages.evaluate_two_photon")

__all__ = ["run"]


def _network_info(net: Any) -> dict[str, Any]:
    h = net.history
    return {
        "architecture": net.architecture,
        "residual_on_fit": bool(net.residual),
        "epochs": int(len(h)),
        "best_epoch": int(h.loc[h["val_loss"].idxmin(), "epoch"]),
        "best_val_loss": float(h["val_loss"].min()),
        "n_parameters": int(sum(p.numel() for p in net.model.parameters())),
    }


def run(
    window_paths: Sequence[str | Path],
    fit_paths: Sequence[str | Path],
    train_window_paths: Sequence[str | Path],
    train_fit_paths: Sequence[str | Path],
    counter_path: str | Path,
    regressor_path: str | Path,
    counter_history: str | Path,
    regressor_history: str | Path,
    settings: Mapping[str, Any],
    metrics_out: str | Path,
) -> dict[str, Any]:
    """two_photon.json on the ``test`` windows of the dataset's events; the fit's depth
    correction and energy scale come from the two-photon ``train`` windows of the training
    sample (the networks' sample)."""
    s = two_photon_settings(settings)
    win, fit = read_pair_sample(window_paths, fit_paths)
    twin, tfit = read_pair_sample(train_window_paths, train_fit_paths)
    cal = (twin["split"] == "train") & (twin["label"] == 2)
    origin = np.column_stack([twin["origin_x_mm"], twin["origin_y_mm"]])[cal]
    calib = fit_calibration(tfit.two[cal], twin["truth"][cal], origin)

    m = win["split"] == "test"
    test, tfit_test = select(win, m), select_result(fit, m)
    if not np.any(test["label"] == 2) or not np.any(test["label"] == 1):
        raise ValueError(
            f"{window_paths[0]}...: the test windows need both one- and two-photon events "
            "(datasets.<name>.simulation.single_photon_fraction in (0, 1))"
        )
    estimates = fit_estimates(test, tfit_test, calib)
    counter, cmeta = load_pair_network(counter_path, "counter")
    regressor, rmeta = load_pair_network(regressor_path, "regressor")
    counter.history = pd.read_csv(counter_history)
    regressor.history = pd.read_csv(regressor_history)
    pitch = float(test["pitch_mm"])
    X, _ = network_inputs(
        test["windows"],
        test["origin_x_mm"],
        test["origin_y_mm"],
        pitch,
        tfit_test if rmeta.get("fit_inputs", True) else None,
    )
    t0 = time.perf_counter()
    estimates["nn"] = network_estimates(counter, regressor, X, test["windows"])
    t_nn = time.perf_counter() - t0
    metrics = evaluate_estimates(test, estimates, s)
    n_fit = sum(int(np.load(p)["fit_n_showers"].size) for p in fit_paths)
    t_fit = sum(float(np.load(p)["fit_seconds"]) for p in fit_paths)
    metrics["networks"] = {
        "counter": {**_network_info(counter), "threshold": float(counter.threshold)},
        "regressor": _network_info(regressor),
        "fit_inputs": bool(rmeta.get("fit_inputs", True)),
        "kept": "cnn regressor on the window and the fit (residual), dense counter",
    }
    metrics["fit_calibration"] = calib
    lo_hi = s["training_mass_mev"]
    metrics["training_sample"] = (
        "pi0 events (train/val split of the dataset)"
        if lo_hi is None
        else f"pairs from parents of uniform mass {list(lo_hi)} MeV, same spectrum and geometry"
    )
    metrics["sample"].update(
        {
            "n_events": int(win["n_events"]),
            "n_windows": int(win["n_windows"]),
            "n_usable": int(win["n_usable"]),
            "n_train_windows": int(np.sum(twin["split"] == "train")),
            "n_val_windows": int(np.sum(twin["split"] == "val")),
        }
    )
    metrics["throughput"] = {
        "fit_windows_per_s": n_fit / max(t_fit, 1e-9),
        "nn_windows_per_s": len(X) / max(t_nn, 1e-9),
        "note": "wall clock inside the rules on this run's machine; benchmarks/bench_two_photon.py "
        "measures both on the same windows",
    }
    for g in metrics["goals"]:
        log.info("[%s] %s", "met" if g["met"] else "MISSED", g["goal"])
    write_json(metrics_out, metrics)
    return metrics
