"""Rule ``cluster``: one raw chunk, one clustering method -> cluster and cell tables."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from caloreco.clustering.methods import run_clustering
from caloreco.clustering.table import cells_table, cluster_table_from_events
from caloreco.io.files import write_table
from caloreco.io.raw import geometry_from_file, read_raw

log = logging.getLogger("caloreco.stages.cluster")

__all__ = ["run"]


def run(
    raw_path: str | Path,
    method: str,
    settings: Mapping[str, Any],
    clusters_out: str | Path,
    cells_out: str | Path,
) -> pd.DataFrame:
    """Cluster one raw chunk with one method; write the cluster and cell tables (parquet)."""
    events = read_raw(raw_path)
    geom = geometry_from_file(raw_path)
    t0 = time.perf_counter()
    labels = run_clustering(events, geom, method, settings)
    dt = time.perf_counter() - t0
    clusters = cluster_table_from_events(events, labels, geom)
    log.info(
        "%s: %d events, %d hits -> %d clusters in %.2f s (%.0f events/s)",
        method,
        events.n_events,
        events.cell_id.size,
        len(clusters),
        dt,
        events.n_events / max(dt, 1e-9),
    )
    write_table(clusters_out, clusters)
    write_table(cells_out, cells_table(events, labels))
    return clusters
