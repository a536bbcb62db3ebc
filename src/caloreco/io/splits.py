"""The events of chosen parts of a dataset's event split (train / val / test), from its raw
chunks, one chunk in memory besides what is kept."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from caloreco.events import RawEvents, concatenate
from caloreco.io.raw import read_raw
from caloreco.split import SPLITS, assign_split

__all__ = ["read_split_events"]


def read_split_events(
    raw_paths: Sequence[str | Path],
    split: Mapping[str, Any],
    parts: Sequence[str],
    require_truth: bool = True,
) -> dict[str, RawEvents]:
    """The events of each of ``parts`` over all ``raw_paths``, in file order.

    Args:
        raw_paths: the dataset's raw chunks.
        split: ``{"fractions": (train, val, test), "seed": dataset seed}``: the event split
            every model of the dataset shares (:func:`caloreco.split.assign_split`, a function
            of the event number alone).
        parts: any of ``"train"``, ``"val"``, ``"test"``.
        require_truth: refuse chunks without Monte Carlo truth.

    Raises:
        ValueError: no raw file, an unknown part, or a part without events (naming it).
    """
    if not raw_paths:
        raise ValueError("raw_paths: no raw files given")
    unknown = [p for p in parts if p not in SPLITS]
    if unknown:
        raise ValueError(f"parts: {unknown} not among {list(SPLITS)}")
    fractions, seed = tuple(split["fractions"]), int(split["seed"])
    kept: dict[str, list[RawEvents]] = {p: [] for p in parts}
    for path in raw_paths:
        events = read_raw(path, require_truth=require_truth)
        part = assign_split(events.event, fractions, seed)
        for p in parts:
            kept[p].append(events.select(part == p))
    out = {p: concatenate(kept[p]) for p in parts}
    empty = [p for p, ev in out.items() if ev.n_events == 0]
    if empty:
        raise ValueError(
            f"{[str(p) for p in raw_paths]}: no events in the {empty} part(s) of the split "
            f"{fractions} (more events per chunk, or other split fractions)"
        )
    return out
