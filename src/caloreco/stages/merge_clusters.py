"""Rule ``merge_clusters``: pre-clusters of one chunk merged along the accepted pairs."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from caloreco.clustering.labels import canonical_labels
from caloreco.clustering.matching import labels_from_cells
from caloreco.clustering.table import cells_table, cluster_table_from_events
from caloreco.io.files import write_table
from caloreco.io.raw import geometry_from_file, read_raw
from caloreco.nn.training import load_checkpoint
from caloreco.pairs.merging import event_index, merge_clusters
from caloreco.pairs.training import score_pairs

log = logging.getLogger("caloreco.stages.merge_clusters")

__all__ = ["run"]


def run(
    raw_path: str | Path,
    cells_path: str | Path,
    pairs_path: str | Path,
    model_path: str | Path,
    clusters_out: str | Path,
    cells_out: str | Path,
) -> None:
    """Merge the pre-clusters of one chunk along the pairs the classifier accepts."""
    events = read_raw(raw_path)
    geom = geometry_from_file(raw_path)
    labels = labels_from_cells(events, pd.read_parquet(cells_path))
    pairs = pd.read_parquet(pairs_path)
    if len(pairs):
        model, meta = load_checkpoint(model_path)
        accept = score_pairs(model, meta, pairs) >= float(meta["threshold"])
        pos = event_index(events.event, pairs["event"].to_numpy())
        labels = merge_clusters(
            events.hit_offsets,
            labels,
            pos,
            pairs["cluster1"].to_numpy(),
            pairs["cluster2"].to_numpy(),
            accept,
        )
        log.info("accepted %d of %d pairs for merging", int(accept.sum()), len(pairs))
    labels = canonical_labels(events.hit_offsets, labels, events.cell_energy)
    clusters = cluster_table_from_events(events, labels, geom)
    write_table(clusters_out, clusters)
    write_table(cells_out, cells_table(events, labels))
