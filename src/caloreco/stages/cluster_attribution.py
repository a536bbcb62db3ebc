"""Rule ``cluster_attribution``: one raw chunk clustered by a trained attribution network
(``pointnet``: the focal network and peeling; ``slots``: the set segmenter) -> cluster and cell
tables in the format of every clustering method."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from caloreco.attribution.segmenter import SlotClustering
from caloreco.attribution.training import FocalAttribution
from caloreco.clustering.table import cells_table, cluster_table_from_events
from caloreco.io.files import write_table
from caloreco.io.raw import geometry_from_file, read_raw
from caloreco.nn.training import select_device

log = logging.getLogger("caloreco.stages.cluster_attribution")

__all__ = ["NETWORKS", "run"]

#: clustering method name -> the network class that loads its checkpoint
NETWORKS = {"pointnet": FocalAttribution, "slots": SlotClustering}


def run(
    raw_path: str | Path,
    model_path: str | Path,
    network: str,
    clusters_out: str | Path,
    cells_out: str | Path,
) -> None:
    """Cluster every event of one chunk with the network ``network`` (a key of
    :data:`NETWORKS`); write the cluster and cell tables (parquet)."""
    if network not in NETWORKS:
        raise ValueError(f"network: expected one of {sorted(NETWORKS)}, got {network!r}")
    events = read_raw(raw_path)
    geom = geometry_from_file(raw_path)
    device = select_device("auto")
    net = NETWORKS[network].load(model_path, device)
    t0 = time.perf_counter()
    labels = net.cluster(events, geom, device)
    dt = time.perf_counter() - t0
    clusters = cluster_table_from_events(events, labels, geom)
    log.info(
        "%s: %d events, %d hits -> %d clusters in %.2f s (%.0f events/s, %s)",
        network,
        events.n_events,
        events.cell_id.size,
        len(clusters),
        dt,
        events.n_events / max(dt, 1e-9),
        device,
    )
    write_table(clusters_out, clusters)
    write_table(cells_out, cells_table(events, labels))
