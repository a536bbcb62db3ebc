"""ECAL shower simulation throughput on one core: closed-form cell integrals vs spot sampling.

Usage: python benchmarks/bench_simulation_ecal.py [--out results/benchmarks/simulation_ecal.json]
    [--showers 20000] [--peer-showers 400] [--repeat 3]

Photons of 2-200 GeV (uniform) hit the COMPASS-like ECAL perpendicularly. Figures:

* ``shower_deposits``: true per-cell deposits with all shower fluctuations (this package);
* ``simulate_ecal``: complete events (deposits, sampling, calibration, noise, threshold, truth);
* peer ``spot_sampling``: the same slices and radial parameters deposited the naive GFlash way,
  N = 10.3 / 0.11 E^0.959 spots per shower (E in GeV) placed one by one (numba), measured in the
  same run on the same photons. The two agree on the mean cell energies (tests).
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402

from caloreco.geometry import ecal_geometry  # noqa: E402
from caloreco.simulation._ecal_kernels import spot_deposits, window_deposits  # noqa: E402
from caloreco.simulation.ecal import (  # noqa: E402
    EcalResponse,
    _slice_parameters,
    shower_deposits,
    simulate_ecal,
)

SIM = {"energy": {"distribution": "uniform", "min_mev": 2000.0, "max_mev": 200000.0}}


def _photons(n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    energy = rng.uniform(2000.0, 200000.0, n)
    x = rng.uniform(-800.0, 800.0, n)
    y = rng.uniform(-800.0, 800.0, n)
    return energy, x, y, np.zeros(n), np.zeros(n)


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks/simulation_ecal.json")
    parser.add_argument("--showers", type=int, default=20000)
    parser.add_argument("--peer-showers", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    numba.set_num_threads(1)
    geom = ecal_geometry()
    resp = EcalResponse()
    width = 2 * resp.window_half_cells + 1
    names = ("cx", "cy", "e_slice", "r_core", "r_tail", "p_core", "x_edge0", "y_edge0")

    # warm-up (numba compilation / cache load)
    shower_deposits(geom, *_photons(10, 0), resp, np.random.default_rng(0))
    simulate_ecal(geom, 10, SIM, resp, np.random.default_rng(0))
    par_w = _slice_parameters(geom, *_photons(2, 0), resp, np.random.default_rng(0))
    spots_w = np.maximum(np.rint(par_w["n_spots"]), 1).astype(np.int64)
    spot_deposits(
        *(par_w[k] for k in names[:6]),
        spots_w,
        par_w["x_edge0"],
        par_w["y_edge0"],
        geom.pitch,
        width,
        np.random.default_rng(0),
    )

    photons = _photons(args.showers, 1)
    t_dep = _best(
        lambda: shower_deposits(geom, *photons, resp, np.random.default_rng(2)), args.repeat
    )
    t_sim = _best(
        lambda: simulate_ecal(geom, args.showers, SIM, resp, np.random.default_rng(3)), args.repeat
    )
    # the kernels alone, on the same slice parameters
    peer_photons = _photons(args.peer_showers, 4)
    par = _slice_parameters(geom, *peer_photons, resp, np.random.default_rng(5))
    spots = np.maximum(np.rint(par["n_spots"]), 1).astype(np.int64)
    kargs = [par[k] for k in names]
    t_closed = _best(lambda: window_deposits(*kargs, geom.pitch, width), args.repeat)
    t_spots = _best(
        lambda: spot_deposits(
            *kargs[:6], spots, kargs[6], kargs[7], geom.pitch, width, np.random.default_rng(6)
        ),
        args.repeat,
    )
    result = {
        "device": platform.processor() or platform.machine(),
        "threads": 1,
        "energy_range_gev": [2, 200],
        "shower_deposits_showers_per_s": args.showers / t_dep,
        "simulate_ecal_events_per_s": args.showers / t_sim,
        "kernel_closed_form_showers_per_s": args.peer_showers / t_closed,
        "peer_spot_sampling_showers_per_s": args.peer_showers / t_spots,
        "peer_mean_spots_per_shower": float(spots.sum() / args.peer_showers),
        "speedup_closed_form_vs_spots": t_spots / t_closed,
    }
    print(f"{'figure':<40} {'value':>14}")
    for key, value in result.items():
        if isinstance(value, float):
            print(f"{key:<40} {value:>14.4g}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
