"""Reading and writing raw event files (ROOT via uproot) and importing users' data.

The raw file contract (design.md): tree ``events`` (one entry per event, jagged hit, primary and
truth branches), tree ``cells`` (the geometry's cell table) and tree ``run`` (detector name and the
generating configuration as JSON). Users' files come in two forms:

* ``root``: any flat or jagged tree with a branch mapping from our names to theirs;
* ``csv``: the CALIFA hit format of the published study (no header, one row per crystal hit:
  ``event, energy [MeV], theta [deg], phi [deg], time [ns]``), one primary per event number,
  overlaid k at a time into multi-gamma events.

Every writer is atomic: it writes ``<path>.tmp-<pid>`` and renames, so a failed job leaves nothing.
Units: MeV, mm, ns, rad.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from caloreco.events import (
    HIT_FIELDS,
    PRIMARY_FIELDS,
    TRUTH_FIELDS,
    RawEvents,
    event_index,
    offsets_from_counts,
)
from caloreco.geometry import Geometry, _csr

__all__ = [
    "atomic_path",
    "write_raw",
    "read_raw",
    "read_cells",
    "read_run_info",
    "import_root",
    "import_csv",
    "chunk_slice",
]

CELL_COLUMNS = ("cell_id", "row", "col", "x", "y", "z", "theta", "phi")


class InputError(ValueError):
    """Bad user input (file, tree, branch or value), with a message that names it."""


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _jagged(flat: np.ndarray, offsets: np.ndarray) -> ak.Array:
    return ak.unflatten(flat, np.diff(offsets))


def write_raw(
    path: str | os.PathLike,
    events: RawEvents,
    cells: Mapping[str, np.ndarray],
    run_info: Mapping[str, Any],
) -> None:
    """Write a raw event file (trees ``events``, ``cells``, ``run``) atomically.

    Args:
        path: output ``.root`` path.
        events: the events; truth branches are written only if present.
        cells: the cell table (``Geometry.table()``).
        run_info: JSON-serialisable description (detector name, generating config, seed).
    """
    import uproot

    branches: dict[str, Any] = {"event": events.event}
    for f in HIT_FIELDS:
        branches[f] = _jagged(getattr(events, f), events.hit_offsets)
    for f in PRIMARY_FIELDS:
        branches[f] = _jagged(getattr(events, f), events.primary_offsets)
    if events.has_truth:
        for f in TRUTH_FIELDS:
            branches[f] = _jagged(getattr(events, f), events.truth_offsets)
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as out:
            out["events"] = branches
            out["cells"] = {k: np.asarray(cells[k]) for k in CELL_COLUMNS}
            # TTree writing in uproot has no string type: the run record is one entry whose
            # branches hold the UTF-8 bytes of the detector name and of the JSON configuration.
            text = json.dumps(dict(run_info), sort_keys=True, default=_json_default)
            out["run"] = {
                "detector": _bytes_entry(str(run_info.get("detector", ""))),
                "config_json": _bytes_entry(text),
            }


def _bytes_entry(text: str) -> ak.Array:
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    return ak.unflatten(data, np.array([data.size]))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _open(path: str | os.PathLike):
    import uproot

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file does not exist")
    try:
        return uproot.open(path)
    except Exception as exc:  # uproot raises many types for corrupt files
        raise InputError(f"{path}: cannot be read as a ROOT file ({exc})") from exc


def _tree(f, path, name: str):
    keys = [k.split(";")[0] for k in f.keys()]
    if name not in keys:
        raise InputError(f"{path}: no tree {name!r}; the file has {sorted(set(keys))}")
    return f[name]


def _readable(func):
    """Turn any failure while reading a raw file into an InputError that names the file."""
    import functools

    @functools.wraps(func)
    def wrapper(path, *args, **kwargs):
        try:
            return func(path, *args, **kwargs)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(
                f"{path}: cannot be read as a caloreco raw file (truncated or corrupt? "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            ) from exc

    return wrapper


@_readable
def read_run_info(path: str | os.PathLike) -> dict[str, Any]:
    """The ``run`` record (detector, configuration) of a raw file."""
    with _open(path) as f:
        t = _tree(f, path, "run")
        raw = t["config_json"].array(library="ak")[0]
        return json.loads(bytes(ak.to_numpy(raw).astype(np.uint8)).decode())


@_readable
def read_cells(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``cells`` tree (cell table) of a raw file."""
    with _open(path) as f:
        t = _tree(f, path, "cells")
        missing = [c for c in CELL_COLUMNS if c not in t.keys()]
        if missing:
            raise InputError(f"{path}: tree 'cells' lacks {missing}; it has {t.keys()}")
        return {c: t[c].array(library="np") for c in CELL_COLUMNS}


def _flat(arr: ak.Array) -> tuple[np.ndarray, np.ndarray]:
    counts = ak.to_numpy(ak.num(arr, axis=1))
    return ak.to_numpy(ak.flatten(arr, axis=1)), offsets_from_counts(counts)


@_readable
def read_raw(path: str | os.PathLike, require_truth: bool = False) -> RawEvents:
    """Read the ``events`` tree of a raw file into a :class:`RawEvents`.

    Raises:
        InputError: missing file, tree or branch (listing what exists), inconsistent jagged
            lengths, or truth required but absent.
    """
    with _open(path) as f:
        t = _tree(f, path, "events")
        names = set(t.keys())
        need = ["event", *HIT_FIELDS, *PRIMARY_FIELDS]
        missing = [n for n in need if n not in names]
        if missing:
            raise InputError(
                f"{path}: tree 'events' lacks branches {missing}; it has {sorted(names)}"
            )
        has_truth = all(n in names for n in TRUTH_FIELDS)
        if require_truth and not has_truth:
            raise InputError(
                f"{path}: this stage needs Monte Carlo truth branches {list(TRUTH_FIELDS)}, "
                "but the file has none (real data?)"
            )
        # the run record is written last: reading it proves the file is complete
        read_run_info(path)
        wanted = need + (list(TRUTH_FIELDS) if has_truth else [])
        try:
            arrays = t.arrays(wanted, library="ak")
        except Exception as exc:
            raise InputError(f"{path}: cannot read tree 'events' ({exc})") from exc
    kw: dict[str, Any] = {"event": ak.to_numpy(arrays["event"])}
    groups = [("hit_offsets", HIT_FIELDS), ("primary_offsets", PRIMARY_FIELDS)]
    if has_truth:
        groups.append(("truth_offsets", TRUTH_FIELDS))
    for off_name, flds in groups:
        ref = None
        for fld in flds:
            flat, off = _flat(arrays[fld])
            if ref is None:
                ref = off
            elif not np.array_equal(ref, off):
                raise InputError(
                    f"{path}: jagged branches {flds[0]!r} and {fld!r} have different lengths "
                    "in some events"
                )
            kw[fld] = flat
        kw[off_name] = ref
    try:
        return RawEvents(**kw)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from exc


def chunk_slice(n_total: int, n_chunks: int, chunk: int) -> slice:
    """Contiguous, near-equal slice of ``n_total`` entries for chunk ``chunk`` of ``n_chunks``."""
    if not 0 <= chunk < n_chunks:
        raise ValueError(f"chunk {chunk} outside 0..{n_chunks - 1}")
    lo = n_total * chunk // n_chunks
    hi = n_total * (chunk + 1) // n_chunks
    return slice(lo, hi)


def _check_energies(name: str, energy: np.ndarray, where: str) -> None:
    bad = ~np.isfinite(energy) | (energy < 0)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{where}: {name} must be finite and >= 0 MeV; entry {i} is {energy[i]!r} "
            f"({int(bad.sum())} bad values in all)"
        )


def _cells_from_directions(
    theta: np.ndarray, phi: np.ndarray, radius_mm: float, neighbour_angle_rad: float
) -> tuple[Geometry, np.ndarray]:
    """A cell table from the unique (theta, phi) crystal centres seen in data.

    Returns the geometry (cells on a sphere of ``radius_mm``; neighbours are cells closer than
    ``neighbour_angle_rad``) and the cell id of every input hit.
    """
    key = np.round(np.stack([theta, np.mod(phi, 2 * np.pi)], axis=1), 9)
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    th, ph = uniq[:, 0], uniq[:, 1]
    n = th.size
    ux, uy, uz = np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)
    cos_lim = np.cos(neighbour_angle_rad)
    # cell tables are small (thousands): an n^2 comparison is fine and done once per chunk
    dots = ux[:, None] * ux[None, :] + uy[:, None] * uy[None, :] + uz[:, None] * uz[None, :]
    a, b = np.nonzero(np.triu(dots > cos_lim, k=1))
    off, idx = _csr(a, b, n)
    geom = Geometry(
        name="from_data",
        kind="barrel",
        cell_id=np.arange(n, dtype=np.int32),
        row=np.full(n, -1, dtype=np.int32),
        col=np.full(n, -1, dtype=np.int32),
        x=radius_mm * ux,
        y=radius_mm * uy,
        z=radius_mm * uz,
        theta=th,
        phi=ph,
        n_rows=0,
        n_cols=0,
        neighbour_offsets=off,
        neighbour_index=idx,
        params={"radius_mm": radius_mm, "neighbour_angle_rad": neighbour_angle_rad},
    )
    return geom, inverse.reshape(-1).astype(np.int32)


def _overlay(
    primary_of_hit: np.ndarray,
    cell: np.ndarray,
    energy: np.ndarray,
    time: np.ndarray,
    n_primaries: int,
    per_event: int,
) -> tuple[RawEvents, np.ndarray]:
    """Overlay consecutive primaries (0,1,..,k-1), (k,..,2k-1), ... into events.

    Hits of the same crystal in one event are summed (a crystal reads one energy); the time is
    that of the larger deposit. Truth keeps each primary's share. Returns the events and, per
    event, the index of its first primary.
    """
    n_events = n_primaries // per_event
    keep = primary_of_hit < n_events * per_event
    primary_of_hit, cell, energy, time = (
        primary_of_hit[keep],
        cell[keep],
        energy[keep],
        time[keep],
    )
    ev = primary_of_hit // per_event
    local_prim = (primary_of_hit % per_event).astype(np.int16)
    # group hits by (event, cell); order by energy so the first of a group is the largest
    order = np.lexsort((-energy, cell, ev))
    ev, cell, energy, time, local_prim = (
        ev[order],
        cell[order],
        energy[order],
        time[order],
        local_prim[order],
    )
    new = np.ones(ev.size, dtype=bool)
    new[1:] = (ev[1:] != ev[:-1]) | (cell[1:] != cell[:-1])
    group = np.cumsum(new) - 1
    n_hits = int(new.sum())
    hit_energy = np.zeros(n_hits)
    np.add.at(hit_energy, group, energy)
    hit_ev = ev[new]
    hit_counts = np.bincount(hit_ev, minlength=n_events)
    hit_off = offsets_from_counts(hit_counts)
    # truth: one entry per (hit, primary); several hits of one primary in a crystal are summed
    tkey = group * per_event + local_prim
    tu, tinv = np.unique(tkey, return_inverse=True)
    t_energy = np.zeros(tu.size)
    np.add.at(t_energy, tinv, energy)
    t_group = tu // per_event
    t_prim = (tu % per_event).astype(np.int16)
    t_ev = hit_ev[t_group]
    t_cell = t_group - hit_off[t_ev]
    truth_off = offsets_from_counts(np.bincount(t_ev, minlength=n_events))
    nan = np.full(n_events * per_event, np.nan, dtype=np.float32)
    events = RawEvents(
        event=np.arange(n_events, dtype=np.int64),
        hit_offsets=hit_off,
        cell_id=cell[new],
        cell_energy=hit_energy,
        cell_time=time[new],
        primary_offsets=np.arange(n_events + 1, dtype=np.int64) * per_event,
        primary_energy=nan.copy(),
        primary_theta=nan.copy(),
        primary_phi=nan.copy(),
        primary_time=nan.copy(),
        primary_x=nan.copy(),
        primary_y=nan.copy(),
        truth_offsets=truth_off,
        truth_cell=t_cell,
        truth_primary=t_prim,
        truth_energy=t_energy,
    )
    return events, np.arange(n_events) * per_event


def parse_califa_csv(path: str | os.PathLike) -> np.ndarray:
    """Read a CALIFA hit CSV (no header: event, energy MeV, theta deg, phi deg, time ns).

    Returns a float64 array of shape (n_hits, 5). Raises InputError naming the file and the first
    malformed line (1-based).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file does not exist")
    rows: list[list[float]] = []
    with path.open() as fh:
        for lineno, line in enumerate(fh, start=1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            parts = s.split(",")
            if len(parts) != 5:
                raise InputError(
                    f"{path}:{lineno}: expected 5 comma-separated fields "
                    f"(event, energy [MeV], theta [deg], phi [deg], time [ns]), got {len(parts)}: "
                    f"{s[:80]!r}"
                )
            try:
                rows.append([float(p) for p in parts])
            except ValueError:
                raise InputError(f"{path}:{lineno}: non-numeric field in {s[:80]!r}") from None
    if not rows:
        raise InputError(f"{path}: no hits (empty CSV)")
    data = np.asarray(rows, dtype=np.float64)
    bad = ~np.isfinite(data).all(axis=1)
    if np.any(bad):
        raise InputError(f"{path}: NaN or infinite value in data row {int(np.flatnonzero(bad)[0])}")
    return data


def import_csv(
    paths: Sequence[str | os.PathLike],
    n_chunks: int,
    chunk: int,
    per_event: int,
    rng: np.random.Generator,
    radius_mm: float = 300.0,
    neighbour_angle_rad: float = 0.12,
    emission_window_ns: float = 0.0,
    time_smearing_ns: float = 0.0,
    primary_energy_mev: float | None = None,
) -> tuple[RawEvents, Geometry]:
    """Import CALIFA-format CSV hits as raw events (chunk ``chunk`` of ``n_chunks``).

    Each distinct CSV event number is one primary gamma, in order of first appearance across the
    files; ``per_event`` consecutive primaries are overlaid into one event (the published
    multi-gamma events). Crystals are identified by their unique (theta, phi) centres, which
    become the cell table (cells of all files, so chunks share one table). Optionally each gamma
    gets an emission time uniform in +-``emission_window_ns`` and hit times are smeared by
    ``time_smearing_ns`` (the published preprocessing); with 0 the CSV times are kept.
    """
    if per_event < 1:
        raise InputError(f"csv import: primaries_per_event must be >= 1, got {per_event}")
    data = np.concatenate([parse_califa_csv(p) for p in paths])
    where = ", ".join(str(p) for p in paths)
    _check_energies("energy (column 2)", data[:, 1], where)
    theta = np.radians(data[:, 2])
    phi = np.radians(data[:, 3])
    if np.any((theta < 0) | (theta > np.pi)):
        raise InputError(f"{where}: theta (column 3) must be within 0..180 deg")
    geom, cell = _cells_from_directions(theta, phi, radius_mm, neighbour_angle_rad)
    _, first_pos, prim = np.unique(data[:, 0], return_index=True, return_inverse=True)
    # renumber primaries in order of first appearance (file order), not by numeric value
    rank = np.empty_like(first_pos)
    rank[np.argsort(first_pos)] = np.arange(first_pos.size)
    prim = rank[prim.reshape(-1)]
    n_prim = first_pos.size
    n_events_total = n_prim // per_event
    if n_events_total == 0:
        raise InputError(f"{where}: {n_prim} primaries cannot make one event of {per_event}")
    sl = chunk_slice(n_events_total, n_chunks, chunk)
    sel = (prim >= sl.start * per_event) & (prim < sl.stop * per_event)
    prim_c = prim[sel] - sl.start * per_event
    n_prim_c = (sl.stop - sl.start) * per_event
    time = data[sel, 4].astype(np.float64)
    emission = np.zeros(n_prim_c)
    if emission_window_ns > 0:
        emission = rng.uniform(-emission_window_ns, emission_window_ns, n_prim_c)
    if emission_window_ns > 0 or time_smearing_ns > 0:
        time = time + emission[prim_c] + rng.normal(0.0, time_smearing_ns, time.size)
    events, _ = _overlay(prim_c, cell[sel], data[sel, 1], time, n_prim_c, per_event)
    if emission_window_ns > 0:
        events.primary_time = emission.astype(np.float32)
    if primary_energy_mev is not None:
        events.primary_energy[:] = primary_energy_mev
    events.event = events.event + sl.start
    return events, geom


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
    ``truth_energy``. Entries of the tree are events; chunk ``chunk`` of ``n_chunks`` takes a
    contiguous range of entries across all files.
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
        with _open(p) as f:
            counts.append(_tree(f, p, tree_name).num_entries)
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
        with _open(p) as f:
            t = _tree(f, p, tree_name)
            for ours, theirs in branches.items():
                arr = _branch_array(t, p, ours, theirs).array(
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
        return _flat(arr)

    energy, hoff = flat("cell_energy")
    _check_energies(f"branch {branches['cell_energy']!r}", energy, where)
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
        out_geom, cell = _cells_from_directions(
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
    if poff is None:
        poff = np.zeros(n_ev + 1, dtype=np.int64)
    n_p = int(poff[-1])
    for f in PRIMARY_FIELDS:
        prim.setdefault(f, np.full(n_p, np.nan))
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


def hits_per_event(events: RawEvents) -> np.ndarray:
    """Number of hits in each event."""
    return np.diff(events.hit_offsets)


def primary_of_truth(events: RawEvents) -> np.ndarray:
    """Flat primary index (into the primary arrays) of every truth entry."""
    ev = event_index(events.truth_offsets)
    return events.primary_offsets[ev] + events.truth_primary
