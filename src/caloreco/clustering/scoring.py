"""Scoring clusterings against the truth, chunk by chunk.

:func:`score_events` reduces one chunk's events and the labels of one clustering to the per-event
metrics of :mod:`.metrics` and a per-primary table (:func:`.matching.primary_matches` plus the
best cluster energy); :func:`summarize_scores` turns the concatenation of all chunks into the
numbers of clustering.json. The result equals that of all events at once, while memory holds one
chunk of hits plus O(events) numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from caloreco.clustering.matching import best_cluster_energy, primary_matches
from caloreco.clustering.metrics import event_metrics, summarize_metrics
from caloreco.clustering.photopeak import photopeak_efficiency
from caloreco.clustering.table import true_labels
from caloreco.events import RawEvents

__all__ = ["PRIMARY_COLUMNS", "score_events", "summarize_scores"]

#: columns of the per-primary table (``tables/primaries.parquet``, one row per method and primary)
PRIMARY_COLUMNS = (
    "method",
    "event",
    "primary",
    "energy",
    "nearest_angle",
    "has_cluster",
    "matched",
    "best_energy",
)


def score_events(
    events: RawEvents, labels: np.ndarray, clusters: pd.DataFrame, method: str
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Score one clustering of ``events`` (with truth).

    Args:
        events: the scored events.
        labels: per-hit reconstructed cluster within the event (``-1`` unclustered).
        clusters: the clustering's cluster table of these events (``event``, ``primary``,
            ``energy``), for the best cluster energy of each primary.
        method: the method name written in the table.

    Returns:
        the per-event metrics (:func:`.metrics.event_metrics`) and the per-primary table with
        :data:`PRIMARY_COLUMNS` (``energy`` true, ``best_energy`` of the most energetic cluster
        the primary dominates, MeV; ``nearest_angle`` rad).
    """
    metrics = event_metrics(events.hit_offsets, labels, true_labels(events))
    table = primary_matches(events, labels)
    table["best_energy"] = best_cluster_energy(clusters, events)
    table.insert(0, "method", method)
    return metrics, table[list(PRIMARY_COLUMNS)]


def summarize_scores(
    per_event: Sequence[Mapping[str, np.ndarray]],
    primaries: pd.DataFrame,
    response: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """clustering.json's entry of one method from its chunks' scores.

    Args:
        per_event: the per-event metrics of every chunk, in chunk order.
        primaries: the method's per-primary rows of all chunks, in chunk order.
        response: the detector response block for the photopeak window, or None (no photopeak).

    Returns:
        the summary (:func:`.metrics.summarize_metrics`) and the photopeak efficiency (or None).
    """
    merged = {k: np.concatenate([d[k] for d in per_event]) for k in per_event[0]}
    summary = summarize_metrics(merged)
    photo = None
    if response is not None:
        photo = photopeak_efficiency(
            primaries["best_energy"].to_numpy(np.float64),
            primaries["energy"].to_numpy(np.float64),
            response,
        )
    return summary, photo
