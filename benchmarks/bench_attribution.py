"""Clustering throughput on one core: point-cloud network + peeling vs agglomerative + pair NN.

Usage: python benchmarks/bench_attribution.py [--out results/benchmarks/attribution.json]
    [--events 5000] [--train-events 3000] [--repeat 3] [--seed 202]

Both methods cluster the same simulated CALIFA events (three gammas, uniform 0.3-10 MeV, the
default detector) from the raw hits to per-hit labels, in the same run, best of ``--repeat``:

* ``pointnet``: :meth:`caloreco.attribution.training.FocalAttribution.cluster`: per-hit and pair
  features, then peeling with one batched network call per round (default network, trained
  here for one epoch on ``--train-events`` other events: the number of peeling rounds, hence
  the speed, depends on what the network says, not its exact weights);
* peer ``agglomerative+nn``: the existing chain of the pairs analysis: Ward clustering, the
  cluster table, every cluster pair with its features, the default pair classifier (trained
  here for three epochs) scoring them, and the merge along accepted pairs.

Events per second = events / wall seconds; the JSON also gives hits per event.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from caloreco.attribution.training import train_attribution  # noqa: E402
from caloreco.clustering.agglomerative import agglomerative_clusters  # noqa: E402
from caloreco.clustering.labels import canonical_labels  # noqa: E402
from caloreco.clustering.table import cluster_table_from_events  # noqa: E402
from caloreco.geometry import make_geometry  # noqa: E402
from caloreco.io.files import write_json  # noqa: E402
from caloreco.pairs.features import make_pairs  # noqa: E402
from caloreco.pairs.merging import event_index, merge_clusters  # noqa: E402
from caloreco.pairs.settings import feature_list, pair_settings  # noqa: E402
from caloreco.pairs.training import fit_pair_classifier  # noqa: E402
from caloreco.seeds import chunk_rng  # noqa: E402
from caloreco.simulation import simulate_events  # noqa: E402
from caloreco.split import assign_split  # noqa: E402

RESPONSE = {
    "resolution_fwhm_at_1mev": 0.055,
    "non_uniformity": 0.01,
    "threshold_mev": 0.1,
    "time_smearing_ns": 200.0,
    "emission_window_ns": 4000.0,
}
SIM = {"n_primaries": 3, "energy": {"distribution": "uniform", "min_mev": 0.3, "max_mev": 10.0}}


def agglomerative_nn(events, geom, fit, features, threshold) -> np.ndarray:
    """The agglomerative + pair NN chain on raw events (the peer)."""
    e = events.cell_energy.astype(np.float64)
    cell = events.cell_id.astype(np.int64)
    lab = agglomerative_clusters(
        events.hit_offsets, geom.theta[cell], geom.phi[cell], events.cell_time.astype(np.float64)
    )
    lab = canonical_labels(events.hit_offsets, lab, e)
    pairs = make_pairs(cluster_table_from_events(events, lab, geom))
    score = fit.predict(pairs[features].to_numpy(np.float64), "cpu")
    pos = event_index(events.event, pairs["event"].to_numpy())
    merged = merge_clusters(
        events.hit_offsets,
        lab,
        pos,
        pairs["cluster1"].to_numpy(),
        pairs["cluster2"].to_numpy(),
        score >= threshold,
    )
    return canonical_labels(events.hit_offsets, merged, e)


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks/attribution.json")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--train-events", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=202)
    args = parser.parse_args()
    torch.set_num_threads(1)
    geom = make_geometry("califa")
    n_all = args.events + args.train_events
    ev = simulate_events(geom, "califa", RESPONSE, SIM, n_all, chunk_rng(args.seed, 0, "simulate"))
    bench = ev.select(ev.event >= args.train_events)
    pool = ev.select(ev.event < args.train_events)
    part = assign_split(pool.event, (0.8, 0.2, 0.0), args.seed)
    train, val = pool.select(part == "train"), pool.select(part == "val")

    net = train_attribution(
        train, val, geom, {"training": {"max_epochs": 1}, "peeling": {"threshold": 0.4}},
        log=lambda s: None,
    )  # fmt: skip
    s = pair_settings(None)
    features = feature_list(s["features"])
    e = pool.cell_energy.astype(np.float64)
    c = pool.cell_id.astype(np.int64)
    lab = agglomerative_clusters(
        pool.hit_offsets, geom.theta[c], geom.phi[c], pool.cell_time.astype(np.float64)
    )
    lab = canonical_labels(pool.hit_offsets, lab, e)
    pairs = make_pairs(cluster_table_from_events(pool, lab, geom))
    pairs["split"] = assign_split(pairs["event"].to_numpy(), (0.8, 0.2, 0.0), args.seed)
    training = {**s["training"], "max_epochs": 3}
    fit, thr = fit_pair_classifier(
        pairs, s["model"], features, training, 0, "cpu", log=lambda _: None
    )

    # warm-up (numba compilation / caches), then best of repeat
    net.cluster(bench.select(np.arange(bench.n_events) < 50), geom)
    agglomerative_nn(bench.select(np.arange(bench.n_events) < 50), geom, fit, features, thr)
    t_pn = _best(lambda: net.cluster(bench, geom), args.repeat)
    t_agg = _best(lambda: agglomerative_nn(bench, geom, fit, features, thr), args.repeat)
    n = bench.n_events
    pn_rate, agg_rate = n / t_pn, n / t_agg
    result = {
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch.__version__,
            "threads": 1,
        },
        "events": n,
        "hits_per_event": round(float(bench.hit_offsets[-1]) / n, 2),
        "pointnet_events_per_s": round(pn_rate, 1),
        "peer_agglomerative_nn_events_per_s": round(agg_rate, 1),
        "ratio": round(pn_rate / agg_rate, 3),
        "pointnet_model": net.model.hparams,
    }
    print(f"{'figure':<28} {'pointnet':>12} {'agglo+nn':>12} {'ratio':>8}")
    print(
        f"{'events/s (1 core)':<28} {pn_rate:>12.0f} {agg_rate:>12.0f} {pn_rate / agg_rate:>8.2f}"
    )
    write_json(args.out, result)
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
