"""The raw event container: flat (CSR) arrays for hits, primaries and sparse Monte Carlo truth.

Every source (the built-in simulation, a user's ROOT file, the CALIFA CSV format) produces a
:class:`RawEvents`, and every stage reads one. The layout mirrors the ``events`` tree of design.md
with jagged branches stored as one flat array plus offsets, so that stages vectorise over all hits
of a chunk at once. Units: MeV, mm, ns, rad.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["RawEvents", "offsets_from_counts", "event_index", "concatenate"]


def offsets_from_counts(counts: np.ndarray) -> np.ndarray:
    """CSR offsets (length n+1, int64) from per-event counts."""
    off = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=off[1:])
    return off


def event_index(offsets: np.ndarray) -> np.ndarray:
    """For each flat element, the index of the event it belongs to."""
    counts = np.diff(offsets)
    return np.repeat(np.arange(counts.size, dtype=np.int64), counts)


HIT_FIELDS = ("cell_id", "cell_energy", "cell_time")
PRIMARY_FIELDS = (
    "primary_energy",
    "primary_theta",
    "primary_phi",
    "primary_time",
    "primary_x",
    "primary_y",
)
TRUTH_FIELDS = ("truth_cell", "truth_primary", "truth_energy")


@dataclass
class RawEvents:
    """A chunk of events in flat form.

    Attributes:
        event: int64 event numbers, unique within the dataset, shape (n_events,).
        hit_offsets: int64 CSR offsets into the hit arrays, shape (n_events + 1,).
        cell_id: int32 cell of each hit above threshold.
        cell_energy: float32 measured energy in MeV (after resolution, noise, threshold).
        cell_time: float32 measured time in ns.
        primary_offsets: int64 CSR offsets into the primary arrays.
        primary_energy: float32 MeV; primary_theta, primary_phi: float32 rad;
        primary_time: float32 ns; primary_x, primary_y: float32 mm impact point on the front face
            (planar detectors; NaN otherwise).
        truth_offsets: int64 CSR offsets into the truth arrays, or None for data without truth.
        truth_cell: int32 index of the hit *within its event's hit list*.
        truth_primary: int16 index of the primary *within its event's primary list*.
        truth_energy: float32 MeV deposited by that primary in that cell before smearing.
    """

    event: np.ndarray
    hit_offsets: np.ndarray
    cell_id: np.ndarray
    cell_energy: np.ndarray
    cell_time: np.ndarray
    primary_offsets: np.ndarray
    primary_energy: np.ndarray
    primary_theta: np.ndarray
    primary_phi: np.ndarray
    primary_time: np.ndarray
    primary_x: np.ndarray
    primary_y: np.ndarray
    truth_offsets: np.ndarray | None = None
    truth_cell: np.ndarray | None = None
    truth_primary: np.ndarray | None = None
    truth_energy: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.event = np.asarray(self.event, dtype=np.int64)
        self.hit_offsets = np.asarray(self.hit_offsets, dtype=np.int64)
        self.primary_offsets = np.asarray(self.primary_offsets, dtype=np.int64)
        self.cell_id = np.asarray(self.cell_id, dtype=np.int32)
        for name in ("cell_energy", "cell_time", *PRIMARY_FIELDS):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float32))
        if self.truth_offsets is not None:
            self.truth_offsets = np.asarray(self.truth_offsets, dtype=np.int64)
            self.truth_cell = np.asarray(self.truth_cell, dtype=np.int32)
            self.truth_primary = np.asarray(self.truth_primary, dtype=np.int16)
            self.truth_energy = np.asarray(self.truth_energy, dtype=np.float32)
        self.validate()

    @property
    def n_events(self) -> int:
        """Number of events."""
        return int(self.event.size)

    @property
    def has_truth(self) -> bool:
        """Whether Monte Carlo truth is present."""
        return self.truth_offsets is not None

    def validate(self) -> None:
        """Check shapes and index ranges; raise ValueError naming the offending field."""
        n = self.event.size
        for name, off, flds in (
            ("hit_offsets", self.hit_offsets, HIT_FIELDS),
            ("primary_offsets", self.primary_offsets, PRIMARY_FIELDS),
        ):
            if off.shape != (n + 1,) or off[0] != 0 or np.any(np.diff(off) < 0):
                raise ValueError(f"{name} must be non-decreasing, start at 0, length n_events+1")
            for f in flds:
                if getattr(self, f).shape != (off[-1],):
                    raise ValueError(
                        f"{f} has {getattr(self, f).size} entries, {name} says {off[-1]}"
                    )
        if self.cell_id.size:
            # one hit per cell and event: a window or cluster reads a cell's energy once, so a
            # second row for the same cell would be silently dropped or counted twice
            ev = event_index(self.hit_offsets)
            order = np.lexsort((self.cell_id, ev))
            e_s, c_s = ev[order], self.cell_id[order]
            same = (e_s[1:] == e_s[:-1]) & (c_s[1:] == c_s[:-1])
            if same.any():
                first = int(np.flatnonzero(same)[0])
                e0, c0 = int(e_s[first]), int(c_s[first])
                n_hits = int(((ev == e0) & (self.cell_id == c0)).sum())
                raise ValueError(
                    f"cell_id: cell {c0} has {n_hits} hits in event {int(self.event[e0])} "
                    f"({int(same.sum())} duplicate hits in all); expected one hit per cell and "
                    "event (sum the deposits of a cell first)"
                )
        if not self.has_truth:
            return
        off = self.truth_offsets
        if off.shape != (n + 1,) or off[0] != 0 or np.any(np.diff(off) < 0):
            raise ValueError("truth_offsets must be non-decreasing, start at 0, length n_events+1")
        for f in TRUTH_FIELDS:
            if getattr(self, f).shape != (off[-1],):
                raise ValueError(f"{f} has {getattr(self, f).size} entries, truth says {off[-1]}")
        ev = event_index(off)
        n_hits = np.diff(self.hit_offsets)[ev]
        n_prim = np.diff(self.primary_offsets)[ev]
        if np.any((self.truth_cell < 0) | (self.truth_cell >= n_hits)):
            raise ValueError("truth_cell must index the hits of its own event")
        if np.any((self.truth_primary < 0) | (self.truth_primary >= n_prim)):
            raise ValueError("truth_primary must index the primaries of its own event")

    def hit_event(self) -> np.ndarray:
        """Event index (0..n_events-1) of every hit."""
        return event_index(self.hit_offsets)

    def hit_truth(self) -> tuple[np.ndarray, np.ndarray]:
        """Per hit: the dominant primary (index within the event, -1 if no truth) and the
        fraction of the hit's true energy it deposited."""
        if not self.has_truth:
            raise ValueError("these events carry no Monte Carlo truth (truth_* branches)")
        n_hits = self.cell_id.size
        flat_hit = self.hit_offsets[event_index(self.truth_offsets)] + self.truth_cell
        total = np.zeros(n_hits)
        np.add.at(total, flat_hit, self.truth_energy)
        order = np.lexsort((-self.truth_energy, flat_hit))
        first = np.ones(order.size, dtype=bool)
        first[1:] = flat_hit[order][1:] != flat_hit[order][:-1]
        dom = np.full(n_hits, -1, dtype=np.int64)
        frac = np.zeros(n_hits)
        sel = order[first]
        dom[flat_hit[sel]] = self.truth_primary[sel]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac[flat_hit[sel]] = np.where(
                total[flat_hit[sel]] > 0, self.truth_energy[sel] / total[flat_hit[sel]], 0.0
            )
        return dom, frac

    def select(self, mask: np.ndarray) -> RawEvents:
        """The events where ``mask`` (shape (n_events,)) is true."""
        mask = np.asarray(mask, dtype=bool)

        def take(off: np.ndarray, arrays: dict[str, np.ndarray]):
            counts = np.diff(off)
            keep = np.repeat(mask, counts)
            return offsets_from_counts(counts[mask]), {k: v[keep] for k, v in arrays.items()}

        hoff, hits = take(self.hit_offsets, {f: getattr(self, f) for f in HIT_FIELDS})
        poff, prims = take(self.primary_offsets, {f: getattr(self, f) for f in PRIMARY_FIELDS})
        truth: dict = {}
        if self.has_truth:
            toff, tr = take(self.truth_offsets, {f: getattr(self, f) for f in TRUTH_FIELDS})
            truth = {"truth_offsets": toff, **tr}
        return RawEvents(
            event=self.event[mask],
            hit_offsets=hoff,
            primary_offsets=poff,
            **hits,
            **prims,
            **truth,
        )

    def arrays(self) -> dict[str, np.ndarray | None]:
        """All fields as a dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def concatenate(parts: list[RawEvents]) -> RawEvents:
    """Concatenate chunks (truth kept only if every part has it)."""
    if not parts:
        raise ValueError("nothing to concatenate")

    def cat_off(offs: list[np.ndarray]) -> np.ndarray:
        return offsets_from_counts(np.concatenate([np.diff(o) for o in offs]))

    kw: dict = {
        "event": np.concatenate([p.event for p in parts]),
        "hit_offsets": cat_off([p.hit_offsets for p in parts]),
        "primary_offsets": cat_off([p.primary_offsets for p in parts]),
    }
    for f in HIT_FIELDS + PRIMARY_FIELDS:
        kw[f] = np.concatenate([getattr(p, f) for p in parts])
    if all(p.has_truth for p in parts):
        kw["truth_offsets"] = cat_off([p.truth_offsets for p in parts])
        for f in TRUTH_FIELDS:
            kw[f] = np.concatenate([getattr(p, f) for p in parts])
    return RawEvents(**kw)
