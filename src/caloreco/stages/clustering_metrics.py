"""Rule ``clustering_metrics``: TP/FP/FN/FM and WR per method -> clustering.json, and the
per-primary table the efficiency and spectra figures draw from (tables/primaries.parquet)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from caloreco.clustering.matching import labels_from_cells
from caloreco.clustering.scoring import score_events, summarize_scores
from caloreco.io.chunks import chunk_label
from caloreco.io.files import write_json, write_table
from caloreco.io.raw import read_raw
from caloreco.split import assign_split

log = logging.getLogger("caloreco.stages.clustering_metrics")

__all__ = ["run"]


def _tables_by_chunk(
    raw_paths: Sequence[Path], cells_paths: Sequence[str | Path], methods: Sequence[str]
) -> dict[str, list[Path]]:
    """Per method (the cells table's folder name), its cells table of each raw chunk, in
    ``raw_paths`` order, matched by chunk number.

    Raises:
        ValueError: naming the files, for a raw chunk without cells table, a table that does
            not exist, two tables of one chunk, or a table of a method not in ``methods``.
    """
    found: dict[str, dict[int, Path]] = {m: {} for m in methods}
    for p in map(Path, cells_paths):
        m = p.parent.name
        if m not in found:
            raise ValueError(f"{p}: cells table of method {m!r}, not one of {list(methods)}")
        c = int(chunk_label(p))
        if c in found[m]:
            raise ValueError(f"method {m!r}: two cells tables of chunk {c}: {found[m][c]}, {p}")
        found[m][c] = p
    wanted = [int(chunk_label(p)) for p in raw_paths]
    if len(set(wanted)) != len(wanted):
        raise ValueError(f"raw files with the same chunk number: {[str(p) for p in raw_paths]}")
    out: dict[str, list[Path]] = {}
    for m in methods:
        extra = sorted(set(found[m]) - set(wanted))
        if extra:
            # their events are in no raw file read here, so they could not be scored anyway
            log.warning("%s: ignoring the cells tables of chunks %s (no raw file)", m, extra)
        missing = [raw for raw, c in zip(raw_paths, wanted, strict=True) if c not in found[m]]
        if missing:
            where = next(iter(found[m].values())).parent if found[m] else Path(m)
            expected = [str(where / f"cells-{chunk_label(raw)}.parquet") for raw in missing]
            raise ValueError(
                f"method {m!r}: no cells table for raw file(s) {[str(r) for r in missing]}: "
                f"expected {expected} among the cells tables"
            )
        out[m] = [found[m][c] for c in wanted]
        absent = [str(p) for p in out[m] if not p.is_file()]
        if absent:
            raise ValueError(f"method {m!r}: cells table(s) missing: {absent}")
    return out


def _cluster_table_path(cells_path: Path) -> Path:
    # the cluster table of a chunk lies beside its cells table: chunk-NNN next to cells-NNN
    return cells_path.with_name(cells_path.name.replace("cells-", "chunk-"))


def run(
    raw_paths: Sequence[str | Path],
    cells_paths: Sequence[str | Path],
    methods: Sequence[str],
    out_path: str | Path,
    primaries_out: str | Path,
    split: Mapping[str, Any] | None = None,
    response: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Event-level TP/FP/FN/FM and WR per method over all chunks (clustering.json).

    With ``split`` (``{"fractions", "seed"}``) only the test events are scored, so a method that
    uses a trained classifier is never scored on events it was trained or tuned on; every method
    is then scored on the same events. The photopeak efficiency per method (with ``response``,
    the detector response block that sets the energy resolution) and the per-primary table use
    the cluster tables beside the cell tables (``chunk-NNN.parquet`` next to
    ``cells-NNN.parquet``).

    Streams the chunks: each raw chunk ``.../chunk-NNN.root`` is read with, per method, only its
    own ``cells-NNN.parquet`` and ``chunk-NNN.parquet``, matched by NNN, and reduced to per-event
    metrics and per-primary rows; the fractions are computed once on their concatenation (in
    ``raw_paths`` order), so the result equals that of all events at once.

    Raises:
        ValueError: a raw chunk without a cells (or cluster) table for some method, naming the
            files.
    """
    raws = [Path(p) for p in raw_paths]
    if not raws:
        raise ValueError("clustering_metrics: no raw files")
    tables = _tables_by_chunk(raws, cells_paths, methods)
    absent = [
        str(_cluster_table_path(p))
        for m in methods
        for p in tables[m]
        if not _cluster_table_path(p).is_file()
    ]
    if absent:
        raise ValueError(f"cluster table(s) missing beside the cells tables: {absent}")
    per_event: dict[str, list] = {m: [] for m in methods}
    primaries: dict[str, list[pd.DataFrame]] = {m: [] for m in methods}
    for i, raw in enumerate(raws):
        events = read_raw(raw, require_truth=True)
        if split is not None:
            # the split is a function of the event number alone: per chunk = over the dataset
            part = assign_split(events.event, tuple(split["fractions"]), int(split["seed"]))
            events = events.select(part == "test")
        wanted = set(events.event.tolist())
        for m in methods:
            cells = pd.read_parquet(tables[m][i])
            clusters = pd.read_parquet(_cluster_table_path(tables[m][i]))
            labels = labels_from_cells(events, cells[cells["event"].isin(wanted)])
            metrics, prim = score_events(
                events, labels, clusters[clusters["event"].isin(wanted)], m
            )
            per_event[m].append(metrics)
            primaries[m].append(prim)
        log.info("%s: %d events scored", raw, events.n_events)
    result: dict[str, Any] = {
        "events_subset": "test" if split is not None else "all",
        "methods": {},
        "photopeak": {},
    }
    tables_out = []
    for m in methods:
        prim = pd.concat(primaries[m], ignore_index=True)
        summary, photo = summarize_scores(per_event[m], prim, response)
        result["methods"][m] = summary
        log.info("%s: %s", m, summary)
        if photo is not None:
            result["photopeak"][m] = photo
        tables_out.append(prim)
    write_json(out_path, result)
    write_table(primaries_out, pd.concat(tables_out, ignore_index=True))
    return result
