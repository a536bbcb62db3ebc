"""Clusters per second of the stage-4 networks against coral's two-shower fit (same run, 1 core).

Usage: python benchmarks/bench_two_photon.py [--out results/benchmarks/two_photon.json]
    [--events 6000] [--repeat 3]

All estimators see the same 9x9 pair windows of simulated pi0 -> gamma gamma and single-photon
events (the stage-4 default dataset's settings). Peers, each timed as the best of ``--repeat``
runs (wall clock, perf_counter) and with its process CPU time (the machine may be shared):

* ``fit``: :func:`caloreco.regression.two_shower_fit.two_shower_fit` (one- and two-shower
  Levenberg-Marquardt, numba kernel, coral's decision);
* ``fit_numpy``: the same fit with the numpy engine (all windows of a block at once);
* ``nn_window``: the window-only CNN counter + regressor (inputs built from the windows);
* ``nn_on_fit``: the fit-seeded networks (the fit, then the CNN counter + regressor on the
  window and the fit's results): what the kept network costs.

The networks are untrained (inference speed does not depend on the weights); their input scaling
is fixed, as it comes from a checkpoint in the workflow.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402


def make_windows(n_events: int, seed: int) -> dict[str, np.ndarray]:
    from caloreco.geometry import ecal_geometry
    from caloreco.regression.two_photon import pair_windows, select
    from caloreco.simulation import simulate_events

    sim = {
        "process": "pi0",
        "energy": {"distribution": "uniform", "min_mev": 40000.0, "max_mev": 250000.0},
        "incidence": "target",
        "max_angle_rad": 0.027,
        "margin_cells": 5,
        "single_photon_fraction": 0.35,
    }
    geom = ecal_geometry()
    raw = simulate_events(geom, "ecal", {}, sim, n_events, np.random.default_rng(seed))
    w = pair_windows(raw, geom, 9)
    return select(w, w["usable"])


def timed(fn, n: int, repeat: int) -> dict[str, float]:
    """Best wall-clock rate of ``repeat`` runs and the CPU-time rate of the best run."""
    best_wall, best_cpu = np.inf, np.inf
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if wall < best_wall:
            best_wall, best_cpu = wall, cpu
    return {"clusters_per_second": n / best_wall, "clusters_per_cpu_second": n / best_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks/two_photon.json")
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from caloreco.nn.two_photon import PairCNN, PairNetwork, network_inputs
    from caloreco.regression.two_shower_fit import fit_settings, two_shower_fit

    data = make_windows(args.events, 1)
    n = len(data["windows"])
    pitch = float(data["pitch_mm"])
    kw = fit_settings()
    two_shower_fit(data["windows"][:8], pitch, **kw)  # compile the numba kernel
    fit = two_shower_fit(data["windows"], pitch, **kw)

    def nets(names: list[str]) -> tuple[PairNetwork, PairNetwork]:
        out = []
        for kind, n_out in (("counter", 1), ("regressor", 6)):
            model = PairCNN(9, n_extra=len(names), n_outputs=n_out).eval()
            out.append(
                PairNetwork(
                    model,
                    kind,
                    "cnn",
                    names,
                    [0.0] * len(names),
                    [1.0] * len(names),
                    pitch,
                    residual=kind == "regressor" and "ref1_x" in names,
                )
            )
        return out[0], out[1]

    _, names_w = network_inputs(data["windows"], data["origin_x_mm"], data["origin_y_mm"], pitch)
    _, names_f = network_inputs(
        data["windows"], data["origin_x_mm"], data["origin_y_mm"], pitch, fit
    )
    cw, rw = nets(names_w)
    cf, rf = nets(names_f)

    def nn_window() -> None:
        X, _ = network_inputs(data["windows"], data["origin_x_mm"], data["origin_y_mm"], pitch)
        cw.predict_count(X)
        rw.predict_photons(X, data["windows"])

    def nn_on_fit() -> None:
        r = two_shower_fit(data["windows"], pitch, **kw)
        X, _ = network_inputs(data["windows"], data["origin_x_mm"], data["origin_y_mm"], pitch, r)
        cf.predict_count(X)
        rf.predict_photons(X, data["windows"])

    def fit_numpy() -> None:
        import caloreco.regression.two_shower_fit as tsf

        orig = tsf.fit_showers
        tsf.fit_showers = lambda *a, **k: orig(*a, engine="numpy", **k)
        try:
            tsf.two_shower_fit(data["windows"], pitch, **kw)
        finally:
            tsf.fit_showers = orig

    rates = {
        "fit": timed(lambda: two_shower_fit(data["windows"], pitch, **kw), n, args.repeat),
        "fit_numpy": timed(fit_numpy, n, 1),
        "nn_window": timed(nn_window, n, args.repeat),
        "nn_on_fit": timed(nn_on_fit, n, args.repeat),
    }
    result = {
        "clusters": n,
        "two_photon_fraction": float(np.mean(data["label"] == 2)),
        "threads": 1,
        "estimators": rates,
        "ratio_nn_window_over_fit": rates["nn_window"]["clusters_per_cpu_second"]
        / rates["fit"]["clusters_per_cpu_second"],
        "ratio_nn_on_fit_over_fit": rates["nn_on_fit"]["clusters_per_cpu_second"]
        / rates["fit"]["clusters_per_cpu_second"],
        "ratio_fit_numba_over_numpy": rates["fit"]["clusters_per_cpu_second"]
        / rates["fit_numpy"]["clusters_per_cpu_second"],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'estimator':<12} {'clusters/s':>12} {'clusters/CPU s':>15}   ({n} windows)")
    for name, r in rates.items():
        print(f"{name:<12} {r['clusters_per_second']:>12.4g} {r['clusters_per_cpu_second']:>15.4g}")
    print(
        f"CPU-time ratios: nn_window/fit {result['ratio_nn_window_over_fit']:.1f}, "
        f"nn_on_fit/fit {result['ratio_nn_on_fit_over_fit']:.2f}, "
        f"fit numba/numpy {result['ratio_fit_numba_over_numpy']:.2f}"
    )


if __name__ == "__main__":
    main()
