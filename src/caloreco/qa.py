"""Simulation quality assurance: the numbers of simulation.json and the events to display.

A dataset is summarised one chunk at a time: :func:`simulation_stats` reduces a chunk to small
per-event and per-primary arrays (:class:`SimulationStats`), :func:`combine_stats` concatenates
them in chunk order, and :func:`summarize_simulation` (and the QA figure,
:func:`caloreco.plotting.qa.plot_simulation_qa`) work on the result, so memory holds one chunk of hits plus O(events) numbers. Every statistic is computed on
the same arrays as on the concatenated events, so the numbers do not depend on the chunking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from caloreco.events import RawEvents, concatenate, event_index

__all__ = [
    "SimulationStats",
    "simulation_stats",
    "combine_stats",
    "summarize_simulation",
    "simulation_summary",
    "display_candidates",
    "busiest_order",
    "n_display_candidates",
]


def _stat(values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"mean": float("nan"), "mean_err": float("nan"), "std": float("nan"), "n": 0}
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return {
        "mean": float(values.mean()),
        "mean_err": std / np.sqrt(values.size),
        "std": std,
        "n": int(values.size),
    }


def per_primary_truth(events: RawEvents) -> tuple[np.ndarray, np.ndarray]:
    """Per primary (flat index): true deposited energy (MeV) and number of hit cells."""
    n_prim = int(events.primary_offsets[-1])
    if not events.has_truth:
        return np.full(n_prim, np.nan), np.full(n_prim, np.nan)
    ev = event_index(events.truth_offsets)
    flat_prim = events.primary_offsets[ev] + events.truth_primary
    dep = np.bincount(flat_prim, weights=events.truth_energy, minlength=n_prim)
    cells = np.bincount(flat_prim, minlength=n_prim).astype(np.float64)
    return dep, cells


@dataclass
class SimulationStats:
    """The small arrays of a set of events that simulation.json and the QA histograms need.

    O(events + primaries) numbers, no hits: a dataset's stats are its chunks' stats concatenated
    in chunk order (:func:`combine_stats`).

    Attributes:
        hits_per_event: int64 hits above threshold per event, shape (n_events,).
        primaries_per_event: int64 primaries per event, shape (n_events,).
        primary_energy: float64 true primary energy (MeV), shape (n_primaries,).
        deposit: float64 true energy (MeV) each primary deposited in cells above threshold,
            shape (n_primaries,); NaN without truth.
        cells: float64 number of hit cells with a true deposit of each primary,
            shape (n_primaries,); NaN without truth.
        measured_sum: float64 measured cell energy (MeV) summed per event, shape (n_events,).
        truth_sum: float64 true deposits (MeV) summed per event, shape (n_events,); NaN without
            truth.
        has_truth: whether every event set behind these arrays carries Monte Carlo truth.
    """

    hits_per_event: np.ndarray
    primaries_per_event: np.ndarray
    primary_energy: np.ndarray
    deposit: np.ndarray
    cells: np.ndarray
    measured_sum: np.ndarray
    truth_sum: np.ndarray
    has_truth: bool

    @property
    def n_events(self) -> int:
        """Number of events."""
        return int(self.hits_per_event.size)


def simulation_stats(events: RawEvents) -> SimulationStats:
    """Reduce a chunk of events to its :class:`SimulationStats` (drops every per-hit array)."""
    dep, cells = per_primary_truth(events)
    n = events.n_events
    meas = np.bincount(events.hit_event(), weights=events.cell_energy, minlength=n)
    if events.has_truth:
        ev = event_index(events.truth_offsets)
        truth_sum = np.bincount(ev, weights=events.truth_energy, minlength=n)
    else:
        truth_sum = np.full(n, np.nan)
    return SimulationStats(
        hits_per_event=np.diff(events.hit_offsets),
        primaries_per_event=np.diff(events.primary_offsets),
        primary_energy=events.primary_energy.astype(np.float64),
        deposit=dep,
        cells=cells,
        measured_sum=meas,
        truth_sum=truth_sum,
        has_truth=events.has_truth,
    )


def combine_stats(parts: Sequence[SimulationStats]) -> SimulationStats:
    """Concatenate the stats of chunks in order: the stats of the concatenated events.

    As :func:`caloreco.events.concatenate` keeps truth only if every chunk has it, the truth
    arrays are all NaN unless every part has truth.
    """
    if not parts:
        raise ValueError("nothing to combine: no chunk statistics")

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    has_truth = all(p.has_truth for p in parts)
    n_prim = sum(p.primary_energy.size for p in parts)
    n_ev = sum(p.n_events for p in parts)
    return SimulationStats(
        hits_per_event=cat("hits_per_event"),
        primaries_per_event=cat("primaries_per_event"),
        primary_energy=cat("primary_energy"),
        deposit=cat("deposit") if has_truth else np.full(n_prim, np.nan),
        cells=cat("cells") if has_truth else np.full(n_prim, np.nan),
        measured_sum=cat("measured_sum"),
        truth_sum=cat("truth_sum") if has_truth else np.full(n_ev, np.nan),
        has_truth=has_truth,
    )


def summarize_simulation(
    stats: SimulationStats, run_infos: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The numbers of ``simulation.json`` from a dataset's stats and its chunks' run records.

    Sizes, cells per event and per primary, simulation speed (primaries/s) and closure figures:
    the fraction of each primary's energy seen in the detector as true deposits above threshold
    (``truth_over_primary``), and measured over true energy summed per event
    (``measured_over_truth``, the calibration of the smearing chain; should be 1 within the
    resolution).
    """
    n_hits = stats.hits_per_event
    n_prim = stats.primaries_per_event
    sec = [float(r.get("simulation_seconds", np.nan)) for r in run_infos]
    total_sec = float(np.nansum(sec)) if np.any(np.isfinite(sec)) else float("nan")
    out: dict[str, Any] = {
        "events": stats.n_events,
        "primaries": int(n_prim.sum()),
        "hits": int(n_hits.sum()),
        "chunks": len(run_infos),
        "cells_per_event": _stat(n_hits),
        "cells_per_primary": _stat(stats.cells),
        "empty_events": int((n_hits == 0).sum()),
        "simulation_seconds": total_sec,
        "primaries_per_second": float(n_prim.sum() / total_sec) if total_sec > 0 else None,
    }
    if out["hits"] == 0:
        out["note"] = "no hit above threshold in any event: the dataset is empty"
    if stats.has_truth:
        e_true = stats.primary_energy
        dep = stats.deposit
        ok = np.isfinite(e_true) & (e_true > 0)
        ratio = np.full(e_true.size, np.nan)
        ratio[ok] = dep[ok] / e_true[ok]
        out["truth_over_primary"] = _stat(ratio)
        # gammas that leave all their energy in the detector (photopeak) within 2 % (CALIFA)
        out["full_energy_fraction"] = _stat((ratio > 0.98).astype(float)[ok])
        good = stats.truth_sum > 0
        out["measured_over_truth"] = _stat(stats.measured_sum[good] / stats.truth_sum[good])
    return out


def simulation_summary(events: RawEvents, run_infos: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The numbers of ``simulation.json`` from events held in memory (see
    :func:`summarize_simulation`; a dataset is better summarised chunk by chunk)."""
    return summarize_simulation(simulation_stats(events), run_infos)


def n_display_candidates(n_displays: int) -> int:
    """How many of the busiest events are kept as display candidates for ``n_displays``."""
    return max(n_displays * 5, 1)


def busiest_order(events: RawEvents, k: int) -> np.ndarray:
    """Indices of the ``k`` events with most hits, busiest first (ties to the earlier event)."""
    return np.argsort(-np.diff(events.hit_offsets), kind="stable")[:k]


def _busiest(events: RawEvents, k: int) -> RawEvents:
    # the k busiest events, kept in their original order
    keep = np.zeros(events.n_events, dtype=bool)
    keep[busiest_order(events, k)] = True
    return events.select(keep)


def display_candidates(
    events: RawEvents, previous: RawEvents | None = None, n_displays: int = 3
) -> RawEvents:
    """The events the QA figure (:func:`caloreco.plotting.qa.plot_simulation_qa`) may display, kept while streaming chunks.

    The ``5 * n_displays`` events with the most hits among ``previous`` (the candidates of the
    earlier chunks) followed by ``events`` (ties go to the earlier event), in their order. Fed
    chunk after chunk, it ends with the busiest events of the whole dataset in dataset order,
    from which the figure picks exactly the displays it would pick from all events at once.
    """
    k = n_display_candidates(n_displays)
    own = _busiest(events, k)
    if previous is None:
        return own
    return _busiest(concatenate([previous, own]), k)
