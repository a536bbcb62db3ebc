"""Rule ``simulation_qa``: simulation.json and the QA figure of one dataset."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from caloreco.events import RawEvents
from caloreco.io.files import write_json
from caloreco.io.raw import geometry_from_file, read_raw, read_run_info
from caloreco.plotting.qa import plot_simulation_qa
from caloreco.qa import combine_stats, display_candidates, simulation_stats, summarize_simulation

log = logging.getLogger("caloreco.stages.simulation_qa")

__all__ = ["run"]


def run(
    raw_paths: Sequence[str | Path], dataset: str, metrics_out: str | Path, png: str, pdf: str
) -> dict[str, Any]:
    """simulation.json and the QA figure of one dataset from its raw chunks.

    Streams the chunks: each is reduced to small per-event and per-primary arrays and to its
    event-display candidates before the next is read, so memory holds one chunk of hits plus
    O(events) numbers; the numbers and the figure equal those of all events at once.
    """
    if not raw_paths:
        raise ValueError(f"simulation_qa {dataset}: no raw files")
    parts = []
    infos = []
    shown: RawEvents | None = None
    for p in raw_paths:
        events = read_raw(p)
        parts.append(simulation_stats(events))
        shown = display_candidates(events, shown)
        infos.append(read_run_info(p))
        del events  # only one chunk of hits at a time
    stats = combine_stats(parts)
    summary = summarize_simulation(stats, infos)
    summary["dataset"] = dataset
    log.info("%s: %s", dataset, summary)
    assert shown is not None  # there was a chunk
    plot_simulation_qa(shown, geometry_from_file(raw_paths[0]), dataset, png, pdf, stats=stats)
    write_json(metrics_out, summary)
    return summary
