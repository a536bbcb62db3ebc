"""Import of the CALIFA hit CSV format of the published study (Jenegger et al.).

No header, one row per crystal hit: ``event, energy [MeV], theta [deg], phi [deg], time [ns]``;
each distinct event number is one primary gamma, and ``k`` consecutive gammas are overlaid into one
multi-gamma event. Crystals are identified by their (theta, phi) centres. Units: MeV, mm, ns, rad.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from caloreco.errors import InputError
from caloreco.events import RawEvents, offsets_from_counts
from caloreco.geometry import Geometry, geometry_from_directions
from caloreco.io.chunks import chunk_slice

__all__ = ["parse_califa_csv", "import_csv", "overlay_primaries"]


def overlay_primaries(
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


def parse_califa_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a CALIFA hit CSV (no header: event, energy MeV, theta deg, phi deg, time ns).

    Blank lines and lines starting with ``#`` are skipped.

    Returns:
        the hits, float64 of shape (n_hits, 5), and the 1-based line number of each.

    Raises:
        InputError: naming the file and the first malformed line (1-based): a wrong number of
            fields, a non-numeric, NaN or infinite value, a negative energy, theta outside
            0..180 deg, a non-integer event number, or no hits at all.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file does not exist")
    rows: list[list[float]] = []
    lines: list[int] = []
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
            lines.append(lineno)
    if not rows:
        raise InputError(f"{path}: no hits (empty CSV)")
    data = np.asarray(rows, dtype=np.float64)
    line_no = np.asarray(lines, dtype=np.int64)
    checks = (
        (~np.isfinite(data).all(axis=1), "NaN or infinite value"),
        (data[:, 0] != np.round(data[:, 0]), "event number (column 1) must be an integer"),
        (data[:, 1] < 0, "energy (column 2) must be >= 0 MeV"),
        ((data[:, 2] < 0) | (data[:, 2] > 180), "theta (column 3) must be within 0..180 deg"),
    )
    for bad, what in checks:
        if np.any(bad):
            k = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{path}:{line_no[k]}: {what}, got {data[k].tolist()} "
                f"({int(bad.sum())} such lines in all)"
            )
    return data, line_no


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

    Each (file, event number) is one primary gamma: two files that both number their gammas from
    0 hold different gammas. Gammas are numbered in order of first appearance, file after file in
    the order given, and ``per_event`` consecutive gammas are overlaid into one event (the
    published multi-gamma events); the dataset's event numbers are 0, 1, ... in that order, so
    they are unique across files and chunks. Crystals are identified by their unique
    (theta, phi) centres, which become the cell table (cells of all files, so chunks share one
    table). Optionally each gamma gets an emission time uniform in +-``emission_window_ns`` and
    hit times are smeared by ``time_smearing_ns`` (the published preprocessing); with 0 the CSV
    times are kept. The gammas' energies are unknown (NaN) unless ``primary_energy_mev`` gives
    them (a mono-energetic sample).
    """
    if per_event < 1:
        raise InputError(f"csv import: primaries_per_event must be >= 1, got {per_event}")
    parsed = [parse_califa_csv(p) for p in paths]
    data = np.concatenate([d for d, _ in parsed])
    file_of_hit = np.concatenate([np.full(len(d), i) for i, (d, _) in enumerate(parsed)])
    where = ", ".join(str(p) for p in paths)
    theta = np.radians(data[:, 2])
    phi = np.radians(data[:, 3])
    geom, cell = geometry_from_directions(theta, phi, radius_mm, neighbour_angle_rad)
    key = np.column_stack([file_of_hit, data[:, 0].astype(np.int64)])
    _, first_pos, prim = np.unique(key, axis=0, return_index=True, return_inverse=True)
    # renumber primaries in order of first appearance (file order), not by numeric value
    rank = np.empty_like(first_pos)
    rank[np.argsort(first_pos)] = np.arange(first_pos.size)
    prim = rank[prim.reshape(-1)]
    n_prim = first_pos.size
    n_events_total = n_prim // per_event
    if n_events_total == 0:
        raise InputError(
            f"{where}: {n_prim} gamma(s) (distinct event numbers) cannot make one event of "
            f"csv.primaries_per_event = {per_event}"
        )
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
    events, _ = overlay_primaries(prim_c, cell[sel], data[sel, 1], time, n_prim_c, per_event)
    if emission_window_ns > 0:
        events.primary_time = emission.astype(np.float32)
    if primary_energy_mev is not None:
        events.primary_energy[:] = primary_energy_mev
    events.event = events.event + sl.start
    return events, geom
