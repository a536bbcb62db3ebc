"""The clustering methods by name: one call for every method of the clustering stage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from caloreco.events import RawEvents
from caloreco.geometry import Geometry

__all__ = ["METHODS", "run_clustering"]

#: the clustering methods of the ``clustering`` config section
METHODS = ("connected", "cone", "agglomerative")


def run_clustering(
    events: RawEvents, geom: Geometry, method: str, settings: Mapping[str, Any]
) -> np.ndarray:
    """Per-hit cluster labels (index within the event; -1 unclustered) for one method."""
    from caloreco.clustering.agglomerative import agglomerative_clusters
    from caloreco.clustering.cone import cone_clusters
    from caloreco.clustering.connected import connected_clusters

    s = dict(settings or {})
    energy = events.cell_energy.astype(np.float64)
    cell = events.cell_id.astype(np.int64)
    if method == "connected":
        return connected_clusters(events.hit_offsets, cell, energy, geom, **s)
    theta = geom.theta[cell]
    phi = geom.phi[cell]
    if method == "cone":
        return cone_clusters(events.hit_offsets, energy, theta, phi, **s)
    if method == "agglomerative":
        return agglomerative_clusters(
            events.hit_offsets, theta, phi, events.cell_time.astype(np.float64), **s
        )
    raise ValueError(f"unknown clustering method {method!r}")
