"""Shower-profile fit throughput on one core: batched Levenberg-Marquardt vs per-cluster scipy.

Usage: python benchmarks/bench_profile_fit.py [--out results/benchmarks/profile_fit.json]
    [--clusters 20000] [--peer-clusters 400] [--repeat 3] [--seed 1]

Figures (clusters per second, best of ``--repeat``, measured in the same run, on 5x5 windows of
Lednev showers of 2-200 GeV with coral's cell noise and a 100 MeV cell threshold):

* ``profile_fit``: :func:`caloreco.regression.profile_fit.profile_fit` (all clusters at once, analytic
  Jacobian, model errors) vs the peer ``scipy_least_squares``, one
  ``scipy.optimize.least_squares`` call per cluster on the same chi-square (the usual way to
  write coral's fit in Python). Both start from the log-weighted CoG; their fitted positions are
  compared (``max_abs_dx_mm``) and both resolutions are reported.
* ``log_cog``: :class:`caloreco.regression.log_cog.LogCogEstimator` prediction (fitted on a
  separate training sample), for scale.

The network peer (``nn``) is measured elsewhere (bench_training.py).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
from scipy.optimize import least_squares  # noqa: E402

from caloreco.regression.energy import energy_estimate, longitudinal_containment  # noqa: E402
from caloreco.regression.lednev import lednev_window_fractions  # noqa: E402
from caloreco.regression.log_cog import LogCogEstimator, log_cog  # noqa: E402
from caloreco.regression.profile_fit import coral_cell_sigma, profile_fit  # noqa: E402

PITCH = 38.3
SIZE = 5


def showers(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 5x5 windows (MeV) and truth (x, y mm from the lower-left centre, E MeV)."""
    x = rng.uniform(1.5, 2.5, n) * PITCH
    y = rng.uniform(1.5, 2.5, n) * PITCH
    e = rng.uniform(2e3, 200e3, n)
    mean = (
        lednev_window_fractions(x, y, SIZE, PITCH)
        * (e * longitudinal_containment(e))[:, None, None]
    )
    w = mean + rng.normal(0.0, 1.0, mean.shape) * coral_cell_sigma(mean)
    w[w < 100.0] = 0.0
    return w, np.column_stack([x, y, e])


def scipy_peer(windows: np.ndarray) -> np.ndarray:
    """One least_squares call per cluster (measured-value errors, fixed weights)."""
    out = np.empty((len(windows), 3))
    xy = log_cog(windows, PITCH)
    e0 = energy_estimate(windows, xy[:, 0], xy[:, 1], PITCH, longitudinal=False)
    for i, w in enumerate(windows):
        meas = w.ravel()
        inv = 1.0 / coral_cell_sigma(meas)

        def resid(p, meas=meas, inv=inv):
            f = lednev_window_fractions(p[:1], p[1:2], SIZE, PITCH)[0].ravel()
            return (meas - p[2] * f) * inv

        r = least_squares(
            resid,
            [xy[i, 0], xy[i, 1], e0[i]],
            bounds=([-PITCH, -PITCH, 1e-3], [SIZE * PITCH, SIZE * PITCH, np.inf]),
            method="trf",
        )
        out[i] = r.x
    out[:, 2] /= longitudinal_containment(out[:, 2])
    return out


def best_rate(fn, n: int, repeat: int):
    best, result = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return n / best, result


def resolution(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    dx = pred[:, 0] - truth[:, 0]
    de = pred[:, 2] / truth[:, 2] - 1
    return {
        "rms_x_mm": float(np.sqrt(np.mean(dx**2))),
        "median_dE_rel": float(np.median(de)),
        "std_dE_rel": float(np.std(de)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks/profile_fit.json")
    parser.add_argument("--clusters", type=int, default=20000)
    parser.add_argument("--peer-clusters", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    w, t = showers(args.clusters, rng)
    w_train, t_train = showers(5000, rng)
    n_peer = min(args.peer_clusters, args.clusters)

    rate_pf, res = best_rate(lambda: profile_fit(w, PITCH), len(w), args.repeat)
    rate_peer, peer = best_rate(lambda: scipy_peer(w[:n_peer]), n_peer, 1)
    est = LogCogEstimator(PITCH).fit(w_train, t_train)
    rate_cog, cog = best_rate(lambda: est.predict(w), len(w), args.repeat)

    report = {
        "units": "clusters per second (one core)",
        "windows": f"{SIZE}x{SIZE}, 2-200 GeV, coral cell noise, 100 MeV threshold",
        "profile_fit": {
            "clusters_per_second": round(rate_pf, 1),
            "peer": "scipy_least_squares",
            "peer_clusters_per_second": round(rate_peer, 1),
            "ratio": round(rate_pf / rate_peer, 1),
            "clusters": len(w),
            "peer_clusters": n_peer,
            "converged_fraction": float(res.converged.mean()),
            "mean_iterations": float(res.iterations.mean()),
            "max_abs_dx_mm_vs_peer": float(np.abs(res.params[:n_peer, 0] - peer[:, 0]).max()),
            "median_abs_dx_mm_vs_peer": float(
                np.median(np.abs(res.params[:n_peer, 0] - peer[:, 0]))
            ),
            "resolution": resolution(res.params, t),
            "peer_resolution": resolution(peer, t[:n_peer]),
        },
        "log_cog": {
            "clusters_per_second": round(rate_cog, 1),
            "resolution": resolution(cog, t),
        },
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "processor": platform.processor() or platform.machine(),
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'estimator':<14} {'clusters/s':>12} {'peer':<22} {'peer clusters/s':>16} {'ratio':>7}")
    pf = report["profile_fit"]
    print(
        f"{'profile_fit':<14} {pf['clusters_per_second']:>12.0f} {pf['peer']:<22} "
        f"{pf['peer_clusters_per_second']:>16.0f} {pf['ratio']:>7.1f}"
    )
    print(f"{'log_cog':<14} {report['log_cog']['clusters_per_second']:>12.0f}")
    print(
        f"rms x: profile_fit {pf['resolution']['rms_x_mm']:.3f} mm, scipy "
        f"{pf['peer_resolution']['rms_x_mm']:.3f} mm, log_cog "
        f"{report['log_cog']['resolution']['rms_x_mm']:.3f} mm; "
        f"|dx| vs peer median {pf['median_abs_dx_mm_vs_peer']:.2e} mm"
    )
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
