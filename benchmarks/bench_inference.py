"""Clusters per second of the regressor's inference against the batched Lednev profile fit.

Usage: python benchmarks/bench_inference.py [--out results/benchmarks/inference.json]
    [--clusters 20000] [--repeat 3]

All estimators see the same 5x5 windows of simulated 2-200 GeV ECAL showers (the built-in
simulation, stage-2 settings), on one core, measured in the same run. The network is the default
regressor (thesis MLP on the shower shape plus the log-CoG reference), untrained: inference
speed does not depend on the weights. Two peers:

* ``profile_fit``: caloreco's batched Levenberg-Marquardt Lednev fit (all clusters at once);
* ``per_cluster_fit``: the same chi-square minimised one cluster at a time with
  ``scipy.optimize.least_squares``, the way the experiments' fit is usually written (coral fits
  each cluster with its own minimiser call); measured on ``--peer-clusters`` windows.

Goal of the regression issue: ratio >= 100. The network (about 86k multiply-adds per cluster)
is compute-bound at a few 1e5 clusters/s on one core, so against the batched fit the ratio is
about an order of magnitude, against the per-cluster fit three. The network's time includes
building its inputs (shape, log-CoG reference) and standardising them with fixed statistics, as
in the workflow, where they come from the checkpoint.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402


def make_windows(n: int, seed: int) -> dict[str, np.ndarray]:
    from caloreco.clustering.connected import connected_clusters
    from caloreco.clustering.table import cluster_table_from_events
    from caloreco.geometry import ecal_geometry
    from caloreco.regression.windows import extract_windows
    from caloreco.simulation import simulate_events

    geom = ecal_geometry()
    sim = {
        "n_primaries": 1,
        "energy": {"distribution": "uniform", "min_mev": 2000.0, "max_mev": 200000.0},
        "incidence": "perpendicular",
    }
    ev = simulate_events(geom, "ecal", {}, sim, n, np.random.default_rng(seed))
    labels = connected_clusters(
        ev.hit_offsets, ev.cell_id.astype(np.int64), ev.cell_energy.astype(float), geom, 500.0
    )
    table = cluster_table_from_events(ev, labels, geom)
    pos = np.searchsorted(ev.event, table["event"].to_numpy())
    w = extract_windows(
        geom,
        ev.hit_offsets,
        ev.cell_id,
        ev.cell_energy,
        pos,
        table["seed_row"].to_numpy(),
        table["seed_col"].to_numpy(),
    )
    w["pitch_mm"] = np.float64(geom.pitch)
    return w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks/inference.json")
    parser.add_argument("--clusters", type=int, default=20000)
    parser.add_argument("--peer-clusters", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    # same directory: the per-cluster peer and the timing helper of the profile-fit benchmark
    from bench_profile_fit import best_rate, scipy_peer

    from caloreco.nn.nets import build_model
    from caloreco.nn.training import Standardizer, predict
    from caloreco.regression.inputs import network_inputs
    from caloreco.regression.profile_fit import profile_fit

    data = make_windows(args.clusters, 1)
    n = len(data["windows"])
    model = build_model("regressor", 28, hidden=(64, 128, 256, 128, 64, 32)).eval()
    # fixed input statistics, as stored in a checkpoint
    scaler = Standardizer.fit(network_inputs(data, "normalised", False, cog_reference=True)[0])

    def nn() -> None:
        X, _ = network_inputs(data, "normalised", False, cog_reference=True)
        predict(model, scaler.transform(X), "cpu")

    n_peer = min(args.peer_clusters, n)
    rate_nn, _ = best_rate(nn, n, args.repeat)
    rate_fit, _ = best_rate(
        lambda: profile_fit(data["windows"], float(data["pitch_mm"])), n, args.repeat
    )
    rate_peer, _ = best_rate(lambda: scipy_peer(data["windows"][:n_peer]), n_peer, 1)
    result = {
        "clusters": n,
        "peer_clusters": n_peer,
        "nn_clusters_per_second": rate_nn,
        "profile_fit_clusters_per_second": rate_fit,
        "per_cluster_fit_clusters_per_second": rate_peer,
        "ratio_nn_over_profile_fit": rate_nn / rate_fit,
        "ratio_nn_over_per_cluster_fit": rate_nn / rate_peer,
        "goal_ratio": 100,
        "threads": 1,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'estimator':<14} {'clusters/s':>14}")
    print(f"{'nn':<14} {result['nn_clusters_per_second']:>14.3g}")
    print(f"{'profile_fit':<14} {result['profile_fit_clusters_per_second']:>14.3g}")
    print(f"{'per_cluster_fit':<14} {result['per_cluster_fit_clusters_per_second']:>14.3g}")
    print(
        f"ratio nn/profile_fit {result['ratio_nn_over_profile_fit']:.1f}, nn/per_cluster_fit "
        f"{result['ratio_nn_over_per_cluster_fit']:.0f} (goal >= 100)"
    )


if __name__ == "__main__":
    main()
