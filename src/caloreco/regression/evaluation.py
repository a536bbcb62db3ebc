"""Resolution of every estimator on the same test windows (resolution.json).

The trained networks (predictions given) are compared with the classical estimators fitted on the
training windows: the log-weighted centre of gravity with S-curve correction and calibrated
containment energy (``log_cog``) and coral's Lednev profile fit (``profile_fit``), both
depth-corrected for inclined photons. Residuals are fitted with the iterated core Gaussian
(:func:`caloreco.fitting.core_gaussian_fit`) overall and per true-energy bin, and the energy
resolution per bin with a/sqrt(E) (+) b (+) c/E. Positions in mm, energies in MeV.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from caloreco.fitting import core_gaussian_fit, resolution_function_fit
from caloreco.regression.depth import apply_depth_correction, fit_depth_correction
from caloreco.regression.log_cog import LogCogEstimator
from caloreco.regression.profile_fit import profile_fit

_log = logging.getLogger(__name__)

__all__ = ["residual_fits", "depth_corrections", "evaluate_estimators"]


def residual_fits(
    residuals: pd.DataFrame, e_true: np.ndarray, bins: Sequence[float], rng: np.random.Generator
) -> dict[str, Any]:
    """Core Gaussian fits of the x, y and energy residuals, overall and per true-energy bin.

    Args:
        residuals: columns ``x``, ``y`` (mm) and ``energy`` ((E_reco - E_true) / E_true).
        e_true: true energies (MeV) of the rows.
        bins: bin edges (MeV); bins with fewer than 20 windows are skipped.
        rng: generator of the bootstrap errors of sigma68.

    Returns:
        ``{"fits": {"x", "y", "energy"}, "vs_energy": [rows]}``; a fit that fails is
        ``{"error": message, "n"}``.
    """

    def fit(values: np.ndarray) -> dict[str, Any]:
        values = values[np.isfinite(values)]
        try:
            return core_gaussian_fit(values, rng=rng)
        except ValueError as exc:
            return {"error": str(exc), "n": int(values.size)}

    overall = {k: fit(residuals[k].to_numpy()) for k in ("x", "y", "energy")}
    vs = []
    edges = np.asarray(bins, dtype=np.float64)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (e_true >= lo) & (e_true < hi)
        if sel.sum() < 20:
            continue
        row = {
            "e_lo_mev": float(lo),
            "e_hi_mev": float(hi),
            "e_mean_mev": float(e_true[sel].mean()),
        }
        for k in ("x", "y", "energy"):
            row[k] = fit(residuals[k].to_numpy()[sel])
        vs.append(row)
    return {"fits": overall, "vs_energy": vs}


def depth_corrections(
    data: Mapping[str, np.ndarray],
    tr: np.ndarray,
    te: np.ndarray,
    preds: dict[str, np.ndarray],
    cog: LogCogEstimator,
    pitch: float,
) -> dict[str, dict[str, float]]:
    """Correct the classical estimators for inclined incidence, as coral does (in place).

    Only where the training photons are inclined (stage 3: from the target): the shower-depth
    shift of each classical estimator is fitted on the training windows and removed from its test
    predictions, so that the network with absolute-position inputs is compared with classical
    estimators that use the same information. Returns the fitted coefficients per estimator.
    """
    theta = data["primary_theta"][tr]
    if not np.any(np.nan_to_num(theta) > 1e-3):
        return {}
    origin = np.column_stack([data["origin_x_mm"], data["origin_y_mm"]])
    train_w = data["windows"][tr]
    train_pred = {
        "log_cog": cog.predict(train_w),
        "profile_fit": np.asarray(profile_fit(train_w, pitch)[0])[:, :3],
    }
    out = {}
    for name, p_train in train_pred.items():
        corr = fit_depth_correction(
            p_train[:, :2], data["targets"][tr, :2], origin[tr] + p_train[:, :2], p_train[:, 2]
        )
        p = preds[name]
        p[:, :2] = apply_depth_correction(p[:, :2], origin[te] + p[:, :2], p[:, 2], corr)
        _log.info("%s: depth correction for inclined incidence %s", name, corr)
        out[name] = corr
    return out


def evaluate_estimators(
    data: Mapping[str, np.ndarray],
    networks: Mapping[str, Callable[[Mapping[str, np.ndarray]], np.ndarray]],
    settings: Mapping[str, Any],
    rng: np.random.Generator,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """resolution.json's numbers and the residual table: every estimator on the test windows.

    Args:
        data: window data of the whole dataset (:func:`caloreco.io.tables.read_windows`).
        networks: per trained network, a function from test window data to (n, 3) predictions
            (x, y mm; E MeV).
        settings: the ``regression`` section with defaults (``log_cog_w0``, ``energy_bins_mev``).
        rng: generator of the bootstrap errors.

    Returns:
        ``(result, residuals)``; result has ``estimators``, ``vs_energy``,
        ``resolution_function``, ``n_test``, ``clusters_per_second``, ``units``,
        ``mono_energetic`` and ``depth_correction``.

    Raises:
        ValueError: fewer than 20 usable test windows.
    """
    pitch = float(data["pitch_mm"])
    if len(data["windows"]) == 0:
        raise ValueError("evaluation: the dataset has no windows (no connected cluster)")
    usable = data["train_mask"] & np.all(np.isfinite(data["targets"]), axis=1)
    tr = usable & (data["split"] == "train")
    te = usable & (data["split"] == "test")
    if te.sum() < 20:
        raise ValueError(f"only {int(te.sum())} test windows; need at least 20 to fit resolutions")
    test = {k: (v[te] if np.ndim(v) > 0 else v) for k, v in data.items()}
    truth = test["targets"]
    preds: dict[str, np.ndarray] = {}
    timing: dict[str, float] = {}
    for name, predict in networks.items():
        t0 = time.perf_counter()
        preds[name] = predict(test)
        timing[name] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cog = LogCogEstimator(pitch_mm=pitch, w0=float(settings["log_cog_w0"])).fit(
        data["windows"][tr], data["targets"][tr]
    )
    preds["log_cog"] = cog.predict(test["windows"])
    timing["log_cog"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    preds["profile_fit"] = np.asarray(profile_fit(test["windows"], pitch).params)[:, :3]
    timing["profile_fit"] = time.perf_counter() - t0
    depth = depth_corrections(data, tr, te, preds, cog, pitch)
    result: dict[str, Any] = {
        "estimators": {},
        "vs_energy": {},
        "resolution_function": {},
        "n_test": int(te.sum()),
        "clusters_per_second": {k: float(te.sum() / max(v, 1e-9)) for k, v in timing.items()},
        "units": {"x": "mm", "y": "mm", "energy": "(E_reco - E_true) / E_true"},
        # one beam energy (thesis stage 1): a trained regressor can output that energy for every
        # cluster, so its energy "resolution" means nothing there; compare positions only
        "mono_energetic": bool(np.std(truth[:, 2]) < 0.02 * np.mean(truth[:, 2])),
        "depth_correction": depth,
    }
    tables = []
    e_true = truth[:, 2]
    for name, p in preds.items():
        res = pd.DataFrame(
            {
                "x": p[:, 0] - truth[:, 0],
                "y": p[:, 1] - truth[:, 1],
                "energy": (p[:, 2] - e_true) / e_true,
            }
        )
        f = residual_fits(res, e_true, settings["energy_bins_mev"], rng)
        result["estimators"][name] = f["fits"]
        result["vs_energy"][name] = f["vs_energy"]
        rows = [r for r in f["vs_energy"] if "sigma" in r["energy"]]
        if len(rows) >= 3:
            e_gev = np.array([r["e_mean_mev"] for r in rows]) / 1000.0
            sig = np.array([r["energy"]["sigma"] for r in rows])
            err = np.array([r["energy"]["sigma_err"] for r in rows])
            try:
                result["resolution_function"][name] = resolution_function_fit(e_gev, sig, err)
            except (ValueError, RuntimeError) as exc:
                result["resolution_function"][name] = {"error": str(exc)}
        res["estimator"] = name
        res["true_energy_mev"] = e_true
        res["event"] = test["event"]
        res["true_x_mm"] = truth[:, 0]
        res["true_y_mm"] = truth[:, 1]
        tables.append(res)
        _log.info(
            "%-12s sigma_x %.3f mm  sigma_y %.3f mm  sigma_E/E %.4f",
            name,
            f["fits"]["x"].get("sigma", np.nan),
            f["fits"]["y"].get("sigma", np.nan),
            f["fits"]["energy"].get("sigma", np.nan),
        )
    return result, pd.concat(tables, ignore_index=True)
