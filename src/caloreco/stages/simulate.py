"""Rule ``simulate``: one chunk of the built-in simulation -> raw ROOT file."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from caloreco.events import RawEvents
from caloreco.geometry import make_geometry
from caloreco.io.raw import write_raw
from caloreco.seeds import chunk_rng
from caloreco.simulation import simulate_events

log = logging.getLogger("caloreco.stages.simulate")

__all__ = ["run"]


def run(
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
    c = int(chunk)
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
    write_raw(
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
