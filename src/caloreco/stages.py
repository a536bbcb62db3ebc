"""Workflow stages: each function is one rule's work from input paths to output paths.

The scripts under ``workflow/scripts`` only unpack the ``snakemake`` object and call one of these,
so every stage can be run and tested without Snakemake. Outputs are written atomically.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from caloreco import io
from caloreco.config import chunk_rng
from caloreco.events import RawEvents
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


def best_cluster_energy(clusters: pd.DataFrame, events: RawEvents) -> np.ndarray:
    """Per primary of ``events`` (flat index): the energy (MeV) of its most energetic cluster
    among those it dominates (cluster table columns ``event``, ``primary``, ``energy``), 0 if
    none. ``clusters`` must name only events of ``events``."""
    ev_pos = pd.Series(np.arange(events.n_events), index=events.event)
    matched = clusters[clusters["primary"] >= 0]
    pos = ev_pos.loc[matched["event"].to_numpy()].to_numpy()
    flat = events.primary_offsets[pos] + matched["primary"].to_numpy()
    best = np.zeros(int(events.primary_offsets[-1]))
    np.maximum.at(best, flat, matched["energy"].to_numpy(np.float64))
    return best


def photopeak_efficiency(
    best_energy: np.ndarray,
    true_energy: np.ndarray,
    response: Mapping[str, Any],
    n_sigma: float = 3.0,
) -> dict[str, Any]:
    """Photopeak efficiency from per-primary arrays (MeV, same shape): the fraction of
    primaries of known energy whose best cluster (:func:`best_cluster_energy`) is within
    ``n_sigma`` resolution sigmas of the true energy, overall and in 8 quantile bins of energy.

    The arrays of several chunks may be concatenated beforehand: the result is that of the
    concatenated events.
    """
    best = np.asarray(best_energy, dtype=np.float64)
    e_true = np.asarray(true_energy, dtype=np.float64)
    known = np.isfinite(e_true) & (e_true > 0)
    if not known.any():
        return {"efficiency": None, "note": "primary energies unknown"}
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


def photopeak(
    clusters: pd.DataFrame, events: RawEvents, response: Mapping[str, Any], n_sigma: float = 3.0
) -> dict[str, Any]:
    """Photopeak efficiency: the fraction of primaries whose most energetic cluster (among those
    they dominate) has an energy within ``n_sigma`` resolution sigmas of the true energy."""
    return photopeak_efficiency(
        best_cluster_energy(clusters, events),
        events.primary_energy.astype(np.float64),
        response,
        n_sigma,
    )


def chunk_label(path: str | Path) -> str:
    """The chunk label of a per-chunk file as written in its name: ``007`` of
    ``chunk-007.root`` or ``cells-007.parquet``."""
    m = re.search(r"(\d+)$", Path(path).stem)
    if m is None:
        raise ValueError(f"{path}: no chunk number at the end of the file name (e.g. chunk-000)")
    return m.group(1)


def _tables_by_chunk(
    raw_paths: Sequence[Path], cells_paths: Sequence[str | Path], methods: Sequence[str]
) -> dict[str, list[Path]]:
    """Per method (the cells table's folder name), its cells table of each raw chunk, in
    ``raw_paths`` order, matched by chunk number.

    Raises:
        ValueError: naming the files, for a raw chunk without cells table, a table that does
            not exist, two tables of one chunk, or a table of a method not in ``methods``.
    """
    found: dict[str, dict[int, Path]] = {m: {} for m in methods}
    for p in map(Path, cells_paths):
        m = p.parent.name
        if m not in found:
            raise ValueError(f"{p}: cells table of method {m!r}, not one of {list(methods)}")
        c = int(chunk_label(p))
        if c in found[m]:
            raise ValueError(f"method {m!r}: two cells tables of chunk {c}: {found[m][c]}, {p}")
        found[m][c] = p
    wanted = [int(chunk_label(p)) for p in raw_paths]
    if len(set(wanted)) != len(wanted):
        raise ValueError(f"raw files with the same chunk number: {[str(p) for p in raw_paths]}")
    out: dict[str, list[Path]] = {}
    for m in methods:
        extra = sorted(set(found[m]) - set(wanted))
        if extra:
            # their events are in no raw file read here, so they could not be scored anyway
            log.warning("%s: ignoring the cells tables of chunks %s (no raw file)", m, extra)
        missing = [raw for raw, c in zip(raw_paths, wanted, strict=True) if c not in found[m]]
        if missing:
            where = next(iter(found[m].values())).parent if found[m] else Path(m)
            expected = [str(where / f"cells-{chunk_label(raw)}.parquet") for raw in missing]
            raise ValueError(
                f"method {m!r}: no cells table for raw file(s) {[str(r) for r in missing]}: "
                f"expected {expected} among the cells tables"
            )
        out[m] = [found[m][c] for c in wanted]
        absent = [str(p) for p in out[m] if not p.is_file()]
        if absent:
            raise ValueError(f"method {m!r}: cells table(s) missing: {absent}")
    return out


def _cluster_table_path(cells_path: Path) -> Path:
    # the cluster table of a chunk lies beside its cells table: chunk-NNN next to cells-NNN
    return cells_path.with_name(cells_path.name.replace("cells-", "chunk-"))


@dataclass
class _ChunkScores:
    """What clustering_metrics keeps of one chunk: per method the per-event metrics (arrays of
    shape (n_scored_events,)) and the best cluster energy per primary (MeV, or None without
    photopeak), and the true primary energies (MeV, shape (n_scored_primaries,))."""

    methods: dict[str, tuple[dict[str, np.ndarray], np.ndarray | None]]
    true_energy: np.ndarray


def _score_chunk(
    raw: Path,
    cells: Mapping[str, Path],
    split: Mapping[str, Any] | None,
    with_photopeak: bool,
) -> _ChunkScores:
    """Score one raw chunk against each method's cells (and cluster) table of that chunk.

    The chunk's hits and tables live only in this call, so clustering_metrics holds one chunk
    at a time.
    """
    from caloreco import clustering as cl
    from caloreco.split import assign_split

    events = io.read_raw(raw, require_truth=True)
    if split is not None:
        # the split is a function of the event number alone: per chunk = over the dataset
        part = assign_split(events.event, tuple(split["fractions"]), int(split["seed"]))
        events = events.select(part == "test")
    truth = cl.true_labels(events)
    wanted = set(events.event.tolist())
    out: dict[str, tuple[dict[str, np.ndarray], np.ndarray | None]] = {}
    for m, path in cells.items():
        table = pd.read_parquet(path)
        table = table[table["event"].isin(wanted)]
        metrics = cl.event_metrics(events.hit_offsets, labels_from_cells(events, table), truth)
        best = None
        if with_photopeak:
            clusters = pd.read_parquet(_cluster_table_path(path))
            clusters = clusters[clusters["event"].isin(wanted)]
            best = best_cluster_energy(clusters, events)
        out[m] = (metrics, best)
    log.info("%s: %d events scored", raw, events.n_events)
    return _ChunkScores(methods=out, true_energy=events.primary_energy.astype(np.float64))


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
    is then scored on the same events. The photopeak efficiency per method (with ``response``,
    the detector response block that sets the energy resolution) needs the cluster tables beside
    the cell tables (``chunk-NNN.parquet`` next to ``cells-NNN.parquet``).

    Streams the chunks: each raw chunk ``.../chunk-NNN.root`` is read with, per method, only its
    own ``cells-NNN.parquet`` (and ``chunk-NNN.parquet``), matched by NNN, and reduced to
    per-event metrics and per-primary best-cluster energies; the fractions are computed once on
    their concatenation (in ``raw_paths`` order), so the result equals that of all events at
    once while memory holds one chunk of hits plus O(events) numbers.

    Raises:
        ValueError: a raw chunk without a cells (or cluster) table for some method, naming the
            files.
    """
    from caloreco import clustering as cl

    raws = [Path(p) for p in raw_paths]
    if not raws:
        raise ValueError("clustering_metrics: no raw files")
    tables = _tables_by_chunk(raws, cells_paths, methods)
    if response is not None:
        absent = [
            str(_cluster_table_path(p))
            for m in methods
            for p in tables[m]
            if not _cluster_table_path(p).is_file()
        ]
        if absent:
            raise ValueError(f"photopeak: cluster table(s) missing beside the cells: {absent}")
    per_event: dict[str, list[dict[str, np.ndarray]]] = {m: [] for m in methods}
    best: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    true_energy: list[np.ndarray] = []
    for i, raw in enumerate(raws):
        chunk = _score_chunk(raw, {m: tables[m][i] for m in methods}, split, response is not None)
        for m, (metrics, best_energy) in chunk.methods.items():
            per_event[m].append(metrics)
            if best_energy is not None:
                best[m].append(best_energy)
        true_energy.append(chunk.true_energy)
    result: dict[str, Any] = {
        "events_subset": "test" if split is not None else "all",
        "methods": {},
        "photopeak": {},
    }
    for m in methods:
        merged = {k: np.concatenate([d[k] for d in per_event[m]]) for k in per_event[m][0]}
        result["methods"][m] = cl.summarize_metrics(merged)
        log.info("%s: %s", m, result["methods"][m])
        if response is not None:
            result["photopeak"][m] = photopeak_efficiency(
                np.concatenate(best[m]), np.concatenate(true_energy), response
            )
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
    """simulation.json and the QA figure of one dataset from its raw chunks.

    Streams the chunks: each is reduced to small per-event and per-primary arrays and to its
    event-display candidates before the next is read, so memory holds one chunk of hits plus
    O(events) numbers; the numbers and the figure equal those of all events at once.
    """
    from caloreco.qa import (
        combine_stats,
        display_candidates,
        plot_simulation_qa,
        simulation_stats,
        summarize_simulation,
    )

    if not raw_paths:
        raise ValueError(f"simulation_qa {dataset}: no raw files")
    parts = []
    infos = []
    shown: RawEvents | None = None
    for p in raw_paths:
        events = io.read_raw(p)
        parts.append(simulation_stats(events))
        shown = display_candidates(events, shown)
        infos.append(io.read_run_info(p))
        del events  # only one chunk of hits at a time
    stats = combine_stats(parts)
    summary = summarize_simulation(stats, infos)
    summary["dataset"] = dataset
    log.info("%s: %s", dataset, summary)
    assert shown is not None  # there was a chunk
    plot_simulation_qa(shown, geometry_from_file(raw_paths[0]), dataset, png, pdf, stats=stats)
    write_json(metrics_out, summary)
    return summary
