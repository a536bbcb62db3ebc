"""The raw event file (design.md): trees ``events``, ``cells`` and ``run``, written and read
with uproot.

``events`` has one entry per event with jagged hit, primary and truth branches; ``cells`` is the
geometry's cell table; ``run`` holds the detector name and the generating configuration as JSON.
Every file carries its geometry (:func:`geometry_from_file`). A file without truth branches (real
data) is valid; :func:`read_raw` with ``require_truth`` says clearly when a stage needs truth.
Units: MeV, mm, ns, rad.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import awkward as ak
import numpy as np

from caloreco.errors import InputError
from caloreco.events import HIT_FIELDS, PRIMARY_FIELDS, TRUTH_FIELDS, RawEvents, offsets_from_counts
from caloreco.geometry import Geometry, geometry_from_directions, make_geometry
from caloreco.io.files import atomic_path, to_jsonable
from caloreco.io.rootfile import get_tree, open_root, readable

__all__ = [
    "CELL_COLUMNS",
    "write_raw",
    "read_raw",
    "read_cells",
    "read_run_info",
    "geometry_from_file",
    "check_energies",
    "flat_jagged",
    "write_tree",
]

CELL_COLUMNS = ("cell_id", "row", "col", "x", "y", "z", "theta", "phi")


def _jagged(flat: np.ndarray, offsets: np.ndarray) -> ak.Array:
    return ak.unflatten(flat, np.diff(offsets))


#: the counter branch shared by the jagged branches of each group (ROOT's "n" branches)
COUNTERS = {
    **{f: "n_hits" for f in HIT_FIELDS},
    **{f: "n_primaries" for f in PRIMARY_FIELDS},
    **{f: "n_truth" for f in TRUTH_FIELDS},
}


def write_tree(out: Any, name: str, branches: Mapping[str, Any], counters=None) -> None:
    """Write ``branches`` (numpy or awkward arrays of one length) as a ROOT TTree ``name``.

    uproot's plain assignment ``out[name] = {...}`` writes an RNTuple, which TTree tools and ROOT
    before 6.34 cannot read; ``mktree`` writes a TTree. Jagged branches get a counter branch,
    ``counters[branch]`` (shared by branches of one group) or ``n_<branch>``.
    """
    counters = dict(counters or {})
    types = {}
    for key, arr in branches.items():
        if isinstance(arr, ak.Array):
            types[key] = arr.type.content
        else:
            types[key] = np.asarray(arr).dtype
    tree = out.mktree(name, types, counter_name=lambda b: counters.get(b, f"n_{b}"))
    tree.extend(dict(branches))


def write_raw(
    path: str | os.PathLike,
    events: RawEvents,
    cells: Mapping[str, np.ndarray],
    run_info: Mapping[str, Any],
) -> None:
    """Write a raw event file (TTrees ``events``, ``cells``, ``run``) atomically.

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
    # TTrees have no string type: the run record is one entry whose branches hold the UTF-8
    # bytes of the detector name and of the JSON configuration
    text = json.dumps(to_jsonable(dict(run_info)), sort_keys=True)
    run = {
        "detector": _bytes_entry(str(run_info.get("detector", ""))),
        "config_json": _bytes_entry(text),
    }
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as out:
            write_tree(out, "events", branches, COUNTERS)
            write_tree(out, "cells", {k: np.asarray(cells[k]) for k in CELL_COLUMNS})
            write_tree(out, "run", run)  # written last: reading it proves the file complete


def _bytes_entry(text: str) -> ak.Array:
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    return ak.unflatten(data, np.array([data.size]))


@readable
def read_run_info(path: str | os.PathLike) -> dict[str, Any]:
    """The ``run`` record (detector, configuration) of a raw file."""
    with open_root(path) as f:
        t = get_tree(f, path, "run")
        raw = t["config_json"].array(library="ak")[0]
        return json.loads(bytes(ak.to_numpy(raw).astype(np.uint8)).decode())


@readable
def read_cells(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``cells`` tree (cell table) of a raw file."""
    with open_root(path) as f:
        t = get_tree(f, path, "cells")
        missing = [c for c in CELL_COLUMNS if c not in t.keys()]
        if missing:
            raise InputError(f"{path}: tree 'cells' lacks {missing}; it has {t.keys()}")
        return {c: t[c].array(library="np") for c in CELL_COLUMNS}


def flat_jagged(arr: ak.Array) -> tuple[np.ndarray, np.ndarray]:
    """A jagged (n_events, var) array as its flat values and CSR offsets."""
    counts = ak.to_numpy(ak.num(arr, axis=1))
    return ak.to_numpy(ak.flatten(arr, axis=1)), offsets_from_counts(counts)


@readable
def read_raw(path: str | os.PathLike, require_truth: bool = False) -> RawEvents:
    """Read the ``events`` tree of a raw file into a :class:`RawEvents`.

    Raises:
        InputError: missing file, tree or branch (listing what exists), inconsistent jagged
            lengths, or truth required but absent.
    """
    with open_root(path) as f:
        t = get_tree(f, path, "events")
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
            flat, off = flat_jagged(arrays[fld])
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


def geometry_from_file(path: str | os.PathLike) -> Geometry:
    """The geometry a raw file was made with (preset rebuilt, or cells from data directions)."""
    info = read_run_info(path)
    if info.get("cells", "preset") == "preset":
        return make_geometry(info["preset"], **info.get("geometry", {}))
    table = read_cells(path)
    geom, _ = geometry_from_directions(
        table["theta"].astype(np.float64),
        table["phi"].astype(np.float64),
        float(info.get("radius_mm", 300.0)),
        float(info.get("neighbour_angle_rad", 0.12)),
    )
    return geom


def check_energies(name: str, energy: np.ndarray, where: str) -> None:
    """InputError naming ``where`` and the first entry if any energy is NaN, infinite or < 0."""
    bad = ~np.isfinite(energy) | (energy < 0)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{where}: {name} must be finite and >= 0 MeV; entry {i} is {energy[i]!r} "
            f"({int(bad.sum())} bad values in all)"
        )
