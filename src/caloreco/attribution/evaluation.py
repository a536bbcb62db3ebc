"""The metrics of ``results/{dataset}/metrics/attribution.json`` (a JSON-able dict).

Hit-level metrics: one sample per (test event, true gamma with hits), the focal hit being the
gamma's most energetic hit (its seed, the hit peeling starts a cluster from when nothing went
wrong before); every other hit of the event is a target, positive when the same gamma dominates
it. The network's prediction is ``probability >= threshold`` with the peeling threshold chosen
on the validation events. Baselines on the same hits: smart_random (analytic and a seeded
draw), the per-sample majority class, both raw and energy-weighted
(:mod:`caloreco.attribution.metrics`); all of it also per bin of the focal gamma's energy.

Clustering metrics (TP/FP/FN/FM/WR of :func:`caloreco.clustering.summarize_metrics`) of the
peeling (``pointnet``) and, when given, of other methods on the same events, and the binned
reconstruction quality for the figures: WR per gamma versus its energy and the opening angle
to the nearest other gamma, TP per event versus its highest gamma energy and its smallest
gamma-gamma opening angle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from caloreco.attribution.metrics import (
    energy_binned,
    hit_metrics,
    majority_baseline,
    smart_random_draw,
    smart_random_expected,
)
from caloreco.attribution.targets import focal_targets, gamma_seeds
from caloreco.attribution.training import AttributionData, FocalAttribution, prepare
from caloreco.clustering.metrics import event_metrics, summarize_metrics
from caloreco.clustering.table import true_labels
from caloreco.events import RawEvents, event_index
from caloreco.geometry import Geometry

__all__ = [
    "DEFAULT_ENERGY_EDGES_MEV",
    "DEFAULT_ANGLE_EDGES_DEG",
    "focal_samples",
    "hit_level_report",
    "reconstruction_binned",
    "attribution_metrics",
]

DEFAULT_ENERGY_EDGES_MEV = (0.3, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0)
DEFAULT_ANGLE_EDGES_DEG = (0.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 180.0)


def focal_samples(
    net: FocalAttribution, data: AttributionData, events: RawEvents
) -> dict[str, np.ndarray]:
    """The evaluation samples (one per true gamma, its seed as focal) flattened per target hit.

    Returns:
        dict of equal-length arrays: ``y`` (int8 truth), ``prob`` (network probability),
        ``energy`` (hit energy, MeV), ``event`` (event number), ``sample`` (sample id),
        ``gamma_energy`` (true energy of the focal gamma, MeV).
    """
    if data.truth is None:
        raise ValueError("events: hit-level metrics need Monte Carlo truth")
    rows, pos, prim = gamma_seeds(data.padded, data.hits.energy, data.padded.gather(data.truth))
    prob = net.predict(data, rows, pos)
    target, valid = focal_targets(data.truth[rows], data.padded.mask[rows], pos)
    energy = data.energy[rows]
    sample = np.broadcast_to(np.arange(rows.size)[:, None], valid.shape)
    g_energy = events.primary_energy.astype(np.float64)[events.primary_offsets[rows] + prim]
    return {
        "y": target[valid].astype(np.int8),
        "prob": prob[valid],
        "energy": energy[valid],
        "event": np.broadcast_to(events.event[rows][:, None], valid.shape)[valid],
        "sample": sample[valid],
        "gamma_energy": np.broadcast_to(g_energy[:, None], valid.shape)[valid],
    }


def hit_level_report(
    samples: Mapping[str, np.ndarray],
    threshold: float,
    rng: np.random.Generator,
    n_boot: int = 500,
    energy_edges: Sequence[float] | None = None,
    p_smart_random: float | None = None,
) -> dict[str, Any]:
    """Network, smart_random and majority metrics of :func:`focal_samples` output.

    Args:
        samples: the flat samples.
        threshold: prediction = ``prob >= threshold``.
        rng: for the bootstrap and the smart_random draw.
        n_boot: bootstrap replicates (event resampling).
        energy_edges: bins of the focal gamma's energy (MeV); default one bin over the range.
        p_smart_random: smart_random's positive probability (default: the positive fraction
            of these hits).

    Returns:
        ``{"network", "smart_random": {"p", "p_energy", "expected", "draw"}, "majority",
        "per_energy_bin", "goals": {"f1_ratio_to_smart_random",
        "accuracy_minus_majority", ...}}``.
    """
    y = np.asarray(samples["y"])
    if y.size == 0:
        raise ValueError("samples: no target hits (events with a single hit only?)")
    pred = (np.asarray(samples["prob"]) >= threshold).astype(np.int8)
    e, ev, smp = samples["energy"], samples["event"], samples["sample"]
    net = hit_metrics(y, pred, e, ev, rng, n_boot)
    p = net["positive_fraction"] if p_smart_random is None else float(p_smart_random)
    pe = net["positive_energy_fraction"]
    draw = smart_random_draw(y.size, p, rng)
    sr = {
        "p": p,
        "p_energy": pe,
        "expected": smart_random_expected(p, pe),
        "draw": hit_metrics(y, draw, e, ev, rng, n_boot),
    }
    maj = majority_baseline(y, e, smp)
    g = np.asarray(samples["gamma_energy"], dtype=np.float64)
    if energy_edges is None:
        lo, hi = float(g.min()), float(g.max())
        energy_edges = (lo, hi) if hi > lo else (lo * 0.999, lo * 1.001)
    bins = energy_binned(y, pred, e, smp, g, energy_edges)
    goals = {
        "f1_ratio_to_smart_random": net["raw"]["f1"] / p if p > 0 else float("nan"),
        "f1_energy_ratio_to_smart_random": (
            net["energy_weighted"]["f1"] / sr["expected"]["energy_weighted"]["f1"]
            if sr["expected"]["energy_weighted"]["f1"] > 0
            else float("nan")
        ),
        "accuracy_minus_majority": net["raw"]["accuracy"] - maj["raw"]["accuracy"],
        "accuracy_energy_minus_majority": (
            net["energy_weighted"]["accuracy"] - maj["energy_weighted"]["accuracy"]
        ),
    }
    goals["f1_at_least_3x_smart_random"] = bool(goals["f1_ratio_to_smart_random"] >= 3.0)
    goals["accuracy_above_majority"] = bool(goals["accuracy_minus_majority"] > 0)
    return {
        "threshold": float(threshold),
        "focal": "most energetic hit of each true gamma; targets: the other hits of its event",
        "n_samples": int(np.unique(smp).size),
        "n_events": int(np.unique(ev).size),
        "network": net,
        "smart_random": sr,
        "majority": maj,
        "per_energy_bin": bins,
        "goals": goals,
    }


def _event_extremes(events: RawEvents) -> tuple[np.ndarray, np.ndarray]:
    """Per event: the highest gamma energy (MeV) and the smallest gamma-gamma angle (rad)."""
    from caloreco.clustering.matching import nearest_primary_angle

    pe = event_index(events.primary_offsets)
    n = events.n_events
    e_max = np.full(n, -np.inf)
    np.maximum.at(e_max, pe, events.primary_energy.astype(np.float64))
    a_min = np.full(n, np.inf)
    np.minimum.at(a_min, pe, nearest_primary_angle(events))
    return e_max, a_min


def _binned_fraction(x: np.ndarray, ok: np.ndarray, edges: np.ndarray) -> list[dict[str, float]]:
    idx = np.searchsorted(edges, x, side="right") - 1
    idx = np.where(x == edges[-1], edges.size - 2, idx)
    out = []
    for b in range(edges.size - 1):
        sel = idx == b
        n = int(sel.sum())
        if n == 0:
            continue
        p = float(ok[sel].mean())
        out.append(
            {
                "lo": float(edges[b]),
                "hi": float(edges[b + 1]),
                "n": n,
                "value": p,
                "err": float(np.sqrt(p * (1 - p) / n)),
            }
        )
    return out


def reconstruction_binned(
    events: RawEvents,
    labels_by_method: Mapping[str, np.ndarray],
    energy_edges: Sequence[float] = DEFAULT_ENERGY_EDGES_MEV,
    angle_edges_deg: Sequence[float] = DEFAULT_ANGLE_EDGES_DEG,
) -> dict[str, Any]:
    """WR and TP of each method in bins of gamma energy and opening angle (the figure table).

    Returns:
        ``{method: {"WR_vs_energy", "WR_vs_angle", "TP_vs_energy", "TP_vs_angle"}}``, each a
        list of ``{"lo", "hi", "n", "value", "err"}`` (energy in MeV, angle in deg): WR per
        gamma with hits vs its energy and vs the angle to its nearest other gamma; TP per
        event vs its highest gamma energy and vs its smallest gamma-gamma angle.
    """
    from caloreco.clustering.matching import primary_matches

    ee = np.asarray(energy_edges, dtype=np.float64)
    ae = np.asarray(angle_edges_deg, dtype=np.float64)
    truth = true_labels(events)
    e_max, a_min = _event_extremes(events)
    out: dict[str, Any] = {}
    for name, labels in labels_by_method.items():
        pm = primary_matches(events, labels)
        pm = pm[pm["has_cluster"]]
        ok = pm["matched"].to_numpy()
        m = event_metrics(events.hit_offsets, labels, truth)
        scored = m["category"] >= 0
        tp = m["TP"][scored]
        out[name] = {
            "WR_vs_energy": _binned_fraction(pm["energy"].to_numpy(), ok, ee),
            "WR_vs_angle": _binned_fraction(np.degrees(pm["nearest_angle"].to_numpy()), ok, ae),
            "TP_vs_energy": _binned_fraction(e_max[scored], tp, ee),
            "TP_vs_angle": _binned_fraction(np.degrees(a_min[scored]), tp, ae),
        }
    return out


def attribution_metrics(
    net: FocalAttribution,
    test: RawEvents,
    geom: Geometry,
    rng: np.random.Generator,
    n_boot: int = 500,
    energy_edges: Sequence[float] | None = None,
    other_labels: Mapping[str, np.ndarray] | None = None,
    pointnet_labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """Everything of attribution.json for the test events.

    Args:
        net: the trained focal network.
        test: the test events (with truth), never used for training or a choice.
        geom: the detector.
        rng: the evaluation generator (bootstrap, smart_random draw).
        n_boot: bootstrap replicates.
        energy_edges: gamma-energy bins (MeV) of the per-bin metrics; default: one bin for a
            mono-energetic sample, :data:`DEFAULT_ENERGY_EDGES_MEV` otherwise.
        other_labels: per-hit labels of other clustering methods on ``test`` (e.g. ``cone``,
            ``agglomerative+nn``, ``slots``), scored beside ``pointnet``.
        pointnet_labels: the peeling labels if already computed (else peeled here).

    Returns:
        ``{"hit_level": hit_level_report(...), "clustering": {method: summarize_metrics},
        "binned": reconstruction_binned(...), "n_test_events"}``.
    """
    data = prepare(test, geom)
    samples = focal_samples(net, data, test)
    g = samples["gamma_energy"]
    mono = g.size == 0 or float(np.ptp(g)) <= 1e-6 * max(float(np.abs(g).max()), 1.0)
    if energy_edges is None:
        energy_edges = None if mono else DEFAULT_ENERGY_EDGES_MEV
    report = hit_level_report(samples, net.threshold, rng, n_boot, energy_edges)
    labels = net.cluster_data(data) if pointnet_labels is None else pointnet_labels
    methods = {"pointnet": labels, **dict(other_labels or {})}
    truth = true_labels(test)
    clustering = {
        name: summarize_metrics(event_metrics(test.hit_offsets, lab, truth))
        for name, lab in methods.items()
    }
    if mono:
        e0 = float(g[0]) if g.size else 1.0
        e_edges = (0.5 * e0, 1.5 * e0)
    else:
        e_edges = energy_edges
    return {
        "n_test_events": int(test.n_events),
        "hit_level": report,
        "clustering": clustering,
        "binned": reconstruction_binned(test, methods, e_edges),
        "peeling_threshold": float(net.threshold),
        "threshold_scan_validation": list(net.threshold_scan),
    }
