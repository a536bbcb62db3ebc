"""ECAL stage 4 study: the whole two-photon pipeline at the default size, and the goal table.

simulation (pi0 -> gamma gamma from the target + single photons, chunked like the workflow)
-> connected clustering and 9x9 pair windows -> event split -> coral's two-shower fit on every
window (its depth correction and energy scale fitted on training windows) -> photon counter and
two-photon regressor -> two_photon.json metrics -> the goal table.

The kept network ("nn") is a CNN regressor that reads the window and the fits' results and
predicts the correction to the two-shower fit (residual; it starts as the fit), with a dense
counter on the same inputs. By default both train on a second sample of the same size whose
pairs come from parents of uniform mass (70-200 MeV, ``parent_mass_mev``) and are tested on the
pi0 events: trained on pi0s alone (``--train-mass-range ""``) the regressor learns the pi0 mass
and pulls every pair towards it (the mass-linearity check, ``--mass-scan``, shows it). Other variants (``--variants``): ``nn_dense`` (dense regressor),
``nn_cnn_counter`` (CNN counter), ``nn_pure`` / ``nn_pure_dense`` (window-only networks, the
thesis's setting).

Run from the repository root (one thread, as the workflow runs its rules):

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=src \
        python benchmarks/study_two_photon.py --out two_photon.json [--variants nn,nn_pure]

Wall-clock and CPU seconds are reported per step (the CPU time is the cost on an idle core).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from caloreco.geometry import ecal_geometry
from caloreco.nn.two_photon import (
    fit_counter,
    fit_pair_regressor,
    network_estimates,
    network_inputs,
    regression_targets,
)
from caloreco.regression.two_photon import (
    DEFAULTS,
    PI0_MASS_MEV,
    concat_windows,
    event_display,
    goal_summary,
    mass_peak,
    pair_masses,
    pair_windows,
    select,
    two_photon_metrics,
)
from caloreco.regression.two_shower_fit import (
    fit_calibration,
    fit_estimates,
    fit_settings,
    two_shower_fit,
)
from caloreco.seeds import chunk_rng
from caloreco.simulation import response_from_config, simulate_events
from caloreco.simulation.ecal import simulate_pi0
from caloreco.split import assign_split

log = logging.getLogger("study_two_photon")

#: the default dataset (what ``ecal_stage4`` in config/config.yaml is meant to be)
DATASET: dict[str, Any] = {
    "seed": 104,
    "chunks": 4,
    "events_per_chunk": 12500,
    "simulation": {
        "process": "pi0",
        "energy": {"distribution": "uniform", "min_mev": 40000.0, "max_mev": 250000.0},
        "incidence": "target",
        "max_angle_rad": 0.027,
        "margin_cells": 5,
        "single_photon_fraction": 0.35,
    },
    "split": (0.6, 0.2, 0.2),
}
#: parent masses (MeV) of the mass-agnostic training sample (the default; "" trains on pi0s)
TRAIN_MASS_RANGE = (70.0, 200.0)
#: events per parent mass of the mass-linearity check (--mass-scan)
MASS_SCAN_EVENTS = 4000
RESPONSE = {"stochastic": 0.07, "constant": 0.015, "noise_mev": 15.0, "threshold_mev": 100.0}
TRAINING: dict[str, Any] = {
    "counter": {"lr": 1e-3, "batch_size": 256, "max_epochs": 15, "patience": 4},
    "regressor": {"lr": 1e-3, "batch_size": 256, "max_epochs": 60, "patience": 8},
    "seed": 0,
}
#: network variants: name -> regressor architecture, counter architecture, fit inputs,
#: residual on the fit, model kwargs. "nn" is the kept one (see the module docstring).
VARIANTS: dict[str, dict[str, Any]] = {
    "nn": {"arch": "cnn", "counter": "dense", "fit": True, "residual": True},
    "nn_dense": {"arch": "dense", "counter": "dense", "fit": True, "residual": True},
    "nn_cnn_counter": {"arch": "cnn", "counter": "cnn", "fit": True, "residual": True},
    "nn_pure": {"arch": "cnn", "counter": "cnn", "fit": False, "residual": False},
    "nn_pure_dense": {"arch": "dense", "counter": "dense", "fit": False, "residual": False},
}


class Clock:
    """Wall-clock and process CPU seconds per step (the machine may be shared)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def __call__(self, name: str):
        clock = self

        class _Step:
            def __enter__(self):
                self.t, self.c = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                clock.wall[name] = time.perf_counter() - self.t
                clock.cpu[name] = time.process_time() - self.c

        return _Step()


def simulate_and_window(
    dataset: dict[str, Any],
    size: int,
    mass_mev: float | tuple[float, float] | None = None,
    first_chunk: int = 0,
) -> dict[str, np.ndarray]:
    """Simulate the dataset chunk by chunk (workflow seeds and numbering) and build windows;
    with ``mass_mev`` two-photon decays of a parent of that mass (or, for a (lo, hi) pair, of a
    mass drawn uniformly per event) instead of the pi0."""
    geom = ecal_geometry()
    parts = []
    n = int(dataset["events_per_chunk"])
    resp = response_from_config("ecal", RESPONSE)
    for c in range(first_chunk, first_chunk + int(dataset["chunks"])):
        rng = chunk_rng(dataset["seed"], c, "simulate")
        if isinstance(mass_mev, tuple):
            # the workflow's path: a simulation block with a uniform parent mass
            lo, hi = mass_mev
            sim = {
                **dataset["simulation"],
                "parent_mass_mev": {"distribution": "uniform", "min_mev": lo, "max_mev": hi},
            }
            raw = simulate_events(geom, "ecal", RESPONSE, sim, n, rng)
        elif mass_mev is None:
            raw = simulate_events(geom, "ecal", RESPONSE, dataset["simulation"], n, rng)
        else:
            raw = simulate_pi0(geom, n, dataset["simulation"], resp, rng, mass_mev)[0]
        raw.event = raw.event + c * n
        parts.append(pair_windows(raw, geom, size, DEFAULTS["seed_threshold_mev"]))
        log.info("chunk %d: %d windows", c, len(parts[-1]["label"]))
    return concat_windows(parts)


def _mass_point(
    dataset: dict[str, Any],
    mass: float,
    calib: dict[str, Any],
    variant: dict[str, Any],
    regressor: Any,
    name: str,
) -> dict[str, Any]:
    """Pairs from a parent of mass ``mass`` (pi0 kinematics otherwise), reconstructed by the
    fit and by a regressor trained on pi0s: does the network measure the mass or impose m_pi0?"""
    scan_ds = {
        **dataset,
        "chunks": 1,
        "events_per_chunk": MASS_SCAN_EVENTS,
        "simulation": {**dataset["simulation"], "single_photon_fraction": 0.0},
    }
    win = simulate_and_window(scan_ds, int(DEFAULTS["size"]), mass, first_chunk=1000)
    w = select(win, win["usable"] & (win["label"] == 2))
    pitch = float(w["pitch_mm"])
    fit = two_shower_fit(w["windows"], pitch, **fit_settings())
    est = fit_estimates(w, fit, calib)["fit"]["photons"]
    X, _ = network_inputs(
        w["windows"], w["origin_x_mm"], w["origin_y_mm"], pitch, fit if variant["fit"] else None
    )
    out = {name: mass_peak(pair_masses(w, regressor.predict_photons(X, w["windows"])), mass)}
    out["fit"] = mass_peak(pair_masses(w, est), mass)
    log.info("mass %.1f MeV: %s", mass, {k: v.get("mu_rel") for k, v in out.items()})
    return out


def run(
    dataset: dict[str, Any],
    variants: list[str],
    budget_s: dict[str, float] | None = None,
    mass_scan: list[float] | None = None,
    train_mass_range: tuple[float, float] | None = None,
) -> tuple[dict[str, Any], dict[str, float]]:
    """The pipeline; returns (metrics, {"wall_s": ..., "cpu_s": ...} per step).

    With ``train_mass_range`` the networks (and the fit's calibration) learn from a second sample
    of the same size whose two-photon pairs come from parents of uniformly distributed mass, so
    that no fixed mass can be learned; they are tested on the pi0 test events as usual.
    """
    clock = Clock()
    size = int(DEFAULTS["size"])
    with clock("simulate_and_windows"):
        win = simulate_and_window(dataset, size)
        if train_mass_range is not None:
            win_train = simulate_and_window(dataset, size, train_mass_range, first_chunk=2000)
    pitch = float(win["pitch_mm"])

    def usable_split(w: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        sp = assign_split(w["event"], tuple(dataset["split"]), int(dataset["seed"]))
        return select(w, w["usable"]), sp[w["usable"]]

    usable = win["usable"]
    win, split = usable_split(win)
    sources = {"train": win, "val": win, "test": win}
    splits = {"train": split, "val": split, "test": split}
    if train_mass_range is not None:
        win_train, split_train = usable_split(win_train)
        sources.update(train=win_train, val=win_train)
        splits.update(train=split_train, val=split_train)
    parts = {p: select(sources[p], splits[p] == p) for p in ("train", "val", "test")}

    two_shower_fit(win["windows"][:4], pitch)  # numba compile (cached), outside the timing
    with clock("fit_all_windows"):
        fits = {p: two_shower_fit(parts[p]["windows"], pitch, **fit_settings()) for p in parts}
    train, val, test = parts["train"], parts["val"], parts["test"]
    two_tr, two_va = train["label"] == 2, val["label"] == 2
    log.info(
        "usable windows %d: train %d (%d two), val %d, test %d",
        int(usable.sum()),
        len(train["label"]),
        int(two_tr.sum()),
        len(val["label"]),
        len(test["label"]),
    )
    origin_tr = np.column_stack([train["origin_x_mm"], train["origin_y_mm"]])
    calib = fit_calibration(fits["train"].two[two_tr], train["truth"][two_tr], origin_tr[two_tr])
    estimates: dict[str, dict[str, np.ndarray]] = fit_estimates(test, fits["test"], calib)

    nets: dict[str, Any] = {}
    scan: dict[str, dict[str, Any]] = {}
    for name in variants:
        v = VARIANTS[name]

        def inputs(part: str, use_fit: bool = v["fit"]) -> tuple[np.ndarray, list[str]]:
            d = parts[part]
            return network_inputs(
                d["windows"],
                d["origin_x_mm"],
                d["origin_y_mm"],
                pitch,
                fits[part] if use_fit else None,
            )

        (Xtr, names), (Xva, _), (Xte, _) = inputs("train"), inputs("val"), inputs("test")
        ytr = regression_targets(train["truth"][two_tr], train["windows"][two_tr], pitch)
        yva = regression_targets(val["truth"][two_va], val["windows"][two_va], pitch)
        with clock(f"train_counter_{name}"):
            counter = fit_counter(
                Xtr,
                train["label"],
                Xva,
                val["label"],
                names,
                pitch,
                architecture=v["counter"],
                seed=TRAINING["seed"],
                max_seconds=(budget_s or {}).get("counter"),
                log=log.info,
                **TRAINING["counter"],
            )
        with clock(f"train_regressor_{name}"):
            regressor = fit_pair_regressor(
                Xtr[two_tr],
                ytr,
                Xva[two_va],
                yva,
                names,
                pitch,
                architecture=v["arch"],
                residual=v["residual"],
                seed=TRAINING["seed"],
                max_seconds=(budget_s or {}).get("regressor"),
                log=log.info,
                **TRAINING["regressor"],
            )
        with clock(f"inference_{name}"):
            estimates[name] = network_estimates(counter, regressor, Xte, test["windows"])
        for mass in mass_scan or []:
            scan.setdefault(str(mass), {}).update(
                _mass_point(dataset, float(mass), calib, v, regressor, name)
            )
        nets[name] = {
            "regressor_architecture": v["arch"],
            "counter_architecture": v["counter"],
            "fit_inputs": v["fit"],
            "residual_on_fit": v["residual"],
            "counter_epochs": int(len(counter.history)),
            "regressor_epochs": int(len(regressor.history)),
            "regressor_best_epoch": int(
                regressor.history.loc[regressor.history["best"], "epoch"].iloc[0]
            ),
            "counter_threshold": counter.threshold,
            "regressor_best_val_loss": float(regressor.history["val_loss"].min()),
            "counter_best_val_loss": float(counter.history["val_loss"].min()),
            "n_parameters": {
                "counter": int(sum(p.numel() for p in counter.model.parameters())),
                "regressor": int(sum(p.numel() for p in regressor.model.parameters())),
            },
        }
    with clock("metrics"):
        metrics = two_photon_metrics(test, estimates)
    metrics["networks"] = nets
    metrics["fit_calibration"] = calib
    metrics["training_sample"] = (
        "pi0 events (train/val split of the dataset)"
        if train_mass_range is None
        else f"pairs from parents of uniform mass {train_mass_range} MeV (same spectrum)"
    )
    metrics["sample"].update(
        {
            "n_windows": int(len(usable)),
            "n_usable": int(usable.sum()),
            "n_train": int(len(train["label"])),
            "n_val": int(len(val["label"])),
        }
    )
    metrics["event_display"] = event_display(test, estimates)
    if mass_scan:
        two = test["label"] == 2
        scan[str(PI0_MASS_MEV)] = {
            k: mass_peak(pair_masses(select(test, two), estimates[k]["photons"][two]), PI0_MASS_MEV)
            for k in ("fit", *variants)
        }
        metrics["mass_linearity"] = scan
    metrics["goals"] = goal_summary(metrics)
    n_fit = sum(len(parts[p]["label"]) for p in parts)
    timing = {
        "wall_s": clock.wall,
        "cpu_s": clock.cpu,
        "fit_windows_per_cpu_s": n_fit / max(clock.cpu["fit_all_windows"], 1e-9),
    }
    metrics["timing"] = timing
    return metrics, timing


def _fmt(v: float, scale: float = 1.0, digits: int = 2) -> str:
    return "nan" if v is None or not np.isfinite(v) else f"{v * scale:.{digits}f}"


def goal_table(metrics: dict[str, Any]) -> str:
    """The goals as a plain-text table."""
    lines = []
    for g in metrics["goals"]:
        lines.append(f"[{'met' if g['met'] else 'MISSED'}] {g['goal']}")
        if "bins" in g and g["bins"] and "sigma_x_mm" in g["bins"][0]:
            lines.append("    bin (cells)   sigma_x nn / fit (mm)   sigma_E/E nn / fit (%)")
            for b in g["bins"]:
                lines.append(
                    f"    {b['bin_cells'][0]:.1f}-{b['bin_cells'][1]:.1f}"
                    f"       {_fmt(b['sigma_x_mm'][0])} / {_fmt(b['sigma_x_mm'][1])}"
                    f"             {_fmt(b['sigma_e_rel'][0], 100)} / {_fmt(b['sigma_e_rel'][1], 100)}"
                    f"   {'ok' if b['met'] else 'MISSED'}"
                )
        elif "bins" in g:
            lines.append("    bin (cells)   accuracy(2 photons) nn / fit")
            for b in g["bins"]:
                lines.append(
                    f"    {b['bin_cells'][0]:.1f}-{b['bin_cells'][1]:.1f}"
                    f"       {_fmt(b['accuracy_two'][0], 1, 3)} / {_fmt(b['accuracy_two'][1], 1, 3)}"
                    f"   {'ok' if b['met'] else 'MISSED'}"
                )
            lines.append(f"    one-photon accuracy nn / fit: {g['accuracy_one_photon']}")
        else:
            rest = {k: v for k, v in g.items() if k not in ("goal", "met")}
            lines.append(f"    {rest}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("two_photon.json"))
    ap.add_argument("--events-per-chunk", type=int, default=DATASET["events_per_chunk"])
    ap.add_argument("--chunks", type=int, default=DATASET["chunks"])
    ap.add_argument(
        "--variants", default="nn", help=f"comma-separated network variants of {sorted(VARIANTS)}"
    )
    ap.add_argument(
        "--train-mass-range",
        default=",".join(f"{v:g}" for v in TRAIN_MASS_RANGE),
        help="lo,hi (MeV): train on pairs from parents of uniform mass in this range (tested on "
        "pi0s), so that the networks cannot learn the pi0 mass; empty: train on the pi0s",
    )
    ap.add_argument(
        "--mass-scan",
        default="100,120,150,170",
        help="comma-separated parent masses (MeV) whose pairs the trained networks and the fit "
        "reconstruct (mass linearity), e.g. 100,120,150,170",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    torch.set_num_threads(1)
    ds = {**DATASET, "events_per_chunk": args.events_per_chunk, "chunks": args.chunks}
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        ap.error(f"--variants: unknown {unknown}; known {sorted(VARIANTS)}")
    t0, c0 = time.perf_counter(), time.process_time()
    masses = [float(v) for v in args.mass_scan.split(",") if v.strip()]
    tmr = tuple(float(v) for v in args.train_mass_range.split(",") if v.strip()) or None
    if tmr is not None and len(tmr) != 2:
        ap.error("--train-mass-range: expected lo,hi in MeV")
    metrics, timing = run(ds, variants, mass_scan=masses, train_mass_range=tmr)
    timing["wall_s"]["total"] = time.perf_counter() - t0
    timing["cpu_s"]["total"] = time.process_time() - c0
    args.out.write_text(json.dumps(metrics, indent=1, default=float))
    print(goal_table(metrics))
    if "mass_linearity" in metrics:
        print("mass linearity: m_reco / m_true peak (mu, sigma) per parent mass")
        for mass, row in sorted(metrics["mass_linearity"].items(), key=lambda kv: float(kv[0])):
            cells = [
                f"{k} {_fmt(v.get('mu_rel'), 1, 4)} / {_fmt(v.get('sigma_rel'), 100)} %"
                for k, v in row.items()
            ]
            print(f"    {float(mass):7.2f} MeV: " + "   ".join(cells))
    for kind in ("wall_s", "cpu_s"):
        print(f"{kind}:", {k: round(v, 1) for k, v in timing[kind].items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
