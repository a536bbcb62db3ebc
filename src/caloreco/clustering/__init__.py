"""Cluster restoration and event-level clustering metrics.

Methods (all vectorised over the events of a chunk, numba kernels for the per-event loops):

* :func:`connected_clusters`: side-connected cells split at local maxima (coral-like, any
  detector with a neighbour table);
* :func:`cone_clusters`: the R3B cone algorithm of CALIFA;
* :func:`agglomerative_clusters`: Ward linkage on space-time points (Jenegger et al.), the same
  partition as scipy's ``fclusterdata``.

Labels are per hit, the cluster index within its event, ``-1`` for a hit in no cluster.
:func:`event_metrics` / :func:`summarize_metrics` give the TP/FP/FN/FM and WR figures of
califa-reference.md; :func:`cluster_table` / :func:`cells_table` the parquet tables.
"""

from caloreco.clustering._common import canonical_labels
from caloreco.clustering.agglomerative import agglomerative_clusters, agglomerative_points
from caloreco.clustering.cone import cone_clusters
from caloreco.clustering.connected import connected_clusters
from caloreco.clustering.metrics import CATEGORIES, event_metrics, summarize_metrics
from caloreco.clustering.table import (
    CLUSTER_COLUMNS,
    cells_table,
    cluster_table,
    cluster_table_from_events,
    true_labels,
)

__all__ = [
    "CATEGORIES",
    "CLUSTER_COLUMNS",
    "agglomerative_clusters",
    "agglomerative_points",
    "canonical_labels",
    "cells_table",
    "cluster_table",
    "cluster_table_from_events",
    "cone_clusters",
    "connected_clusters",
    "event_metrics",
    "summarize_metrics",
    "true_labels",
]
