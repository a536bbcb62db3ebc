"""Rule ``import_data``: one chunk of a user's ROOT or CSV files -> raw ROOT file."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from caloreco.events import RawEvents
from caloreco.geometry import make_geometry
from caloreco.io.califa_csv import import_csv
from caloreco.io.raw import write_raw
from caloreco.io.root_import import import_root
from caloreco.seeds import chunk_rng

log = logging.getLogger("caloreco.stages.import_data")

__all__ = ["run"]


def run(
    files: Sequence[str | Path],
    out_path: str | Path,
    dataset: str,
    dataset_cfg: Mapping[str, Any],
    detector_cfg: Mapping[str, Any],
    n_chunks: int,
    chunk: str | int,
) -> RawEvents:
    """Convert a user's ROOT or CSV files (chunk ``chunk`` of ``n_chunks``) to a raw file."""
    c = int(chunk)
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
        events, geom = import_csv(
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
        events, geom = import_root(
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
    write_raw(
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
