"""Workflow stages: each function is one rule's work from input paths to output paths.

The scripts under ``workflow/scripts`` only unpack the ``snakemake`` object and call one of these,
so every stage can be run and tested without Snakemake. Outputs are written atomically.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from caloreco import io
from caloreco.config import chunk_rng
from caloreco.events import RawEvents, concatenate
from caloreco.geometry import Geometry, make_geometry

log = logging.getLogger("caloreco.stages")

__all__ = [
    "simulate_chunk",
    "import_chunk",
    "geometry_from_file",
    "cluster_chunk",
    "clustering_metrics",
    "write_json",
]


def write_json(path: str | Path, payload: Mapping[str, Any]) -> None:
    """Write JSON atomically, keys sorted, NaN as null."""

    def clean(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {str(k): clean(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [clean(v) for v in obj]
        if isinstance(obj, np.generic):
            obj = obj.item()
        if isinstance(obj, float) and not np.isfinite(obj):
            return None
        return obj

    with io.atomic_path(path) as tmp:
        tmp.write_text(json.dumps(clean(dict(payload)), indent=2, sort_keys=True) + "\n")


def _chunk_index(chunk: str | int) -> int:
    return int(chunk)


def simulate_chunk(
    out_path: str | Path,
    dataset: str,
    dataset_cfg: Mapping[str, Any],
    detector_cfg: Mapping[str, Any],
    chunk: str | int,
) -> RawEvents:
    """Simulate one chunk of a dataset and write it as a raw ROOT file.

    Event numbers are ``chunk * events_per_chunk + i``, unique within the dataset; the chunk's
    generator comes from the dataset seed and the chunk index only.
    """
    from caloreco.simulation import simulate_events

    c = _chunk_index(chunk)
    n = int(dataset_cfg["events_per_chunk"])
    preset = detector_cfg["preset"]
    geom = make_geometry(preset, **dict(detector_cfg.get("geometry", {})))
    rng = chunk_rng(dataset_cfg["seed"], c, "simulate")
    log.info(
        "simulating %s chunk %03d: %d events on %s (%d cells)", dataset, c, n, preset, geom.n_cells
    )
    t0 = time.perf_counter()
    events = simulate_events(
        geom, preset, detector_cfg.get("response"), dataset_cfg["simulation"], n, rng
    )
    dt = time.perf_counter() - t0
    n_prim = int(events.primary_offsets[-1])
    log.info(
        "simulated %d events, %d primaries, %d hits in %.2f s (%.0f primaries/s)",
        events.n_events,
        n_prim,
        events.cell_id.size,
        dt,
        n_prim / max(dt, 1e-9),
    )
    events.event = events.event + c * n
    io.write_raw(
        out_path,
        events,
        geom.table(),
        {
            "detector": dataset_cfg["detector"],
            "preset": preset,
            "geometry": dict(detector_cfg.get("geometry", {})),
            "cells": "preset",
            "response": dict(detector_cfg.get("response", {})),
            "dataset": dataset,
            "source": "simulate",
            "simulation": dict(dataset_cfg["simulation"]),
            "seed": dataset_cfg["seed"],
            "chunk": c,
            "simulation_seconds": dt,
        },
    )
    return events


def import_chunk(
    files: Sequence[str | Path],
    out_path: str | Path,
    dataset: str,
    dataset_cfg: Mapping[str, Any],
    detector_cfg: Mapping[str, Any],
    n_chunks: int,
    chunk: str | int,
) -> RawEvents:
    """Convert a user's ROOT or CSV files (chunk ``chunk`` of ``n_chunks``) to a raw file."""
    c = _chunk_index(chunk)
    preset = detector_cfg["preset"]
    geo_params = dict(detector_cfg.get("geometry", {}))
    radius = float(geo_params.get("inner_radius_mm", 300.0))
    src = dataset_cfg["source"]
    log.info(
        "importing %s chunk %03d of %d from %d %s file(s)", dataset, c, n_chunks, len(files), src
    )
    if src == "csv":
        opts = dict(dataset_cfg.get("csv", {}))
        rng = chunk_rng(dataset_cfg["seed"], c, "import")
        events, geom = io.import_csv(
            files,
            n_chunks,
            c,
            per_event=int(opts.get("primaries_per_event", 1)),
            rng=rng,
            radius_mm=radius,
            neighbour_angle_rad=float(opts.get("neighbour_angle_rad", 0.12)),
            emission_window_ns=float(opts.get("emission_window_ns", 0.0)),
            time_smearing_ns=float(opts.get("time_smearing_ns", 0.0)),
            primary_energy_mev=opts.get("primary_energy_mev"),
        )
        cells, angle = "directions", float(opts.get("neighbour_angle_rad", 0.12))
    elif src == "root":
        opts = dict(dataset_cfg["root"])
        by_id = "cell_id" in opts["branches"]
        preset_geom = make_geometry(preset, **geo_params) if by_id else None
        angle = float(opts.get("neighbour_angle_rad", 0.12))
        events, geom = io.import_root(
            files,
            opts["tree"],
            opts["branches"],
            n_chunks,
            c,
            geom=preset_geom,
            radius_mm=radius,
            neighbour_angle_rad=angle,
        )
        cells = "preset" if by_id else "directions"
    else:
        raise ValueError(f"dataset {dataset!r}: source {src!r} is not an import source")
    log.info("imported %d events, %d hits", events.n_events, events.cell_id.size)
    io.write_raw(
        out_path,
        events,
        geom.table(),
        {
            "detector": dataset_cfg["detector"],
            "preset": preset,
            "geometry": geo_params,
            "cells": cells,
            "neighbour_angle_rad": angle,
            "radius_mm": radius,
            "dataset": dataset,
            "source": src,
            "files": [str(f) for f in files],
            "chunk": c,
        },
    )
    return events


def geometry_from_file(path: str | Path) -> Geometry:
    """The geometry a raw file was made with (preset rebuilt, or cells from data directions)."""
    info = io.read_run_info(path)
    if info.get("cells", "preset") == "preset":
        return make_geometry(info["preset"], **info.get("geometry", {}))
    table = io.read_cells(path)
    geom, _ = io._cells_from_directions(
        table["theta"].astype(np.float64),
        table["phi"].astype(np.float64),
        float(info.get("radius_mm", 300.0)),
        float(info.get("neighbour_angle_rad", 0.12)),
    )
    return geom


def run_clustering(
    events: RawEvents, geom: Geometry, method: str, settings: Mapping[str, Any]
) -> np.ndarray:
    """Per-hit cluster labels (index within the event; -1 unclustered) for one method."""
    from caloreco import clustering as cl

    s = dict(settings or {})
    energy = events.cell_energy.astype(np.float64)
    cell = events.cell_id.astype(np.int64)
    if method == "connected":
        return cl.connected_clusters(events.hit_offsets, cell, energy, geom, **s)
    theta = geom.theta[cell]
    phi = geom.phi[cell]
    if method == "cone":
        return cl.cone_clusters(events.hit_offsets, energy, theta, phi, **s)
    if method == "agglomerative":
        return cl.agglomerative_clusters(
            events.hit_offsets, theta, phi, events.cell_time.astype(np.float64), **s
        )
    raise ValueError(f"unknown clustering method {method!r}")


def cluster_chunk(
    raw_path: str | Path,
    method: str,
    settings: Mapping[str, Any],
    clusters_out: str | Path,
    cells_out: str | Path,
) -> pd.DataFrame:
    """Cluster one raw chunk with one method; write the cluster and cell tables (parquet)."""
    from caloreco import clustering as cl

    events = io.read_raw(raw_path)
    geom = geometry_from_file(raw_path)
    t0 = time.perf_counter()
    labels = run_clustering(events, geom, method, settings)
    dt = time.perf_counter() - t0
    clusters = cl.cluster_table_from_events(events, labels, geom)
    cells = cl.cells_table(events, labels)
    log.info(
        "%s: %d events, %d hits -> %d clusters in %.2f s (%.0f events/s)",
        method,
        events.n_events,
        events.cell_id.size,
        len(clusters),
        dt,
        events.n_events / max(dt, 1e-9),
    )
    for path, table in ((clusters_out, clusters), (cells_out, cells)):
        with io.atomic_path(path) as tmp:
            table.to_parquet(tmp, index=False)
    return clusters


def resolution_sigma(energy_mev: np.ndarray, response: Mapping[str, Any]) -> np.ndarray:
    """Expected energy resolution sigma (MeV) of a detector response block at ``energy_mev``.

    califa: FWHM/2.355 at 1 MeV scaling as 1/sqrt(E) (+) non-uniformity; ecal: a/sqrt(E/GeV)
    (+) b. Used to define the photopeak window (3 sigma).
    """
    e = np.asarray(energy_mev, dtype=np.float64)
    if "resolution_fwhm_at_1mev" in response or "non_uniformity" in response:
        rel = np.hypot(
            float(response.get("resolution_fwhm_at_1mev", 0.055)) / 2.355 / np.sqrt(e),
            float(response.get("non_uniformity", 0.01)),
        )
    else:
        rel = np.hypot(
            float(response.get("stochastic", 0.07)) / np.sqrt(e / 1000.0),
            float(response.get("constant", 0.015)),
        )
    return rel * e


def photopeak(
    clusters: pd.DataFrame, events: RawEvents, response: Mapping[str, Any], n_sigma: float = 3.0
) -> dict[str, Any]:
    """Photopeak efficiency: the fraction of primaries whose most energetic cluster (among those
    they dominate) has an energy within ``n_sigma`` resolution sigmas of the true energy."""
    e_true = events.primary_energy.astype(np.float64)
    ev_pos = pd.Series(np.arange(events.n_events), index=events.event)
    known = np.isfinite(e_true) & (e_true > 0)
    if not known.any():
        return {"efficiency": None, "note": "primary energies unknown"}
    matched = clusters[clusters["primary"] >= 0]
    pos = ev_pos.loc[matched["event"].to_numpy()].to_numpy()
    flat = events.primary_offsets[pos] + matched["primary"].to_numpy()
    best = np.zeros(e_true.size)
    np.maximum.at(best, flat, matched["energy"].to_numpy(np.float64))
    ok = np.abs(best - e_true) <= n_sigma * resolution_sigma(np.where(known, e_true, 1.0), response)
    ok, e = ok[known], e_true[known]
    eff = float(ok.mean())
    edges = np.quantile(e, np.linspace(0, 1, 9)) if np.ptp(e) > 0 else np.array([e[0], e[0]])
    curve = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (e >= lo) & (e <= hi)
        if sel.sum() and hi > lo:
            p = float(ok[sel].mean())
            curve.append(
                {
                    "e_lo": float(lo),
                    "e_hi": float(hi),
                    "efficiency": p,
                    "err": float(np.sqrt(p * (1 - p) / sel.sum())),
                    "n": int(sel.sum()),
                }
            )
    return {
        "efficiency": eff,
        "efficiency_err": float(np.sqrt(eff * (1 - eff) / ok.size)),
        "n_sigma": n_sigma,
        "primaries": int(ok.size),
        "vs_energy": curve,
    }


def clustering_metrics(
    raw_paths: Sequence[str | Path],
    cells_paths: Sequence[str | Path],
    methods: Sequence[str],
    out_path: str | Path,
    split: Mapping[str, Any] | None = None,
    response: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Event-level TP/FP/FN/FM and WR per method over all chunks (clustering.json).

    With ``split`` (``{"fractions", "seed"}``) only the test events are scored, so a method that
    uses a trained classifier is never scored on events it was trained or tuned on; every method
    is then scored on the same events. The photopeak efficiency per method needs the cluster
    tables beside the cell tables (``chunk-NNN.parquet`` next to ``cells-NNN.parquet``).
    """
    from caloreco import clustering as cl
    from caloreco.split import assign_split

    events = concatenate([io.read_raw(p, require_truth=True) for p in raw_paths])
    subset = "all"
    if split is not None:
        keep = assign_split(events.event, tuple(split["fractions"]), int(split["seed"])) == "test"
        events = events.select(keep)
        subset = "test"
    truth = cl.true_labels(events)
    by_method: dict[str, list[Path]] = {m: [] for m in methods}
    for p in map(Path, cells_paths):
        by_method[p.parent.name].append(p)
    result: dict[str, Any] = {"events_subset": subset, "methods": {}, "photopeak": {}}
    wanted = set(events.event.tolist())
    for m in methods:
        files = sorted(by_method[m])
        cells = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
        cells = cells[cells["event"].isin(wanted)]
        reco = labels_from_cells(events, cells)
        result["methods"][m] = cl.summarize_metrics(
            cl.event_metrics(events.hit_offsets, reco, truth)
        )
        log.info("%s: %s", m, result["methods"][m])
        if response is not None:
            tables = [p.with_name(p.name.replace("cells-", "chunk-")) for p in files]
            clusters = pd.concat([pd.read_parquet(p) for p in tables], ignore_index=True)
            clusters = clusters[clusters["event"].isin(wanted)]
            result["photopeak"][m] = photopeak(clusters, events, response)
    write_json(out_path, result)
    return result


def labels_from_cells(events: RawEvents, cells: pd.DataFrame) -> np.ndarray:
    """Per-hit labels of ``events`` from a cells table (event, hit, cluster)."""
    ev_pos = pd.Series(np.arange(events.n_events), index=events.event)
    try:
        pos = ev_pos.loc[cells["event"].to_numpy()].to_numpy()
    except KeyError as exc:
        raise ValueError(f"cells table names events absent from the raw files: {exc}") from None
    flat = events.hit_offsets[pos] + cells["hit"].to_numpy()
    labels = np.full(events.cell_id.size, -1, dtype=np.int64)
    labels[flat] = cells["cluster"].to_numpy()
    return labels


def simulation_qa(
    raw_paths: Sequence[str | Path], dataset: str, metrics_out: str | Path, png: str, pdf: str
) -> dict[str, Any]:
    """simulation.json and the QA figure of one dataset from its raw chunks."""
    from caloreco.qa import plot_simulation_qa, simulation_summary

    events = concatenate([io.read_raw(p) for p in raw_paths])
    infos = [io.read_run_info(p) for p in raw_paths]
    summary = simulation_summary(events, infos)
    summary["dataset"] = dataset
    log.info("%s: %s", dataset, summary)
    plot_simulation_qa(events, geometry_from_file(raw_paths[0]), dataset, png, pdf)
    write_json(metrics_out, summary)
    return summary
