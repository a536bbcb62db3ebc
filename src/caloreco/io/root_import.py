"""Import of a user's ROOT tree (flat or jagged branches) through a branch mapping."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import awkward as ak
import numpy as np

from caloreco.errors import InputError
from caloreco.events import (
    PRIMARY_FIELDS,
    TRUTH_FIELDS,
    RawEvents,
    event_index,
    offsets_from_counts,
)
from caloreco.geometry import Geometry, geometry_from_directions
from caloreco.io.chunks import chunk_slice
from caloreco.io.raw import check_energies, flat_jagged
from caloreco.io.rootfile import get_tree, open_root

__all__ = ["import_root"]


def _branch_array(tree, path, our: str, theirs: str):
    if theirs not in tree.keys():
        raise InputError(
            f"{path}: branch {theirs!r} (mapped to {our!r}) not found; "
            f"the tree has {sorted(tree.keys())}"
        )
    return tree[theirs]


def import_root(
    paths: Sequence[str | os.PathLike],
    tree_name: str,
    branches: Mapping[str, str],
    n_chunks: int,
    chunk: int,
    geom: Geometry | None = None,
    radius_mm: float = 300.0,
    neighbour_angle_rad: float = 0.12,
) -> tuple[RawEvents, Geometry]:
    """Import a foreign ROOT tree through a branch mapping.

    ``branches`` maps our names to the file's: required ``cell_energy`` and either ``cell_id``
    (then ``geom``, the detector preset, gives the cell table) or ``cell_theta`` + ``cell_phi``
    (crystal centres in rad, cells then come from the unique directions); optional ``cell_time``,
    ``event``, the ``primary_*`` branches and the truth triplet ``truth_cell``, ``truth_primary``,
    ``truth_energy``. Entries of the tree (a TTree or an RNTuple) are events; chunk ``chunk`` of
    ``n_chunks`` takes a contiguous range of entries across all files.

    Event numbers come from the ``event`` branch when it is mapped, and must then be unique over
    all files (checked over the whole dataset, not only this chunk); otherwise entries are
    numbered 0, 1, ... in file order. Without ``primary_*`` branches but with truth, each event
    has ``max(truth_primary) + 1`` primaries of unknown energy, direction and position (NaN).

    Raises:
        InputError: naming the file, tree or branch and what was expected.
    """

    if "cell_energy" not in branches:
        raise InputError("root import: the branch mapping needs 'cell_energy'")
    by_id = "cell_id" in branches
    if not by_id and not {"cell_theta", "cell_phi"} <= set(branches):
        raise InputError(
            "root import: the branch mapping needs 'cell_id' or both 'cell_theta' and 'cell_phi'"
        )
    # count entries per file to find this chunk's range across files
    counts = []
    for p in paths:
        with open_root(p) as f:
            with _reading(p):
                counts.append(get_tree(f, p, tree_name).num_entries)
    if "event" in branches:
        _check_unique_events(paths, tree_name, branches["event"])
    total = int(sum(counts))
    if total == 0:
        raise InputError(f"{list(map(str, paths))}: tree {tree_name!r} has no entries")
    sl = chunk_slice(total, n_chunks, chunk)
    parts: dict[str, list] = {}
    starts = np.concatenate([[0], np.cumsum(counts)])
    for p, s0, s1 in zip(paths, starts[:-1], starts[1:], strict=True):
        lo, hi = max(sl.start, s0), min(sl.stop, s1)
        if lo >= hi:
            continue
        with open_root(p) as f:
            t = get_tree(f, p, tree_name)
            for ours, theirs in branches.items():
                branch = _branch_array(t, p, ours, theirs)
                with _reading(p, f"branch {theirs!r}"):
                    arr = branch.array(
                        entry_start=int(lo - s0), entry_stop=int(hi - s0), library="ak"
                    )
                parts.setdefault(ours, []).append(arr)
    cols = {k: ak.concatenate(v) for k, v in parts.items()}
    n_ev = sl.stop - sl.start
    where = f"{[str(p) for p in paths]} tree {tree_name!r}"

    def flat(name: str) -> tuple[np.ndarray, np.ndarray]:
        arr = cols[name]
        if arr.ndim == 1:
            raise InputError(f"{where}: branch {branches[name]!r} ({name}) must be jagged")
        return flat_jagged(arr)

    energy, hoff = flat("cell_energy")
    check_energies(f"branch {branches['cell_energy']!r}", energy, where)
    hit_names = ["cell_time"] + (["cell_id"] if by_id else ["cell_theta", "cell_phi"])
    hit = {}
    for name in hit_names:
        if name not in cols:
            hit[name] = np.zeros(energy.size)
            continue
        v, off = flat(name)
        if not np.array_equal(off, hoff):
            raise InputError(
                f"{where}: jagged branches {branches['cell_energy']!r} and {branches[name]!r} "
                "have different lengths in some events"
            )
        hit[name] = v
    if by_id:
        if geom is None:
            raise InputError("root import by cell_id needs the detector geometry")
        cell = hit["cell_id"].astype(np.int64)
        if np.any((cell < 0) | (cell >= geom.n_cells)):
            raise InputError(
                f"{where}: cell ids must be within 0..{geom.n_cells - 1} for detector {geom.name!r}"
            )
        out_geom = geom
    else:
        out_geom, cell = geometry_from_directions(
            hit["cell_theta"], hit["cell_phi"], radius_mm, neighbour_angle_rad
        )
    # primaries: optional, one jagged list per event
    prim = {}
    poff = None
    for f in PRIMARY_FIELDS:
        if f in cols:
            v, off = flat(f)
            if poff is not None and not np.array_equal(poff, off):
                raise InputError(f"{where}: primary branches have different lengths")
            poff = off
            prim[f] = v
    truth = {}
    if all(f in cols for f in TRUTH_FIELDS):
        toff = None
        for f in TRUTH_FIELDS:
            v, off = flat(f)
            if toff is not None and not np.array_equal(toff, off):
                raise InputError(f"{where}: truth branches have different lengths")
            toff = off
            truth[f] = v
        truth["truth_offsets"] = toff
    elif any(f in cols for f in TRUTH_FIELDS):
        raise InputError(f"{where}: map all of {list(TRUTH_FIELDS)} or none of them")
    if poff is None:
        poff = _primaries_from_truth(truth, n_ev)
    elif truth:
        _check_truth_primaries(truth, poff, branches, where)
    n_p = int(poff[-1])
    for f in PRIMARY_FIELDS:
        prim.setdefault(f, np.full(n_p, np.nan))
    event = (
        ak.to_numpy(cols["event"]).astype(np.int64)
        if "event" in cols
        else np.arange(sl.start, sl.stop, dtype=np.int64)
    )
    try:
        events = RawEvents(
            event=event,
            hit_offsets=hoff,
            cell_id=cell,
            cell_energy=energy,
            cell_time=hit["cell_time"],
            primary_offsets=poff,
            **prim,
            **truth,
        )
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from exc
    return events, out_geom


@contextmanager
def _reading(path, what: str = "tree") -> Iterator[None]:
    """Any failure of a truncated or corrupt file inside the block as an InputError naming it."""
    try:
        yield
    except InputError:
        raise
    except Exception as exc:  # uproot raises many types (OSError, ValueError, ...) for bad files
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise InputError(
            f"{path}: cannot read {what} (truncated or corrupt file? {type(exc).__name__}: {msg})"
        ) from exc


def _check_unique_events(paths: Sequence[str | os.PathLike], tree_name: str, branch: str) -> None:
    """InputError naming the file(s) and the number if an event number repeats in the dataset."""
    numbers, owner = [], []
    for i, p in enumerate(paths):
        with open_root(p) as f:
            t = get_tree(f, p, tree_name)
            with _reading(p, f"branch {branch!r}"):
                ev = np.asarray(_branch_array(t, p, "event", branch).array(library="np"))
        if ev.ndim != 1:
            raise InputError(f"{p}: branch {branch!r} (event) must hold one number per entry")
        numbers.append(ev.astype(np.int64))
        owner.append(np.full(ev.size, i))
    ev, own = np.concatenate(numbers), np.concatenate(owner)
    order = np.argsort(ev, kind="stable")
    dup = np.flatnonzero(ev[order][1:] == ev[order][:-1])
    if dup.size:
        a, b = order[dup[0]], order[dup[0] + 1]
        where = str(paths[own[a]]) if own[a] == own[b] else f"{paths[own[a]]} and {paths[own[b]]}"
        raise InputError(
            f"{where}: event number {int(ev[a])} (branch {branch!r}) appears more than once "
            f"({dup.size} repeated numbers in all); event numbers must be unique within a "
            "dataset: map another branch to 'event', or leave 'event' unmapped to number the "
            "entries 0, 1, ... in file order"
        )


def _primaries_from_truth(truth: Mapping[str, np.ndarray], n_events: int) -> np.ndarray:
    """Primary offsets when no primary branch is mapped: max(truth_primary) + 1 per event."""
    counts = np.zeros(n_events, dtype=np.int64)
    if truth:
        ev = event_index(truth["truth_offsets"])
        np.maximum.at(counts, ev, truth["truth_primary"].astype(np.int64) + 1)
    return offsets_from_counts(counts)


def _check_truth_primaries(
    truth: Mapping[str, np.ndarray], poff: np.ndarray, branches: Mapping[str, str], where: str
) -> None:
    ev = event_index(truth["truth_offsets"])
    n_prim = np.diff(poff)[ev]
    tp = truth["truth_primary"].astype(np.int64)
    bad = np.flatnonzero((tp < 0) | (tp >= n_prim))
    if bad.size:
        i = bad[0]
        first = next(b for f, b in branches.items() if f in PRIMARY_FIELDS)
        raise InputError(
            f"{where}: branch {branches['truth_primary']!r} (truth_primary) holds {int(tp[i])} "
            f"in entry {int(ev[i])}, which has {int(n_prim[i])} primaries in branch {first!r}: "
            "truth_primary must index the entry's primaries from 0 (or map no primary_* "
            "branch, and the primaries are counted from truth_primary)"
        )
