"""Workflow stages of the ECAL regression: windows, the regressor, and the resolution evaluation.

The network reads the NxN cell energies around a cluster's seed and predicts the photon's impact
point (x, y relative to the window's lower-left cell centre, mm) and energy. It is judged against
the classical estimators on the same test windows: the log-weighted centre of gravity with an
S-curve correction (``log_cog``) and coral's chi-square fit of the Lednev profile
(``profile_fit``).
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
from caloreco.split import assign_split

log = logging.getLogger("caloreco.regression")

__all__ = [
    "DEFAULTS",
    "regression_settings",
    "windows_chunk",
    "load_windows",
    "network_inputs",
    "train_regressor",
    "evaluate_regression",
]

DEFAULTS: dict[str, Any] = {
    "size": 5,
    "placement": "random",
    "purity_cut": 0.95,
    "inputs": "normalised",
    "cog_reference": True,
    "loss": "mse",
    "model": {"name": "regressor", "hidden": [64, 128, 256, 128, 64, 32]},
    "training": {"lr": 1e-3, "batch_size": 256, "max_epochs": 200, "patience": 15, "seed": 0},
    "log_cog_w0": 4.0,
    "energy_bins_mev": [2000, 10000, 25000, 50000, 100000, 150000, 200000],
    "bootstrap": 200,
}


def regression_settings(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The dataset's ``regression`` block with defaults filled in (nested dicts merged)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULTS.items()}
    for key, value in dict(cfg or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = value
    return out


def windows_chunk(
    raw_path: str | Path,
    clusters_path: str | Path,
    out_path: str | Path,
    settings: Mapping[str, Any],
    dataset_seed: int,
    split_fractions: Sequence[float],
    chunk: str | int,
) -> dict[str, np.ndarray]:
    """NxN windows around every cluster seed of one chunk, with targets and metadata (npz).

    Targets are the true impact point of the cluster's dominant primary relative to the window's
    lower-left cell centre (mm) and its true energy (MeV). ``train_mask`` marks clusters fit to
    train the regressor: matched to one primary with purity >= ``purity_cut`` and the window
    inside the detector.
    """
    from caloreco.stages import geometry_from_file
    from caloreco.windows import extract_windows, window_targets

    s = regression_settings(settings)
    events = io.read_raw(raw_path, require_truth=True)
    geom = geometry_from_file(raw_path)
    if geom.kind != "planar":
        raise ValueError(f"{raw_path}: windows need a planar detector, got {geom.name!r}")
    clusters = pd.read_parquet(clusters_path)
    ev_pos = pd.Series(np.arange(events.n_events), index=events.event)
    pos = ev_pos.loc[clusters["event"].to_numpy()].to_numpy()
    rng = chunk_rng(dataset_seed, int(chunk), "windows")
    w = extract_windows(
        geom,
        events.hit_offsets,
        events.cell_id,
        events.cell_energy,
        pos,
        clusters["seed_row"].to_numpy(),
        clusters["seed_col"].to_numpy(),
        size=int(s["size"]),
        placement=s["placement"],
        rng=rng,
        margin=1,  # seed inside the central (N-2)x(N-2) block: its neighbours stay in the window
    )
    prim = clusters["primary"].to_numpy()
    has = prim >= 0
    flat = events.primary_offsets[pos] + np.where(has, prim, 0)
    true_x = np.where(has, events.primary_x[flat], np.nan)
    true_y = np.where(has, events.primary_y[flat], np.nan)
    true_e = np.where(has, events.primary_energy[flat], np.nan)
    targets = window_targets(w["origin_x_mm"], w["origin_y_mm"], true_x, true_y, true_e)
    purity = clusters["purity"].to_numpy(np.float64)
    train_mask = has & (purity >= float(s["purity_cut"])) & ~w["outside"]
    out = {
        "windows": w["windows"].astype(np.float32),
        "targets": np.asarray(targets, dtype=np.float64),
        "origin_x_mm": w["origin_x_mm"],
        "origin_y_mm": w["origin_y_mm"],
        "origin_row": w["origin_row"],
        "origin_col": w["origin_col"],
        "outside": w["outside"],
        "event": clusters["event"].to_numpy(np.int64),
        "cluster": clusters["cluster"].to_numpy(np.int32),
        "primary": prim,
        "purity": purity,
        "cluster_energy": clusters["energy"].to_numpy(np.float64),
        "primary_theta": np.where(has, events.primary_theta[flat], np.nan),
        "train_mask": train_mask,
        "split": assign_split(clusters["event"].to_numpy(), tuple(split_fractions), dataset_seed),
        "pitch_mm": np.float64(geom.pitch),
    }
    log.info(
        "%d clusters -> %d windows, %d usable for training (purity >= %.2f, inside)",
        len(clusters),
        len(out["windows"]),
        int(train_mask.sum()),
        float(s["purity_cut"]),
    )
    with io.atomic_path(out_path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **out)
    return out


def load_windows(paths: Sequence[str | Path]) -> dict[str, np.ndarray]:
    """Concatenate window chunks (npz) into one dict of arrays."""
    parts = []
    for p in paths:
        with np.load(p, allow_pickle=False) as z:
            parts.append({k: z[k] for k in z.files})
    if not parts:
        raise ValueError("no window files given")
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if parts[0][k].ndim > 0}
    out["pitch_mm"] = parts[0]["pitch_mm"]
    return out


def _cog(data: Mapping[str, np.ndarray]) -> np.ndarray:
    """Log-weighted centre of gravity (w0 = 4) of every window, mm from the lower-left centre."""
    from caloreco.models.classical import log_cog

    return log_cog(data["windows"], float(data["pitch_mm"]), 4.0)


def network_inputs(
    data: Mapping[str, np.ndarray],
    inputs: str,
    absolute_position: bool,
    cog_reference: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """Feature matrix and names for the regressor.

    ``raw``: the N*N cell energies in GeV (the thesis). ``normalised``: the cell energies divided
    by the window sum (the shower shape, which sets the position whatever the energy) plus
    log(window sum / GeV) (which sets the energy scale). ``cog_reference`` adds the log-weighted
    centre of gravity (in cell units); the network then predicts the correction to it.
    ``absolute_position`` adds the window origin's x, y (m), the stage-3 input that lets the
    network undo the inclination shift.
    """
    win = data["windows"].reshape(len(data["windows"]), -1).astype(np.float64)
    n = win.shape[1]
    total = win.sum(axis=1)
    if inputs == "raw":
        X, names = win / 1000.0, [f"e{i:02d}_gev" for i in range(n)]
    elif inputs == "normalised":
        safe = np.where(total > 0, total, 1.0)
        X = np.column_stack([win / safe[:, None], np.log(np.maximum(total, 1e-3) / 1000.0)])
        names = [f"f{i:02d}" for i in range(n)] + ["log_esum_gev"]
    else:
        raise ValueError(f"regression.inputs: expected 'raw' or 'normalised', got {inputs!r}")
    if cog_reference:
        X = np.column_stack([X, _cog(data) / float(data["pitch_mm"])])
        names += ["cog_x_cells", "cog_y_cells"]
    if absolute_position:
        X = np.column_stack([X, data["origin_x_mm"] / 1000.0, data["origin_y_mm"] / 1000.0])
        names += ["origin_x_m", "origin_y_m"]
    return X, names


def _targets(data: Mapping[str, np.ndarray], inputs: str, cog_reference: bool) -> np.ndarray:
    """Training targets: x, y (mm; minus the CoG with ``cog_reference``) and the energy
    (as E / window sum for normalised inputs)."""
    t = data["targets"].copy()
    if cog_reference:
        t[:, :2] -= _cog(data)
    if inputs == "normalised":
        total = data["windows"].reshape(len(t), -1).sum(axis=1)
        t[:, 2] = t[:, 2] / np.where(total > 0, total, 1.0)
    return t


def _from_targets(
    pred: np.ndarray, data: Mapping[str, np.ndarray], inputs: str, cog_reference: bool
) -> np.ndarray:
    out = np.array(pred, dtype=np.float64, copy=True)
    if cog_reference:
        out[:, :2] += _cog(data)
    if inputs == "normalised":
        out[:, 2] = out[:, 2] * data["windows"].reshape(len(out), -1).sum(axis=1)
    return out


def train_regressor(
    window_paths: Sequence[str | Path],
    model_out: str | Path,
    history_out: str | Path,
    settings: Mapping[str, Any],
    absolute_position: bool,
    config_hash: str,
) -> None:
    """Train the regressor on the train split (early stopping on validation) and save it."""
    from caloreco.models.training import fit_network, save_checkpoint, select_device

    s = regression_settings(settings)
    data = load_windows(window_paths)
    cog_ref = bool(s["cog_reference"])
    X, names = network_inputs(data, s["inputs"], absolute_position, cog_ref)
    y = _targets(data, s["inputs"], cog_ref)
    usable = data["train_mask"] & np.all(np.isfinite(y), axis=1)
    tr = usable & (data["split"] == "train")
    va = usable & (data["split"] == "val")
    if tr.sum() < 10 or va.sum() < 5:
        raise ValueError(
            f"regressor: {int(tr.sum())} training and {int(va.sum())} validation windows pass the "
            "purity cut; need at least 10 and 5 (more events, or a lower regression.purity_cut)"
        )
    device = str(select_device("auto"))
    m = dict(s["model"])
    name = m.pop("name")
    if "hidden" in m:
        m["hidden"] = tuple(m["hidden"])
    train_kw = {k: v for k, v in s["training"].items() if k != "seed"}
    log.info(
        "training %s on %s: %d train / %d val windows, %d features",
        name,
        device,
        int(tr.sum()),
        int(va.sum()),
        X.shape[1],
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
        log=log.info,
        **train_kw,
    )
    dt = time.perf_counter() - t0
    log.info(
        "trained in %.1f s, %d epochs (%.0f samples/s)",
        dt,
        len(fit.history),
        tr.sum() * len(fit.history) / max(dt, 1e-9),
    )
    meta = fit.checkpoint_meta(
        names,
        config_hash=config_hash,
        inputs=s["inputs"],
        absolute_position=bool(absolute_position),
        cog_reference=cog_ref,
        targets=["x_mm", "y_mm", "energy" if s["inputs"] == "raw" else "energy_over_sum"],
    )
    save_checkpoint(model_out, fit.model, meta)
    with io.atomic_path(history_out) as tmp:
        fit.history.to_csv(tmp, index=False)


def predict_regressor(path: str | Path, data: Mapping[str, np.ndarray]) -> np.ndarray:
    """x, y (mm) and energy (MeV) predicted by a saved regressor for window data."""
    from caloreco.models.training import load_checkpoint, predict

    model, meta = load_checkpoint(path)
    cog_ref = bool(meta.get("cog_reference", False))
    X, names = network_inputs(data, meta["inputs"], bool(meta["absolute_position"]), cog_ref)
    if names != list(meta["features"]):
        raise ValueError(f"{path}: checkpoint features {meta['features']} != inputs {names}")
    z = predict(model, meta["standardizer"].transform(X), "cpu").reshape(len(X), -1)
    pred = meta["target_standardizer"].inverse_transform(z)
    return _from_targets(pred, data, meta["inputs"], cog_ref)


def _fits(residuals: pd.DataFrame, e_true: np.ndarray, bins: Sequence[float], rng) -> dict:
    from caloreco.fitting import core_gaussian_fit

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


def _depth_corrections(
    data: Mapping[str, np.ndarray],
    tr: np.ndarray,
    te: np.ndarray,
    preds: dict[str, np.ndarray],
    cog: Any,
    pitch: float,
) -> dict[str, dict[str, float]]:
    """Correct the classical estimators for inclined incidence, as coral does (in place).

    Only where the training photons are inclined (stage 3: from the target): the shower-depth
    shift of each classical estimator is fitted on the training windows and removed from its test
    predictions, so that the network with absolute-position inputs is compared with classical
    estimators that use the same information. Returns the fitted coefficients per estimator.
    """
    from caloreco.models.classical import (
        apply_depth_correction,
        fit_depth_correction,
        profile_fit,
    )

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
        log.info("%s: depth correction for inclined incidence %s", name, corr)
        out[name] = corr
    return out


def evaluate_regression(
    window_paths: Sequence[str | Path],
    model_paths: Mapping[str, str | Path],
    settings: Mapping[str, Any],
    dataset_seed: int,
    metrics_out: str | Path,
    residuals_out: str | Path,
) -> dict[str, Any]:
    """resolution.json and the residual table: every estimator on the same test windows."""
    from caloreco.fitting import resolution_function_fit
    from caloreco.models.classical import LogCogEstimator, profile_fit
    from caloreco.stages import write_json

    s = regression_settings(settings)
    data = load_windows(window_paths)
    pitch = float(data["pitch_mm"])
    usable = data["train_mask"] & np.all(np.isfinite(data["targets"]), axis=1)
    tr = usable & (data["split"] == "train")
    te = usable & (data["split"] == "test")
    if te.sum() < 20:
        raise ValueError(f"only {int(te.sum())} test windows; need at least 20 to fit resolutions")
    test = {k: (v[te] if np.ndim(v) > 0 else v) for k, v in data.items()}
    truth = test["targets"]
    preds: dict[str, np.ndarray] = {}
    timing: dict[str, float] = {}
    for name, path in model_paths.items():
        t0 = time.perf_counter()
        preds[name] = predict_regressor(path, test)
        timing[name] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cog = LogCogEstimator(pitch_mm=pitch, w0=float(s["log_cog_w0"])).fit(
        data["windows"][tr], data["targets"][tr]
    )
    preds["log_cog"] = cog.predict(test["windows"])
    timing["log_cog"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pf = profile_fit(test["windows"], pitch)
    preds["profile_fit"] = np.asarray(pf[0] if isinstance(pf, tuple) else pf)[:, :3]
    timing["profile_fit"] = time.perf_counter() - t0
    depth = _depth_corrections(data, tr, te, preds, cog, pitch)
    rng = chunk_rng(dataset_seed, 0, "evaluate")
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
        f = _fits(res, e_true, s["energy_bins_mev"], rng)
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
        fx = f["fits"]["x"]
        log.info(
            "%-12s sigma_x %.3f mm  sigma_y %.3f mm  sigma_E/E %.4f",
            name,
            fx.get("sigma", np.nan),
            f["fits"]["y"].get("sigma", np.nan),
            f["fits"]["energy"].get("sigma", np.nan),
        )
    write_json(metrics_out, result)
    with io.atomic_path(residuals_out) as tmp:
        pd.concat(tables, ignore_index=True).to_parquet(tmp, index=False)
    return result
